//! Allocate, reset, replace and delete, one device or a selection at a time: each device is
//! planned here and run a page at a time by `page.rs`.

use std::collections::HashMap;

use crate::device::Device;
use crate::environment::{Environment, EnvironmentError};
use crate::error::{Entity, Error, Result};
use crate::group::RegistrationGroup;
use crate::id::{DeviceId, GroupId, Version};
use crate::lifecycle::{self, DeleteStart, Outcome};
use crate::store::{DeviceQuery, Store};
use crate::text::{ModelId, SerialNumber, Target};

use super::page::{Plan, Ran, StartedPage};
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
    /// The selection is worked a page ([`Config::page_size`](crate::Config)) at a time: one
    /// commit records the page's pending states (each device with its own operation ID,
    /// lease and event), the environment is called for
    /// [`Config::concurrency`](crate::Config) devices at once, and one commit settles the
    /// page. A device that changed or vanished since it was read is reported on its own and
    /// holds up no other; a crash between the two commits leaves pending devices that
    /// [`Provisioner::recover`](crate::Provisioner::recover) completes with their operation
    /// IDs. Give [`Config::lease`](crate::Config) time for a page's environment calls.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group and store errors while selecting,
    /// [`Error::KeyUnavailable`] without a key to seal the credentials with (before any
    /// device is touched); per-device failures are in the report.
    pub async fn allocate(&self, group: GroupId, selection: &Selection) -> Result<BatchReport> {
        self.sealer.current_key()?;
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
        let group = self.group(device.group_id()).await?;
        let plan = self.plan_delete(&group, device, expected);
        self.run_one(plan).await
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
    /// device is allocated, [`Error::KeyUnavailable`] without a key to seal the new
    /// credentials with, environment and store errors.
    pub async fn replace(
        &self,
        group: GroupId,
        serial: &SerialNumber,
        request: ReplaceRequest,
    ) -> Result<Device> {
        self.sealer.current_key()?;
        let group = self.group(group).await?;
        let device = self.device_by_serial(group.id(), serial).await?;
        let id = device.id();
        let new_serial = self.new_serial(request.new_serial.clone());
        let taken = self
            .store
            .device_by_serial(group.id(), &new_serial)
            .await?
            .is_some();
        let plan = self.plan_replace(&group, device, new_serial, request, taken);
        self.run_one(plan).await?;
        self.device(id).await
    }

    /// Replaces many allocated devices' hardware, as [`Provisioner::replace`] does for one:
    /// each pair names a device by its current serial and its replacement. The devices are
    /// worked a page at a time like [`Provisioner::allocate`]: one commit for the page's
    /// pending replacements, the targets' reissues [`Config::concurrency`](crate::Config) at
    /// a time, one commit for the results. A new serial that is taken (also by an earlier
    /// replacement of the same call) fails that device with [`Error::AlreadyRegistered`].
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group and store errors while reading,
    /// [`Error::KeyUnavailable`] without a sealing key; per-device failures are in the
    /// report, keyed by the devices' current serials.
    pub async fn replace_many(
        &self,
        group: GroupId,
        replacements: Vec<(SerialNumber, ReplaceRequest)>,
    ) -> Result<BatchReport> {
        self.sealer.current_key()?;
        let group = self.group(group).await?;
        let mut report = BatchReport::default();
        let mut replacements = replacements.into_iter();
        loop {
            let page: Vec<(SerialNumber, ReplaceRequest)> =
                replacements.by_ref().take(self.config.page_size).collect();
            if page.is_empty() {
                return Ok(report);
            }
            let serials: Vec<SerialNumber> = page.iter().map(|(s, _)| s.clone()).collect();
            let mut found: HashMap<SerialNumber, Device> = self
                .store
                .devices_by_serials(group.id(), &serials)
                .await?
                .into_iter()
                .map(|d| (d.serial().clone(), d))
                .collect();
            let page: Vec<(SerialNumber, SerialNumber, ReplaceRequest)> = page
                .into_iter()
                .map(|(old, request)| (old, self.new_serial(request.new_serial.clone()), request))
                .collect();
            let new_serials: Vec<SerialNumber> = page.iter().map(|(_, n, _)| n.clone()).collect();
            let taken: std::collections::HashSet<SerialNumber> = self
                .store
                .devices_by_serials(group.id(), &new_serials)
                .await?
                .into_iter()
                .map(|d| d.serial().clone())
                .collect();
            let mut selected = Vec::with_capacity(page.len());
            let mut plans = Vec::with_capacity(page.len());
            for (old, new_serial, request) in page {
                let Some(device) = found.remove(&old) else {
                    plans.push(Plan::Refused(Error::not_found(Entity::Device, &old)));
                    selected.push((old, None));
                    continue;
                };
                selected.push((old, Some(device.id())));
                let is_taken = taken.contains(&new_serial);
                plans.push(self.plan_replace(&group, device, new_serial, request, is_taken));
            }
            let ran = self.run_page(plans).await;
            for ((serial, device_id), ran) in selected.into_iter().zip(ran) {
                report.outcomes.push(DeviceOutcome {
                    serial,
                    device_id,
                    result: ran.into_result(),
                });
            }
        }
    }

    /// The serial a replacement asks for.
    fn new_serial(&self, new_serial: NewSerial) -> SerialNumber {
        match new_serial {
            NewSerial::Given(s) => s,
            NewSerial::Generated => self.generate_serial(),
        }
    }

    /// The replacement of one device's hardware with `new_serial`, which is `taken` or not.
    fn plan_replace<'g>(
        &self,
        group: &'g RegistrationGroup,
        device: Device,
        new_serial: SerialNumber,
        request: ReplaceRequest,
        taken: bool,
    ) -> Plan<'g> {
        if taken {
            return Plan::Refused(Error::AlreadyRegistered {
                group: group.id(),
                serial: new_serial,
            });
        }
        let now = self.now();
        match lifecycle::begin_replace(
            &device,
            new_serial,
            request.batch_tag,
            request.description,
            self.new_op(),
            now,
            self.lease_from(now),
        ) {
            Ok(begun) => Plan::Begun { begun, group },
            Err(e) => Plan::Refused(e),
        }
    }

    /// Runs `op` over the selected devices of `group`, a page at a time. While one page's
    /// results are committed, the next page is read, its intents committed and its
    /// environment calls made, so that the store and the environment work side by side.
    async fn batch(
        &self,
        group: GroupId,
        selection: &Selection,
        op: BatchOp,
    ) -> Result<BatchReport> {
        let group = self.group(group).await?;
        let mut report = BatchReport::default();
        let mut pages = match selection {
            Selection::Serials(serials) => Pages::Serials(serials.chunks(self.config.page_size)),
            Selection::Filter(filter) => Pages::Filter {
                query: DeviceQuery::new(group.id(), filter.clone()),
                after: None,
                done: false,
            },
        };
        let mut previous: Option<(Vec<Selected>, StartedPage)> = None;
        loop {
            let next = async {
                let Some(work) = self.next_page(group.id(), &mut pages).await? else {
                    return Ok::<_, Error>(None);
                };
                let (selected, plans) = self.plan_page(&group, work, op).await;
                let begun = self.begin_page(plans).await;
                Ok(Some((selected, self.call_page(begun).await)))
            };
            let finish = async {
                match previous.take() {
                    Some((selected, started)) => Some((selected, self.finish_page(started).await)),
                    None => None,
                }
            };
            let (next, finished) = futures_util::future::join(next, finish).await;
            if let Some((selected, ran)) = finished {
                report.outcomes.reserve(ran.len());
                for ((serial, device_id), ran) in selected.into_iter().zip(ran) {
                    report.outcomes.push(DeviceOutcome {
                        serial,
                        device_id,
                        result: ran.into_result(),
                    });
                }
            }
            match next? {
                Some(started) => previous = Some(started),
                None => return Ok(report),
            }
        }
    }

    /// The next page of the selection: each serial with its device, if it exists.
    async fn next_page(
        &self,
        group: GroupId,
        pages: &mut Pages<'_>,
    ) -> Result<Option<Vec<(SerialNumber, Option<Device>)>>> {
        match pages {
            Pages::Serials(chunks) => {
                let Some(chunk) = chunks.next() else {
                    return Ok(None);
                };
                let found = self.store.devices_by_serials(group, chunk).await?;
                let mut by_serial: HashMap<SerialNumber, Device> =
                    found.into_iter().map(|d| (d.serial().clone(), d)).collect();
                Ok(Some(
                    chunk
                        .iter()
                        .map(|s| (s.clone(), by_serial.remove(s)))
                        .collect(),
                ))
            }
            Pages::Filter { query, after, done } => {
                if *done {
                    return Ok(None);
                }
                let page = self
                    .store
                    .devices(query, after.take(), self.config.page_size)
                    .await?;
                *done = page.len() < self.config.page_size;
                *after = page.last().map(|d| d.serial().clone());
                if page.is_empty() {
                    return Ok(None);
                }
                Ok(Some(
                    page.into_iter()
                        .map(|d| (d.serial().clone(), Some(d)))
                        .collect(),
                ))
            }
        }
    }

    /// Plans one page of devices for `op`: what each selected serial is, and its plan.
    async fn plan_page<'g>(
        &self,
        group: &'g RegistrationGroup,
        work: Vec<(SerialNumber, Option<Device>)>,
        op: BatchOp,
    ) -> (Vec<Selected>, Vec<Plan<'g>>) {
        let models = match op {
            BatchOp::Allocate => {
                self.models_of(group, work.iter().filter_map(|(_, d)| d.as_ref()))
                    .await
            }
            BatchOp::Reset | BatchOp::Delete => ModelCheck::default(),
        };
        let mut selected = Vec::with_capacity(work.len());
        let mut plans = Vec::with_capacity(work.len());
        for (serial, device) in work {
            let Some(device) = device else {
                plans.push(Plan::Refused(Error::not_found(Entity::Device, &serial)));
                selected.push((serial, None));
                continue;
            };
            selected.push((serial, Some(device.id())));
            plans.push(match op {
                BatchOp::Allocate => self.plan_allocate(group, device, &models),
                BatchOp::Reset => self.plan_reset(group, device),
                BatchOp::Delete => self.plan_delete(group, device, None),
            });
        }
        (selected, plans)
    }

    /// Runs one planned device as a page of its own.
    async fn run_one(&self, plan: Plan<'_>) -> Result<Outcome> {
        self.run_page(vec![plan]).await.pop().map_or_else(
            || unreachable!("a page has an outcome per plan"),
            Ran::into_result,
        )
    }

    /// Allocates one device (shared with the bootstrap's auto-activation).
    pub(super) async fn allocate_one(
        &self,
        group: &RegistrationGroup,
        device: Device,
    ) -> Result<Outcome> {
        let models = self.models_of(group, std::iter::once(&device)).await;
        let plan = self.plan_allocate(group, device, &models);
        self.run_one(plan).await
    }

    /// Asks the environment once per target and model of `devices` whether the model exists.
    async fn models_of<'d>(
        &self,
        group: &RegistrationGroup,
        devices: impl Iterator<Item = &'d Device>,
    ) -> ModelCheck {
        let mut check = ModelCheck::default();
        for device in devices {
            let Ok(target) = device.allocation_target(group) else {
                continue;
            };
            let key = (target, device.model_id().clone());
            if check.0.contains_key(&key) {
                continue;
            }
            let exists = self.env.model_exists(&key.0, &key.1).await;
            check.0.insert(key, exists);
        }
        check
    }

    /// The allocation of one device, given which models exist in their targets.
    fn plan_allocate<'g>(
        &self,
        group: &'g RegistrationGroup,
        device: Device,
        models: &ModelCheck,
    ) -> Plan<'g> {
        let target = match device.allocation_target(group) {
            Ok(target) => target,
            Err(e) => return Plan::Refused(e),
        };
        let exists = models
            .0
            .get(&(target.clone(), device.model_id().clone()))
            .cloned()
            .unwrap_or(Ok(false));
        match exists {
            Ok(true) => {}
            Ok(false) => {
                let err = Error::ModelMissing {
                    model: device.model_id().to_string(),
                    target: target.to_string(),
                };
                return match lifecycle::allocation_failed(&device, &err, self.now()) {
                    Ok(transition) => Plan::Final {
                        transition,
                        result: Err(err),
                    },
                    Err(e) => Plan::Refused(e),
                };
            }
            Err(e) => return Plan::Refused(e.into()),
        }
        let now = self.now();
        match lifecycle::begin_allocate(&device, group, self.new_op(), now, self.lease_from(now)) {
            Ok(begun) => Plan::Begun { begun, group },
            Err(e) => Plan::Refused(e),
        }
    }

    /// The reset of one device.
    fn plan_reset<'g>(&self, group: &'g RegistrationGroup, device: Device) -> Plan<'g> {
        let now = self.now();
        match lifecycle::begin_reset(&device, group, self.new_op(), now, self.lease_from(now)) {
            Ok(begun) => Plan::Begun { begun, group },
            Err(e) => Plan::Refused(e),
        }
    }

    /// The deletion of one device of `group` if it is still at `expected` version.
    fn plan_delete<'g>(
        &self,
        group: &'g RegistrationGroup,
        device: Device,
        expected: Option<Version>,
    ) -> Plan<'g> {
        let now = self.now();
        match lifecycle::begin_delete(&device, expected, self.new_op(), now, self.lease_from(now)) {
            Ok(DeleteStart::Now(transition)) => Plan::Final {
                transition,
                result: Ok(Outcome::Deleted),
            },
            Ok(DeleteStart::Offboard(begun)) => Plan::Begun { begun, group },
            Err(e) => Plan::Refused(e),
        }
    }
}

/// A selected serial and the device it names, if any.
type Selected = (SerialNumber, Option<DeviceId>);

/// Where a batch's pages come from.
enum Pages<'s> {
    /// Listed serials, a page at a time.
    Serials(std::slice::Chunks<'s, SerialNumber>),
    /// A filter's matches, by keyset.
    Filter {
        /// The group and filter.
        query: DeviceQuery,
        /// The last serial of the page before.
        after: Option<SerialNumber>,
        /// Whether the last page was short, so that there is no other.
        done: bool,
    },
}

/// Whether each target and model that a page allocates to exists, as the environment
/// answered.
#[derive(Default)]
struct ModelCheck(HashMap<(Target, ModelId), std::result::Result<bool, EnvironmentError>>);
