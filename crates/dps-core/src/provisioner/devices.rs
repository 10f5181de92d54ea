//! Registration (one, many, generated), reads, listings and edits of devices.

use crate::changeset::Transition;
use crate::device::{Device, DeviceEdit, NewDevice};
use crate::environment::Environment;
use crate::error::{Entity, Error, Result};
use crate::group::RegistrationGroup;
use crate::id::{DeviceId, GroupId};
use crate::import::{ImportFields, ImportMode, ImportPlan, ImportRecord};
use crate::store::{DeviceQuery, Store};
use crate::text::SerialNumber;

use super::{Atomicity, GenerateReport, GenerateSpec, Page, Provisioner, RegisterReport};

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Registers one device.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRegistered`], attribute errors, [`Error::NotFound`] for the group.
    pub async fn register(&self, group: GroupId, new: NewDevice) -> Result<Device> {
        let group = self.group(group).await?;
        let now = self.now();
        let device = Device::register(self.new_device_id(), &group, new, now)?;
        self.commit(Transition::registered(device.clone(), now))
            .await?;
        Ok(device)
    }

    /// Registers many devices, committing in chunks of
    /// [`Config::chunk_size`](crate::Config::chunk_size) (one commit for all with
    /// [`Atomicity::AllOrNothing`]).
    ///
    /// Each device is checked against the group's schema, against the other devices of the
    /// batch (a repeated serial is refused as already registered) and against the store. This
    /// is an import in [`ImportMode::Create`]: [`Provisioner::plan_import`], then
    /// [`Provisioner::apply_import`].
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group and store errors; per-device refusals are in the
    /// report.
    pub async fn register_many(
        &self,
        group: GroupId,
        devices: Vec<NewDevice>,
        atomicity: Atomicity,
    ) -> Result<RegisterReport> {
        let group = self.group(group).await?;
        let records = devices.into_iter().map(ImportRecord::new).collect();
        let plan = self.plan_create(&group, records).await?;
        let ids = plan.created_ids();
        let applied = self.apply_import(plan, atomicity).await?;
        let outcomes = applied
            .outcomes
            .into_iter()
            .zip(ids)
            .map(|(outcome, id)| match (outcome, id) {
                (Ok(_), Some(id)) => Ok(id),
                (Err(e), _) => Err(e),
                // A create plan gives every accepted record a new device.
                (Ok(_), None) => unreachable!("an accepted record of a create plan has an ID"),
            })
            .collect();
        Ok(RegisterReport {
            outcomes,
            committed: applied.committed,
        })
    }

    /// Registers `count` devices with generated serials: 16 characters of Crockford base32,
    /// the first 9 from the clock's millisecond (serials generated later sort later) and the
    /// last 7 from the secret source. A generated serial that is already taken is replaced
    /// by a fresh one.
    ///
    /// The devices are generated, checked and committed a chunk
    /// ([`Config::chunk_size`](crate::Config::chunk_size)) at a time, so that memory stays
    /// flat however many are asked for; a chunk that fails is committed one by one, as
    /// [`Provisioner::apply_import`] does.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group and store errors while checking serials; refusals
    /// (a store failure of one commit, a generated serial that was taken) are in the report.
    pub async fn generate(
        &self,
        group: GroupId,
        count: usize,
        spec: GenerateSpec,
    ) -> Result<GenerateReport> {
        let group = self.group(group).await?;
        let chunk = self.config.chunk_size.max(1);
        let mut report = GenerateReport::default();
        let mut left = count;
        // Fresh serials for taken ones, at most as many as were asked for.
        let mut retries = count;
        while left > 0 {
            let n = left.min(chunk);
            left -= n;
            let records = (0..n)
                .map(|_| {
                    let mut new = NewDevice::new(self.generate_serial(), spec.model_id.clone());
                    new.batch_tag.clone_from(&spec.batch_tag);
                    ImportRecord::new(new)
                })
                .collect();
            let plan = self.plan_create(&group, records).await?;
            let applied = self.apply_import(plan, Atomicity::BestEffort).await?;
            for outcome in applied.outcomes {
                match outcome {
                    Ok(_) => report.registered += 1,
                    Err(Error::AlreadyRegistered { .. }) if retries > 0 => {
                        retries -= 1;
                        left += 1;
                    }
                    Err(e) => report.refused.push(e),
                }
            }
        }
        Ok(report)
    }

    /// The device with this identifier.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub async fn device(&self, id: DeviceId) -> Result<Device> {
        self.store
            .device(id)
            .await?
            .ok_or_else(|| Error::not_found(Entity::Device, id))
    }

    /// The device of `group` with this serial.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group or the device.
    pub async fn device_by_serial(&self, group: GroupId, serial: &SerialNumber) -> Result<Device> {
        match self.store.device_by_serial(group, serial).await? {
            Some(device) => Ok(device),
            None => {
                self.group(group).await?;
                Err(Error::not_found(Entity::Device, serial))
            }
        }
    }

    /// One page of the devices matching `query`, by serial after `after`, at most `limit`.
    ///
    /// The page's `next` is `None` exactly when no device follows it (the listing reads one
    /// device ahead), so a caller stops at the last page without reading an empty one.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group, store errors.
    pub async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit: usize,
    ) -> Result<Page<Device, SerialNumber>> {
        let mut items = self
            .store
            .devices(query, after, limit.saturating_add(1))
            .await?;
        if items.is_empty() {
            self.group(query.group).await?;
        }
        let next = (items.len() > limit)
            .then(|| {
                items.truncate(limit);
                items.last().map(|d| d.serial().clone())
            })
            .flatten();
        Ok(Page { items, next })
    }

    /// How many devices match `query`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group, store errors.
    pub async fn count(&self, query: &DeviceQuery) -> Result<u64> {
        let n = self.store.count_devices(query).await?;
        if n == 0 {
            self.group(query.group).await?;
        }
        Ok(n)
    }

    /// Edits every field of a device but its serial.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`], [`Error::OperationInProgress`], attribute
    /// errors.
    pub async fn edit_device(
        &self,
        group: GroupId,
        serial: &SerialNumber,
        edit: &DeviceEdit,
    ) -> Result<Device> {
        let group = self.group(group).await?;
        let device = self.device_by_serial(group.id(), serial).await?;
        let now = self.now();
        let edited = device.edited(&group, edit, now)?;
        self.commit(Transition::edited(&device, edited.clone(), now))
            .await?;
        Ok(edited)
    }

    /// The plan that registers `records` in `group` as new devices.
    async fn plan_create(
        &self,
        group: &RegistrationGroup,
        records: Vec<ImportRecord>,
    ) -> Result<ImportPlan> {
        self.plan_import(group, records, ImportMode::Create, &ImportFields::default())
            .await
    }
}
