//! What the service's operations take and report: selections, per-device outcomes, reports
//! and pages.

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::DeviceId;
use crate::store::DeviceFilter;
use crate::text::{BatchTag, Description, ModelId, SerialNumber};

use crate::lifecycle::Outcome;

/// Which devices of a group a batch operation takes.
///
/// Its JSON names the one form it takes: `{"serials": ["SN-1", "SN-2"]}`, or
/// `{"filter": {…}}` with a [`DeviceFilter`] (`{"filter": {}}` selects every device).
///
/// ```
/// use dps::Selection;
///
/// let s: Selection = serde_json::from_str(r#"{"filter": {"status": "not_allocated"}}"#)?;
/// assert!(matches!(&s, Selection::Filter(f) if f.status.is_some()));
/// assert_eq!(serde_json::to_string(&Selection::all())?, r#"{"filter":{}}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
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
///
/// Its JSON is flat: the serial, the device's identifier (`null` when no device has the
/// serial), `ok`, then either the status and version the device is at (`"status": "deleted"`
/// and no version after a deletion) or the error as [`Error`](crate::Error) serialises it:
///
/// ```json
/// {"serial": "SN-1", "device_id": "0190…", "ok": true, "status": "allocated", "version": 3}
/// {"serial": "SN-2", "device_id": null, "ok": false,
///  "error": {"code": "not_found", "category": "not_found", "retryable": false,
///            "message": "device SN-2 not found"}}
/// ```
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
///
/// Its JSON is `{"succeeded": n, "failed": m, "outcomes": […]}`, each outcome as
/// [`DeviceOutcome`] serialises it.
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
///
/// Its JSON is `{"committed": true, "registered": n, "rejected": m, "outcomes": […]}` with
/// `{"ok": true, "device_id": "0190…"}` or `{"ok": false, "error": {…}}` per input.
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

/// What [`Provisioner::generate`](crate::Provisioner::generate) did: how many devices it
/// registered, and why it refused the others. It holds no per-device entry, so that it stays
/// small however many devices were generated; list them by their batch tag.
///
/// Its JSON is `{"registered": n, "rejected": m, "errors": [{…}, …]}`, each error as
/// [`Error`](crate::Error) serialises it.
#[derive(Debug, Default)]
pub struct GenerateReport {
    /// How many devices were registered.
    pub registered: usize,
    /// Why each refused device was refused.
    pub refused: Vec<Error>,
}

impl GenerateReport {
    /// How many devices were registered.
    pub fn registered(&self) -> usize {
        self.registered
    }

    /// How many devices were refused.
    pub fn rejected(&self) -> usize {
        self.refused.len()
    }
}

impl Serialize for GenerateReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("GenerateReport", 3)?;
        s.serialize_field("registered", &self.registered)?;
        s.serialize_field("rejected", &self.rejected())?;
        s.serialize_field("errors", &self.refused)?;
        s.end()
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
    /// A generated serial, as [`Provisioner::generate`](crate::Provisioner::generate) makes them.
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
///
/// `next` is `None` exactly on the last page: a listing reads one item ahead to know. Pass
/// `next` as `after` to read the following page. Its JSON is `{"items": […], "next": …}`, with
/// `"next": null` on the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T, C> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor for the next page, or `None` when this is the last.
    pub next: Option<C>,
}

impl Serialize for DeviceOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let fields = match &self.result {
            Ok(Outcome::Settled { .. }) => 5,
            Ok(Outcome::Deleted) | Err(_) => 4,
        };
        let mut s = serializer.serialize_struct("DeviceOutcome", fields)?;
        s.serialize_field("serial", &self.serial)?;
        s.serialize_field("device_id", &self.device_id)?;
        s.serialize_field("ok", &self.result.is_ok())?;
        match &self.result {
            Ok(Outcome::Settled { status, version }) => {
                s.serialize_field("status", status)?;
                s.serialize_field("version", version)?;
            }
            Ok(Outcome::Deleted) => s.serialize_field("status", "deleted")?,
            Err(e) => s.serialize_field("error", e)?,
        }
        s.end()
    }
}

impl Serialize for BatchReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("BatchReport", 3)?;
        s.serialize_field("succeeded", &self.succeeded())?;
        s.serialize_field("failed", &self.failed())?;
        s.serialize_field("outcomes", &self.outcomes)?;
        s.end()
    }
}

impl Serialize for RegisterReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        /// One input's outcome.
        struct Registered<'a>(&'a Result<DeviceId>);
        impl Serialize for Registered<'_> {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut s = serializer.serialize_struct("Registered", 2)?;
                s.serialize_field("ok", &self.0.is_ok())?;
                match self.0 {
                    Ok(id) => s.serialize_field("device_id", id)?,
                    Err(e) => s.serialize_field("error", e)?,
                }
                s.end()
            }
        }
        let outcomes: Vec<Registered<'_>> = self.outcomes.iter().map(Registered).collect();
        let mut s = serializer.serialize_struct("RegisterReport", 4)?;
        s.serialize_field("committed", &self.committed)?;
        s.serialize_field("registered", &self.registered())?;
        s.serialize_field("rejected", &self.rejected())?;
        s.serialize_field("outcomes", &outcomes)?;
        s.end()
    }
}
