//! What the service's operations take and report: selections, per-device outcomes, reports
//! and pages.

use crate::error::Result;
use crate::id::DeviceId;
use crate::store::DeviceFilter;
use crate::text::{BatchTag, Description, ModelId, SerialNumber};

use crate::lifecycle::Outcome;

/// Which devices of a group a batch operation takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These serials, in this order; unknown ones are reported as not found.
    Serials(Vec<SerialNumber>),
    /// Every device that matches the filter (the default filter matches all).
    Filter(DeviceFilter),
}

impl Selection {
    /// Every device of the group.
    pub fn all() -> Self {
        Selection::Filter(DeviceFilter::default())
    }
}

/// The result of a batch operation for one device.
#[derive(Debug)]
pub struct DeviceOutcome {
    /// The serial the device was selected by.
    pub serial: SerialNumber,
    /// The device, when it exists.
    pub device_id: Option<DeviceId>,
    /// What happened.
    pub result: Result<Outcome>,
}

/// The outcome of a batch operation: one entry per selected device, in selection order.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// The outcomes.
    pub outcomes: Vec<DeviceOutcome>,
}

impl BatchReport {
    /// How many devices succeeded.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }

    /// How many devices failed.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.succeeded()
    }

    /// Whether every device succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }
}

/// The outcome of [`Provisioner::register_many`](crate::Provisioner::register_many): one entry per input, in input order.
#[derive(Debug, Default)]
pub struct RegisterReport {
    /// For each input device: its new identifier, or why it was refused.
    pub outcomes: Vec<Result<DeviceId>>,
    /// Whether anything was written (false when all-or-nothing refused the batch).
    pub committed: bool,
}

impl RegisterReport {
    /// How many devices were registered.
    pub fn registered(&self) -> usize {
        if self.committed {
            self.outcomes.iter().filter(|o| o.is_ok()).count()
        } else {
            0
        }
    }

    /// How many devices were refused.
    pub fn rejected(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_err()).count()
    }
}

/// Whether a multi-device registration may land partly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Atomicity {
    /// Good devices land, bad ones are reported.
    #[default]
    BestEffort,
    /// One bad device and nothing lands.
    AllOrNothing,
}

/// The serial of a replacement device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewSerial {
    /// This serial.
    Given(SerialNumber),
    /// A serial generated from the secret source.
    Generated,
}

/// A hardware replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceRequest {
    /// The new hardware's serial.
    pub new_serial: NewSerial,
    /// The batch tag of the new registration.
    pub batch_tag: BatchTag,
    /// The device's description afterwards.
    pub description: Option<Description>,
}

/// The fields shared by generated devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSpec {
    /// The model of every device.
    pub model_id: ModelId,
    /// The batch tag of every device.
    pub batch_tag: Option<BatchTag>,
}

/// One page of a keyset-paged listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor for the next page, or `None` when this is the last.
    pub next: Option<C>,
}
