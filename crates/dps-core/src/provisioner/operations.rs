//! Allocate, reset, replace and delete, one device or a selection at a time, and the driver
//! that calls the environment for a pending device and commits its settlement.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};

use crate::device::Device;
use crate::environment::Environment;
use crate::error::{Entity, Error, Result};
use crate::group::RegistrationGroup;
use crate::id::{GroupId, Version};
use crate::lifecycle::{
    Begun, DeleteStart, EnvCall, EnvOutcome, Outcome, PendingDevice, Settlement,
};
use crate::store::{DeviceQuery, Store};
use crate::text::SerialNumber;

use super::{BatchReport, DeviceOutcome, NewSerial, Provisioner, ReplaceRequest, Selection};

/// A batch operation.
#[derive(Debug, Clone, Copy)]
enum BatchOp {
    Allocate,
    Reset,
    Delete,
}

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Allocates the selected devices to their resolved targets.
    ///
    /// Per device: the target resolves (own, else the group's default), a private model stays
    /// with its first target, the model exists in the target (else the failure is recorded
    /// on the device), then the pending state is committed and the environment onboards it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group and store errors while selecting; per-device
    /// failures are in the report.
    pub async fn allocate(&self, group: GroupId, selection: &Selection) -> Result<BatchReport> {
        self.batch(group, selection, BatchOp::Allocate).await
    }

    /// Resets the selected devices' allocations as the group's reprovision method says.
    ///
    /// # Errors
    ///
    /// As [`Provisioner::allocate`].
    pub async fn reset(&self, group: GroupId, selection: &Selection) -> Result<BatchReport> {
        self.batch(group, selection, BatchOp::Reset).await
    }

    /// Deletes the selected devices, offboarding allocated ones first.
    ///
    /// # Errors
    ///
    /// As [`Provisioner::allocate`].
    pub async fn delete(&self, group: GroupId, selection: &Selection) -> Result<BatchReport> {
        self.batch(group, selection, BatchOp::Delete).await
    }

    /// Deletes one device if it is still at `expected` version.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`], environment and store errors.
    pub async fn delete_device(
        &self,
        group: GroupId,
        serial: &SerialNumber,
        expected: Option<Version>,
    ) -> Result<Outcome> {
        let device = self.device_by_serial(group, serial).await?;
        self.delete_one(device, expected).await
    }

    /// Replaces an allocated device's hardware: the device takes the new serial, the target
    /// reissues its device key and secret, and the asset ID stays.
    ///
    /// When the target rejects the replacement, the device returns to its allocation and its
    /// old credentials with the refusal as its last error, and normally to its old serial. If
    /// another device registered the old serial while the replacement was pending, the device
    /// keeps the new serial instead (no replacement is recorded); read it back by ID to see
    /// which serial it has.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRegistered`] for a taken serial, [`Error::InvalidState`] unless the
    /// device is allocated, environment and store errors.
    pub async fn replace(
        &self,
        group: GroupId,
        serial: &SerialNumber,
        request: ReplaceRequest,
    ) -> Result<Device> {
        let group = self.group(group).await?;
        let device = self.device_by_serial(group.id(), serial).await?;
        let new_serial = match request.new_serial {
            NewSerial::Given(s) => s,
            NewSerial::Generated => self.generate_serial(),
        };
        if self
            .store
            .device_by_serial(group.id(), &new_serial)
            .await?
            .is_some()
        {
            return Err(Error::AlreadyRegistered {
                group: group.id(),
                serial: new_serial,
            });
        }
        let now = self.now();
        let op = self.new_op();
        let begun = device.begin_replace(
            new_serial,
            request.batch_tag,
            request.description,
            op,
            now,
            self.lease_from(now),
        )?;
        self.start(&group, begun).await?;
        self.device(device.id()).await
    }

    /// Runs `op` over the selected devices of `group`, a page at a time.
    async fn batch(
        &self,
        group: GroupId,
        selection: &Selection,
        op: BatchOp,
    ) -> Result<BatchReport> {
        let group = self.group(group).await?;
        let mut report = BatchReport::default();
        match selection {
            Selection::Serials(serials) => {
                for chunk in serials.chunks(self.config.page_size) {
                    let found = self.store.devices_by_serials(group.id(), chunk).await?;
                    let mut by_serial: HashMap<SerialNumber, Device> =
                        found.into_iter().map(|d| (d.serial().clone(), d)).collect();
                    let work: Vec<(SerialNumber, Option<Device>)> = chunk
                        .iter()
                        .map(|s| (s.clone(), by_serial.remove(s)))
                        .collect();
                    self.run_page(&group, work.into_iter(), op, &mut report)
                        .await;
                }
            }
            Selection::Filter(filter) => {
                let query = DeviceQuery::new(group.id(), filter.clone());
                let mut after = None;
                loop {
                    let page = self
                        .store
                        .devices(&query, after.take(), self.config.page_size)
                        .await?;
                    let full = page.len() == self.config.page_size;
                    after = page.last().map(|d| d.serial().clone());
                    let work = page.into_iter().map(|d| (d.serial().clone(), Some(d)));
                    self.run_page(&group, work, op, &mut report).await;
                    if !full {
                        break;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Runs `op` over one page of devices, [`Config::concurrency`](crate::Config) at a time.
    async fn run_page(
        &self,
        group: &RegistrationGroup,
        work: impl ExactSizeIterator<Item = (SerialNumber, Option<Device>)>,
        op: BatchOp,
        report: &mut BatchReport,
    ) {
        report.outcomes.reserve(work.len());
        let mut outcomes = stream::iter(work)
            .map(|(serial, device)| async move {
                let Some(device) = device else {
                    return DeviceOutcome {
                        result: Err(Error::not_found(Entity::Device, &serial)),
                        serial,
                        device_id: None,
                    };
                };
                let device_id = Some(device.id());
                // Each operation's future is boxed once, so that the batch moves a small
                // future per device rather than one as large as the largest operation's.
                let result = match op {
                    BatchOp::Allocate => Box::pin(self.allocate_one(group, device)).await,
                    BatchOp::Reset => Box::pin(self.reset_one(group, device)).await,
                    BatchOp::Delete => Box::pin(self.delete_one(device, None)).await,
                };
                DeviceOutcome {
                    serial,
                    device_id,
                    result,
                }
            })
            .buffered(self.config.concurrency.max(1));
        while let Some(outcome) = outcomes.next().await {
            report.outcomes.push(outcome);
        }
    }

    /// Allocates one device (shared with the bootstrap's auto-activation).
    pub(super) async fn allocate_one(
        &self,
        group: &RegistrationGroup,
        device: Device,
    ) -> Result<Outcome> {
        let target = device.allocation_target(group)?;
        if !self.env.model_exists(&target, device.model_id()).await? {
            let err = Error::ModelMissing {
                model: device.model_id().to_string(),
                target: target.to_string(),
            };
            let now = self.now();
            self.commit(device.allocation_failed(&err, now)?).await?;
            return Err(err);
        }
        let now = self.now();
        let begun = device.begin_allocate(group, self.new_op(), now, self.lease_from(now))?;
        // Only the pending state goes on.
        drop(device);
        self.start(group, begun).await
    }

    async fn reset_one(&self, group: &RegistrationGroup, device: Device) -> Result<Outcome> {
        let now = self.now();
        let begun = device.begin_reset(group, self.new_op(), now, self.lease_from(now))?;
        drop(device);
        self.start(group, begun).await
    }

    async fn delete_one(&self, device: Device, expected: Option<Version>) -> Result<Outcome> {
        let now = self.now();
        let op = self.new_op();
        match device.begin_delete(expected, op, now, self.lease_from(now))? {
            DeleteStart::Now(transition) => {
                self.commit(transition).await?;
                Ok(Outcome::Deleted)
            }
            DeleteStart::Offboard(begun) => {
                let group = self.group(device.group_id()).await?;
                drop(device);
                self.start(&group, begun).await
            }
        }
    }

    /// Commits a begun operation's intent, then drives it.
    async fn start(&self, group: &RegistrationGroup, begun: Begun) -> Result<Outcome> {
        let Begun { intent, pending } = begun;
        self.commit(intent).await?;
        self.drive(group, pending).await
    }

    /// Calls the environment for a committed pending device and commits the settlement.
    pub(super) async fn drive(
        &self,
        group: &RegistrationGroup,
        pending: PendingDevice,
    ) -> Result<Outcome> {
        let op = pending.pending().operation();
        let answer = match pending.call() {
            EnvCall::Onboard { target, request } => self
                .env
                .onboard(op, target, &request)
                .await
                .map(EnvOutcome::Onboarded),
            EnvCall::Offboard { target, asset_id } => self
                .env
                .offboard(op, target, asset_id)
                .await
                .map(|()| EnvOutcome::Offboarded),
            EnvCall::Reissue {
                target,
                asset_id,
                serial,
            } => self
                .env
                .reissue(op, target, asset_id, serial)
                .await
                .map(EnvOutcome::Reissued),
        };
        // Everything between the environment's answer and the commit is synchronous, so that
        // a batch's per-device future holds one device and one settlement across its awaits.
        let Settlement {
            transition,
            result,
            fallback,
        } = pending.settle(group, answer, self.now())?;
        drop(pending);
        match (self.commit(transition).await, fallback) {
            (Err(Error::AlreadyRegistered { .. }), Some(fallback)) => {
                self.commit(fallback).await?;
            }
            (other, _) => other?,
        }
        result
    }
}
