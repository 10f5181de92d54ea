//! The allocation state machine, as a pure type.
//!
//! ```text
//!                  register / import
//!                         |
//!                         v
//!    +-----------> NotAllocated --allocate--> Pending(allocate) --ok--> Allocated ----replace---+
//!    |               ^   | (last_error kept      |  env rejects: back to NotAllocated            |
//!    |               |   |  when allocate fails)  |  with last_error                             |
//!    |            reset  |                        v                                              |
//!    |               |   +----------------- crash: recover() re-drives with the same op id       |
//!    |            Pending(reset) <----reset------ Allocated <--------- Pending(replace) <--------+
//!    |                                              |
//!    +---- delete (any settled state; allocated devices are offboarded first) ----> gone
//! ```
//!
//! Each state's data lives in its variant. Starting an operation that calls the environment
//! moves a device to [`AllocationState::Pending`] with a fresh [`OperationId`]; that state is
//! committed before the environment is called, and settled afterwards. The moves themselves
//! live in the [`lifecycle`](crate::lifecycle) module, one file per operation; every illegal
//! move is an explicit match arm returning a [`TransitionError`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::OperationId;
use crate::seal::SealedSecret;
use crate::text::{AssetId, BatchTag, Description, Key, SerialNumber, Target};
use crate::time::Timestamp;
use crate::validation::{Field, Rule, ValidationError};

/// A device's allocation status, without its data (for filters and display).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStatus {
    /// Registered, not allocated to any target.
    NotAllocated,
    /// An environment operation has started and not finished.
    Pending,
    /// Allocated to a target and holding credentials.
    Allocated,
}

impl AllocationStatus {
    /// The status as a snake_case word: `not_allocated`, `pending` or `allocated`.
    pub fn as_str(self) -> &'static str {
        match self {
            AllocationStatus::NotAllocated => "not_allocated",
            AllocationStatus::Pending => "pending",
            AllocationStatus::Allocated => "allocated",
        }
    }
}

impl fmt::Display for AllocationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AllocationStatus {
    type Err = ValidationError;
    /// Parses `not_allocated`, `pending` or `allocated` (`-` may stand for `_`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "not_allocated" | "not-allocated" => Ok(AllocationStatus::NotAllocated),
            "pending" => Ok(AllocationStatus::Pending),
            "allocated" => Ok(AllocationStatus::Allocated),
            _ => Err(ValidationError::new(
                Field::Status,
                Rule::Format {
                    expected: "not_allocated, pending or allocated",
                },
            )),
        }
    }
}

/// An operation on a device, as named in transition errors and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Allocate to a target.
    Allocate,
    /// Reset the allocation.
    Reset,
    /// Replace the hardware.
    Replace,
    /// Delete the device.
    Delete,
    /// Edit the device's fields.
    Edit,
    /// The device's own bootstrap call.
    Bootstrap,
    /// Finish a pending operation.
    Complete,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Allocate => "allocate",
            Operation::Reset => "reset",
            Operation::Replace => "replace",
            Operation::Delete => "delete",
            Operation::Edit => "edit",
            Operation::Bootstrap => "bootstrap",
            Operation::Complete => "complete",
        })
    }
}

/// An operation that is not allowed in the device's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {operation} a device that is {from}")]
pub struct TransitionError {
    /// The status the device is in.
    pub from: AllocationStatus,
    /// The operation that was refused.
    pub operation: Operation,
    /// The operation in progress, when the device is pending.
    pub pending: Option<OperationId>,
}

impl TransitionError {
    /// The refusal of `operation` in `state`.
    pub(crate) fn new(state: &AllocationState, operation: Operation) -> Self {
        let pending = match state {
            AllocationState::Pending(p) => Some(p.operation),
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => None,
        };
        Self {
            from: state.status(),
            operation,
            pending,
        }
    }
}

/// The data of a device that is not allocated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotAllocated {
    pub(crate) reprovisioned: bool,
}

impl NotAllocated {
    /// Whether the device was allocated before and has been reset since.
    pub fn reprovisioned(&self) -> bool {
        self.reprovisioned
    }
}

/// The data of an allocated device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocated {
    pub(crate) target: Target,
    pub(crate) asset_id: AssetId,
    pub(crate) credentials: SealedCredentials,
    pub(crate) allocated_at: Timestamp,
    pub(crate) bootstrapped_at: Option<Timestamp>,
}

impl Allocated {
    /// Where the device is allocated.
    pub fn target(&self) -> &Target {
        &self.target
    }
    /// The asset ID the target gave the device.
    pub fn asset_id(&self) -> &AssetId {
        &self.asset_id
    }
    /// The credentials the target issued, their device secret sealed; open them with
    /// [`Provisioner::credentials`](crate::Provisioner::credentials).
    pub fn credentials(&self) -> &SealedCredentials {
        &self.credentials
    }
    /// When the allocation completed.
    pub fn allocated_at(&self) -> Timestamp {
        self.allocated_at
    }
    /// When the device last bootstrapped, if it has.
    pub fn bootstrapped_at(&self) -> Option<Timestamp> {
        self.bootstrapped_at
    }

    /// This allocation marked as bootstrapped at `now`.
    #[must_use]
    pub(crate) fn bootstrapped(&self, now: Timestamp) -> Self {
        Self {
            bootstrapped_at: Some(now),
            ..self.clone()
        }
    }
}

/// The credentials ("triple") of an allocated device as its record keeps them: the device
/// secret [sealed](crate::seal).
///
/// Its JSON is `{"product_key": …, "device_key": …}`, as that of
/// [`Credentials`](crate::Credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealedCredentials {
    /// The product key.
    pub product_key: Key,
    /// The device key.
    pub device_key: Key,
    /// The sealed device secret (left out of `Serialize`).
    #[serde(skip_serializing)]
    pub device_secret: SealedSecret,
}

/// What a pending device is waiting for, with the state to return to if it fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PendingAction {
    /// Onboarding to `target`.
    Allocate {
        /// The resolved target.
        target: Target,
        /// The state before.
        from: NotAllocated,
    },
    /// Offboarding for a reset.
    Reset {
        /// The state before.
        from: Allocated,
    },
    /// Reissuing credentials for new hardware; the device already carries the new serial.
    Replace {
        /// The state before.
        from: Allocated,
        /// The serial of the hardware being replaced.
        old_serial: SerialNumber,
        /// The batch tag of the new registration, applied on success.
        batch_tag: BatchTag,
        /// The device's description after the replacement, applied on success.
        description: Option<Description>,
    },
    /// Offboarding before deletion.
    Delete {
        /// The state before.
        from: Allocated,
    },
}

impl PendingAction {
    /// The allocation the device returns to if the operation fails; `None` for an
    /// allocation, which returns to not allocated.
    pub fn returns_to(&self) -> Option<&Allocated> {
        match self {
            PendingAction::Reset { from }
            | PendingAction::Delete { from }
            | PendingAction::Replace { from, .. } => Some(from),
            PendingAction::Allocate { .. } => None,
        }
    }

    /// The operation this action belongs to.
    pub fn operation(&self) -> Operation {
        match self {
            PendingAction::Allocate { .. } => Operation::Allocate,
            PendingAction::Reset { .. } => Operation::Reset,
            PendingAction::Replace { .. } => Operation::Replace,
            PendingAction::Delete { .. } => Operation::Delete,
        }
    }
}

/// The data of a device with an environment operation in progress.
///
/// The lease says until when the operation's driver owns it: [`Provisioner::recover`]
/// re-drives only pending devices whose lease has run out or was released (after a transient
/// failure), so that two service instances never drive one operation at the same time.
///
/// [`Provisioner::recover`]: crate::Provisioner::recover
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub(crate) operation: OperationId,
    // Boxed: the action carries what the device returns to on a rejection, which would
    // otherwise make every device as large as the largest pending action.
    pub(crate) action: Box<PendingAction>,
    pub(crate) started_at: Timestamp,
    pub(crate) lease_until: Option<Timestamp>,
    pub(crate) attempts: u32,
}

impl Pending {
    /// The operation's idempotency key.
    pub fn operation(&self) -> OperationId {
        self.operation
    }
    /// What the device is waiting for.
    pub fn action(&self) -> &PendingAction {
        &self.action
    }
    /// When the operation started.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }
    /// Until when the current driver owns the operation; `None` once released.
    pub fn lease_until(&self) -> Option<Timestamp> {
        self.lease_until
    }
    /// How many times the operation has been driven.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether a recovery may take the operation over at `now`.
    pub fn is_claimable(&self, now: Timestamp) -> bool {
        self.lease_until.is_none_or(|until| until <= now)
    }

    /// This operation with its lease released, after a transient failure.
    #[must_use]
    pub(crate) fn released(&self) -> Self {
        Self {
            lease_until: None,
            ..self.clone()
        }
    }

    /// This operation claimed by a new driver until `lease_until`.
    #[must_use]
    pub(crate) fn claimed(&self, lease_until: Timestamp) -> Self {
        Self {
            lease_until: Some(lease_until),
            attempts: self.attempts.saturating_add(1),
            ..self.clone()
        }
    }
}

/// A device's allocation state; see the [module documentation](self) for the diagram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AllocationState {
    /// Registered, not allocated.
    NotAllocated(NotAllocated),
    /// An environment operation is in progress.
    Pending(Pending),
    /// Allocated to a target.
    Allocated(Allocated),
}

impl Default for AllocationState {
    fn default() -> Self {
        AllocationState::NotAllocated(NotAllocated::default())
    }
}

impl AllocationState {
    /// The status without data.
    pub fn status(&self) -> AllocationStatus {
        match self {
            AllocationState::NotAllocated(_) => AllocationStatus::NotAllocated,
            AllocationState::Pending(_) => AllocationStatus::Pending,
            AllocationState::Allocated(_) => AllocationStatus::Allocated,
        }
    }

    /// The allocation data, when allocated.
    pub fn allocated(&self) -> Option<&Allocated> {
        match self {
            AllocationState::Allocated(a) => Some(a),
            AllocationState::NotAllocated(_) | AllocationState::Pending(_) => None,
        }
    }

    /// The allocation whose credentials the device keeps: its own when allocated, or the one
    /// a pending reset, replacement or deletion returns to if it fails.
    pub fn kept_allocation(&self) -> Option<&Allocated> {
        match self {
            AllocationState::Allocated(a) => Some(a),
            AllocationState::Pending(p) => p.action.returns_to(),
            AllocationState::NotAllocated(_) => None,
        }
    }

    /// [`AllocationState::kept_allocation`], to change.
    pub(crate) fn kept_allocation_mut(&mut self) -> Option<&mut Allocated> {
        match self {
            AllocationState::Allocated(a) => Some(a),
            AllocationState::Pending(p) => match &mut *p.action {
                PendingAction::Reset { from }
                | PendingAction::Delete { from }
                | PendingAction::Replace { from, .. } => Some(from),
                PendingAction::Allocate { .. } => None,
            },
            AllocationState::NotAllocated(_) => None,
        }
    }

    /// The pending operation, when pending.
    pub fn pending(&self) -> Option<&Pending> {
        match self {
            AllocationState::Pending(p) => Some(p),
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => None,
        }
    }

    /// Checks that the device is settled (not pending), as an edit requires.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] when the device is pending.
    pub(crate) fn check_settled(&self, operation: Operation) -> Result<(), TransitionError> {
        match self {
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => Ok(()),
            AllocationState::Pending(_) => Err(TransitionError::new(self, operation)),
        }
    }
}
