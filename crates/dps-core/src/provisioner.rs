//! The `Provisioner` service: every operation on groups and devices.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use crate::bootstrap::{BootstrapConfig, RefusalBudget};
use crate::device::{Device, DeviceEdit, NewDevice};
use crate::environment::Environment;
use crate::error::{Entity, Error, Result};
use crate::event::{Event, EventKind, NewEvent};
use crate::group::{GroupEdit, NewGroup, RegistrationGroup, ReprovisionMethod};
use crate::id::{DeviceId, EventCursor, GroupId, OperationId, Version};
use crate::inject::{Clock, IdGen, SecretSource};
use crate::secret::Secret;
use crate::state::{AllocationStatus, EnvOutcome, Pending, PendingAction};
use crate::store::{Change, Changeset, DeviceFilter, DeviceQuery, Store};
use crate::text::{BatchTag, Description, ModelId, SerialNumber};
use crate::time::Timestamp;

/// The clock, identifier generator and secret source a [`Provisioner`] uses.
#[derive(Debug, Clone)]
pub struct Injected {
    /// The source of the current instant.
    pub clock: Arc<dyn Clock>,
    /// The source of new identifiers.
    pub ids: Arc<dyn IdGen>,
    /// The source of secrets and generated serials.
    pub secrets: Arc<dyn SecretSource>,
}

impl Injected {
    /// The system clock, UUID v7 identifiers and the operating system's random source.
    #[cfg(feature = "system")]
    pub fn system() -> Self {
        Self {
            clock: Arc::new(crate::inject::SystemClock),
            ids: Arc::new(crate::inject::SystemIds),
            secrets: Arc::new(crate::inject::OsSecrets),
        }
    }
}

/// Tuning of a [`Provisioner`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// How long the driver of a pending operation owns it before
    /// [`Provisioner::recover`] may take it over. Default: 60 s.
    pub lease: Duration,
    /// How many devices of a batch are in flight at once. Default: 16.
    pub concurrency: usize,
    /// How many devices a batch reads per store query. Default: 1000.
    pub page_size: usize,
    /// How many new devices one commit of [`Provisioner::register_many`] holds. Default: 10 000.
    pub chunk_size: usize,
    /// How [`Provisioner::bootstrap`] verifies requests.
    pub bootstrap: BootstrapConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            concurrency: 16,
            page_size: 1000,
            chunk_size: 10_000,
            bootstrap: BootstrapConfig::default(),
        }
    }
}

impl Config {
    /// This configuration with another lease.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// This configuration with another batch concurrency (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// This configuration with another page size (at least 1).
    #[must_use]
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// This configuration with another registration chunk size (at least 1).
    #[must_use]
    pub fn with_chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n.max(1);
        self
    }

    /// This configuration with other bootstrap settings.
    #[must_use]
    pub fn with_bootstrap(mut self, bootstrap: BootstrapConfig) -> Self {
        self.bootstrap = bootstrap;
        self
    }
}

/// Which devices of a group a batch operation takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These serials, in this order; unknown ones are reported as not found.
    Serials(Vec<SerialNumber>),
    /// Every device that matches the filter (the default filter matches all).
    Filter(DeviceFilter),
}

impl Selection {
    /// Every device of the group.
    pub fn all() -> Self {
        Selection::Filter(DeviceFilter::default())
    }
}

/// Where a device ended up after a successful operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The device is in this status at this version.
    Settled {
        /// The status.
        status: AllocationStatus,
        /// The version.
        version: Version,
    },
    /// The device was deleted.
    Deleted,
}

impl Outcome {
    fn of(device: &Device) -> Self {
        Outcome::Settled {
            status: device.status(),
            version: device.version(),
        }
    }
}

/// The result of a batch operation for one device.
#[derive(Debug)]
pub struct DeviceOutcome {
    /// The serial the device was selected by.
    pub serial: SerialNumber,
    /// The device, when it exists.
    pub device_id: Option<DeviceId>,
    /// What happened.
    pub result: Result<Outcome>,
}

/// The outcome of a batch operation: one entry per selected device, in selection order.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// The outcomes.
    pub outcomes: Vec<DeviceOutcome>,
}

impl BatchReport {
    /// How many devices succeeded.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }

    /// How many devices failed.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.succeeded()
    }

    /// Whether every device succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }
}

/// The outcome of [`Provisioner::register_many`]: one entry per input, in input order.
#[derive(Debug, Default)]
pub struct RegisterReport {
    /// For each input device: its new identifier, or why it was refused.
    pub outcomes: Vec<Result<DeviceId>>,
    /// Whether anything was written (false when all-or-nothing refused the batch).
    pub committed: bool,
}

impl RegisterReport {
    /// How many devices were registered.
    pub fn registered(&self) -> usize {
        if self.committed {
            self.outcomes.iter().filter(|o| o.is_ok()).count()
        } else {
            0
        }
    }

    /// How many devices were refused.
    pub fn rejected(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_err()).count()
    }
}

/// Whether a multi-device registration may land partly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Atomicity {
    /// Good devices land, bad ones are reported.
    #[default]
    BestEffort,
    /// One bad device and nothing lands.
    AllOrNothing,
}

/// The serial of a replacement device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewSerial {
    /// This serial.
    Given(SerialNumber),
    /// A serial generated from the secret source.
    Generated,
}

/// A hardware replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceRequest {
    /// The new hardware's serial.
    pub new_serial: NewSerial,
    /// The batch tag of the new registration.
    pub batch_tag: BatchTag,
    /// The device's description afterwards.
    pub description: Option<Description>,
}

/// The fields shared by generated devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSpec {
    /// The model of every device.
    pub model_id: ModelId,
    /// The batch tag of every device.
    pub batch_tag: Option<BatchTag>,
}

/// One page of a keyset-paged listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor for the next page, or `None` when this is the last.
    pub next: Option<C>,
}

/// The provisioning service: registration groups, devices, the allocation lifecycle and the
/// event log, over a [`Store`] and an [`Environment`].
///
/// Every state change commits its event in the same changeset. Operations that call the
/// environment first commit a pending state with a fresh [`OperationId`], then call the
/// environment with that identifier, then commit the result; [`Provisioner::recover`]
/// completes whatever a crash or a transient failure left pending.
#[derive(Debug)]
pub struct Provisioner<S, E> {
    store: S,
    env: E,
    injected: Injected,
    config: Config,
    refusals: std::sync::Mutex<RefusalBudget>,
}

const GENERATED_SERIAL_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// A provisioner with the system clock, identifiers and secrets and the default
    /// configuration.
    #[cfg(feature = "system")]
    pub fn new(store: S, env: E) -> Self {
        Self::with_parts(store, env, Injected::system(), Config::default())
    }

    /// A provisioner with the given clock, identifiers, secrets and configuration.
    pub fn with_parts(store: S, env: E, injected: Injected, config: Config) -> Self {
        Self {
            store,
            env,
            injected,
            config,
            refusals: std::sync::Mutex::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The environment.
    pub fn environment(&self) -> &E {
        &self.env
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The injected clock's current instant (for the other service modules of this crate).
    /// The refusals recorded this minute (a poisoned lock still holds valid counts).
    pub(crate) fn refusal_budget(&self) -> std::sync::MutexGuard<'_, RefusalBudget> {
        self.refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.injected.clock.now()
    }

    /// A fresh device identifier from the injected generator (for the other service modules
    /// of this crate).
    pub(crate) fn new_device_id(&self) -> DeviceId {
        DeviceId::from_uuid(self.injected.ids.new_uuid())
    }

    fn new_op(&self) -> OperationId {
        OperationId::from_uuid(self.injected.ids.new_uuid())
    }

    /// A fresh group secret from the injected secret source: 32 random bytes as 64 hex digits.
    pub(crate) fn new_group_secret(&self) -> Secret {
        let mut bytes = [0u8; 32];
        self.injected.secrets.fill(&mut bytes);
        Secret::from_bytes_hex(&bytes)
    }

    fn lease_from(&self, now: Timestamp) -> Timestamp {
        now.saturating_add(self.config.lease)
    }

    // ----- groups -----------------------------------------------------------------------

    /// Creates a group with a fresh group secret.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn create_group(&self, new: NewGroup) -> Result<RegistrationGroup> {
        let now = self.now();
        let group = RegistrationGroup::new(
            GroupId::from_uuid(self.injected.ids.new_uuid()),
            new,
            self.new_group_secret(),
            now,
        );
        let mut cs = Changeset::with_capacity(1);
        cs.push(Change::InsertGroup(group.clone()))
            .event(group_event(&group, EventKind::GroupCreated, now));
        self.store.commit(cs).await?;
        Ok(group)
    }

    /// The group with this identifier.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub async fn group(&self, id: GroupId) -> Result<RegistrationGroup> {
        self.store
            .group(id)
            .await?
            .ok_or_else(|| Error::not_found(Entity::Group, id))
    }

    /// Groups after `after`, by identifier, at most `limit`.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn groups(
        &self,
        after: Option<GroupId>,
        limit: usize,
    ) -> Result<Page<RegistrationGroup, GroupId>> {
        let items = self.store.groups(after, limit).await?;
        let next = (limit > 0 && items.len() == limit)
            .then(|| items.last().map(|g| g.id()))
            .flatten();
        Ok(Page { items, next })
    }

    /// Changes a group's settings.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`] for a stale expected version, store errors.
    pub async fn edit_group(&self, id: GroupId, edit: GroupEdit) -> Result<RegistrationGroup> {
        let group = self.group(id).await?;
        if let Some(v) = edit.expected_version
            && v != group.version()
        {
            return Err(Error::Conflict {
                entity: Entity::Group,
                key: id.to_string(),
            });
        }
        let now = self.now();
        let edited = group.edited(edit, now);
        let mut cs = Changeset::with_capacity(1);
        cs.push(Change::UpdateGroup {
            expected: group.version(),
            group: edited.clone(),
        })
        .event(group_event(&edited, EventKind::GroupEdited, now));
        self.store.commit(cs).await?;
        Ok(edited)
    }

    /// Deletes a group. A group that still has devices is deleted only with `cascade`, which
    /// deletes its devices first (offboarding allocated ones); if any of them cannot be
    /// deleted, the group stays and the report says why.
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotEmpty`] without `cascade`, [`Error::NotFound`], store errors.
    pub async fn delete_group(&self, id: GroupId, cascade: bool) -> Result<BatchReport> {
        let group = self.group(id).await?;
        let count = self.store.count_devices(&DeviceQuery::group(id)).await?;
        let mut report = BatchReport::default();
        if count > 0 {
            if !cascade {
                return Err(Error::GroupNotEmpty {
                    group: id,
                    devices: count,
                });
            }
            report = self.delete(id, &Selection::all()).await?;
            if !report.all_succeeded() {
                return Ok(report);
            }
        }
        let now = self.now();
        let mut cs = Changeset::with_capacity(1);
        cs.push(Change::DeleteGroup {
            id,
            expected: group.version(),
        })
        .event(group_event(&group, EventKind::GroupDeleted, now));
        self.store.commit(cs).await?;
        Ok(report)
    }

    // ----- devices ----------------------------------------------------------------------

    /// Registers one device.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRegistered`], attribute errors, [`Error::NotFound`] for the group.
    pub async fn register(&self, group: GroupId, new: NewDevice) -> Result<Device> {
        let group = self.group(group).await?;
        let now = self.now();
        let device = Device::register(
            DeviceId::from_uuid(self.injected.ids.new_uuid()),
            &group,
            new,
            now,
        )?;
        let mut cs = Changeset::with_capacity(1);
        cs.push(Change::InsertDevice(device.clone()))
            .event(device_event(&device, EventKind::Registered, now));
        self.store.commit(cs).await?;
        Ok(device)
    }

    /// Registers many devices, committing in chunks of [`Config::chunk_size`] (one commit for
    /// all with [`Atomicity::AllOrNothing`]).
    ///
    /// Each device is checked against the group's schema, against the other devices of the
    /// batch (a repeated serial is refused as already registered) and against the store.
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
        let now = self.now();
        let mut outcomes: Vec<Result<DeviceId>> = Vec::with_capacity(devices.len());
        let mut accepted: Vec<(usize, Device)> = Vec::with_capacity(devices.len());
        let mut seen: HashSet<SerialNumber> = HashSet::with_capacity(devices.len());
        for new in devices {
            if !seen.insert(new.serial.clone()) {
                outcomes.push(Err(Error::AlreadyRegistered {
                    group: group.id(),
                    serial: new.serial,
                }));
                continue;
            }
            let id = DeviceId::from_uuid(self.injected.ids.new_uuid());
            match Device::register(id, &group, new, now) {
                Ok(d) => {
                    accepted.push((outcomes.len(), d));
                    outcomes.push(Ok(id));
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        drop(seen);
        // Existing serials.
        for chunk in accepted.chunks(self.config.page_size.max(1)) {
            let serials: Vec<SerialNumber> =
                chunk.iter().map(|(_, d)| d.serial().clone()).collect();
            let existing = self.store.devices_by_serials(group.id(), &serials).await?;
            if existing.is_empty() {
                continue;
            }
            let existing: HashSet<&SerialNumber> = existing.iter().map(|d| d.serial()).collect();
            for (i, d) in chunk {
                if existing.contains(d.serial()) {
                    outcomes[*i] = Err(Error::AlreadyRegistered {
                        group: group.id(),
                        serial: d.serial().clone(),
                    });
                }
            }
        }
        accepted.retain(|(i, _)| outcomes[*i].is_ok());
        let any_refused = outcomes.iter().any(|o| o.is_err());
        if atomicity == Atomicity::AllOrNothing {
            if any_refused {
                return Ok(RegisterReport {
                    outcomes,
                    committed: false,
                });
            }
            let cs = insert_changeset(accepted.iter().map(|(_, d)| d), now);
            self.store.commit(cs).await?;
            return Ok(RegisterReport {
                outcomes,
                committed: true,
            });
        }
        for chunk in accepted.chunks(self.config.chunk_size.max(1)) {
            let cs = insert_changeset(chunk.iter().map(|(_, d)| d), now);
            if let Err(e) = self.store.commit(cs).await {
                if chunk.len() == 1 {
                    outcomes[chunk[0].0] = Err(e.into());
                    continue;
                }
                // A concurrent registration took a serial meanwhile, or the backend refused
                // the chunk: one commit per device, so that each gets its own outcome.
                for (i, d) in chunk {
                    let cs = insert_changeset(std::iter::once(d), now);
                    if let Err(e) = self.store.commit(cs).await {
                        outcomes[*i] = Err(e.into());
                    }
                }
            }
        }
        Ok(RegisterReport {
            outcomes,
            committed: true,
        })
    }

    /// Registers `count` devices with generated serials (16 characters of Crockford base32
    /// from the secret source).
    ///
    /// # Errors
    ///
    /// As [`Provisioner::register_many`].
    pub async fn generate(
        &self,
        group: GroupId,
        count: usize,
        spec: GenerateSpec,
    ) -> Result<RegisterReport> {
        let mut devices = Vec::with_capacity(count);
        for _ in 0..count {
            let mut new = NewDevice::new(self.generate_serial(), spec.model_id.clone());
            new.batch_tag.clone_from(&spec.batch_tag);
            devices.push(new);
        }
        self.register_many(group, devices, Atomicity::BestEffort)
            .await
    }

    fn generate_serial(&self) -> SerialNumber {
        let mut bytes = [0u8; 16];
        self.injected.secrets.fill(&mut bytes);
        let text: String = bytes
            .iter()
            .map(|b| char::from(GENERATED_SERIAL_ALPHABET[usize::from(b & 31)]))
            .collect();
        // The alphabet holds only serial characters and the length is 16.
        SerialNumber::new(text).unwrap_or_else(|_| unreachable!("generated serials are valid"))
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
    /// [`Error::NotFound`] when there is none.
    pub async fn device_by_serial(&self, group: GroupId, serial: &SerialNumber) -> Result<Device> {
        self.store
            .device_by_serial(group, serial)
            .await?
            .ok_or_else(|| Error::not_found(Entity::Device, serial))
    }

    /// One page of the devices matching `query`, by serial after `after`, at most `limit`.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit: usize,
    ) -> Result<Page<Device, SerialNumber>> {
        let items = self.store.devices(query, after, limit).await?;
        let next = (limit > 0 && items.len() == limit)
            .then(|| items.last().map(|d| d.serial().clone()))
            .flatten();
        Ok(Page { items, next })
    }

    /// How many devices match `query`.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn count(&self, query: &DeviceQuery) -> Result<u64> {
        Ok(self.store.count_devices(query).await?)
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
        self.commit_update(&device, &edited, EventKind::Edited, now)
            .await?;
        Ok(edited)
    }

    // ----- lifecycle --------------------------------------------------------------------

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
        let pending = device.begin_replace(
            new_serial,
            request.batch_tag,
            request.description,
            op,
            now,
            self.lease_from(now),
        )?;
        let kind = EventKind::ReplaceStarted {
            operation: op,
            old_serial: device.serial().clone(),
        };
        self.commit_update(&device, &pending, kind, now).await?;
        self.drive(&group, pending).await?;
        self.device(device.id()).await
    }

    /// Completes every pending operation whose lease has run out or was released: each is
    /// claimed (so that no other instance drives it meanwhile) and re-driven with its
    /// original [`OperationId`]. A device whose lease still runs, or that another instance
    /// claimed, settled or deleted after it was listed, is left out of the report.
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

    /// Events after `after`, at most `limit`, oldest first.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn events(&self, after: EventCursor, limit: usize) -> Result<Vec<Event>> {
        Ok(self.store.events(after, limit).await?)
    }

    // ----- internals --------------------------------------------------------------------

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

    /// Allocates one device (shared with [`Provisioner::bootstrap`]'s auto-activation).
    pub(crate) async fn allocate_one(
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
            let failed = device.allocation_failed(&err, now)?;
            let kind = EventKind::AllocationFailed {
                operation: None,
                code: err.code().to_owned(),
                message: err.to_string(),
            };
            self.commit_update(&device, &failed, kind, now).await?;
            return Err(err);
        }
        let now = self.now();
        let op = self.new_op();
        let pending = device.begin_allocate(group, op, now, self.lease_from(now))?;
        let kind = EventKind::AllocationStarted {
            operation: op,
            target,
        };
        self.commit_update(&device, &pending, kind, now).await?;
        // Only the pending state goes on.
        drop(device);
        self.drive(group, pending).await
    }

    async fn reset_one(&self, group: &RegistrationGroup, device: Device) -> Result<Outcome> {
        let now = self.now();
        let op = self.new_op();
        let pending = device.begin_reset(group, op, now, self.lease_from(now))?;
        self.commit_update(
            &device,
            &pending,
            EventKind::ResetStarted { operation: op },
            now,
        )
        .await?;
        drop(device);
        self.drive(group, pending).await
    }

    async fn delete_one(&self, device: Device, expected: Option<Version>) -> Result<Outcome> {
        let now = self.now();
        let op = self.new_op();
        match device.begin_delete(expected, op, now, self.lease_from(now))? {
            None => {
                self.commit_delete(&device, now).await?;
                Ok(Outcome::Deleted)
            }
            Some(pending) => {
                let group = self.group(device.group_id()).await?;
                let kind = EventKind::DeleteStarted { operation: op };
                self.commit_update(&device, &pending, kind, now).await?;
                drop(device);
                self.drive(&group, pending).await
            }
        }
    }

    /// Claims and drives one pending device; `None` when another driver holds it or has
    /// changed it since it was listed, which leaves nothing to recover here.
    async fn recover_one(
        &self,
        group: &RegistrationGroup,
        device: Device,
    ) -> Option<Result<Outcome>> {
        let now = self.now();
        let claimed = match device.claimed(now, self.lease_from(now)) {
            Ok(claimed) => claimed,
            Err(Error::OperationInProgress { .. }) => return None,
            Err(e) => return Some(Err(e)),
        };
        let pending = match claimed.state().check_pending() {
            Ok(pending) => pending,
            Err(e) => return Some(Err(e.into_error(claimed.id()))),
        };
        let kind = EventKind::OperationResumed {
            operation: pending.operation(),
            attempt: pending.attempts(),
        };
        match self.commit_update(&device, &claimed, kind, now).await {
            Ok(()) => {}
            // Another instance claimed, settled or deleted the device after it was listed.
            Err(Error::Conflict { .. } | Error::NotFound { .. }) => return None,
            Err(e) => return Some(Err(e)),
        }
        drop(device);
        Some(self.drive(group, claimed).await)
    }

    /// Calls the environment for a committed pending device and commits the result.
    async fn drive(&self, group: &RegistrationGroup, device: Device) -> Result<Outcome> {
        let pending = device
            .state()
            .check_pending()
            .map_err(|e| e.into_error(device.id()))?;
        let op = pending.operation();
        let answer = match pending.action() {
            PendingAction::Allocate { target, .. } => self
                .env
                .onboard(op, target, &device.onboard_request())
                .await
                .map(EnvOutcome::Onboarded),
            PendingAction::Reset { from } | PendingAction::Delete { from } => self
                .env
                .offboard(op, from.target(), from.asset_id())
                .await
                .map(|()| EnvOutcome::Offboarded),
            PendingAction::Replace { from, .. } => self
                .env
                .reissue(op, from.target(), from.asset_id(), device.serial())
                .await
                .map(EnvOutcome::Reissued),
        };
        let now = self.now();
        // Everything between the environment's answer and the commit is synchronous, so that
        // a batch's per-device future holds one device and one settlement across its awaits.
        let Settlement { commit, result } = settle(group, &device, pending, answer, now)?;
        match commit {
            Some((next, kind)) => {
                // Only a rejected replacement changes the serial: back to the old one.
                let retry = (next.serial() != device.serial()).then(|| kind.clone());
                match (self.commit_update(&device, &next, kind, now).await, retry) {
                    (Err(taken @ Error::AlreadyRegistered { .. }), Some(kind)) => {
                        // Another device took the old serial while the replacement was
                        // pending: settle under the new serial, which this device still
                        // holds, rather than stay pending for ever.
                        let err = result.as_ref().err().unwrap_or(&taken);
                        let kept = device.roll_back_keeping_serial(err, now)?;
                        self.commit_update(&device, &kept, kind, now).await?;
                    }
                    (other, _) => other?,
                }
            }
            None => self.commit_delete(&device, now).await?,
        }
        result
    }

    pub(crate) async fn commit_update(
        &self,
        old: &Device,
        new: &Device,
        kind: EventKind,
        now: Timestamp,
    ) -> Result<()> {
        let mut cs = Changeset::with_capacity(1);
        cs.push(Change::UpdateDevice {
            expected: old.version(),
            device: new.clone(),
        })
        .event(device_event(new, kind, now));
        Ok(self.store.commit(cs).await?)
    }

    async fn commit_delete(&self, device: &Device, now: Timestamp) -> Result<()> {
        let mut cs = Changeset::with_capacity(1);
        cs.push(Change::DeleteDevice {
            id: device.id(),
            expected: device.version(),
        })
        .event(device_event(device, EventKind::Deleted, now));
        Ok(self.store.commit(cs).await?)
    }
}

/// What a pending device becomes once the environment answered: the change to commit
/// (`None`: delete the device) and what the caller is told.
struct Settlement {
    commit: Option<(Device, EventKind)>,
    result: Result<Outcome>,
}

/// Settles the pending `device` with the environment's `answer`.
fn settle(
    group: &RegistrationGroup,
    device: &Device,
    pending: &Pending,
    answer: std::result::Result<EnvOutcome, crate::environment::EnvironmentError>,
    now: Timestamp,
) -> Result<Settlement> {
    let op = pending.operation();
    match answer {
        Ok(outcome) => {
            let kind = match pending.action() {
                PendingAction::Allocate { target, .. } => match &outcome {
                    EnvOutcome::Onboarded(o) => EventKind::Allocated {
                        operation: op,
                        target: target.clone(),
                        asset_id: o.asset_id.clone(),
                    },
                    EnvOutcome::Offboarded | EnvOutcome::Reissued(_) => EventKind::Edited,
                },
                PendingAction::Reset { .. } => EventKind::Reset {
                    operation: op,
                    initialized: group.reprovision() == ReprovisionMethod::Initialize,
                },
                PendingAction::Replace { old_serial, .. } => EventKind::Replaced {
                    operation: op,
                    old_serial: old_serial.clone(),
                },
                PendingAction::Delete { .. } => EventKind::Deleted,
            };
            Ok(match device.complete(group, outcome, now)? {
                Some(next) => Settlement {
                    result: Ok(Outcome::of(&next)),
                    commit: Some((next, kind)),
                },
                None => Settlement {
                    commit: None,
                    result: Ok(Outcome::Deleted),
                },
            })
        }
        Err(env_error) => {
            let err = Error::from(env_error);
            let (next, kind) = match &err {
                Error::EnvironmentRejected { .. } => {
                    let kind = match pending.action() {
                        PendingAction::Allocate { .. } => EventKind::AllocationFailed {
                            operation: Some(op),
                            code: err.code().to_owned(),
                            message: err.to_string(),
                        },
                        PendingAction::Reset { .. }
                        | PendingAction::Replace { .. }
                        | PendingAction::Delete { .. } => EventKind::OperationFailed {
                            operation: op,
                            code: err.code().to_owned(),
                            message: err.to_string(),
                        },
                    };
                    (device.roll_back(&err, now)?, kind)
                }
                _ => {
                    let kind = EventKind::OperationDeferred {
                        operation: op,
                        message: err.to_string(),
                    };
                    (device.deferred(&err, now)?, kind)
                }
            };
            Ok(Settlement {
                commit: Some((next, kind)),
                result: Err(err),
            })
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum BatchOp {
    Allocate,
    Reset,
    Delete,
}

fn insert_changeset<'a>(devices: impl Iterator<Item = &'a Device>, now: Timestamp) -> Changeset {
    let mut cs = Changeset::new();
    for d in devices {
        cs.push(Change::InsertDevice(d.clone()))
            .event(device_event(d, EventKind::Registered, now));
    }
    cs
}

pub(crate) fn group_event(group: &RegistrationGroup, kind: EventKind, now: Timestamp) -> NewEvent {
    NewEvent {
        at: now,
        group_id: group.id(),
        device_id: None,
        serial: None,
        kind,
    }
}

/// The event of one device change (shared with the other service modules of this crate).
pub(crate) fn device_event(device: &Device, kind: EventKind, now: Timestamp) -> NewEvent {
    NewEvent {
        at: now,
        group_id: device.group_id(),
        device_id: Some(device.id()),
        serial: Some(device.serial().clone()),
        kind,
    }
}
