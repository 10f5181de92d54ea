//! `InMemoryStore`: a [`Store`] held in process memory, the reference semantics of the
//! [`Store` contract](dps_core::Store#contract).
//!
//! A service uses it through the `dps` crate, as `dps::memory::InMemoryStore` (feature
//! `memory`, on by default).
//!
//! It suits tests, examples and short-lived tools; nothing survives the process. Commits are
//! serialised by one lock and applied with an undo log, so a failing change leaves nothing
//! behind. Device listings walk each group's ordered serial index, so keyset paging costs the
//! page, not the group.
//!
//! ```
//! use dps_core::{NewGroup, inject::OsSecrets, Provisioner};
//! use dps_env_static::{StaticConfig, StaticEnvironment};
//! use dps_store_memory::InMemoryStore;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> dps_core::Result<()> {
//! let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(OsSecrets));
//! let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps_core::seal::Keys::ephemeral());
//! let group = dps.create_group(NewGroup::new("lab".parse()?)).await?;
//! assert_eq!(dps.group(group.id()).await?.name().as_str(), "lab");
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod jobs;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use dps_core::access::{AccessToken, IdempotencyClaim, IdempotencyRecord, TokenHash};
use dps_core::{
    Actor, Change, Changeset, Device, DeviceId, DeviceQuery, Entity, Event, EventCursor, GroupId,
    RegistrationGroup, SerialNumber, Store, StoreError, Timestamp, Version,
    job::{Job, JobId, JobStream},
    state::AllocationStatus,
};

/// A [`Store`] in process memory.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    groups: BTreeMap<GroupId, RegistrationGroup>,
    /// Each device in its own allocation, so that splitting a tree node moves pointers, not
    /// devices. Identifiers are time-ordered, so devices registered together are neighbours.
    devices: BTreeMap<DeviceId, Box<Device>>,
    /// Per group, its devices in serial order; the group's size is the index's length.
    by_serial: HashMap<GroupId, BTreeMap<SerialNumber, DeviceId>>,
    pending: BTreeSet<DeviceId>,
    events: EventLog,
    tokens: BTreeMap<Actor, AccessToken>,
    idempotency: HashMap<String, IdempotencyRecord>,
    jobs: BTreeMap<JobId, Job>,
    job_parts: HashMap<(JobId, JobStream, u32), Vec<u8>>,
}

/// The event log in chunks of a fixed size: appending moves no event beyond the first chunk.
#[derive(Debug, Default)]
struct EventLog {
    chunks: Vec<Vec<Event>>,
    len: usize,
}

impl EventLog {
    const CHUNK: usize = 4096;

    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, event: Event) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < Self::CHUNK => chunk.push(event),
            Some(_) => {
                let mut chunk = Vec::with_capacity(Self::CHUNK);
                chunk.push(event);
                self.chunks.push(chunk);
            }
            // The first chunk grows as it fills, so that a small store stays small.
            None => self.chunks.push(vec![event]),
        }
        self.len += 1;
    }

    /// The events from index `start` on.
    fn from(&self, start: usize) -> impl Iterator<Item = &Event> {
        let (chunk, offset) = (start / Self::CHUNK, start % Self::CHUNK);
        self.chunks
            .get(chunk..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .flat_map(move |(i, c)| c.get(if i == 0 { offset } else { 0 }..).unwrap_or_default())
    }
}

/// The undo steps of a commit's changes so far.
///
/// The last change of a changeset records none: every change checks everything before it
/// writes, so a change that fails has written nothing, and nothing after the last one can
/// fail.
#[derive(Default)]
struct UndoLog {
    steps: Vec<Undo>,
    recording: bool,
}

impl UndoLog {
    fn push(&mut self, step: Undo) {
        if self.recording {
            self.steps.push(step);
        }
    }
}

enum Undo {
    RemoveGroup(GroupId),
    RestoreGroup(Box<RegistrationGroup>),
    RemoveDevice(DeviceId),
    RestoreDevice(Box<Device>),
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn conflict(entity: Entity, key: impl ToString) -> StoreError {
    StoreError::Conflict {
        entity,
        key: key.to_string(),
    }
}

fn not_found(entity: Entity, key: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        key: key.to_string(),
    }
}

impl Inner {
    fn put_device(&mut self, device: Box<Device>) {
        let id = device.id();
        self.by_serial
            .entry(device.group_id())
            .or_default()
            .insert(device.serial().clone(), id);
        self.set_pending(&device);
        self.devices.insert(id, device);
    }

    fn set_pending(&mut self, device: &Device) {
        mark_pending(&mut self.pending, device);
    }

    fn take_device(&mut self, id: DeviceId) -> Option<Box<Device>> {
        let device = self.devices.remove(&id)?;
        if let Some(serials) = self.by_serial.get_mut(&device.group_id()) {
            serials.remove(device.serial().as_str());
            if serials.is_empty() {
                self.by_serial.remove(&device.group_id());
            }
        }
        self.pending.remove(&id);
        Some(device)
    }

    fn serial_id(&self, group: GroupId, serial: &str) -> Option<DeviceId> {
        self.by_serial.get(&group)?.get(serial).copied()
    }

    fn serial_taken(&self, group: GroupId, serial: &SerialNumber, by_other_than: DeviceId) -> bool {
        self.serial_id(group, serial.as_str())
            .is_some_and(|id| id != by_other_than)
    }

    fn group_size(&self, group: GroupId) -> u64 {
        self.by_serial.get(&group).map_or(0, |s| s.len() as u64)
    }

    /// The devices matching `query` from `start` on, in serial order.
    fn matching<'a>(
        &'a self,
        query: &'a DeviceQuery,
        start: Bound<&'a str>,
    ) -> impl Iterator<Item = &'a Device> + 'a {
        let prefix = query.filter.serial_prefix.as_ref().map(|p| p.as_str());
        self.by_serial
            .get(&query.group)
            .into_iter()
            .flat_map(move |serials| serials.range::<str, _>((start, Bound::Unbounded)))
            .take_while(move |(serial, _)| prefix.is_none_or(|p| serial.as_str().starts_with(p)))
            .filter_map(|(_, id)| self.devices.get(id))
            .map(|d| &**d)
            .filter(|d| query.filter.matches(d))
    }

    /// Applies one change, checking everything before writing anything.
    fn apply(&mut self, change: Change, undo: &mut UndoLog) -> Result<(), StoreError> {
        match change {
            Change::InsertGroup(group) => {
                if self.groups.contains_key(&group.id()) {
                    return Err(StoreError::AlreadyExists {
                        entity: Entity::Group,
                        key: group.id().to_string(),
                    });
                }
                undo.push(Undo::RemoveGroup(group.id()));
                self.groups.insert(group.id(), group);
            }
            Change::UpdateGroup { expected, group } => {
                let Some(old) = self.groups.get(&group.id()) else {
                    return Err(not_found(Entity::Group, group.id()));
                };
                if old.version() != expected {
                    return Err(conflict(Entity::Group, group.id()));
                }
                let old = old.clone();
                undo.push(Undo::RestoreGroup(Box::new(old)));
                self.groups.insert(group.id(), group);
            }
            Change::DeleteGroup { id, expected } => {
                let Some(old) = self.groups.get(&id) else {
                    return Err(not_found(Entity::Group, id));
                };
                if old.version() != expected || self.group_size(id) > 0 {
                    return Err(conflict(Entity::Group, id));
                }
                if let Some(old) = self.groups.remove(&id) {
                    undo.push(Undo::RestoreGroup(Box::new(old)));
                }
            }
            Change::InsertDevice(device) => self.insert_device(device, undo)?,
            Change::UpdateDevice { expected, device } => {
                self.update_device(expected, device, undo)?;
            }
            Change::DeleteDevice { id, expected } => {
                let Some(old) = self.devices.get(&id) else {
                    return Err(not_found(Entity::Device, id));
                };
                if old.version() != expected {
                    return Err(conflict(Entity::Device, old.serial()));
                }
                if let Some(old) = self.take_device(id) {
                    undo.push(Undo::RestoreDevice(old));
                }
            }
        }
        Ok(())
    }

    /// Inserts a device into an existing group under a free serial.
    fn insert_device(&mut self, device: Device, undo: &mut UndoLog) -> Result<(), StoreError> {
        if !self.groups.contains_key(&device.group_id()) {
            return Err(not_found(Entity::Group, device.group_id()));
        }
        if self.devices.contains_key(&device.id()) {
            return Err(StoreError::AlreadyExists {
                entity: Entity::Device,
                key: device.id().to_string(),
            });
        }
        self.check_serial_free(&device)?;
        undo.push(Undo::RemoveDevice(device.id()));
        self.put_device(Box::new(device));
        Ok(())
    }

    /// Replaces a device that is at version `expected`.
    fn update_device(
        &mut self,
        expected: Version,
        device: Device,
        undo: &mut UndoLog,
    ) -> Result<(), StoreError> {
        let Some(slot) = self.devices.get_mut(&device.id()) else {
            return Err(not_found(Entity::Device, device.id()));
        };
        if slot.version() != expected || slot.group_id() != device.group_id() {
            return Err(conflict(Entity::Device, device.serial()));
        }
        if slot.serial() == device.serial() {
            // Same serial: the serial index stays; only the record and the pending set
            // change, with one look-up.
            mark_pending(&mut self.pending, &device);
            if undo.recording {
                let old = std::mem::replace(slot, Box::new(device));
                undo.push(Undo::RestoreDevice(old));
            } else {
                **slot = device;
            }
            return Ok(());
        }
        self.check_serial_free(&device)?;
        if let Some(old) = self.take_device(device.id()) {
            undo.push(Undo::RestoreDevice(old));
        }
        self.put_device(Box::new(device));
        Ok(())
    }

    /// Refuses a device whose serial another device of its group holds.
    fn check_serial_free(&self, device: &Device) -> Result<(), StoreError> {
        if self.serial_taken(device.group_id(), device.serial(), device.id()) {
            return Err(StoreError::DuplicateSerial {
                group: device.group_id(),
                serial: device.serial().clone(),
            });
        }
        Ok(())
    }

    fn undo(&mut self, undo: Vec<Undo>) {
        for step in undo.into_iter().rev() {
            match step {
                Undo::RemoveGroup(id) => {
                    self.groups.remove(&id);
                }
                Undo::RestoreGroup(g) => {
                    self.groups.insert(g.id(), *g);
                }
                Undo::RemoveDevice(id) => {
                    self.take_device(id);
                }
                Undo::RestoreDevice(d) => {
                    self.take_device(d.id());
                    self.put_device(d);
                }
            }
        }
    }
}

/// Adds `device` to the pending set when it is pending, and takes it out otherwise.
fn mark_pending(pending: &mut BTreeSet<DeviceId>, device: &Device) {
    if device.status() == AllocationStatus::Pending {
        pending.insert(device.id());
    } else {
        pending.remove(&device.id());
    }
}

#[async_trait]
impl Store for InMemoryStore {
    async fn group(&self, id: GroupId) -> Result<Option<RegistrationGroup>, StoreError> {
        Ok(self.read().groups.get(&id).cloned())
    }

    async fn groups(
        &self,
        after: Option<GroupId>,
        limit: usize,
    ) -> Result<Vec<RegistrationGroup>, StoreError> {
        let inner = self.read();
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(inner
            .groups
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, g)| g.clone())
            .collect())
    }

    async fn device(&self, id: DeviceId) -> Result<Option<Device>, StoreError> {
        Ok(self.read().devices.get(&id).map(|d| Device::clone(d)))
    }

    async fn device_by_serial(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        let inner = self.read();
        Ok(inner
            .serial_id(group, serial.as_str())
            .and_then(|id| inner.devices.get(&id))
            .map(|d| Device::clone(d)))
    }

    async fn devices_by_serials(
        &self,
        group: GroupId,
        serials: &[SerialNumber],
    ) -> Result<Vec<Device>, StoreError> {
        let inner = self.read();
        Ok(serials
            .iter()
            .filter_map(|s| inner.serial_id(group, s.as_str()))
            .filter_map(|id| inner.devices.get(&id))
            .map(|d| Device::clone(d))
            .collect())
    }

    async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let inner = self.read();
        let prefix = query.filter.serial_prefix.as_ref().map(|p| p.as_str());
        let start = match (&after, prefix) {
            (Some(a), Some(p)) if p > a.as_str() => Bound::Included(p),
            (Some(a), _) => Bound::Excluded(a.as_str()),
            (None, p) => Bound::Included(p.unwrap_or("")),
        };
        Ok(inner.matching(query, start).take(limit).cloned().collect())
    }

    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64, StoreError> {
        let inner = self.read();
        if query.filter.is_empty() {
            return Ok(inner.group_size(query.group));
        }
        let prefix = query.filter.serial_prefix.as_ref().map(|p| p.as_str());
        Ok(inner
            .matching(query, Bound::Included(prefix.unwrap_or("")))
            .count() as u64)
    }

    async fn pending_devices(
        &self,
        after: Option<DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let inner = self.read();
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(inner
            .pending
            .range((lower, Bound::Unbounded))
            .take(limit)
            .filter_map(|id| inner.devices.get(id).map(|d| Device::clone(d)))
            .collect())
    }

    async fn events(&self, after: EventCursor, limit: usize) -> Result<Vec<Event>, StoreError> {
        let inner = self.read();
        let start = usize::try_from(after.get()).unwrap_or(usize::MAX);
        Ok(inner.events.from(start).take(limit).cloned().collect())
    }

    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        let (changes, events) = changeset.into_parts();
        let mut inner = self.write();
        let mut undo = UndoLog::default();
        let last = changes.len().saturating_sub(1);
        for (i, change) in changes.into_iter().enumerate() {
            undo.recording = i < last;
            if let Err(e) = inner.apply(change, &mut undo) {
                inner.undo(undo.steps);
                return Err(e);
            }
        }
        for event in events {
            let cursor = EventCursor::new(inner.events.len() as u64 + 1);
            inner.events.push(Event::from_new(cursor, event));
        }
        Ok(())
    }

    async fn tokens(&self) -> Result<Vec<AccessToken>, StoreError> {
        Ok(self.read().tokens.values().cloned().collect())
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<AccessToken>, StoreError> {
        let inner = self.read();
        Ok(inner.tokens.values().find(|t| t.hash() == hash).cloned())
    }

    async fn insert_token(&self, token: &AccessToken) -> Result<(), StoreError> {
        let mut inner = self.write();
        if inner.tokens.contains_key(token.name())
            || inner.tokens.values().any(|t| t.hash() == token.hash())
        {
            return Err(StoreError::AlreadyExists {
                entity: Entity::Token,
                key: token.name().to_string(),
            });
        }
        inner.tokens.insert(token.name().clone(), token.clone());
        Ok(())
    }

    async fn remove_token(&self, name: &Actor) -> Result<bool, StoreError> {
        Ok(self.write().tokens.remove(name).is_some())
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        stale_before: Timestamp,
    ) -> Result<IdempotencyClaim, StoreError> {
        let mut inner = self.write();
        if let Some(existing) = inner.idempotency.get(&record.key)
            && (existing.answer.is_some() || existing.created_at >= stale_before)
        {
            return Ok(IdempotencyClaim::Existing(existing.clone()));
        }
        inner.idempotency.insert(
            record.key.clone(),
            IdempotencyRecord {
                answer: None,
                ..record.clone()
            },
        );
        Ok(IdempotencyClaim::Claimed)
    }

    async fn finish_idempotency(&self, key: &str, answer: &[u8]) -> Result<(), StoreError> {
        if let Some(record) = self.write().idempotency.get_mut(key) {
            record.answer = Some(answer.to_vec());
        }
        Ok(())
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        self.write().idempotency.remove(key);
        Ok(())
    }

    async fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut inner = self.write();
        let len = inner.idempotency.len();
        inner.idempotency.retain(|_, r| r.created_at >= before);
        Ok((len - inner.idempotency.len()) as u64)
    }

    async fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        self.write().insert_job(job)
    }

    async fn update_job(&self, job: &Job, expected: Version) -> Result<(), StoreError> {
        self.write().update_job(job, expected)
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        Ok(self.read().jobs.get(&id).cloned())
    }

    async fn jobs(&self, before: Option<JobId>, limit: usize) -> Result<Vec<Job>, StoreError> {
        Ok(self.read().jobs_before(before, limit))
    }

    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        Ok(self.read().running_jobs())
    }

    async fn put_job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.write()
            .job_parts
            .insert((job, stream, index), bytes.to_vec());
        Ok(())
    }

    async fn job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read().job_parts.get(&(job, stream, index)).cloned())
    }
}
