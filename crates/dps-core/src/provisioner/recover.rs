//! Re-driving pending operations whose driver is gone or that failed transiently.

use std::collections::HashMap;

use serde::Serialize;

use crate::device::Device;
use crate::environment::Environment;
use crate::error::{Entity, Error, Result};
use crate::group::RegistrationGroup;
use crate::id::GroupId;
use crate::store::Store;
use crate::time::Timestamp;

use super::page::{Plan, Ran};
use super::{BatchReport, DeviceOutcome, Provisioner};

/// What [`Provisioner::recover`] did: the devices it completed, and the pending devices it
/// left alone because their driver's lease still runs.
///
/// Its JSON is the completed devices' [`BatchReport`] with the held leases beside it:
/// `{"succeeded": n, "failed": m, "outcomes": […], "leased": {"count": 1,
/// "earliest_expiry": 1700000060000}}` (`earliest_expiry` in Unix milliseconds, `null` when
/// no lease is held).
#[derive(Debug, Default)]
pub struct RecoverReport {
    /// One outcome per device that was claimed and driven again.
    pub completed: BatchReport,
    /// The pending devices whose lease had not run out.
    pub leased: Leased,
}

/// Pending devices that another driver still owns: their lease has not run out yet, so
/// [`Provisioner::recover`] may not take them over. Call it again after
/// [`earliest_expiry`](Self::earliest_expiry) to complete the first of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Leased {
    /// How many devices were left alone.
    pub count: usize,
    /// When the first of their leases runs out; `None` when `count` is 0.
    pub earliest_expiry: Option<Timestamp>,
}

impl Leased {
    fn add(&mut self, until: Timestamp) {
        self.count += 1;
        self.earliest_expiry = Some(self.earliest_expiry.map_or(until, |t| t.min(until)));
    }
}

impl Serialize for RecoverReport {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("RecoverReport", 4)?;
        s.serialize_field("succeeded", &self.completed.succeeded())?;
        s.serialize_field("failed", &self.completed.failed())?;
        s.serialize_field("outcomes", &self.completed.outcomes)?;
        s.serialize_field("leased", &self.leased)?;
        s.end()
    }
}

/// What recovery makes of one listed pending device.
#[allow(
    clippy::large_enum_variant,
    reason = "a short-lived value, turned into a plan at once"
)]
enum Claim<'g> {
    /// It is claimed and driven again.
    Plan(Plan<'g>),
    /// Its driver's lease runs until then.
    Leased(Timestamp),
    /// It is no longer pending in a way this instance may take over.
    Gone,
}

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Completes every pending operation whose lease has run out or was released: each is
    /// claimed (so that no other instance drives it meanwhile) and re-driven with its
    /// original [`OperationId`](crate::OperationId), a page at a time like
    /// [`Provisioner::allocate`]: one commit claims the page, one settles it. A device whose lease still runs is
    /// counted in [`RecoverReport::leased`] (with the earliest expiry, so that a caller knows
    /// when to come back); one that another instance claimed, settled or deleted after it was
    /// listed is left out of the report.
    ///
    /// # Errors
    ///
    /// Store errors while listing; per-device failures are in the report.
    pub async fn recover(&self) -> Result<RecoverReport> {
        let mut report = RecoverReport::default();
        let mut groups: HashMap<GroupId, Option<RegistrationGroup>> = HashMap::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .pending_devices(after, self.config.page_size)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id());
            let full = page.len() == self.config.page_size;
            let mut work = Vec::with_capacity(page.len());
            for device in page {
                let gid = device.group_id();
                if let std::collections::hash_map::Entry::Vacant(e) = groups.entry(gid) {
                    e.insert(self.store.group(gid).await?);
                }
                work.push((gid, device));
            }
            let mut plans = Vec::with_capacity(work.len());
            let mut listed = Vec::with_capacity(work.len());
            for (gid, device) in work {
                let serial = device.serial().clone();
                let id = device.id();
                let plan = match groups.get(&gid).and_then(Option::as_ref) {
                    None => Plan::Refused(Error::not_found(Entity::Group, gid)),
                    Some(group) => match self.plan_claim(group, device) {
                        Claim::Plan(plan) => plan,
                        Claim::Leased(until) => {
                            report.leased.add(until);
                            continue;
                        }
                        Claim::Gone => continue,
                    },
                };
                plans.push(plan);
                listed.push((serial, id));
            }
            for ((serial, id), ran) in listed.into_iter().zip(self.run_page(plans).await) {
                let result = match ran {
                    // Another instance claimed, settled or deleted the device after it was
                    // listed.
                    Ran::NotCommitted(Error::Conflict { .. } | Error::NotFound { .. }) => continue,
                    other => other.into_result(),
                };
                report.completed.outcomes.push(DeviceOutcome {
                    serial,
                    device_id: Some(id),
                    result,
                });
            }
            if !full {
                break;
            }
        }
        Ok(report)
    }

    /// The claim of one listed pending device, unless another driver's lease still runs.
    fn plan_claim<'g>(&self, group: &'g RegistrationGroup, device: Device) -> Claim<'g> {
        let now = self.now();
        match crate::lifecycle::claim(&device, now, self.lease_from(now)) {
            Ok(begun) => Claim::Plan(Plan::Begun { begun, group }),
            Err(Error::OperationInProgress { .. }) => {
                match device.state().pending().and_then(|p| p.lease_until()) {
                    Some(until) => Claim::Leased(until),
                    None => Claim::Gone,
                }
            }
            Err(e) => Claim::Plan(Plan::Refused(e)),
        }
    }
}
