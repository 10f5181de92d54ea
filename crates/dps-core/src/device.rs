//! Devices: the record, its registration and edits, and its accessors.
//!
//! The allocation lifecycle's steps on a device live in [`lifecycle`](crate::lifecycle); the
//! [`Provisioner`](crate::Provisioner) commits their results and talks to the environment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::attribute::{AttributeValue, AttributeValues};
use crate::environment::OnboardRequest;
use crate::error::{Entity, Error, Result};
use crate::group::RegistrationGroup;
use crate::id::{DeviceId, GroupId, Version};
use crate::state::{AllocationState, AllocationStatus, Operation};
use crate::text::{
    AttributeId, BatchTag, Description, DeviceName, ModelId, SerialNumber, Target, Timezone,
};
use crate::time::Timestamp;

/// The fields of a device to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDevice {
    /// The serial number, unique within the group.
    pub serial: SerialNumber,
    /// The model.
    pub model_id: ModelId,
    /// A name.
    pub name: Option<DeviceName>,
    /// The device's UTC offset.
    pub timezone: Option<Timezone>,
    /// The batch tag.
    pub batch_tag: Option<BatchTag>,
    /// A description.
    pub description: Option<Description>,
    /// The device's own target, which takes precedence over the group's default.
    pub target: Option<Target>,
    /// Values for the group's schema attributes; missing ones get their defaults.
    pub attributes: AttributeValues,
}

impl NewDevice {
    /// A device with only the required fields.
    pub fn new(serial: SerialNumber, model_id: ModelId) -> Self {
        Self {
            serial,
            model_id,
            name: None,
            timezone: None,
            batch_tag: None,
            description: None,
            target: None,
            attributes: AttributeValues::new(),
        }
    }
}

/// Changes to a device's editable fields (all but the serial); `None` leaves a field as it
/// is, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEdit {
    /// A new name, or `Some(None)` to clear it.
    pub name: Option<Option<DeviceName>>,
    /// A new model.
    pub model_id: Option<ModelId>,
    /// A new timezone, or `Some(None)` to clear it.
    pub timezone: Option<Option<Timezone>>,
    /// A new batch tag, or `Some(None)` to clear it.
    pub batch_tag: Option<Option<BatchTag>>,
    /// A new description, or `Some(None)` to clear it.
    pub description: Option<Option<Description>>,
    /// A new own target, or `Some(None)` to fall back to the group's default.
    pub target: Option<Option<Target>>,
    /// Attribute values to set (`Some`) or remove (`None`); the result is checked against
    /// the group's schema.
    pub attributes: BTreeMap<AttributeId, Option<AttributeValue>>,
    /// When set, the edit applies only if the device is still at this version.
    pub expected_version: Option<Version>,
}

impl DeviceEdit {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.model_id.is_none()
            && self.timezone.is_none()
            && self.batch_tag.is_none()
            && self.description.is_none()
            && self.target.is_none()
            && self.attributes.is_empty()
    }
}

/// One hardware replacement in a device's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// The serial of the replaced hardware.
    pub old_serial: SerialNumber,
    /// The serial of the new hardware.
    pub new_serial: SerialNumber,
    /// The batch tag given with the replacement.
    pub batch_tag: BatchTag,
    /// When the replacement completed.
    pub at: Timestamp,
}

/// The last failed operation on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// The stable error code.
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// When it happened.
    pub at: Timestamp,
}

impl LastError {
    /// The last error for `error` at `at`.
    pub fn from_error(error: &Error, at: Timestamp) -> Self {
        Self {
            code: error.code().to_owned(),
            message: error.to_string(),
            at,
        }
    }
}

/// A device registered in a group.
///
/// `Serialize` gives every field but the device secret of its credentials (see
/// [`Credentials`](crate::Credentials)), so a device can be returned as JSON as it is. Its
/// shape follows the fields and may grow; an API with a frozen contract defines its own view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub(crate) id: DeviceId,
    pub(crate) group_id: GroupId,
    pub(crate) serial: SerialNumber,
    pub(crate) model_id: ModelId,
    pub(crate) name: Option<DeviceName>,
    pub(crate) timezone: Option<Timezone>,
    pub(crate) batch_tag: Option<BatchTag>,
    pub(crate) description: Option<Description>,
    pub(crate) target: Option<Target>,
    pub(crate) attributes: AttributeValues,
    pub(crate) state: AllocationState,
    pub(crate) first_target: Option<Target>,
    // Boxed: most devices have none, and a device record stays smaller without the room.
    pub(crate) last_error: Option<Box<LastError>>,
    pub(crate) replacements: Vec<Replacement>,
    pub(crate) version: Version,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
}

impl Device {
    /// Registers a new device in `group`, at version 1 and not allocated.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAttribute`] or [`Error::MissingRequired`] when the attribute values do
    /// not fit the group's schema.
    pub fn register(
        id: DeviceId,
        group: &RegistrationGroup,
        new: NewDevice,
        now: Timestamp,
    ) -> Result<Self> {
        let attributes = group.attributes().resolve(new.attributes)?;
        Ok(Self {
            id,
            group_id: group.id(),
            serial: new.serial,
            model_id: new.model_id,
            name: new.name,
            timezone: new.timezone,
            batch_tag: new.batch_tag,
            description: new.description,
            target: new.target,
            attributes,
            state: AllocationState::default(),
            first_target: None,
            last_error: None,
            replacements: Vec::new(),
            version: Version::INITIAL,
            created_at: now,
            updated_at: now,
        })
    }

    /// This device's next version at `now`, for a lifecycle step to change.
    pub(crate) fn next(&self, now: Timestamp) -> Self {
        let mut d = self.clone();
        d.version = self.version.next();
        d.updated_at = now;
        d
    }

    /// This device with `edit` applied, at the next version.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when `expected_version` is stale, [`Error::OperationInProgress`]
    /// when the device is pending, attribute errors when the result does not fit the schema.
    pub(crate) fn edited(
        &self,
        group: &RegistrationGroup,
        edit: &DeviceEdit,
        now: Timestamp,
    ) -> Result<Self> {
        self.check_version(edit.expected_version)?;
        self.state
            .check_settled(Operation::Edit)
            .map_err(|e| e.into_error(self.id))?;
        let mut d = self.next(now);
        if let Some(v) = &edit.name {
            d.name.clone_from(v);
        }
        if let Some(v) = &edit.model_id {
            d.model_id = v.clone();
        }
        if let Some(v) = edit.timezone {
            d.timezone = v;
        }
        if let Some(v) = &edit.batch_tag {
            d.batch_tag.clone_from(v);
        }
        if let Some(v) = &edit.description {
            d.description.clone_from(v);
        }
        if let Some(v) = &edit.target {
            d.target.clone_from(v);
        }
        let mut attributes = std::mem::take(&mut d.attributes);
        for (id, value) in &edit.attributes {
            match value {
                Some(v) => attributes.insert(id.clone(), v.clone()),
                None => attributes.remove(id),
            };
        }
        d.attributes = group.attributes().resolve(attributes)?;
        Ok(d)
    }

    /// Checks `expected` against the device's version.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when they differ.
    pub(crate) fn check_version(&self, expected: Option<Version>) -> Result<()> {
        match expected {
            Some(v) if v != self.version => Err(Error::Conflict {
                entity: Entity::Device,
                key: self.serial.to_string(),
            }),
            Some(_) | None => Ok(()),
        }
    }

    /// The target an allocation would use: the device's own, else the group's default.
    pub fn resolve_target<'a>(&'a self, group: &'a RegistrationGroup) -> Option<&'a Target> {
        self.target.as_ref().or(group.default_target())
    }

    /// What a target needs to onboard this device.
    pub(crate) fn onboard_request(&self) -> OnboardRequest {
        OnboardRequest {
            device_id: self.id,
            serial: self.serial.clone(),
            model_id: self.model_id.clone(),
            name: self.name.clone(),
        }
    }

    /// The device's identifier; it survives hardware replacement.
    pub fn id(&self) -> DeviceId {
        self.id
    }
    /// The group the device belongs to.
    pub fn group_id(&self) -> GroupId {
        self.group_id
    }
    /// The serial number.
    pub fn serial(&self) -> &SerialNumber {
        &self.serial
    }
    /// The model.
    pub fn model_id(&self) -> &ModelId {
        &self.model_id
    }
    /// The name.
    pub fn name(&self) -> Option<&DeviceName> {
        self.name.as_ref()
    }
    /// The UTC offset.
    pub fn timezone(&self) -> Option<Timezone> {
        self.timezone
    }
    /// The batch tag.
    pub fn batch_tag(&self) -> Option<&BatchTag> {
        self.batch_tag.as_ref()
    }
    /// The description.
    pub fn description(&self) -> Option<&Description> {
        self.description.as_ref()
    }
    /// The device's own target, if set.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }
    /// The attribute values.
    pub fn attributes(&self) -> &AttributeValues {
        &self.attributes
    }
    /// The allocation state.
    pub fn state(&self) -> &AllocationState {
        &self.state
    }
    /// The allocation status.
    pub fn status(&self) -> AllocationStatus {
        self.state.status()
    }
    /// The first target the device was ever allocated to.
    pub fn first_target(&self) -> Option<&Target> {
        self.first_target.as_ref()
    }
    /// The last failed operation, until an operation succeeds.
    pub fn last_error(&self) -> Option<&LastError> {
        self.last_error.as_deref()
    }
    /// The hardware replacements, oldest first.
    pub fn replacements(&self) -> &[Replacement] {
        &self.replacements
    }
    /// The optimistic-concurrency version.
    pub fn version(&self) -> Version {
        self.version
    }
    /// When the device was registered.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    /// When the device last changed.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
}
