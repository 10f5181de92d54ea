//! `InMemoryStore`: a [`Store`] held in process memory, the reference semantics of the
//! [`Store` contract](dps_core::Store#contract).
//!
//! It suits tests, examples and short-lived tools; nothing survives the process. Commits are
//! serialised by one lock and applied with an undo log, so a failing change leaves nothing
//! behind. Device listings walk an ordered `(group, serial)` index, so keyset paging costs
//! the page, not the group.
//!
//! ```
//! use dps_core::{Provisioner, StaticEnvironment, StaticConfig, NewGroup, OsSecrets};
//! use dps_store_memory::InMemoryStore;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> dps_core::Result<()> {
//! let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(OsSecrets));
//! let dps = Provisioner::new(InMemoryStore::new(), env);
//! let group = dps.create_group(NewGroup::new("lab".parse()?)).await?;
//! assert_eq!(dps.group(group.id()).await?.name().as_str(), "lab");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use dps_core::{
    AllocationStatus, Change, Changeset, Device, DeviceId, DeviceQuery, Entity, Event, EventCursor,
    GroupId, RegistrationGroup, SerialNumber, Store, StoreError,
};

/// A [`Store`] in process memory.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    groups: BTreeMap<GroupId, RegistrationGroup>,
    devices: HashMap<DeviceId, Device>,
    by_serial: BTreeMap<(GroupId, String), DeviceId>,
    pending: BTreeSet<DeviceId>,
    group_sizes: HashMap<GroupId, u64>,
    events: Vec<Event>,
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
    fn put_device(&mut self, device: Device) {
        let id = device.id();
        self.by_serial
            .insert((device.group_id(), device.serial().to_string()), id);
        if device.status() == AllocationStatus::Pending {
            self.pending.insert(id);
        } else {
            self.pending.remove(&id);
        }
        self.devices.insert(id, device);
    }

    fn take_device(&mut self, id: DeviceId) -> Option<Device> {
        let device = self.devices.remove(&id)?;
        self.by_serial
            .remove(&(device.group_id(), device.serial().to_string()));
        self.pending.remove(&id);
        Some(device)
    }

    fn serial_taken(&self, group: GroupId, serial: &SerialNumber, by_other_than: DeviceId) -> bool {
        self.by_serial
            .get(&(group, serial.to_string()))
            .is_some_and(|id| *id != by_other_than)
    }

    /// The devices matching `query` from `start` on, in serial order.
    fn matching<'a>(
        &'a self,
        query: &'a DeviceQuery,
        start: Bound<(GroupId, String)>,
    ) -> impl Iterator<Item = &'a Device> + 'a {
        let group = query.group;
        let prefix = query.filter.serial_prefix.as_ref().map(|p| p.as_str());
        self.by_serial
            .range((start, Bound::Unbounded))
            .take_while(move |((g, serial), _)| {
                *g == group && prefix.is_none_or(|p| serial.starts_with(p))
            })
            .filter_map(|(_, id)| self.devices.get(id))
            .filter(|d| query.filter.matches(d))
    }

    fn size_mut(&mut self, group: GroupId) -> &mut u64 {
        self.group_sizes.entry(group).or_default()
    }

    fn apply(&mut self, change: Change, undo: &mut Vec<Undo>) -> Result<(), StoreError> {
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
                if old.version() != expected || self.group_sizes.get(&id).copied().unwrap_or(0) > 0
                {
                    return Err(conflict(Entity::Group, id));
                }
                if let Some(old) = self.groups.remove(&id) {
                    undo.push(Undo::RestoreGroup(Box::new(old)));
                }
            }
            Change::InsertDevice(device) => {
                if !self.groups.contains_key(&device.group_id()) {
                    return Err(not_found(Entity::Group, device.group_id()));
                }
                if self.devices.contains_key(&device.id()) {
                    return Err(StoreError::AlreadyExists {
                        entity: Entity::Device,
                        key: device.id().to_string(),
                    });
                }
                if self.serial_taken(device.group_id(), device.serial(), device.id()) {
                    return Err(StoreError::DuplicateSerial {
                        group: device.group_id(),
                        serial: device.serial().clone(),
                    });
                }
                undo.push(Undo::RemoveDevice(device.id()));
                *self.size_mut(device.group_id()) += 1;
                self.put_device(device);
            }
            Change::UpdateDevice { expected, device } => {
                let Some(old) = self.devices.get(&device.id()) else {
                    return Err(not_found(Entity::Device, device.id()));
                };
                if old.version() != expected || old.group_id() != device.group_id() {
                    return Err(conflict(Entity::Device, device.serial()));
                }
                if old.serial() != device.serial() {
                    if self.serial_taken(device.group_id(), device.serial(), device.id()) {
                        return Err(StoreError::DuplicateSerial {
                            group: device.group_id(),
                            serial: device.serial().clone(),
                        });
                    }
                    if let Some(old) = self.take_device(device.id()) {
                        undo.push(Undo::RestoreDevice(Box::new(old)));
                    }
                    self.put_device(device);
                } else {
                    // Same serial: the serial index stays; only the record and the pending
                    // set change.
                    let id = device.id();
                    if device.status() == AllocationStatus::Pending {
                        self.pending.insert(id);
                    } else {
                        self.pending.remove(&id);
                    }
                    if let Some(old) = self.devices.insert(id, device) {
                        undo.push(Undo::RestoreDevice(Box::new(old)));
                    }
                }
            }
            Change::DeleteDevice { id, expected } => {
                let Some(old) = self.devices.get(&id) else {
                    return Err(not_found(Entity::Device, id));
                };
                if old.version() != expected {
                    return Err(conflict(Entity::Device, old.serial()));
                }
                if let Some(old) = self.take_device(id) {
                    *self.size_mut(old.group_id()) -= 1;
                    undo.push(Undo::RestoreDevice(Box::new(old)));
                }
            }
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
                    if let Some(d) = self.take_device(id) {
                        *self.size_mut(d.group_id()) -= 1;
                    }
                }
                Undo::RestoreDevice(d) => {
                    let d = *d;
                    let existed = self.take_device(d.id()).is_some();
                    if !existed {
                        *self.size_mut(d.group_id()) += 1;
                    }
                    self.put_device(d);
                }
            }
        }
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
        Ok(self.read().devices.get(&id).cloned())
    }

    async fn device_by_serial(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        let inner = self.read();
        Ok(inner
            .by_serial
            .get(&(group, serial.to_string()))
            .and_then(|id| inner.devices.get(id))
            .cloned())
    }

    async fn devices_by_serials(
        &self,
        group: GroupId,
        serials: &[SerialNumber],
    ) -> Result<Vec<Device>, StoreError> {
        let inner = self.read();
        Ok(serials
            .iter()
            .filter_map(|s| inner.by_serial.get(&(group, s.to_string())))
            .filter_map(|id| inner.devices.get(id))
            .cloned()
            .collect())
    }

    async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let inner = self.read();
        let group = query.group;
        let prefix = query.filter.serial_prefix.as_ref().map(|p| p.as_str());
        let start = match (after, prefix) {
            (Some(a), Some(p)) if p > a.as_str() => Bound::Included((group, p.to_owned())),
            (Some(a), _) => Bound::Excluded((group, a.into_string())),
            (None, p) => Bound::Included((group, p.unwrap_or("").to_owned())),
        };
        Ok(inner.matching(query, start).take(limit).cloned().collect())
    }

    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64, StoreError> {
        let inner = self.read();
        if query.filter.is_empty() {
            return Ok(inner.group_sizes.get(&query.group).copied().unwrap_or(0));
        }
        let prefix = query.filter.serial_prefix.as_ref().map(|p| p.as_str());
        let start = Bound::Included((query.group, prefix.unwrap_or("").to_owned()));
        Ok(inner.matching(query, start).count() as u64)
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
            .filter_map(|id| inner.devices.get(id).cloned())
            .collect())
    }

    async fn events(&self, after: EventCursor, limit: usize) -> Result<Vec<Event>, StoreError> {
        let inner = self.read();
        let start = usize::try_from(after.get())
            .unwrap_or(usize::MAX)
            .min(inner.events.len());
        Ok(inner.events[start..].iter().take(limit).cloned().collect())
    }

    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        let (changes, events) = changeset.into_parts();
        let mut inner = self.write();
        let mut undo = Vec::with_capacity(changes.len());
        for change in changes {
            if let Err(e) = inner.apply(change, &mut undo) {
                inner.undo(undo);
                return Err(e);
            }
        }
        inner.events.reserve(events.len());
        for event in events {
            let cursor = EventCursor::new(inner.events.len() as u64 + 1);
            inner.events.push(Event::from_new(cursor, event));
        }
        Ok(())
    }
}
