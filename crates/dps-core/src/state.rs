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
//! committed before the environment is called, and [`Pending::complete`] or
//! [`Pending::roll_back`] settles it afterwards. Every illegal move is an explicit match arm
//! returning a [`TransitionError`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::environment::{Credentials, Onboarded};
use crate::error::{Error, Field, Rule, ValidationError};
use crate::id::{DeviceId, OperationId};
use crate::text::{AssetId, BatchTag, Description, SerialNumber, Target};
use crate::time::Timestamp;

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
    fn new(state: &AllocationState, operation: Operation) -> Self {
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

    /// The crate error for this refusal on `device`: `operation_in_progress` when the device
    /// is pending, `invalid_state` otherwise.
    pub fn into_error(self, device: DeviceId) -> Error {
        match self.pending {
            Some(operation) => Error::OperationInProgress { device, operation },
            None => Error::InvalidState(self),
        }
    }
}

/// The data of a device that is not allocated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotAllocated {
    reprovisioned: bool,
}

impl NotAllocated {
    /// Whether the device was allocated before and has been reset since.
    pub fn reprovisioned(&self) -> bool {
        self.reprovisioned
    }
}

/// The data of an allocated device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocated {
    target: Target,
    asset_id: AssetId,
    credentials: Credentials,
    allocated_at: Timestamp,
    bootstrapped_at: Option<Timestamp>,
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
    /// The credentials the target issued.
    pub fn credentials(&self) -> &Credentials {
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
    pub fn bootstrapped(&self, now: Timestamp) -> Self {
        Self {
            bootstrapped_at: Some(now),
            ..self.clone()
        }
    }
}

/// What a pending device is waiting for, with the state to return to if it fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    operation: OperationId,
    // Boxed: the action carries what the device returns to on a rejection, which would
    // otherwise make every device as large as the largest pending action.
    action: Box<PendingAction>,
    started_at: Timestamp,
    lease_until: Option<Timestamp>,
    attempts: u32,
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
    pub fn released(&self) -> Self {
        Self {
            lease_until: None,
            ..self.clone()
        }
    }

    /// This operation claimed by a new driver until `lease_until`.
    #[must_use]
    pub fn claimed(&self, lease_until: Timestamp) -> Self {
        Self {
            lease_until: Some(lease_until),
            attempts: self.attempts.saturating_add(1),
            ..self.clone()
        }
    }

    /// Settles the operation with what the environment returned.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] when `outcome` does not answer this action (for example
    /// credentials for a pending reset).
    pub fn complete(
        &self,
        outcome: EnvOutcome,
        now: Timestamp,
    ) -> Result<Completion, TransitionError> {
        let refuse = || TransitionError {
            from: AllocationStatus::Pending,
            operation: Operation::Complete,
            pending: Some(self.operation),
        };
        match (&*self.action, outcome) {
            (PendingAction::Allocate { target, .. }, EnvOutcome::Onboarded(o)) => {
                Ok(Completion::State(AllocationState::Allocated(Allocated {
                    target: target.clone(),
                    asset_id: o.asset_id,
                    credentials: o.credentials,
                    allocated_at: now,
                    bootstrapped_at: None,
                })))
            }
            (PendingAction::Reset { .. }, EnvOutcome::Offboarded) => Ok(Completion::State(
                AllocationState::NotAllocated(NotAllocated {
                    reprovisioned: true,
                }),
            )),
            (PendingAction::Replace { from, .. }, EnvOutcome::Reissued(credentials)) => {
                Ok(Completion::State(AllocationState::Allocated(Allocated {
                    credentials,
                    bootstrapped_at: None,
                    ..from.clone()
                })))
            }
            (PendingAction::Delete { .. }, EnvOutcome::Offboarded) => Ok(Completion::Deleted),
            (
                PendingAction::Allocate { .. }
                | PendingAction::Reset { .. }
                | PendingAction::Replace { .. }
                | PendingAction::Delete { .. },
                EnvOutcome::Onboarded(_) | EnvOutcome::Offboarded | EnvOutcome::Reissued(_),
            ) => Err(refuse()),
        }
    }

    /// The state to return to when the environment rejects the operation.
    pub fn roll_back(&self) -> AllocationState {
        match &*self.action {
            PendingAction::Allocate { from, .. } => AllocationState::NotAllocated(from.clone()),
            PendingAction::Reset { from }
            | PendingAction::Replace { from, .. }
            | PendingAction::Delete { from } => AllocationState::Allocated(from.clone()),
        }
    }
}

/// The facts of a replacement that a pending state keeps until it settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceIntent {
    /// The serial of the hardware being replaced.
    pub old_serial: SerialNumber,
    /// The batch tag of the new registration.
    pub batch_tag: BatchTag,
    /// The device's description after the replacement.
    pub description: Option<Description>,
}

/// What the environment returned for a pending operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvOutcome {
    /// `onboard` succeeded.
    Onboarded(Onboarded),
    /// `offboard` succeeded.
    Offboarded,
    /// `reissue` succeeded.
    Reissued(Credentials),
}

/// Where a settled operation leaves the device.
#[allow(clippy::large_enum_variant, reason = "a short-lived return value")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The device's new state.
    State(AllocationState),
    /// The device is to be deleted.
    Deleted,
}

/// What deleting a device takes.
#[allow(clippy::large_enum_variant, reason = "a short-lived return value")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteStep {
    /// Not allocated: delete at once.
    Now,
    /// Allocated: offboard first, in this pending state.
    Offboard(AllocationState),
}

/// A device's allocation state; see the [module documentation](self) for the diagram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

    /// The pending operation, when pending.
    pub fn pending(&self) -> Option<&Pending> {
        match self {
            AllocationState::Pending(p) => Some(p),
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => None,
        }
    }

    fn pending_state(
        operation: OperationId,
        action: PendingAction,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> AllocationState {
        AllocationState::Pending(Pending {
            operation,
            action: Box::new(action),
            started_at: now,
            lease_until: Some(lease_until),
            attempts: 1,
        })
    }

    /// Checks that the device is settled (not pending), as an edit requires.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] when the device is pending.
    pub fn check_settled(&self, operation: Operation) -> Result<(), TransitionError> {
        match self {
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => Ok(()),
            AllocationState::Pending(_) => Err(TransitionError::new(self, operation)),
        }
    }

    /// Checks that the device may be allocated (it is not allocated).
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] when it is pending or allocated.
    pub fn check_allocatable(&self) -> Result<(), TransitionError> {
        match self {
            AllocationState::NotAllocated(_) => Ok(()),
            AllocationState::Pending(_) | AllocationState::Allocated(_) => {
                Err(TransitionError::new(self, Operation::Allocate))
            }
        }
    }

    /// Checks that the device is pending.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] naming [`Operation::Complete`] when it is settled.
    pub fn check_pending(&self) -> Result<&Pending, TransitionError> {
        match self {
            AllocationState::Pending(p) => Ok(p),
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => {
                Err(TransitionError::new(self, Operation::Complete))
            }
        }
    }

    /// Starts allocating to `target`: `NotAllocated` → `Pending(allocate)`.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] unless the device is not allocated.
    pub fn begin_allocate(
        &self,
        op: OperationId,
        target: Target,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<AllocationState, TransitionError> {
        match self {
            AllocationState::NotAllocated(from) => Ok(Self::pending_state(
                op,
                PendingAction::Allocate {
                    target,
                    from: from.clone(),
                },
                now,
                lease_until,
            )),
            AllocationState::Pending(_) | AllocationState::Allocated(_) => {
                Err(TransitionError::new(self, Operation::Allocate))
            }
        }
    }

    /// Starts a reset: `Allocated` → `Pending(reset)`.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] unless the device is allocated.
    pub fn begin_reset(
        &self,
        op: OperationId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<AllocationState, TransitionError> {
        match self {
            AllocationState::Allocated(from) => Ok(Self::pending_state(
                op,
                PendingAction::Reset { from: from.clone() },
                now,
                lease_until,
            )),
            AllocationState::NotAllocated(_) | AllocationState::Pending(_) => {
                Err(TransitionError::new(self, Operation::Reset))
            }
        }
    }

    /// Starts a hardware replacement: `Allocated` → `Pending(replace)`.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] unless the device is allocated.
    pub fn begin_replace(
        &self,
        op: OperationId,
        replacement: ReplaceIntent,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<AllocationState, TransitionError> {
        match self {
            AllocationState::Allocated(from) => Ok(Self::pending_state(
                op,
                PendingAction::Replace {
                    from: from.clone(),
                    old_serial: replacement.old_serial,
                    batch_tag: replacement.batch_tag,
                    description: replacement.description,
                },
                now,
                lease_until,
            )),
            AllocationState::NotAllocated(_) | AllocationState::Pending(_) => {
                Err(TransitionError::new(self, Operation::Replace))
            }
        }
    }

    /// Starts a deletion: at once when not allocated, through `Pending(delete)` (offboarding)
    /// when allocated.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] when the device is pending.
    pub fn begin_delete(
        &self,
        op: OperationId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<DeleteStep, TransitionError> {
        match self {
            AllocationState::NotAllocated(_) => Ok(DeleteStep::Now),
            AllocationState::Allocated(from) => Ok(DeleteStep::Offboard(Self::pending_state(
                op,
                PendingAction::Delete { from: from.clone() },
                now,
                lease_until,
            ))),
            AllocationState::Pending(_) => Err(TransitionError::new(self, Operation::Delete)),
        }
    }

    /// Records a bootstrap at `now`: `Allocated` → `Allocated` with `bootstrapped_at` set.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] unless the device is allocated.
    pub fn bootstrap(&self, now: Timestamp) -> Result<AllocationState, TransitionError> {
        match self {
            AllocationState::Allocated(a) => Ok(AllocationState::Allocated(a.bootstrapped(now))),
            AllocationState::NotAllocated(_) | AllocationState::Pending(_) => {
                Err(TransitionError::new(self, Operation::Bootstrap))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::OperationId;
    use crate::secret::Secret;
    use crate::text::Key;
    use uuid::Uuid;

    fn op(n: u128) -> OperationId {
        OperationId::from_uuid(Uuid::from_u128(n))
    }

    fn target() -> Target {
        "prod/acme".parse().unwrap()
    }

    fn onboarded(asset: &str) -> Onboarded {
        Onboarded {
            asset_id: AssetId::new(asset).unwrap(),
            credentials: Credentials {
                product_key: Key::new("pk").unwrap(),
                device_key: Key::new("dk").unwrap(),
                device_secret: Secret::new("s").unwrap(),
            },
        }
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    fn allocated() -> AllocationState {
        let p = AllocationState::default()
            .begin_allocate(op(1), target(), t(0), t(10))
            .unwrap();
        match p
            .pending()
            .unwrap()
            .complete(EnvOutcome::Onboarded(onboarded("a1")), t(1))
        {
            Ok(Completion::State(s)) => s,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn allocate_then_reset_round_trips_to_not_allocated() {
        let a = allocated();
        assert_eq!(a.status(), AllocationStatus::Allocated);
        let p = a.begin_reset(op(2), t(2), t(12)).unwrap();
        let Ok(Completion::State(n)) = p.pending().unwrap().complete(EnvOutcome::Offboarded, t(3))
        else {
            panic!("reset did not settle");
        };
        let AllocationState::NotAllocated(na) = n else {
            panic!("not reset")
        };
        assert!(na.reprovisioned());
    }

    #[test]
    fn illegal_moves_are_refused_with_the_state_named() {
        let na = AllocationState::default();
        let e = na.begin_reset(op(1), t(0), t(1)).unwrap_err();
        assert_eq!(e.from, AllocationStatus::NotAllocated);
        assert_eq!(e.operation, Operation::Reset);
        let intent = ReplaceIntent {
            old_serial: "x".parse().unwrap(),
            batch_tag: "b".parse().unwrap(),
            description: None,
        };
        assert!(na.begin_replace(op(1), intent, t(0), t(1)).is_err());
        assert!(
            allocated()
                .begin_allocate(op(1), target(), t(0), t(1))
                .is_err()
        );

        let p = na.begin_allocate(op(7), target(), t(0), t(1)).unwrap();
        let e = p.begin_delete(op(8), t(0), t(1)).unwrap_err();
        assert_eq!(e.pending, Some(op(7)));
        assert_eq!(
            e.into_error(DeviceId::from_uuid(Uuid::nil())).code(),
            "operation_in_progress"
        );
    }

    #[test]
    fn mismatched_outcome_is_refused_and_roll_back_restores() {
        let a = allocated();
        let p = a.begin_reset(op(2), t(2), t(12)).unwrap();
        let pending = p.pending().unwrap();
        assert!(
            pending
                .complete(EnvOutcome::Onboarded(onboarded("zz")), t(3))
                .is_err()
        );
        assert_eq!(pending.roll_back(), a);
    }

    #[test]
    fn leases_gate_recovery() {
        let p = AllocationState::default()
            .begin_allocate(op(1), target(), t(0), t(100))
            .unwrap();
        let pending = p.pending().unwrap();
        assert!(!pending.is_claimable(t(99)));
        assert!(pending.is_claimable(t(100)));
        assert!(pending.released().is_claimable(t(0)));
        assert_eq!(pending.claimed(t(200)).attempts(), 2);
    }
}
