//! Bulk imports: plan creates and updates of many devices, then apply the plan.
//!
//! An importer (such as `dps-csv`) reads records from its source, validates them into
//! [`ImportRecord`]s and hands them over one chunk at a time:
//!
//! 1. [`Provisioner::plan_import`](crate::Provisioner::plan_import) reads the chunk's existing
//!    devices and decides, per record, whether it creates a device, updates one, leaves one
//!    unchanged, or is refused. Nothing is written; a dry run stops here.
//! 2. [`Provisioner::apply_import`](crate::Provisioner::apply_import) commits a plan: every
//!    created device with its `Registered` event and every updated device with its `Edited`
//!    event, with optimistic version checks. Best effort commits in chunks of
//!    [`Config::chunk_size`](crate::Config::chunk_size) and gives each change its own
//!    outcome; all-or-nothing commits once, or not at all when any record was refused.
//!
//! Plans of several chunks can be joined with [`ImportPlan::append`] before an all-or-nothing
//! apply.

use crate::attribute::AttributeSchema;
use crate::changeset::{Change, Transition};
use crate::device::{DeviceEdit, NewDevice};
use crate::error::{Error, Result};
use crate::id::{DeviceId, GroupId, Version};
use crate::text::AttributeId;

/// What an import does with a record whose serial is already registered in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ImportMode {
    /// Only new devices are created; an existing serial is refused as
    /// [`Error::AlreadyRegistered`].
    #[default]
    Create,
    /// New serials are created; existing devices get the record's editable fields and
    /// attributes (only those the source carries, see [`ImportFields`]).
    Upsert,
    /// Existing devices are updated as in [`ImportMode::Upsert`]; a serial that is not
    /// registered in the group is refused as [`Error::UnknownSerial`], so that an edited
    /// export never creates a device by accident.
    Update,
}

/// One record to import: the device as the source describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    /// The device's fields. On create they are registered as given (missing attributes get
    /// their defaults); on update they replace the existing values of the fields in
    /// [`ImportFields`].
    pub device: NewDevice,
    /// The version the source last saw; in [`ImportMode::Upsert`] and [`ImportMode::Update`] an
    /// existing device at any other version is refused with [`Error::Conflict`]. Ignored when the device is created.
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

/// The plan of an import: one outcome per record, in record order, and the changes that
/// applying it writes. Nothing has been written yet.
#[derive(Debug)]
pub struct ImportPlan {
    pub(crate) group: GroupId,
    pub(crate) outcomes: Vec<Result<ImportAction>>,
    /// The changes, each with the index of its record.
    pub(crate) changes: Vec<(usize, Transition)>,
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

    /// For each record, the identifier of the device that applying the plan creates for it.
    pub(crate) fn created_ids(&self) -> Vec<Option<DeviceId>> {
        let mut ids = vec![None; self.outcomes.len()];
        for (i, t) in &self.changes {
            if let Change::InsertDevice(d) = t.change() {
                ids[*i] = Some(d.id());
            }
        }
        ids
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

/// The outcome of [`Provisioner::apply_import`](crate::Provisioner::apply_import): one entry per record of the plan.
#[derive(Debug, Default)]
pub struct ImportApplied {
    /// For each record: what was done, or why it was refused.
    pub outcomes: Vec<Result<ImportAction>>,
    /// Whether anything was written (false when all-or-nothing refused the plan).
    pub committed: bool,
}
