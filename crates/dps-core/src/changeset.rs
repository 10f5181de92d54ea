//! Changesets: what one [`Store::commit`](crate::Store::commit) applies all or nothing, built
//! from [`Transition`]s — a record's change together with the one event that records it.

use crate::device::Device;
use crate::event::{EventKind, NewEvent};
use crate::group::RegistrationGroup;
use crate::id::{DeviceId, GroupId, Version};
use crate::text::Actor;
use crate::time::Timestamp;

/// One change in a [`Changeset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert a new group.
    InsertGroup(RegistrationGroup),
    /// Replace a group that is at version `expected`.
    UpdateGroup {
        /// The version the stored group must have.
        expected: Version,
        /// The new group.
        group: RegistrationGroup,
    },
    /// Delete a group that is at version `expected` and has no devices.
    DeleteGroup {
        /// The group.
        id: GroupId,
        /// The version the stored group must have.
        expected: Version,
    },
    /// Insert a new device into an existing group.
    InsertDevice(Device),
    /// Replace a device that is at version `expected`.
    UpdateDevice {
        /// The version the stored device must have.
        expected: Version,
        /// The new device.
        device: Device,
    },
    /// Delete a device that is at version `expected`.
    DeleteDevice {
        /// The device.
        id: DeviceId,
        /// The version the stored device must have.
        expected: Version,
    },
}

/// Changes and their events, committed all or nothing by [`Store::commit`](crate::Store::commit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changeset {
    changes: Vec<Change>,
    events: Vec<NewEvent>,
}

impl Changeset {
    /// An empty changeset.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty changeset with room for `n` changes and events.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            changes: Vec::with_capacity(n),
            events: Vec::with_capacity(n),
        }
    }

    /// Names `actor` in every event that names nobody yet.
    pub(crate) fn name_actor(&mut self, actor: &Actor) {
        for event in &mut self.events {
            if event.actor.is_none() {
                event.actor = Some(actor.clone());
            }
        }
    }

    /// Adds a record's change together with the event that records it: how the
    /// [`Provisioner`](crate::Provisioner) builds every changeset, so that each change it
    /// commits carries exactly its event.
    pub fn transition(&mut self, transition: Transition) -> &mut Self {
        self.changes.push(transition.change);
        self.events.push(transition.event);
        self
    }

    /// Adds a change without an event, as a store backend's own tests and data tools do; a
    /// change made through the lifecycle comes with its event from
    /// [`Changeset::transition`].
    pub fn push(&mut self, change: Change) -> &mut Self {
        self.changes.push(change);
        self
    }

    /// Adds an event that changes no record (a refused bootstrap request, say).
    pub fn event(&mut self, event: NewEvent) -> &mut Self {
        self.events.push(event);
        self
    }

    /// The changes, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The events, in order.
    pub fn events(&self) -> &[NewEvent] {
        &self.events
    }

    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.events.is_empty()
    }

    /// The changes and events.
    pub fn into_parts(self) -> (Vec<Change>, Vec<NewEvent>) {
        (self.changes, self.events)
    }
}

/// One change of a record and the one event that records it: what a lifecycle step returns
/// and what [`Changeset::transition`](crate::Changeset::transition) takes, so that every
/// change the [`Provisioner`](crate::Provisioner) commits carries exactly its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    change: Change,
    event: NewEvent,
}

impl Transition {
    /// A newly registered device: its insert and a `Registered` event.
    pub fn registered(device: Device, now: Timestamp) -> Self {
        let event = device_event(&device, EventKind::Registered, now);
        Self {
            change: Change::InsertDevice(device),
            event,
        }
    }

    /// `old` becoming `new` (which must be its next version), recorded as `kind`.
    pub(crate) fn update(old: &Device, new: Device, kind: EventKind, now: Timestamp) -> Self {
        let event = device_event(&new, kind, now);
        Self {
            change: Change::UpdateDevice {
                expected: old.version(),
                device: new,
            },
            event,
        }
    }

    /// `old` with its fields edited into `new`: an `Edited` event.
    pub(crate) fn edited(old: &Device, new: Device, now: Timestamp) -> Self {
        Self::update(old, new, EventKind::Edited, now)
    }

    /// `device` deleted: a `Deleted` event.
    pub(crate) fn deleted(device: &Device, now: Timestamp) -> Self {
        Self {
            change: Change::DeleteDevice {
                id: device.id(),
                expected: device.version(),
            },
            event: device_event(device, EventKind::Deleted, now),
        }
    }

    /// A new group: `GroupCreated`.
    pub(crate) fn group_created(group: RegistrationGroup, now: Timestamp) -> Self {
        let event = group_event(&group, EventKind::GroupCreated, now);
        Self {
            change: Change::InsertGroup(group),
            event,
        }
    }

    /// The group at `expected` becoming `group`, recorded as `kind`.
    pub(crate) fn group_updated(
        expected: Version,
        group: RegistrationGroup,
        kind: EventKind,
        now: Timestamp,
    ) -> Self {
        let event = group_event(&group, kind, now);
        Self {
            change: Change::UpdateGroup { expected, group },
            event,
        }
    }

    /// `group` deleted: `GroupDeleted`.
    pub(crate) fn group_deleted(group: &RegistrationGroup, now: Timestamp) -> Self {
        Self {
            change: Change::DeleteGroup {
                id: group.id(),
                expected: group.version(),
            },
            event: group_event(group, EventKind::GroupDeleted, now),
        }
    }

    /// The change.
    pub fn change(&self) -> &Change {
        &self.change
    }

    /// The event that records it.
    pub fn event(&self) -> &NewEvent {
        &self.event
    }

    /// The device as the change leaves it; `None` for a deletion or a group change.
    pub fn device(&self) -> Option<&Device> {
        match &self.change {
            Change::InsertDevice(device) | Change::UpdateDevice { device, .. } => Some(device),
            Change::DeleteDevice { .. }
            | Change::InsertGroup(_)
            | Change::UpdateGroup { .. }
            | Change::DeleteGroup { .. } => None,
        }
    }

    /// The change and its event.
    pub fn into_parts(self) -> (Change, NewEvent) {
        (self.change, self.event)
    }
}

/// The event of one device change.
fn device_event(device: &Device, kind: EventKind, now: Timestamp) -> NewEvent {
    NewEvent {
        at: now,
        actor: None,
        group_id: device.group_id(),
        device_id: Some(device.id()),
        serial: Some(device.serial().clone()),
        kind,
    }
}

/// The event of one group change.
fn group_event(group: &RegistrationGroup, kind: EventKind, now: Timestamp) -> NewEvent {
    NewEvent {
        at: now,
        actor: None,
        group_id: group.id(),
        device_id: None,
        serial: None,
        kind,
    }
}
