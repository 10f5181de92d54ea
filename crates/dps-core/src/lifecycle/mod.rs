//! The allocation lifecycle: every change of a device, as a pure step that returns the
//! device's next version together with the one event that records it.
//!
//! One file per operation holds its begin, its settlement and its roll-back, and names the
//! events it records:
//!
//! | file | begins | settles | rolls back / fails |
//! |---|---|---|---|
//! | `allocate.rs` | [`Device::begin_allocate`] → `AllocationStarted` | `Allocated` | `AllocationFailed` |
//! | `reset.rs` | [`Device::begin_reset`] → `ResetStarted` | `Reset` | `OperationFailed` |
//! | `replace.rs` | [`Device::begin_replace`] → `ReplaceStarted` | `Replaced` | `OperationFailed` |
//! | `delete.rs` | [`Device::begin_delete`] → `Deleted` or `DeleteStarted` | `Deleted` | `OperationFailed` |
//! | `recover.rs` | [`Device::claim`] → `OperationResumed` | — | `OperationDeferred` (transient) |
//! | `contact.rs` | — | [`Device::bootstrapped`] → `Bootstrapped`, [`Device::first_contact`] → `Edited` | — |
//!
//! An operation that calls the environment begins with a [`Begun`]: the intent (a
//! [`Transition`] to commit before the call) and the [`PendingDevice`] to drive after it. A
//! pending device says which [`EnvCall`] it waits for, and [`PendingDevice::settle`] turns the
//! environment's answer into a [`Settlement`]: the transition to commit and what the caller
//! is told. The [`Provisioner`](crate::Provisioner) only commits and calls; it never decides
//! an outcome.
//!
//! The state diagram is in the [`state`](crate::state) module.

mod allocate;
mod contact;
mod delete;
mod recover;
mod replace;
mod reset;

pub use delete::DeleteStart;

use crate::changeset::Transition;
use crate::device::Device;
use crate::environment::{Credentials, EnvironmentError, OnboardRequest, Onboarded};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::group::RegistrationGroup;
use crate::id::Version;
use crate::state::{AllocationState, AllocationStatus, Operation, Pending, PendingAction};
use crate::text::{AssetId, SerialNumber, Target};
use crate::time::Timestamp;

/// Where a device ended up after a successful operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The device is in this status at this version.
    Settled {
        /// The status.
        status: AllocationStatus,
        /// The version.
        version: Version,
    },
    /// The device was deleted.
    Deleted,
}

impl Outcome {
    /// Where `device` is now.
    pub fn of(device: &Device) -> Self {
        Outcome::Settled {
            status: device.status(),
            version: device.version(),
        }
    }
}

/// A begun environment operation: the intent to commit before the environment is called,
/// and the pending device to drive once it is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Begun {
    /// The device's move to its pending state, with the operation's start event.
    pub intent: Transition,
    /// The device in that pending state.
    pub pending: PendingDevice,
}

impl Begun {
    fn new(old: &Device, pending: Device, kind: EventKind, now: Timestamp) -> Self {
        Self {
            intent: Transition::update(old, pending.clone(), kind, now),
            pending: PendingDevice { device: pending },
        }
    }
}

/// A device whose state is [`AllocationState::Pending`]: what a begun operation or a
/// recovery claim produces, and what the driver accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDevice {
    // Invariant: `device.state` is `AllocationState::Pending`. Only this module's steps build
    // a `PendingDevice`, each from a state it has just made pending.
    device: Device,
}

/// The environment call a pending device waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvCall<'a> {
    /// [`Environment::onboard`](crate::Environment::onboard) to `target`.
    Onboard {
        /// The target.
        target: &'a Target,
        /// The device facts the target needs.
        request: OnboardRequest,
    },
    /// [`Environment::offboard`](crate::Environment::offboard) of `asset_id` from `target`.
    Offboard {
        /// The target.
        target: &'a Target,
        /// The asset to remove.
        asset_id: &'a AssetId,
    },
    /// [`Environment::reissue`](crate::Environment::reissue) of `asset_id`'s credentials for
    /// the hardware `serial`.
    Reissue {
        /// The target.
        target: &'a Target,
        /// The asset that keeps its identity.
        asset_id: &'a AssetId,
        /// The new hardware's serial.
        serial: &'a SerialNumber,
    },
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

/// What a pending device becomes once the environment answered.
#[derive(Debug)]
pub struct Settlement {
    /// The change to commit, with its event.
    pub transition: Transition,
    /// What the caller is told once it is committed.
    pub result: Result<Outcome>,
    /// What to commit instead when the store refuses `transition` because its serial was
    /// registered to another device meanwhile (only a rejected replacement, which would
    /// return to its old serial, has one).
    pub fallback: Option<Transition>,
}

impl Settlement {
    fn settled(transition: Transition) -> Self {
        let result = Ok(transition.device().map_or(Outcome::Deleted, Outcome::of));
        Self {
            transition,
            result,
            fallback: None,
        }
    }

    fn failed(transition: Transition, error: Error) -> Self {
        Self {
            transition,
            result: Err(error),
            fallback: None,
        }
    }
}

impl PendingDevice {
    /// The pending device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The pending operation.
    pub fn pending(&self) -> &Pending {
        match &self.device.state {
            AllocationState::Pending(pending) => pending,
            // A `PendingDevice` is only ever built from a pending state.
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => {
                unreachable!("a PendingDevice is pending")
            }
        }
    }

    /// The device, consuming this value.
    pub fn into_device(self) -> Device {
        self.device
    }

    /// The environment call the operation waits for.
    pub fn call(&self) -> EnvCall<'_> {
        match self.pending().action() {
            PendingAction::Allocate { target, .. } => EnvCall::Onboard {
                target,
                request: self.device.onboard_request(),
            },
            PendingAction::Reset { from } | PendingAction::Delete { from } => EnvCall::Offboard {
                target: from.target(),
                asset_id: from.asset_id(),
            },
            PendingAction::Replace { from, .. } => EnvCall::Reissue {
                target: from.target(),
                asset_id: from.asset_id(),
                serial: self.device.serial(),
            },
        }
    }

    /// Settles the operation with the environment's `answer` to [`PendingDevice::call`]:
    /// success completes it, a rejection rolls it back with the refusal recorded, and a
    /// transient failure leaves it pending with its lease released for
    /// [`Provisioner::recover`](crate::Provisioner::recover).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when `answer` does not answer the call (credentials for a
    /// pending reset, say).
    pub fn settle(
        &self,
        group: &RegistrationGroup,
        answer: std::result::Result<EnvOutcome, EnvironmentError>,
        now: Timestamp,
    ) -> Result<Settlement> {
        let action = self.pending().action();
        let outcome = match answer {
            Ok(outcome) => outcome,
            Err(e) => return Ok(self.failed(Error::from(e), now)),
        };
        match (action, outcome) {
            (PendingAction::Allocate { target, .. }, EnvOutcome::Onboarded(o)) => {
                Ok(allocate::settle(self, target, o, now))
            }
            (PendingAction::Reset { .. }, EnvOutcome::Offboarded) => {
                Ok(reset::settle(self, group, now))
            }
            (
                PendingAction::Replace {
                    from,
                    old_serial,
                    batch_tag,
                    description,
                },
                EnvOutcome::Reissued(credentials),
            ) => Ok(replace::settle(
                self,
                from,
                old_serial,
                batch_tag,
                description.as_ref(),
                credentials,
                now,
            )),
            (PendingAction::Delete { .. }, EnvOutcome::Offboarded) => Ok(delete::settle(self, now)),
            (
                PendingAction::Allocate { .. }
                | PendingAction::Reset { .. }
                | PendingAction::Replace { .. }
                | PendingAction::Delete { .. },
                EnvOutcome::Onboarded(_) | EnvOutcome::Offboarded | EnvOutcome::Reissued(_),
            ) => Err(Error::InvalidState(crate::state::TransitionError {
                from: AllocationStatus::Pending,
                operation: Operation::Complete,
                pending: Some(self.pending().operation()),
            })),
        }
    }

    /// The settlement of a failed environment call.
    fn failed(&self, error: Error, now: Timestamp) -> Settlement {
        match &error {
            Error::EnvironmentRejected { .. } => match self.pending().action() {
                PendingAction::Allocate { from, .. } => {
                    allocate::rejected(self, from.clone(), error, now)
                }
                PendingAction::Reset { from } | PendingAction::Delete { from } => {
                    rejected(self, AllocationState::Allocated(from.clone()), error, now)
                }
                PendingAction::Replace {
                    from, old_serial, ..
                } => replace::rejected(self, from, old_serial, error, now),
            },
            _ => recover::deferred(self, error, now),
        }
    }

    /// The device's next version, still carrying the pending state.
    fn next(&self, now: Timestamp) -> Device {
        self.device.next(now)
    }
}

/// A rejected reset or deletion: back to `state` with the refusal recorded
/// (`OperationFailed`).
fn rejected(
    pending: &PendingDevice,
    state: AllocationState,
    error: Error,
    now: Timestamp,
) -> Settlement {
    let (d, kind) = rolled_back(pending, state, &error, now);
    Settlement::failed(Transition::update(&pending.device, d, kind, now), error)
}

/// The device back in `state` with `error` recorded, and the `OperationFailed` event.
fn rolled_back(
    pending: &PendingDevice,
    state: AllocationState,
    error: &Error,
    now: Timestamp,
) -> (Device, EventKind) {
    let mut d = pending.next(now);
    d.state = state;
    d.last_error = Some(Box::new(crate::device::LastError::from_error(error, now)));
    let kind = EventKind::OperationFailed {
        operation: pending.pending().operation(),
        code: error.code().to_owned(),
        message: error.to_string(),
    };
    (d, kind)
}

/// The state of a pending operation that starts at `now` and is leased until `lease_until`.
fn pending_state(
    operation: crate::id::OperationId,
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

impl Device {
    /// The crate error for a refused transition of this device.
    fn refuse(&self, e: crate::state::TransitionError) -> Error {
        e.into_error(self.id())
    }
}

#[cfg(test)]
mod tests;
