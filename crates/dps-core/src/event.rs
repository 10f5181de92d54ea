//! The event log: one event for every committed change.

use serde::{Deserialize, Serialize};

use crate::bootstrap::BootstrapRefusal;
use crate::id::{DeviceId, EventCursor, GroupId, OperationId};
use crate::text::{Actor, AssetId, SerialNumber, Target};
use crate::time::Timestamp;

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes fields by reference"
)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A group was created.
    GroupCreated,
    /// A group's settings changed.
    GroupEdited,
    /// A group was deleted.
    GroupDeleted,
    /// A device was registered.
    Registered,
    /// A device's fields changed.
    Edited,
    /// An allocation started; the environment is being asked to onboard the device.
    AllocationStarted {
        /// The operation.
        operation: OperationId,
        /// The target.
        target: Target,
    },
    /// A device was allocated.
    Allocated {
        /// The operation.
        operation: OperationId,
        /// The target.
        target: Target,
        /// The asset ID the target issued.
        asset_id: AssetId,
    },
    /// An allocation failed; the device is not allocated and records the error.
    AllocationFailed {
        /// The operation, when the environment was asked to onboard.
        operation: Option<OperationId>,
        /// The error code.
        code: String,
        /// The error message.
        message: String,
    },
    /// A reset started; the environment is being asked to offboard the device.
    ResetStarted {
        /// The operation.
        operation: OperationId,
    },
    /// A device's allocation was reset.
    Reset {
        /// The operation.
        operation: OperationId,
        /// Whether the attributes were set back to their defaults.
        initialized: bool,
    },
    /// A hardware replacement started; the environment is being asked for new credentials.
    ReplaceStarted {
        /// The operation.
        operation: OperationId,
        /// The replaced hardware's serial.
        old_serial: SerialNumber,
    },
    /// A device's hardware was replaced.
    Replaced {
        /// The operation.
        operation: OperationId,
        /// The replaced hardware's serial.
        old_serial: SerialNumber,
    },
    /// A deletion started; the environment is being asked to offboard the device.
    DeleteStarted {
        /// The operation.
        operation: OperationId,
    },
    /// A device was deleted.
    Deleted,
    /// The environment rejected a reset, replacement or deletion; the state was rolled back.
    OperationFailed {
        /// The operation.
        operation: OperationId,
        /// The error code.
        code: String,
        /// The error message.
        message: String,
    },
    /// The environment failed transiently; the device stays pending until recovered.
    OperationDeferred {
        /// The operation.
        operation: OperationId,
        /// The error message.
        message: String,
    },
    /// A recovery took over a pending operation.
    OperationResumed {
        /// The operation.
        operation: OperationId,
        /// The attempt number, 2 or more.
        attempt: u32,
    },
    /// A device bootstrapped and received its credentials.
    Bootstrapped,
    /// A bootstrap request was refused as unauthorized. The device was told only
    /// `unauthorized`; the event keeps the real reason. The event's group is the one the
    /// request named (even when no such group exists) and its serial the one the request
    /// named; it has no device, because a refusal changes no record.
    BootstrapRefused {
        /// Why the request was refused.
        reason: BootstrapRefusal,
        /// How many refusals since the previous `BootstrapRefused` event went unrecorded
        /// because [`BootstrapConfig::refusal_events_per_minute`](crate::bootstrap::BootstrapConfig::refusal_events_per_minute)
        /// was reached (0 without a limit).
        #[serde(default, skip_serializing_if = "is_zero")]
        suppressed: u64,
    },
    /// A group's secret was replaced by a new one.
    GroupSecretRotated {
        /// Whether the replaced secret keeps verifying bootstrap requests for the grace
        /// period ([`BootstrapConfig::secret_grace`](crate::bootstrap::BootstrapConfig::secret_grace)).
        previous_kept: bool,
    },
    /// A person was shown a device's secret
    /// ([`Provisioner::reveal_credentials`](crate::Provisioner::reveal_credentials)).
    SecretRevealed,
}

impl EventKind {
    /// The kind as a snake_case word, as it appears in the event log's JSON (`kind`):
    /// `group_created`, `allocated`, `bootstrap_refused`, …
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::GroupCreated => "group_created",
            EventKind::GroupEdited => "group_edited",
            EventKind::GroupDeleted => "group_deleted",
            EventKind::Registered => "registered",
            EventKind::Edited => "edited",
            EventKind::AllocationStarted { .. } => "allocation_started",
            EventKind::Allocated { .. } => "allocated",
            EventKind::AllocationFailed { .. } => "allocation_failed",
            EventKind::ResetStarted { .. } => "reset_started",
            EventKind::Reset { .. } => "reset",
            EventKind::ReplaceStarted { .. } => "replace_started",
            EventKind::Replaced { .. } => "replaced",
            EventKind::DeleteStarted { .. } => "delete_started",
            EventKind::Deleted => "deleted",
            EventKind::OperationFailed { .. } => "operation_failed",
            EventKind::OperationDeferred { .. } => "operation_deferred",
            EventKind::OperationResumed { .. } => "operation_resumed",
            EventKind::Bootstrapped => "bootstrapped",
            EventKind::BootstrapRefused { .. } => "bootstrap_refused",
            EventKind::GroupSecretRotated { .. } => "group_secret_rotated",
            EventKind::SecretRevealed => "secret_revealed",
        }
    }
}

/// An event about to be committed; the store assigns its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// When it happened.
    pub at: Timestamp,
    /// Who made the change: the [`Provisioner::acting_as`](crate::Provisioner::acting_as)
    /// actor, such as an access token's name or `cli`; `None` when nobody was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The group concerned.
    pub group_id: GroupId,
    /// The device concerned, if any.
    pub device_id: Option<DeviceId>,
    /// The device's serial at the time, if a device is concerned.
    pub serial: Option<SerialNumber>,
    /// What happened.
    pub kind: EventKind,
}

/// A committed event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Its position in the log; pass it to [`Store::events`](crate::Store::events) to read on.
    pub cursor: EventCursor,
    /// When it happened.
    pub at: Timestamp,
    /// Who made the change: the [`Provisioner::acting_as`](crate::Provisioner::acting_as)
    /// actor, such as an access token's name or `cli`; `None` when nobody was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The group concerned.
    pub group_id: GroupId,
    /// The device concerned, if any.
    pub device_id: Option<DeviceId>,
    /// The device's serial at the time, if a device is concerned.
    pub serial: Option<SerialNumber>,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// The committed form of `new` at `cursor`.
    pub fn from_new(cursor: EventCursor, new: NewEvent) -> Self {
        Self {
            cursor,
            at: new.at,
            actor: new.actor,
            group_id: new.group_id,
            device_id: new.device_id,
            serial: new.serial,
            kind: new.kind,
        }
    }
}
