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

    /// Starts allocating to the target that [`Device::allocation_target`] resolves:
    /// `NotAllocated` → `Pending(allocate)`, event `AllocationStarted`.
    ///
    /// # Errors
    ///
    /// As [`Device::allocation_target`].
    pub(crate) fn begin_allocate(
        &self,
        group: &RegistrationGroup,
        op: OperationId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Begun> {
        let target = self.allocation_target(group)?;
        let from = self.not_allocated()?.clone();
        let mut d = self.next(now);
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
        Ok(Begun::new(self, d, kind, now))
    }

    /// This device, still not allocated, with a failed allocation recorded (the model is
    /// missing in the target, say): event `AllocationFailed` without an operation.
    ///
    /// # Errors
    ///
    /// A transition error unless the device is not allocated.
    pub(crate) fn allocation_failed(&self, error: &Error, now: Timestamp) -> Result<Transition> {
        self.not_allocated()?;
        let mut d = self.next(now);
        d.last_error = Some(Box::new(LastError::from_error(error, now)));
        let kind = EventKind::AllocationFailed {
            operation: None,
            code: error.code().to_owned(),
            message: error.to_string(),
        };
        Ok(Transition::update(self, d, kind, now))
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
