//! The stored form of a device and its allocation state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::secret::StoredSecret;
use super::{Record, StoredTarget, Versioned, decode, encode, unversioned};
use crate::attribute::{AttributeValue, AttributeValues};
use crate::device::{Device, LastError, Replacement};
use crate::error::StoreError;
use crate::id::{DeviceId, GroupId, OperationId, Version};
use crate::state::{
    Allocated, AllocationState, NotAllocated, Pending, PendingAction, SealedCredentials,
};
use crate::text::{
    AssetId, AttributeId, BatchTag, Description, DeviceName, Key, ModelId, SerialNumber, Timezone,
};
use crate::time::{Date, Timestamp};

/// A device as a backend stores it; see the [module documentation](super).
///
/// Convert with `StoredDevice::from(&device)` (or from an owned device, which moves its
/// fields) and `Device::from(stored)`; [`StoredDevice::to_json`] and
/// [`StoredDevice::from_json`] are the JSON text that the SQL backends keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDevice {
    #[serde(default = "unversioned")]
    format: u64,
    id: DeviceId,
    group_id: GroupId,
    serial: SerialNumber,
    model_id: ModelId,
    name: Option<DeviceName>,
    timezone: Option<Timezone>,
    batch_tag: Option<BatchTag>,
    description: Option<Description>,
    target: Option<StoredTarget>,
    attributes: BTreeMap<AttributeId, StoredValue>,
    state: StoredState,
    first_target: Option<StoredTarget>,
    last_error: Option<StoredLastError>,
    replacements: Vec<StoredReplacement>,
    version: Version,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl Versioned for StoredDevice {
    const RECORD: Record = Record::Device;
    fn format(&self) -> u64 {
        self.format
    }
    fn holds_clear_secret(&self) -> bool {
        self.state
            .device_secret()
            .is_some_and(StoredSecret::is_clear)
    }
}

impl StoredDevice {
    /// The record as JSON text.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if it does not serialise, which does not happen.
    pub fn to_json(&self) -> Result<String, StoreError> {
        encode(Record::Device, self)
    }

    /// A record from JSON text of any format version this code reads.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] for text that does not decode, and for a newer format version
    /// (its source is an [`UnsupportedFormat`](super::UnsupportedFormat)).
    pub fn from_json(data: &str) -> Result<Self, StoreError> {
        decode(data)
    }

    /// The format version the record was written in.
    pub fn format_version(&self) -> u64 {
        self.format
    }
}

/// Decodes a device from its stored JSON text.
///
/// # Errors
///
/// As [`StoredDevice::from_json`].
pub fn decode_device(data: &str) -> Result<Device, StoreError> {
    StoredDevice::from_json(data).map(Device::from)
}

/// A stored attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub(super) enum StoredValue {
    Integer(i64),
    String(String),
    Enum(String),
    Date(Date),
}

impl From<AttributeValue> for StoredValue {
    fn from(v: AttributeValue) -> Self {
        match v {
            AttributeValue::Integer(i) => StoredValue::Integer(i),
            AttributeValue::String(s) => StoredValue::String(s),
            AttributeValue::Enum(s) => StoredValue::Enum(s),
            AttributeValue::Date(d) => StoredValue::Date(d),
        }
    }
}

impl From<StoredValue> for AttributeValue {
    fn from(v: StoredValue) -> Self {
        match v {
            StoredValue::Integer(i) => AttributeValue::Integer(i),
            StoredValue::String(s) => AttributeValue::String(s),
            StoredValue::Enum(s) => AttributeValue::Enum(s),
            StoredValue::Date(d) => AttributeValue::Date(d),
        }
    }
}

fn stored_values(values: AttributeValues) -> BTreeMap<AttributeId, StoredValue> {
    values.into_iter().map(|(k, v)| (k, v.into())).collect()
}

fn attribute_values(values: BTreeMap<AttributeId, StoredValue>) -> AttributeValues {
    values.into_iter().map(|(k, v)| (k, v.into())).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum StoredState {
    NotAllocated(StoredNotAllocated),
    Pending(StoredPending),
    Allocated(StoredAllocated),
}

impl StoredState {
    /// The device secret the state holds: that of its allocation, or of the allocation a
    /// pending operation returns to.
    fn device_secret(&self) -> Option<&StoredSecret> {
        let allocated = match self {
            StoredState::Allocated(a) => a,
            StoredState::Pending(p) => match &*p.action {
                StoredAction::Reset { from }
                | StoredAction::Delete { from }
                | StoredAction::Replace { from, .. } => from,
                StoredAction::Allocate { .. } => return None,
            },
            StoredState::NotAllocated(_) => return None,
        };
        Some(&allocated.credentials.device_secret)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredNotAllocated {
    reprovisioned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAllocated {
    target: StoredTarget,
    asset_id: AssetId,
    credentials: StoredCredentials,
    allocated_at: Timestamp,
    bootstrapped_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredCredentials {
    product_key: Key,
    device_key: Key,
    device_secret: StoredSecret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredPending {
    operation: OperationId,
    action: Box<StoredAction>,
    started_at: Timestamp,
    lease_until: Option<Timestamp>,
    attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum StoredAction {
    Allocate {
        target: StoredTarget,
        from: StoredNotAllocated,
    },
    Reset {
        from: StoredAllocated,
    },
    Replace {
        from: StoredAllocated,
        old_serial: SerialNumber,
        batch_tag: BatchTag,
        description: Option<Description>,
    },
    Delete {
        from: StoredAllocated,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredLastError {
    code: String,
    message: String,
    at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredReplacement {
    old_serial: SerialNumber,
    new_serial: SerialNumber,
    batch_tag: BatchTag,
    at: Timestamp,
}

impl From<NotAllocated> for StoredNotAllocated {
    fn from(n: NotAllocated) -> Self {
        Self {
            reprovisioned: n.reprovisioned,
        }
    }
}

impl From<StoredNotAllocated> for NotAllocated {
    fn from(n: StoredNotAllocated) -> Self {
        Self {
            reprovisioned: n.reprovisioned,
        }
    }
}

impl From<Allocated> for StoredAllocated {
    fn from(a: Allocated) -> Self {
        Self {
            target: a.target.into(),
            asset_id: a.asset_id,
            credentials: StoredCredentials {
                product_key: a.credentials.product_key,
                device_key: a.credentials.device_key,
                device_secret: a.credentials.device_secret.into(),
            },
            allocated_at: a.allocated_at,
            bootstrapped_at: a.bootstrapped_at,
        }
    }
}

impl From<StoredAllocated> for Allocated {
    fn from(a: StoredAllocated) -> Self {
        Self {
            target: a.target.into(),
            asset_id: a.asset_id,
            credentials: SealedCredentials {
                product_key: a.credentials.product_key,
                device_key: a.credentials.device_key,
                device_secret: a.credentials.device_secret.into(),
            },
            allocated_at: a.allocated_at,
            bootstrapped_at: a.bootstrapped_at,
        }
    }
}

impl From<PendingAction> for StoredAction {
    fn from(a: PendingAction) -> Self {
        match a {
            PendingAction::Allocate { target, from } => StoredAction::Allocate {
                target: target.into(),
                from: from.into(),
            },
            PendingAction::Reset { from } => StoredAction::Reset { from: from.into() },
            PendingAction::Replace {
                from,
                old_serial,
                batch_tag,
                description,
            } => StoredAction::Replace {
                from: from.into(),
                old_serial,
                batch_tag,
                description,
            },
            PendingAction::Delete { from } => StoredAction::Delete { from: from.into() },
        }
    }
}

impl From<StoredAction> for PendingAction {
    fn from(a: StoredAction) -> Self {
        match a {
            StoredAction::Allocate { target, from } => PendingAction::Allocate {
                target: target.into(),
                from: from.into(),
            },
            StoredAction::Reset { from } => PendingAction::Reset { from: from.into() },
            StoredAction::Replace {
                from,
                old_serial,
                batch_tag,
                description,
            } => PendingAction::Replace {
                from: from.into(),
                old_serial,
                batch_tag,
                description,
            },
            StoredAction::Delete { from } => PendingAction::Delete { from: from.into() },
        }
    }
}

impl From<AllocationState> for StoredState {
    fn from(s: AllocationState) -> Self {
        match s {
            AllocationState::NotAllocated(n) => StoredState::NotAllocated(n.into()),
            AllocationState::Allocated(a) => StoredState::Allocated(a.into()),
            AllocationState::Pending(p) => StoredState::Pending(StoredPending {
                operation: p.operation,
                action: Box::new((*p.action).into()),
                started_at: p.started_at,
                lease_until: p.lease_until,
                attempts: p.attempts,
            }),
        }
    }
}

impl From<StoredState> for AllocationState {
    fn from(s: StoredState) -> Self {
        match s {
            StoredState::NotAllocated(n) => AllocationState::NotAllocated(n.into()),
            StoredState::Allocated(a) => AllocationState::Allocated(a.into()),
            StoredState::Pending(p) => AllocationState::Pending(Pending {
                operation: p.operation,
                action: Box::new((*p.action).into()),
                started_at: p.started_at,
                lease_until: p.lease_until,
                attempts: p.attempts,
            }),
        }
    }
}

impl From<Device> for StoredDevice {
    fn from(d: Device) -> Self {
        let state = StoredState::from(d.state);
        let clear = state.device_secret().is_some_and(StoredSecret::is_clear);
        Self {
            format: super::format_for(clear),
            id: d.id,
            group_id: d.group_id,
            serial: d.serial,
            model_id: d.model_id,
            name: d.name,
            timezone: d.timezone,
            batch_tag: d.batch_tag,
            description: d.description,
            target: d.target.map(Into::into),
            attributes: stored_values(d.attributes),
            state,
            first_target: d.first_target.map(Into::into),
            last_error: d.last_error.map(|e| StoredLastError {
                code: e.code,
                message: e.message,
                at: e.at,
            }),
            replacements: d
                .replacements
                .into_iter()
                .map(|r| StoredReplacement {
                    old_serial: r.old_serial,
                    new_serial: r.new_serial,
                    batch_tag: r.batch_tag,
                    at: r.at,
                })
                .collect(),
            version: d.version,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

impl From<&Device> for StoredDevice {
    fn from(d: &Device) -> Self {
        Self::from(d.clone())
    }
}

impl From<StoredDevice> for Device {
    fn from(d: StoredDevice) -> Self {
        Self {
            id: d.id,
            group_id: d.group_id,
            serial: d.serial,
            model_id: d.model_id,
            name: d.name,
            timezone: d.timezone,
            batch_tag: d.batch_tag,
            description: d.description,
            target: d.target.map(Into::into),
            attributes: attribute_values(d.attributes),
            state: d.state.into(),
            first_target: d.first_target.map(Into::into),
            last_error: d.last_error.map(|e| {
                Box::new(LastError {
                    code: e.code,
                    message: e.message,
                    at: e.at,
                })
            }),
            replacements: d
                .replacements
                .into_iter()
                .map(|r| Replacement {
                    old_serial: r.old_serial,
                    new_serial: r.new_serial,
                    batch_tag: r.batch_tag,
                    at: r.at,
                })
                .collect(),
            version: d.version,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}
