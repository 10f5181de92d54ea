//! Replace: `Allocated` → `Pending(replace)` → `Allocated` with new credentials for the new
//! hardware, the same asset ID and the old serial in the replacement history. The device
//! carries the new serial from the intent on, so that the store reserves it; a rejection
//! returns to the old serial and credentials.

use super::pending::{Begun, PendingDevice, Settlement, pending_state, rolled_back};
use crate::changeset::Transition;
use crate::device::{Device, Replacement};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::id::OperationId;
use crate::state::{Allocated, AllocationState, Operation, PendingAction, SealedCredentials};
use crate::text::{BatchTag, Description, SerialNumber};
use crate::time::Timestamp;

/// The target reissued the credentials: `Allocated` with them, the replacement recorded,
/// the new batch tag and description applied; event `Replaced`.
pub(super) fn settle(
    pending: &PendingDevice,
    from: &Allocated,
    old_serial: &SerialNumber,
    batch_tag: &BatchTag,
    description: Option<&Description>,
    credentials: SealedCredentials,
    now: Timestamp,
) -> Settlement {
    let mut d = pending.next(now);
    d.state = AllocationState::Allocated(Allocated {
        credentials,
        bootstrapped_at: None,
        ..from.clone()
    });
    d.replacements.push(Replacement {
        old_serial: old_serial.clone(),
        new_serial: d.serial.clone(),
        batch_tag: batch_tag.clone(),
        at: now,
    });
    d.batch_tag = Some(batch_tag.clone());
    d.description = description.cloned();
    d.last_error = None;
    let kind = EventKind::Replaced {
        operation: pending.pending().operation(),
        old_serial: old_serial.clone(),
    };
    Settlement::settled(Transition::update(pending.device(), d, kind, now))
}

/// The target refused the replacement: back to the allocation `from` and to `old_serial`,
/// with the refusal recorded (`OperationFailed`). If another device registered the old serial
/// while the replacement was pending, the fallback settles under the new serial, which this
/// device still holds, rather than leave it pending for ever.
pub(super) fn rejected(
    pending: &PendingDevice,
    from: &Allocated,
    old_serial: &SerialNumber,
    error: Error,
    now: Timestamp,
) -> Settlement {
    let state = AllocationState::Allocated(from.clone());
    let (kept, kind) = rolled_back(pending, state, &error, now);
    let mut back = kept.clone();
    back.serial = old_serial.clone();
    Settlement {
        transition: Transition::update(pending.device(), back, kind.clone(), now),
        result: Err(error),
        fallback: Some(Transition::update(pending.device(), kept, kind, now)),
    }
}

/// Begins replacing an allocated `device`'s hardware with `new_serial`.
///
/// # Errors
///
/// [`Error::InvalidState`] or [`Error::OperationInProgress`] unless the device is allocated.
pub fn begin_replace(
    device: &Device,
    new_serial: SerialNumber,
    batch_tag: BatchTag,
    description: Option<Description>,
    op: OperationId,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Begun> {
    let from = device.allocated_for(Operation::Replace)?.clone();
    let action = PendingAction::Replace {
        from,
        old_serial: device.serial().clone(),
        batch_tag,
        description,
    };
    let mut d = device.next(now);
    d.state = pending_state(op, action, now, lease_until);
    d.serial = new_serial;
    let kind = EventKind::ReplaceStarted {
        operation: op,
        old_serial: device.serial().clone(),
    };
    Ok(Begun::new(device, d, kind, now))
}
