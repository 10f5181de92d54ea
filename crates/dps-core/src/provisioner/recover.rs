//! Re-driving pending operations whose driver is gone or that failed transiently.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};

use crate::device::Device;
use crate::environment::Environment;
use crate::error::{Entity, Error, Result};
use crate::group::RegistrationGroup;
use crate::id::GroupId;
use crate::lifecycle::{Begun, Outcome};
use crate::store::Store;

use super::{BatchReport, DeviceOutcome, Provisioner};

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Completes every pending operation whose lease has run out or was released: each is
    /// claimed (so that no other instance drives it meanwhile) and re-driven with its
    /// original [`OperationId`](crate::OperationId). A device whose lease still runs, or that
    /// another instance claimed, settled or deleted after it was listed, is left out of the
    /// report.
    ///
    /// # Errors
    ///
    /// Store errors while listing; per-device failures are in the report.
    pub async fn recover(&self) -> Result<BatchReport> {
        let mut report = BatchReport::default();
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
                let group = groups.get(&gid).cloned().flatten();
                work.push((group, device));
            }
            let mut outcomes = stream::iter(work)
                .map(|(group, device)| async move {
                    let serial = device.serial().clone();
                    let id = device.id();
                    let result = match group {
                        Some(group) => self.recover_one(&group, device).await?,
                        None => Err(Error::not_found(Entity::Group, device.group_id())),
                    };
                    Some(DeviceOutcome {
                        serial,
                        device_id: Some(id),
                        result,
                    })
                })
                .buffered(self.config.concurrency.max(1));
            while let Some(outcome) = outcomes.next().await {
                report.outcomes.extend(outcome);
            }
            if !full {
                break;
            }
        }
        Ok(report)
    }

    /// Claims and drives one pending device; `None` when another driver holds it or has
    /// changed it since it was listed, which leaves nothing to recover here.
    async fn recover_one(
        &self,
        group: &RegistrationGroup,
        device: Device,
    ) -> Option<Result<Outcome>> {
        let now = self.now();
        let Begun { intent, pending } = match device.claim(now, self.lease_from(now)) {
            Ok(begun) => begun,
            Err(Error::OperationInProgress { .. }) => return None,
            Err(e) => return Some(Err(e)),
        };
        drop(device);
        match self.commit(intent).await {
            Ok(()) => {}
            // Another instance claimed, settled or deleted the device after it was listed.
            Err(Error::Conflict { .. } | Error::NotFound { .. }) => return None,
            Err(e) => return Some(Err(e)),
        }
        Some(self.drive(group, pending).await)
    }
}
