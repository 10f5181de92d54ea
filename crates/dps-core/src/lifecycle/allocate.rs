//! Allocate: `NotAllocated` → `Pending(allocate)` → `Allocated`, or back to `NotAllocated`
//! with the failure recorded.

use super::pending::{Begun, PendingDevice, Settlement, pending_state, rolled_back};
use crate::changeset::Transition;
use crate::device::{Device, LastError};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::group::{ModelType, RegistrationGroup};
use crate::id::OperationId;
use crate::state::{
    Allocated, AllocationState, NotAllocated, Operation, PendingAction, SealedCredentials,
};
use crate::text::{AssetId, Target};
use crate::time::Timestamp;

impl Device {
    /// Checks the preconditions of an allocation that need no environment and returns the
    /// target: the device is not allocated, a target resolves, and a private-model device goes
    /// to its first target.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`], [`Error::OperationInProgress`], [`Error::NoTarget`] or
    /// [`Error::PrivateModelTarget`].
    pub(crate) fn allocation_target(&self, group: &RegistrationGroup) -> Result<Target> {
        self.not_allocated()?;
        let Some(target) = self.resolve_target(group) else {
            return Err(Error::NoTarget {
                serial: self.serial().clone(),
            });
        };
        if group.model_type() == ModelType::Private
            && let Some(first) = self.first_target()
            && first != target
        {
            return Err(Error::PrivateModelTarget {
                serial: self.serial().clone(),
                first: first.to_string(),
            });
        }
        Ok(target.clone())
    }

    /// The not-allocated state, or the refusal of an allocation.
    fn not_allocated(&self) -> Result<&NotAllocated> {
        match &self.state {
            AllocationState::NotAllocated(n) => Ok(n),
            AllocationState::Pending(_) | AllocationState::Allocated(_) => Err(self.refuse(
                crate::state::TransitionError::new(&self.state, Operation::Allocate),
            )),
        }
    }
}

/// The target onboarded the device: `Allocated`, event `Allocated`.
pub(super) fn settle(
    pending: &PendingDevice,
    target: &Target,
    asset_id: AssetId,
    credentials: SealedCredentials,
    now: Timestamp,
) -> Settlement {
    let operation = pending.pending().operation();
    let mut d = pending.next(now);
    let kind = EventKind::Allocated {
        operation,
        target: target.clone(),
        asset_id: asset_id.clone(),
    };
    d.state = AllocationState::Allocated(Allocated {
        target: target.clone(),
        asset_id,
        credentials,
        allocated_at: now,
        bootstrapped_at: None,
    });
    if d.first_target.is_none() {
        d.first_target = Some(target.clone());
    }
    d.last_error = None;
    Settlement::settled(Transition::update(pending.device(), d, kind, now))
}

/// The target refused the device: back to `from` with the refusal recorded, event
/// `AllocationFailed`.
pub(super) fn rejected(
    pending: &PendingDevice,
    from: NotAllocated,
    error: Error,
    now: Timestamp,
) -> Settlement {
    let (d, _) = rolled_back(pending, AllocationState::NotAllocated(from), &error, now);
    let kind = EventKind::AllocationFailed {
        operation: Some(pending.pending().operation()),
        code: error.code().to_owned(),
        message: error.to_string(),
    };
    Settlement::failed(Transition::update(pending.device(), d, kind, now), error)
}

/// Begins allocating `device` to the target it resolves to in `group`: the intent to commit
/// and the pending device that waits for the environment's `onboard`.
///
/// # Errors
///
/// [`Error::NoTarget`], [`Error::PrivateModelTarget`], and [`Error::InvalidState`] or
/// [`Error::OperationInProgress`] unless the device is not allocated.
pub fn begin_allocate(
    device: &Device,
    group: &RegistrationGroup,
    op: OperationId,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Begun> {
    let target = device.allocation_target(group)?;
    let from = device.not_allocated()?.clone();
    let mut d = device.next(now);
    d.state = pending_state(
        op,
        PendingAction::Allocate {
            target: target.clone(),
            from,
        },
        now,
        lease_until,
    );
    let kind = EventKind::AllocationStarted {
        operation: op,
        target,
    };
    Ok(Begun::new(device, d, kind, now))
}

/// The failed allocation of a not-allocated `device` that never reached the environment (a
/// missing model, say): `error` recorded as its last error, event `AllocationFailed`.
///
/// # Errors
///
/// [`Error::InvalidState`] or [`Error::OperationInProgress`] unless the device is not
/// allocated.
pub fn allocation_failed(device: &Device, error: &Error, now: Timestamp) -> Result<Transition> {
    device.not_allocated()?;
    let mut d = device.next(now);
    d.last_error = Some(Box::new(LastError::from_error(error, now)));
    let kind = EventKind::AllocationFailed {
        operation: None,
        code: error.code().to_owned(),
        message: error.to_string(),
    };
    Ok(Transition::update(device, d, kind, now))
}
