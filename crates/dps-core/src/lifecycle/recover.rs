//! Recover: a pending operation whose driver is gone (its lease ran out) or that failed
//! transiently (its lease was released) is claimed by a new driver and driven again with its
//! original operation ID.

use super::pending::{Begun, PendingDevice, Settlement};
use crate::changeset::Transition;
use crate::device::{Device, LastError};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::state::{AllocationState, Operation, TransitionError};
use crate::time::Timestamp;

/// The environment failed transiently: still pending, with the lease released for
/// recovery and the error recorded; event `OperationDeferred`.
pub(super) fn deferred(pending: &PendingDevice, error: Error, now: Timestamp) -> Settlement {
    let operation = pending.pending();
    let mut d = pending.next(now);
    d.state = AllocationState::Pending(operation.released());
    d.last_error = Some(Box::new(LastError::from_error(&error, now)));
    let kind = EventKind::OperationDeferred {
        operation: operation.operation(),
        message: error.to_string(),
    };
    Settlement::failed(Transition::update(pending.device(), d, kind, now), error)
}

/// Claims a pending `device` for a new driver until `lease_until`, as
/// [`Provisioner::recover`](crate::Provisioner::recover) does.
///
/// # Errors
///
/// [`Error::OperationInProgress`] while another driver's lease runs, [`Error::InvalidState`]
/// unless the device is pending.
pub fn claim(device: &Device, now: Timestamp, lease_until: Timestamp) -> Result<Begun> {
    let pending = match &device.state {
        AllocationState::Pending(pending) => pending,
        AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => {
            return Err(device.refuse(TransitionError::new(&device.state, Operation::Complete)));
        }
    };
    if !pending.is_claimable(now) {
        return Err(Error::OperationInProgress {
            device: device.id(),
            operation: pending.operation(),
        });
    }
    let claimed = pending.claimed(lease_until);
    let kind = EventKind::OperationResumed {
        operation: claimed.operation(),
        attempt: claimed.attempts(),
    };
    let mut d = device.next(now);
    d.state = AllocationState::Pending(claimed);
    Ok(Begun::new(device, d, kind, now))
}
