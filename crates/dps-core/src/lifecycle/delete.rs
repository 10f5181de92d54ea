//! Delete: at once when the device is not allocated; through `Pending(delete)` (offboarding
//! first) when it is. A rejected offboarding returns to the allocation.

use super::pending::{Begun, PendingDevice, Settlement, pending_state};
use crate::changeset::Transition;
use crate::device::Device;
use crate::error::Result;
use crate::event::EventKind;
use crate::id::{OperationId, Version};
use crate::state::{AllocationState, Operation, PendingAction, TransitionError};
use crate::time::Timestamp;

/// How a deletion starts.
#[allow(clippy::large_enum_variant, reason = "a short-lived return value")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteStart {
    /// The device is not allocated: this deletion (event `Deleted`) is all there is.
    Now(Transition),
    /// The device is allocated: it is offboarded first, from this pending state (event
    /// `DeleteStarted`).
    Offboard(Begun),
}

/// The target offboarded the device: it is deleted, event `Deleted`.
pub(super) fn settle(pending: &PendingDevice, now: Timestamp) -> Settlement {
    Settlement::settled(Transition::deleted(pending.device(), now))
}

/// Begins deleting `device`: at once when it is not allocated, after the environment's
/// `offboard` when it is.
///
/// # Errors
///
/// [`Error::Conflict`](crate::Error::Conflict) when `expected` is stale,
/// [`Error::OperationInProgress`](crate::Error::OperationInProgress) when the
/// device is pending.
pub fn begin_delete(
    device: &Device,
    expected: Option<Version>,
    op: OperationId,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<DeleteStart> {
    device.check_version(expected)?;
    match &device.state {
        AllocationState::NotAllocated(_) => Ok(DeleteStart::Now(Transition::deleted(device, now))),
        AllocationState::Allocated(from) => {
            let mut d = device.next(now);
            let action = PendingAction::Delete { from: from.clone() };
            d.state = pending_state(op, action, now, lease_until);
            let kind = EventKind::DeleteStarted { operation: op };
            Ok(DeleteStart::Offboard(Begun::new(device, d, kind, now)))
        }
        AllocationState::Pending(_) => {
            Err(device.refuse(TransitionError::new(&device.state, Operation::Delete)))
        }
    }
}
