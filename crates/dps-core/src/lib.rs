//! The domain core of **dps**, a device provisioning library: registration groups of devices
//! known by serial number, an allocation state machine that hands devices to target
//! environments/OUs, resets, replaces and deletes them, and the ports that connect it to
//! storage and to the targets.
//!
//! - [`Provisioner`] is the service: group CRUD, device registration, listing, editing, batch
//!   [`allocate`](Provisioner::allocate) / [`reset`](Provisioner::reset) /
//!   [`delete`](Provisioner::delete), [`replace`](Provisioner::replace),
//!   [`recover`](Provisioner::recover) and the [event log](Provisioner::events).
//! - [`Store`] is where groups, devices and events live (one atomic
//!   [`commit`](Store::commit) with optimistic versions); [`Environment`] is the platform that
//!   onboards devices. The `dps-env-static` crate serves targets from configuration.
//! - [`RegistrationGroup`], [`Device`] and [`AllocationState`](crate::state::AllocationState) are the domain types; every
//!   identifier and bounded text is a validated newtype such as [`SerialNumber`].
//! - [`Provisioner::bootstrap`] is the device-facing call: a device proves it belongs to a
//!   group with a [`BootstrapRequest`](crate::bootstrap::BootstrapRequest) signed by its [`DeviceBootstrapKey`](crate::bootstrap::DeviceBootstrapKey) and receives its
//!   endpoints and credentials (see the [`bootstrap`] module and `docs/bootstrap.md`).
//! - [`Clock`](crate::inject::Clock), [`IdGen`](crate::inject::IdGen) and [`SecretSource`](crate::inject::SecretSource) are injected: this crate does no I/O and never
//!   reads the clock or a random source on its own.
//!
//! # Features
//!
//! | feature  | default | what it adds |
//! |----------|---------|--------------|
//! | `system` | yes     | [`SystemClock`](crate::inject::SystemClock), [`SystemIds`](crate::inject::SystemIds), [`OsSecrets`](crate::inject::OsSecrets), [`Provisioner::new`] and [`Injected::system`] |
//! | `mock`   | no      | `MockStore` and `MockEnvironment` (mockall) |
//!
//! Applications use this crate through the `dps` facade, which re-exports it at its root
//! beside the stores, the CSV and QR codecs and the static environment; the examples here
//! use the facade's paths.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use dps::prelude::*;
//! use dps::{StaticConfig, StaticEnvironment, TargetConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A platform with one target where the model `thermostat` exists.
//! let targets = StaticConfig {
//!     targets: vec![TargetConfig {
//!         environment: "prod-eu".parse()?,
//!         ou: "acme".parse()?,
//!         models: vec!["thermostat".parse()?],
//!         mqtt_endpoint: None,
//!         http_endpoint: None,
//!     }],
//! };
//! let env = StaticEnvironment::new(targets, Arc::new(dps::inject::OsSecrets));
//! let dps = Provisioner::new(dps::memory::InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
//!
//! let mut settings = NewGroup::new("Building 7".parse()?);
//! settings.default_target = Some("prod-eu/acme".parse()?);
//! let group = dps.create_group(settings).await?;
//!
//! dps.register(group.id(), NewDevice::new("SN-0001".parse()?, "thermostat".parse()?))
//!     .await?;
//! let report = dps.allocate(group.id(), &Selection::all()).await?;
//! assert_eq!(report.succeeded(), 1);
//!
//! let device = dps.device_by_serial(group.id(), &"SN-0001".parse()?).await?;
//! assert_eq!(device.status(), AllocationStatus::Allocated);
//! println!("asset {}", device.state().allocated().map(|a| a.asset_id().as_str()).unwrap_or("-"));
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod access;
pub mod attribute;
pub mod bootstrap;
mod bytes;
mod category;
mod changeset;
mod device;
mod environment;
mod error;
mod event;
mod group;
mod id;
pub mod import;
pub mod inject;
pub mod job;
pub mod lifecycle;
pub mod prelude;
mod provisioner;
pub mod seal;
mod secret;
pub mod state;
mod store;
pub mod stored;
mod text;
mod time;
mod validation;

// The service.
#[cfg(feature = "system")]
pub use provisioner::Builder;
pub use provisioner::{
    Atomicity, BatchReport, Config, DeviceOutcome, GenerateReport, GenerateSpec, Injected, Leased,
    NewSerial, Page, Provisioner, RecoverReport, RegisterReport, ReplaceRequest, ResealReport,
    SecretsByKey, Selection,
};

// The records and what creates or changes them.
pub use device::{Device, DeviceEdit, LastError, NewDevice, Replacement};
pub use event::{Event, EventKind, NewEvent};
pub use group::{GroupEdit, ModelType, NewGroup, RegistrationGroup, ReprovisionMethod};

// The ports and what crosses them.
pub use changeset::{Change, Changeset, Transition};
pub use environment::{
    Credentials, Endpoints, Environment, EnvironmentError, OffboardCall, OnboardCall,
    OnboardRequest, Onboarded, ReissueCall, RoutingEnvironment,
};
pub use store::{DeviceFilter, DeviceQuery, Store};

// Errors.
pub use error::{Category, DpsError, Entity, Error, Result, StoreError};
pub use validation::{Field, Rule, ValidationError};

// Identifiers, validated text and time.
pub use id::{DeviceId, EventCursor, GroupId, OperationId, Version};
pub use secret::{Revealed, Secret};
pub use text::{
    Actor, AssetId, AttributeId, AttributeName, BatchTag, Description, DeviceName, Endpoint,
    EnvironmentId, GroupName, Key, KeyId, ModelId, OuId, SerialNumber, Target, Timezone,
};
pub use time::{Date, Timestamp};
pub use uuid::Uuid;

/// What the exported macros name; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
}

#[cfg(feature = "mock")]
pub use environment::MockEnvironment;
#[cfg(feature = "mock")]
pub use store::MockStore;
