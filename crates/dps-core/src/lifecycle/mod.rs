//! The allocation lifecycle: every change of a device, as a pure step that returns the
//! device's next version together with the one event that records it.
//!
//! One file per operation holds its begin and its settlement, and names the events it records;
//! a rejected reset or deletion rolls back through one shared step here, and a transient
//! failure of any operation is deferred by `recover.rs`:
//!
//! | file | begins | settles | rolls back / fails |
//! |---|---|---|---|
//! | `allocate.rs` | [`begin_allocate`] → `AllocationStarted` | `Allocated` | `AllocationFailed` ([`allocation_failed`]) |
//! | `reset.rs` | [`begin_reset`] → `ResetStarted` | `Reset` | `OperationFailed` |
//! | `replace.rs` | [`begin_replace`] → `ReplaceStarted` | `Replaced` | `OperationFailed` |
//! | `delete.rs` | [`begin_delete`] → `Deleted` or `DeleteStarted` | `Deleted` | `OperationFailed` |
//! | `recover.rs` | [`claim`] → `OperationResumed` | — | `OperationDeferred` (transient) |
//! | `contact.rs` | — | `Bootstrapped`; `Edited` at a device's first contact | — |
//!
//! The [`Provisioner`](crate::Provisioner) runs these steps for every operation; an embedder
//! never needs them. They are public for the authors of stores and environments, whose tests
//! build devices in every state (`dps-testkit` does), and for tools that plan changes
//! without a service: each is a pure function of its inputs, with no I/O.
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
mod pending;
mod recover;
mod replace;
mod reset;

pub use allocate::{allocation_failed, begin_allocate};
pub use delete::{DeleteStart, begin_delete};
pub use pending::{Begun, EnvCall, EnvOutcome, Outcome, PendingDevice, Settlement};
pub use recover::claim;
pub use replace::begin_replace;
pub use reset::begin_reset;

use pending::rolled_back;

use crate::changeset::Transition;
use crate::device::{Device, DeviceEdit};
use crate::error::{Error, Result};
use crate::group::RegistrationGroup;
use crate::state::{AllocationState, AllocationStatus, Operation, PendingAction};
use crate::time::Timestamp;

/// `device` with `edit` applied, at the next version: every field but the serial.
///
/// # Errors
///
/// [`Error::Conflict`] when `edit.expected_version` is stale, [`Error::OperationInProgress`]
/// when the device is pending, attribute errors when the result does not fit `group`'s schema.
pub fn edit(
    device: &Device,
    group: &RegistrationGroup,
    edit: &DeviceEdit,
    now: Timestamp,
) -> Result<Device> {
    device.edited(group, edit, now)
}

impl PendingDevice {
    /// Settles the operation with the environment's `answer` to [`PendingDevice::call`]:
    /// success completes it, a rejection rolls it back with the refusal recorded, and a
    /// transient failure leaves it pending with its lease released for
    /// [`Provisioner::recover`](crate::Provisioner::recover).
    ///
    /// # Errors
    ///
    /// [`Error::OperationInProgress`] when `answer` does not answer the call (credentials for
    /// a pending reset, say): the operation stays pending.
    pub fn settle(
        &self,
        group: &RegistrationGroup,
        answer: Result<EnvOutcome>,
        now: Timestamp,
    ) -> Result<Settlement> {
        let action = self.pending().action();
        let outcome = match answer {
            Ok(outcome) => outcome,
            Err(e) => return Ok(self.failed(e, now)),
        };
        match (action, outcome) {
            (
                PendingAction::Allocate { target, .. },
                EnvOutcome::Onboarded {
                    asset_id,
                    credentials,
                },
            ) => Ok(allocate::settle(self, target, asset_id, credentials, now)),
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
                EnvOutcome::Onboarded { .. } | EnvOutcome::Offboarded | EnvOutcome::Reissued(_),
            ) => Err(crate::state::TransitionError {
                from: AllocationStatus::Pending,
                operation: Operation::Complete,
                pending: Some(self.pending().operation()),
            }
            .into_error(self.device().id())),
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
    Settlement::failed(Transition::update(pending.device(), d, kind, now), error)
}

#[cfg(test)]
mod tests;
