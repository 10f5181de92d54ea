//! The names an embedding service uses most, for a glob import: `use dps::prelude::*;`.
//!
//! It holds the service, its ports, the records and what creates or changes them, the
//! selections and reports of batch operations, the identifiers and the error trait. It leaves
//! out names that collide with a service's own (`Error`, `Result`, `Key`, `Field`, `Change`,
//! `Target`, `Version`, `Date`, `Uuid`); name those through the crate root.

pub use crate::error::{Category, DpsError};
pub use crate::provisioner::{
    BatchReport, Config, DeviceOutcome, NewSerial, Page, Provisioner, ReplaceRequest, Selection,
};
pub use crate::state::AllocationStatus;
pub use crate::store::{DeviceFilter, DeviceQuery, Store};
pub use crate::{
    Device, DeviceEdit, DeviceId, Environment, EventCursor, GroupEdit, GroupId, ModelId, NewDevice,
    NewGroup, RegistrationGroup, SerialNumber,
};
