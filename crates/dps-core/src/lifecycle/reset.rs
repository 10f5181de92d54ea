//! Reset: `Allocated` → `Pending(reset)` → `NotAllocated` (reprovisioned), as the group's
//! reprovision method says; a rejection returns to the allocation.

use super::pending::{Begun, PendingDevice, Settlement, pending_state};
use crate::changeset::Transition;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::group::{RegistrationGroup, ReprovisionMethod};
use crate::id::OperationId;
use crate::state::{AllocationState, NotAllocated, Operation, PendingAction};
use crate::time::Timestamp;

/// The target offboarded the device: `NotAllocated` and reprovisioned, with the attributes
/// back at their defaults when the group initializes; event `Reset`.
pub(super) fn settle(
    pending: &PendingDevice,
    group: &RegistrationGroup,
    now: Timestamp,
) -> Settlement {
    let initialized = group.reprovision() == ReprovisionMethod::Initialize;
    let mut d = pending.next(now);
    d.state = AllocationState::NotAllocated(NotAllocated {
        reprovisioned: true,
    });
    if initialized {
        d.attributes = group.attributes().defaults();
    }
    d.last_error = None;
    let kind = EventKind::Reset {
        operation: pending.pending().operation(),
        initialized,
    };
    Settlement::settled(Transition::update(pending.device(), d, kind, now))
}

/// Begins resetting an allocated `device` as `group`'s reprovision method says.
///
/// # Errors
///
/// [`Error::ReprovisionDisabled`], and [`Error::InvalidState`] or
/// [`Error::OperationInProgress`] unless the device is allocated.
pub fn begin_reset(
    device: &Device,
    group: &RegistrationGroup,
    op: OperationId,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Begun> {
    let from = device.allocated_for(Operation::Reset)?.clone();
    if group.reprovision() == ReprovisionMethod::Disabled {
        return Err(Error::ReprovisionDisabled { group: group.id() });
    }
    let mut d = device.next(now);
    d.state = pending_state(op, PendingAction::Reset { from }, now, lease_until);
    Ok(Begun::new(
        device,
        d,
        EventKind::ResetStarted { operation: op },
        now,
    ))
}
