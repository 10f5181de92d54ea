//! Bulk imports: plan creates and updates of many devices, then apply the plan.
//!
//! An importer (such as `dps-csv`) reads records from its source, validates them into
//! [`ImportRecord`]s and hands them over one chunk at a time:
//!
//! 1. [`Provisioner::plan_import`] reads the chunk's existing devices and decides, per record,
//!    whether it creates a device, updates one, leaves one unchanged, or is refused. Nothing is
//!    written; a dry run stops here.
//! 2. [`Provisioner::apply_import`] commits a plan: every created device with its `Registered`
//!    event and every updated device with its `Edited` event, with optimistic version checks.
//!    Best effort commits in chunks of [`Config::chunk_size`](crate::Config::chunk_size) and
//!    gives each change its own outcome; all-or-nothing commits once, or not at all when any
//!    record was refused.
//!
//! Plans of several chunks can be joined with [`ImportPlan::append`] before an all-or-nothing
//! apply.

use std::collections::{HashMap, HashSet};

use crate::attribute::AttributeSchema;
use crate::device::{Device, DeviceEdit, NewDevice};
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::group::RegistrationGroup;
use crate::id::{GroupId, Version};
use crate::provisioner::{Atomicity, Provisioner, device_event};
use crate::store::{Change, Changeset, Store};
use crate::text::{AttributeId, SerialNumber};
use crate::time::Timestamp;

/// What an import does with a record whose serial is already registered in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ImportMode {
    /// Only new devices are created; an existing serial is refused as
    /// [`Error::AlreadyRegistered`].
    #[default]
    Create,
    /// New serials are created; existing devices get the record's editable fields and
    /// attributes (only those the source carries, see [`ImportFields`]).
    Upsert,
}

/// One record to import: the device as the source describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    /// The device's fields. On create they are registered as given (missing attributes get
    /// their defaults); on update they replace the existing values of the fields in
    /// [`ImportFields`].
    pub device: NewDevice,
    /// The version the source last saw; in [`ImportMode::Upsert`] an existing device at any
    /// other version is refused with [`Error::Conflict`]. Ignored when the device is created.
    pub expected_version: Option<Version>,
}

impl ImportRecord {
    /// A record without an expected version.
    pub fn new(device: NewDevice) -> Self {
        Self {
            device,
            expected_version: None,
        }
    }
}

/// Which optional fields the records of an import carry. On update, a field the source
/// carries is set to the record's value (an absent value clears it); a field it does not carry
/// is left as it is. The serial and the model are always carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportFields {
    /// The device name.
    pub name: bool,
    /// The timezone.
    pub timezone: bool,
    /// The batch tag.
    pub batch_tag: bool,
    /// The description.
    pub description: bool,
    /// The device's own target.
    pub target: bool,
    /// These attributes.
    pub attributes: Vec<AttributeId>,
}

impl ImportFields {
    /// Every field and every attribute of `schema`.
    pub fn all(schema: &AttributeSchema) -> Self {
        Self {
            name: true,
            timezone: true,
            batch_tag: true,
            description: true,
            target: true,
            attributes: schema.attributes().iter().map(|d| d.id.clone()).collect(),
        }
    }

    /// The edit that makes an existing device match `record` in the carried fields.
    pub fn edit_for(&self, record: &ImportRecord) -> DeviceEdit {
        let d = &record.device;
        DeviceEdit {
            name: self.name.then(|| d.name.clone()),
            model_id: Some(d.model_id.clone()),
            timezone: self.timezone.then_some(d.timezone),
            batch_tag: self.batch_tag.then(|| d.batch_tag.clone()),
            description: self.description.then(|| d.description.clone()),
            target: self.target.then(|| d.target.clone()),
            attributes: self
                .attributes
                .iter()
                .map(|id| (id.clone(), d.attributes.get(id).cloned()))
                .collect(),
            expected_version: record.expected_version,
        }
    }
}

/// What importing one record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportAction {
    /// A new device is registered.
    Create,
    /// An existing device is edited.
    Update,
    /// An existing device already matches the record; nothing is written.
    Unchanged,
}

impl ImportAction {
    /// The action as a lowercase word: `create`, `update` or `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportAction::Create => "create",
            ImportAction::Update => "update",
            ImportAction::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for ImportAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
enum Planned {
    Insert(Device),
    Update { expected: Version, device: Device },
}

impl Planned {
    fn changeset(&self, now: Timestamp, cs: &mut Changeset) {
        match self {
            Planned::Insert(d) => {
                cs.push(Change::InsertDevice(d.clone())).event(device_event(
                    d,
                    EventKind::Registered,
                    now,
                ));
            }
            Planned::Update { expected, device } => {
                cs.push(Change::UpdateDevice {
                    expected: *expected,
                    device: device.clone(),
                })
                .event(device_event(device, EventKind::Edited, now));
            }
        }
    }
}

/// The plan of an import: one outcome per record, in record order, and the changes that
/// applying it writes. Nothing has been written yet.
#[derive(Debug)]
pub struct ImportPlan {
    group: GroupId,
    now: Timestamp,
    outcomes: Vec<Result<ImportAction>>,
    changes: Vec<(usize, Planned)>,
}

impl ImportPlan {
    /// The group the plan imports into.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The planned outcome of each record, in record order.
    pub fn outcomes(&self) -> &[Result<ImportAction>] {
        &self.outcomes
    }

    /// The planned outcomes, consuming the plan.
    pub fn into_outcomes(self) -> Vec<Result<ImportAction>> {
        self.outcomes
    }

    /// How many records the plan covers.
    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    /// Whether the plan covers no record.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// How many records were refused.
    pub fn refused(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_err()).count()
    }

    /// How many devices applying the plan creates or updates.
    pub fn changes(&self) -> usize {
        self.changes.len()
    }

    /// Appends a later plan of the same group: its records follow this plan's records.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when `other` imports into another group; `self` is left
    /// unchanged.
    pub fn append(&mut self, other: ImportPlan) -> Result<()> {
        if other.group != self.group {
            return Err(Error::NotFound {
                entity: crate::error::Entity::Group,
                key: other.group.to_string(),
            });
        }
        let offset = self.outcomes.len();
        self.outcomes.extend(other.outcomes);
        self.changes
            .extend(other.changes.into_iter().map(|(i, p)| (i + offset, p)));
        Ok(())
    }
}

/// The outcome of [`Provisioner::apply_import`]: one entry per record of the plan.
#[derive(Debug, Default)]
pub struct ImportApplied {
    /// For each record: what was done, or why it was refused.
    pub outcomes: Vec<Result<ImportAction>>,
    /// Whether anything was written (false when all-or-nothing refused the plan).
    pub committed: bool,
}

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Plans the import of `records` into `group`; nothing is written.
    ///
    /// Each record is checked against the group's schema and the stored devices: a new
    /// serial plans [`ImportAction::Create`]; an existing one is refused as
    /// [`Error::AlreadyRegistered`] in [`ImportMode::Create`], and in
    /// [`ImportMode::Upsert`] plans [`ImportAction::Update`] or [`ImportAction::Unchanged`]
    /// (or is refused with [`Error::Conflict`] for a stale expected version,
    /// [`Error::OperationInProgress`] for a pending device, or an attribute error). A serial
    /// that repeats within `records` is refused as already registered.
    ///
    /// # Errors
    ///
    /// Store errors while reading the existing devices; per-record refusals are in the plan.
    pub async fn plan_import(
        &self,
        group: &RegistrationGroup,
        records: Vec<ImportRecord>,
        mode: ImportMode,
        fields: &ImportFields,
    ) -> Result<ImportPlan> {
        let now = self.now();
        let mut existing: HashMap<SerialNumber, Device> = HashMap::new();
        let page = self.config().page_size.max(1);
        for chunk in records.chunks(page) {
            let serials: Vec<SerialNumber> =
                chunk.iter().map(|r| r.device.serial.clone()).collect();
            for d in self
                .store()
                .devices_by_serials(group.id(), &serials)
                .await?
            {
                existing.insert(d.serial().clone(), d);
            }
        }
        let mut outcomes = Vec::with_capacity(records.len());
        let mut changes = Vec::with_capacity(records.len());
        let mut seen: HashSet<SerialNumber> = HashSet::with_capacity(records.len());
        for record in records {
            let index = outcomes.len();
            let serial = record.device.serial.clone();
            if !seen.insert(serial.clone()) {
                outcomes.push(Err(Error::AlreadyRegistered {
                    group: group.id(),
                    serial,
                }));
                continue;
            }
            let outcome = match existing.remove(&serial) {
                None => Device::register(self.new_device_id(), group, record.device, now).map(
                    |device| {
                        changes.push((index, Planned::Insert(device)));
                        ImportAction::Create
                    },
                ),
                Some(current) => match mode {
                    ImportMode::Create => Err(Error::AlreadyRegistered {
                        group: group.id(),
                        serial,
                    }),
                    ImportMode::Upsert => current
                        .edited(group, &fields.edit_for(&record), now)
                        .map(|next| {
                            if same_editable(&current, &next) {
                                ImportAction::Unchanged
                            } else {
                                changes.push((
                                    index,
                                    Planned::Update {
                                        expected: current.version(),
                                        device: next,
                                    },
                                ));
                                ImportAction::Update
                            }
                        }),
                },
            };
            outcomes.push(outcome);
        }
        Ok(ImportPlan {
            group: group.id(),
            now,
            outcomes,
            changes,
        })
    }

    /// Applies a plan from [`Provisioner::plan_import`].
    ///
    /// With [`Atomicity::AllOrNothing`], a plan with any refused record writes nothing and
    /// reports `committed: false`; otherwise every change lands in one commit. With
    /// [`Atomicity::BestEffort`], the changes are committed in chunks of
    /// [`Config::chunk_size`](crate::Config::chunk_size); when a chunk fails (a concurrent
    /// writer changed a device or took a serial meanwhile) its changes are committed one by one
    /// so that each gets its own outcome ([`Error::Conflict`], [`Error::AlreadyRegistered`]).
    ///
    /// # Errors
    ///
    /// Store errors of an all-or-nothing commit (nothing was written).
    pub async fn apply_import(
        &self,
        plan: ImportPlan,
        atomicity: Atomicity,
    ) -> Result<ImportApplied> {
        let ImportPlan {
            now,
            mut outcomes,
            changes,
            ..
        } = plan;
        if atomicity == Atomicity::AllOrNothing {
            if outcomes.iter().any(|o| o.is_err()) {
                return Ok(ImportApplied {
                    outcomes,
                    committed: false,
                });
            }
            if !changes.is_empty() {
                let mut cs = Changeset::with_capacity(changes.len());
                for (_, p) in &changes {
                    p.changeset(now, &mut cs);
                }
                self.store().commit(cs).await?;
            }
            return Ok(ImportApplied {
                outcomes,
                committed: true,
            });
        }
        for chunk in changes.chunks(self.config().chunk_size.max(1)) {
            let mut cs = Changeset::with_capacity(chunk.len());
            for (_, p) in chunk {
                p.changeset(now, &mut cs);
            }
            if let Err(e) = self.store().commit(cs).await {
                if let [(i, _)] = chunk {
                    outcomes[*i] = Err(e.into());
                    continue;
                }
                for (i, p) in chunk {
                    let mut cs = Changeset::with_capacity(1);
                    p.changeset(now, &mut cs);
                    if let Err(e) = self.store().commit(cs).await {
                        outcomes[*i] = Err(e.into());
                    }
                }
            }
        }
        Ok(ImportApplied {
            outcomes,
            committed: true,
        })
    }
}

/// Whether two versions of a device agree in every field an import can change.
fn same_editable(a: &Device, b: &Device) -> bool {
    a.name() == b.name()
        && a.model_id() == b.model_id()
        && a.timezone() == b.timezone()
        && a.batch_tag() == b.batch_tag()
        && a.description() == b.description()
        && a.target() == b.target()
        && a.attributes() == b.attributes()
}
