//! The stored form of an event of the log.

use serde::{Deserialize, Serialize};

use super::{Record, StoredTarget, Versioned, decode, encode, unversioned};
use crate::bootstrap::BootstrapRefusal;
use crate::error::StoreError;
use crate::event::{Event, EventKind, NewEvent};
use crate::id::{DeviceId, EventCursor, GroupId, OperationId};
use crate::text::{Actor, AssetId, SerialNumber};
use crate::time::Timestamp;

/// An event as a backend stores it, without its cursor (the backend numbers events); see the
/// [module documentation](super).
///
/// Convert with `StoredEvent::from(&new_event)` (or from an owned one) and
/// [`StoredEvent::into_event`]; [`StoredEvent::to_json`] and [`StoredEvent::from_json`] are
/// the JSON text that the SQL backends keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    #[serde(default = "unversioned")]
    format: u64,
    at: Timestamp,
    /// Added without a new format version: a reader that does not know it reads the rest
    /// unchanged, and records written before it name nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<Actor>,
    group_id: GroupId,
    device_id: Option<DeviceId>,
    serial: Option<SerialNumber>,
    kind: StoredKind,
}

impl Versioned for StoredEvent {
    const RECORD: Record = Record::Event;
    fn format(&self) -> u64 {
        self.format
    }
}

impl StoredEvent {
    /// The record as JSON text.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if it does not serialise, which does not happen.
    pub fn to_json(&self) -> Result<String, StoreError> {
        encode(Record::Event, self)
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

    /// The committed event at `cursor`.
    pub fn into_event(self, cursor: EventCursor) -> Event {
        Event::from_new(cursor, self.into())
    }
}

/// Encodes an event as its stored JSON text.
///
/// # Errors
///
/// As [`StoredEvent::to_json`].
pub fn encode_event(event: &NewEvent) -> Result<String, StoreError> {
    StoredEvent::from(event).to_json()
}

/// Decodes the event at `cursor` from its stored JSON text.
///
/// # Errors
///
/// As [`StoredEvent::from_json`].
pub fn decode_event(cursor: EventCursor, data: &str) -> Result<Event, StoreError> {
    StoredEvent::from_json(data).map(|e| e.into_event(cursor))
}

impl From<NewEvent> for StoredEvent {
    fn from(e: NewEvent) -> Self {
        Self {
            format: super::FORMAT_VERSION,
            at: e.at,
            actor: e.actor,
            group_id: e.group_id,
            device_id: e.device_id,
            serial: e.serial,
            kind: e.kind.into(),
        }
    }
}

impl From<&NewEvent> for StoredEvent {
    fn from(e: &NewEvent) -> Self {
        Self::from(e.clone())
    }
}

impl From<StoredEvent> for NewEvent {
    fn from(e: StoredEvent) -> Self {
        Self {
            at: e.at,
            actor: e.actor,
            group_id: e.group_id,
            device_id: e.device_id,
            serial: e.serial,
            kind: e.kind.into(),
        }
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes fields by reference"
)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum StoredKind {
    GroupCreated,
    GroupEdited,
    GroupDeleted,
    Registered,
    Edited,
    AllocationStarted {
        operation: OperationId,
        target: StoredTarget,
    },
    Allocated {
        operation: OperationId,
        target: StoredTarget,
        asset_id: AssetId,
    },
    AllocationFailed {
        operation: Option<OperationId>,
        code: String,
        message: String,
    },
    ResetStarted {
        operation: OperationId,
    },
    Reset {
        operation: OperationId,
        initialized: bool,
    },
    ReplaceStarted {
        operation: OperationId,
        old_serial: SerialNumber,
    },
    Replaced {
        operation: OperationId,
        old_serial: SerialNumber,
    },
    DeleteStarted {
        operation: OperationId,
    },
    Deleted,
    OperationFailed {
        operation: OperationId,
        code: String,
        message: String,
    },
    OperationDeferred {
        operation: OperationId,
        message: String,
    },
    OperationResumed {
        operation: OperationId,
        attempt: u32,
    },
    Bootstrapped,
    BootstrapRefused {
        reason: StoredRefusal,
        #[serde(default, skip_serializing_if = "is_zero")]
        suppressed: u64,
    },
    GroupSecretRotated {
        previous_kept: bool,
    },
    SecretRevealed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
enum StoredRefusal {
    UnknownGroup,
    UnknownSerial,
    BadSignature,
    StaleTimestamp { skew_seconds: i64 },
}

impl From<BootstrapRefusal> for StoredRefusal {
    fn from(r: BootstrapRefusal) -> Self {
        match r {
            BootstrapRefusal::UnknownGroup => StoredRefusal::UnknownGroup,
            BootstrapRefusal::UnknownSerial => StoredRefusal::UnknownSerial,
            BootstrapRefusal::BadSignature => StoredRefusal::BadSignature,
            BootstrapRefusal::StaleTimestamp { skew_seconds } => {
                StoredRefusal::StaleTimestamp { skew_seconds }
            }
        }
    }
}

impl From<StoredRefusal> for BootstrapRefusal {
    fn from(r: StoredRefusal) -> Self {
        match r {
            StoredRefusal::UnknownGroup => BootstrapRefusal::UnknownGroup,
            StoredRefusal::UnknownSerial => BootstrapRefusal::UnknownSerial,
            StoredRefusal::BadSignature => BootstrapRefusal::BadSignature,
            StoredRefusal::StaleTimestamp { skew_seconds } => {
                BootstrapRefusal::StaleTimestamp { skew_seconds }
            }
        }
    }
}

/// The conversions between [`EventKind`] and [`StoredKind`], whose variants and fields
/// match one for one; every field converts with `Into`.
macro_rules! convert_kinds {
    ($($variant:ident $({ $($field:ident),* })?),* $(,)?) => {
        impl From<EventKind> for StoredKind {
            #[allow(clippy::useless_conversion, reason = "most fields have the same type")]
            fn from(k: EventKind) -> Self {
                match k {
                    $(EventKind::$variant $({ $($field),* })? =>
                        StoredKind::$variant $({ $($field: $field.into()),* })?,)*
                }
            }
        }

        impl From<StoredKind> for EventKind {
            #[allow(clippy::useless_conversion, reason = "most fields have the same type")]
            fn from(k: StoredKind) -> Self {
                match k {
                    $(StoredKind::$variant $({ $($field),* })? =>
                        EventKind::$variant $({ $($field: $field.into()),* })?,)*
                }
            }
        }
    };
}

convert_kinds! {
    GroupCreated,
    GroupEdited,
    GroupDeleted,
    Registered,
    Edited,
    AllocationStarted { operation, target },
    Allocated { operation, target, asset_id },
    AllocationFailed { operation, code, message },
    ResetStarted { operation },
    Reset { operation, initialized },
    ReplaceStarted { operation, old_serial },
    Replaced { operation, old_serial },
    DeleteStarted { operation },
    Deleted,
    OperationFailed { operation, code, message },
    OperationDeferred { operation, message },
    OperationResumed { operation, attempt },
    Bootstrapped,
    BootstrapRefused { reason, suppressed },
    GroupSecretRotated { previous_kept },
    SecretRevealed,
}
