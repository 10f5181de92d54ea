//! The shapes a begun operation takes: its intent, the pending device, the environment call it
//! waits for, and the settlement of the answer.

use crate::changeset::Transition;
use crate::device::{Device, LastError};
use crate::environment::OnboardRequest;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::id::{OperationId, Version};
use crate::state::{
    Allocated, AllocationState, AllocationStatus, Operation, Pending, PendingAction,
    SealedCredentials, TransitionError,
};
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
    pub(super) fn new(old: &Device, pending: Device, kind: EventKind, now: Timestamp) -> Self {
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

/// What the environment returned for a pending operation, its credentials sealed for the
/// device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvOutcome {
    /// `onboard` succeeded.
    Onboarded {
        /// The identity the target gave the device.
        asset_id: AssetId,
        /// The credentials it issued.
        credentials: SealedCredentials,
    },
    /// `offboard` succeeded.
    Offboarded,
    /// `reissue` succeeded.
    Reissued(SealedCredentials),
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
    pub(super) fn settled(transition: Transition) -> Self {
        let result = Ok(transition.device().map_or(Outcome::Deleted, Outcome::of));
        Self {
            transition,
            result,
            fallback: None,
        }
    }

    pub(super) fn failed(transition: Transition, error: Error) -> Self {
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

    /// The target of the environment call the operation waits for.
    pub fn target(&self) -> &Target {
        match self.pending().action() {
            PendingAction::Allocate { target, .. } => target,
            PendingAction::Reset { from }
            | PendingAction::Delete { from }
            | PendingAction::Replace { from, .. } => from.target(),
        }
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

    /// The device's next version, still carrying the pending state.
    pub(super) fn next(&self, now: Timestamp) -> Device {
        self.device.next(now)
    }
}

/// The device back in `state` with `error` recorded, and the `OperationFailed` event.
pub(super) fn rolled_back(
    pending: &PendingDevice,
    state: AllocationState,
    error: &Error,
    now: Timestamp,
) -> (Device, EventKind) {
    let mut d = pending.next(now);
    d.state = state;
    d.last_error = Some(Box::new(LastError::from_error(error, now)));
    let kind = EventKind::OperationFailed {
        operation: pending.pending().operation(),
        code: error.code().to_owned(),
        message: error.to_string(),
    };
    (d, kind)
}

/// The state of a pending operation that starts at `now` and is leased until `lease_until`.
pub(super) fn pending_state(
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

impl Device {
    /// The crate error for a refused transition of this device.
    pub(super) fn refuse(&self, e: TransitionError) -> Error {
        e.into_error(self.id())
    }

    /// The allocation that `operation` starts from, or its refusal unless the device is
    /// allocated.
    pub(super) fn allocated_for(&self, operation: Operation) -> Result<&Allocated> {
        match &self.state {
            AllocationState::Allocated(allocated) => Ok(allocated),
            AllocationState::NotAllocated(_) | AllocationState::Pending(_) => {
                Err(self.refuse(TransitionError::new(&self.state, operation)))
            }
        }
    }
}
