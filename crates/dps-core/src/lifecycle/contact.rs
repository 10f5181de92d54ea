//! Contact: what a device's own bootstrap call records — the name and timezone it reports at
//! its first contact, and the time it bootstrapped.

use crate::changeset::Transition;
use crate::device::Device;
use crate::error::Result;
use crate::event::EventKind;
use crate::state::{AllocationState, Operation, TransitionError};
use crate::text::{DeviceName, Timezone};
use crate::time::Timestamp;

impl Device {
    /// This device with a bootstrap recorded at `now`: `Allocated` with `bootstrapped_at`
    /// set, event `Bootstrapped`.
    ///
    /// # Errors
    ///
    /// A transition error unless the device is allocated.
    pub(crate) fn bootstrapped(&self, now: Timestamp) -> Result<Transition> {
        let allocated = self.allocated_for(Operation::Bootstrap)?.bootstrapped(now);
        let mut d = self.next(now);
        d.state = AllocationState::Allocated(allocated);
        Ok(Transition::update(self, d, EventKind::Bootstrapped, now))
    }

    /// This device with the name and timezone that it reported when bootstrapping (event
    /// `Edited`); `None` when that changes nothing.
    ///
    /// The report counts only at the device's first contact (it is not allocated yet, or its
    /// allocation has not bootstrapped yet), and only fills fields that are empty: what an
    /// operator set stays.
    ///
    /// # Errors
    ///
    /// [`Error::OperationInProgress`](crate::Error::OperationInProgress) when the device is
    /// pending.
    pub(crate) fn first_contact(
        &self,
        name: Option<&DeviceName>,
        timezone: Option<Timezone>,
        now: Timestamp,
    ) -> Result<Option<Transition>> {
        let first = match &self.state {
            AllocationState::NotAllocated(_) => true,
            AllocationState::Allocated(a) => a.bootstrapped_at().is_none(),
            AllocationState::Pending(_) => {
                return Err(self.refuse(TransitionError::new(&self.state, Operation::Bootstrap)));
            }
        };
        let fill_name = name.filter(|_| first && self.name().is_none());
        let fill_timezone = timezone.filter(|_| first && self.timezone().is_none());
        if fill_name.is_none() && fill_timezone.is_none() {
            return Ok(None);
        }
        let mut d = self.next(now);
        if let Some(n) = fill_name {
            d.name = Some(n.clone());
        }
        if let Some(tz) = fill_timezone {
            d.timezone = Some(tz);
        }
        Ok(Some(Transition::edited(self, d, now)))
    }
}
