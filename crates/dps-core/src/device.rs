//! Devices and the pure operations on them.
//!
//! Every method here is a pure function from a device (and its group) to the device's next
//! version; the [`Provisioner`](crate::Provisioner) commits the results and talks to the
//! environment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::attribute::{AttributeValue, AttributeValues};
use crate::environment::OnboardRequest;
use crate::error::{Entity, Error, Result};
use crate::group::{ModelType, RegistrationGroup, ReprovisionMethod};
use crate::id::{DeviceId, GroupId, OperationId, Version};
use crate::state::{
    AllocationState, AllocationStatus, Completion, DeleteStep, EnvOutcome, Operation,
    PendingAction, ReplaceIntent,
};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    id: DeviceId,
    group_id: GroupId,
    serial: SerialNumber,
    model_id: ModelId,
    name: Option<DeviceName>,
    timezone: Option<Timezone>,
    batch_tag: Option<BatchTag>,
    description: Option<Description>,
    target: Option<Target>,
    attributes: AttributeValues,
    state: AllocationState,
    first_target: Option<Target>,
    // Boxed: most devices have none, and a device record stays smaller without the room.
    last_error: Option<Box<LastError>>,
    replacements: Vec<Replacement>,
    version: Version,
    created_at: Timestamp,
    updated_at: Timestamp,
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

    fn next(&self, now: Timestamp) -> Self {
        let mut d = self.clone();
        d.version = self.version.next();
        d.updated_at = now;
        d
    }

    fn refuse(&self, e: crate::state::TransitionError) -> Error {
        e.into_error(self.id)
    }

    /// This device with `edit` applied, at the next version.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when `expected_version` is stale, [`Error::OperationInProgress`]
    /// when the device is pending, attribute errors when the result does not fit the schema.
    pub fn edited(
        &self,
        group: &RegistrationGroup,
        edit: &DeviceEdit,
        now: Timestamp,
    ) -> Result<Self> {
        self.check_version(edit.expected_version)?;
        self.state
            .check_settled(Operation::Edit)
            .map_err(|e| self.refuse(e))?;
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
    pub fn check_version(&self, expected: Option<Version>) -> Result<()> {
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

    /// Checks the preconditions of an allocation that need no environment and returns the
    /// target: the device is not allocated, a target resolves, and a private-model device goes
    /// to its first target.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`], [`Error::OperationInProgress`], [`Error::NoTarget`] or
    /// [`Error::PrivateModelTarget`].
    pub fn allocation_target(&self, group: &RegistrationGroup) -> Result<Target> {
        self.state.check_allocatable().map_err(|e| self.refuse(e))?;
        let Some(target) = self.resolve_target(group) else {
            return Err(Error::NoTarget {
                serial: self.serial.clone(),
            });
        };
        if group.model_type() == ModelType::Private
            && let Some(first) = &self.first_target
            && first != target
        {
            return Err(Error::PrivateModelTarget {
                serial: self.serial.clone(),
                first: first.to_string(),
            });
        }
        Ok(target.clone())
    }

    /// This device, pending allocation to the target that [`Device::allocation_target`]
    /// resolves.
    ///
    /// # Errors
    ///
    /// As [`Device::allocation_target`].
    pub fn begin_allocate(
        &self,
        group: &RegistrationGroup,
        op: OperationId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Self> {
        let target = self.allocation_target(group)?;
        let state = self
            .state
            .begin_allocate(op, target, now, lease_until)
            .map_err(|e| self.refuse(e))?;
        let mut d = self.next(now);
        d.state = state;
        Ok(d)
    }

    /// This device, still not allocated, with a failed allocation recorded.
    ///
    /// # Errors
    ///
    /// A transition error unless the device is not allocated.
    pub fn allocation_failed(&self, error: &Error, now: Timestamp) -> Result<Self> {
        self.state.check_allocatable().map_err(|e| self.refuse(e))?;
        let mut d = self.next(now);
        d.last_error = Some(Box::new(LastError::from_error(error, now)));
        Ok(d)
    }

    /// This device, pending a reset.
    ///
    /// # Errors
    ///
    /// [`Error::ReprovisionDisabled`] when the group disables reset, a transition error unless
    /// the device is allocated.
    pub fn begin_reset(
        &self,
        group: &RegistrationGroup,
        op: OperationId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Self> {
        let state = self
            .state
            .begin_reset(op, now, lease_until)
            .map_err(|e| self.refuse(e))?;
        if group.reprovision() == ReprovisionMethod::Disabled {
            return Err(Error::ReprovisionDisabled { group: group.id() });
        }
        let mut d = self.next(now);
        d.state = state;
        Ok(d)
    }

    /// This device, pending a hardware replacement; it carries `new_serial` from now on.
    ///
    /// # Errors
    ///
    /// A transition error unless the device is allocated.
    pub fn begin_replace(
        &self,
        new_serial: SerialNumber,
        batch_tag: BatchTag,
        description: Option<Description>,
        op: OperationId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Self> {
        let intent = ReplaceIntent {
            old_serial: self.serial.clone(),
            batch_tag,
            description,
        };
        let state = self
            .state
            .begin_replace(op, intent, now, lease_until)
            .map_err(|e| self.refuse(e))?;
        let mut d = self.next(now);
        d.state = state;
        d.serial = new_serial;
        Ok(d)
    }

    /// This device pending its offboarding before deletion, or `None` when it can be deleted
    /// at once.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] for a stale `expected` version, a transition error when pending.
    pub fn begin_delete(
        &self,
        expected: Option<Version>,
        op: OperationId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Self>> {
        self.check_version(expected)?;
        match self
            .state
            .begin_delete(op, now, lease_until)
            .map_err(|e| self.refuse(e))?
        {
            DeleteStep::Now => Ok(None),
            DeleteStep::Offboard(state) => {
                let mut d = self.next(now);
                d.state = state;
                Ok(Some(d))
            }
        }
    }

    /// Settles the pending operation with the environment's answer: the device's next
    /// version, or `None` when it is to be deleted.
    ///
    /// # Errors
    ///
    /// A transition error when the device is not pending or the outcome does not answer it.
    pub fn complete(
        &self,
        group: &RegistrationGroup,
        outcome: EnvOutcome,
        now: Timestamp,
    ) -> Result<Option<Self>> {
        let pending = self.pending_or_refuse()?;
        let completion = pending.complete(outcome, now).map_err(|e| self.refuse(e))?;
        let state = match completion {
            Completion::Deleted => return Ok(None),
            Completion::State(state) => state,
        };
        let mut d = self.next(now);
        match pending.action() {
            PendingAction::Allocate { target, .. } => {
                if d.first_target.is_none() {
                    d.first_target = Some(target.clone());
                }
            }
            PendingAction::Reset { .. } => {
                if group.reprovision() == ReprovisionMethod::Initialize {
                    d.attributes = group.attributes().defaults();
                }
            }
            PendingAction::Replace {
                old_serial,
                batch_tag,
                description,
                ..
            } => {
                d.replacements.push(Replacement {
                    old_serial: old_serial.clone(),
                    new_serial: d.serial.clone(),
                    batch_tag: batch_tag.clone(),
                    at: now,
                });
                d.batch_tag = Some(batch_tag.clone());
                d.description.clone_from(description);
            }
            PendingAction::Delete { .. } => {}
        }
        d.state = state;
        d.last_error = None;
        Ok(Some(d))
    }

    /// This device back in the state before its pending operation, with `error` recorded.
    ///
    /// # Errors
    ///
    /// A transition error when the device is not pending.
    pub fn roll_back(&self, error: &Error, now: Timestamp) -> Result<Self> {
        let pending = self.pending_or_refuse()?;
        let mut d = self.next(now);
        d.state = pending.roll_back();
        if let PendingAction::Replace { old_serial, .. } = pending.action() {
            d.serial = old_serial.clone();
        }
        d.last_error = Some(Box::new(LastError::from_error(error, now)));
        Ok(d)
    }

    /// This device with its pending operation rolled back as [`Device::roll_back`] does, but
    /// keeping its current serial: for a rejected replacement whose old serial was registered
    /// to another device while the replacement was pending, so that the device can only
    /// return under the serial it reserved.
    ///
    /// # Errors
    ///
    /// A transition error when the device is not pending.
    pub fn roll_back_keeping_serial(&self, error: &Error, now: Timestamp) -> Result<Self> {
        let mut d = self.roll_back(error, now)?;
        d.serial = self.serial.clone();
        Ok(d)
    }

    /// This device still pending, with its lease released for recovery and `error` recorded.
    ///
    /// # Errors
    ///
    /// A transition error when the device is not pending.
    pub fn deferred(&self, error: &Error, now: Timestamp) -> Result<Self> {
        let pending = self.pending_or_refuse()?;
        let mut d = self.next(now);
        d.state = AllocationState::Pending(pending.released());
        d.last_error = Some(Box::new(LastError::from_error(error, now)));
        Ok(d)
    }

    /// This device's pending operation claimed by a recovery until `lease_until`.
    ///
    /// # Errors
    ///
    /// A transition error when the device is not pending; [`Error::OperationInProgress`]
    /// while another driver's lease runs.
    pub fn claimed(&self, now: Timestamp, lease_until: Timestamp) -> Result<Self> {
        let pending = self.pending_or_refuse()?;
        if !pending.is_claimable(now) {
            return Err(Error::OperationInProgress {
                device: self.id,
                operation: pending.operation(),
            });
        }
        let mut d = self.next(now);
        d.state = AllocationState::Pending(pending.claimed(lease_until));
        Ok(d)
    }

    /// This device with a bootstrap recorded at `now`.
    ///
    /// # Errors
    ///
    /// A transition error unless the device is allocated.
    pub fn bootstrapped(&self, now: Timestamp) -> Result<Self> {
        let state = self.state.bootstrap(now).map_err(|e| self.refuse(e))?;
        let mut d = self.next(now);
        d.state = state;
        Ok(d)
    }

    /// This device with the name and timezone that it reported when bootstrapping, at the
    /// next version; `None` when that changes nothing.
    ///
    /// The report counts only at the device's first contact (it is not allocated yet, or its
    /// allocation has not bootstrapped yet), and only fills fields that are empty: what an
    /// operator set stays.
    ///
    /// # Errors
    ///
    /// [`Error::OperationInProgress`] when the device is pending.
    pub fn first_contact(
        &self,
        name: Option<&DeviceName>,
        timezone: Option<Timezone>,
        now: Timestamp,
    ) -> Result<Option<Self>> {
        self.state
            .check_settled(Operation::Bootstrap)
            .map_err(|e| self.refuse(e))?;
        let first = match &self.state {
            AllocationState::NotAllocated(_) => true,
            AllocationState::Allocated(a) => a.bootstrapped_at().is_none(),
            AllocationState::Pending(_) => false,
        };
        let fill_name = name.filter(|_| first && self.name.is_none());
        let fill_timezone = timezone.filter(|_| first && self.timezone.is_none());
        if fill_name.is_none() && fill_timezone.is_none() {
            return Ok(None);
        }
        let mut d = self.next(now);
        if let Some(n) = fill_name {
            d.name = Some(n.clone());
        }
        if let Some(tz) = fill_timezone {
            d.timezone = Some(tz);
        }
        Ok(Some(d))
    }

    fn pending_or_refuse(&self) -> Result<&crate::state::Pending> {
        self.state.check_pending().map_err(|e| self.refuse(e))
    }

    /// What a target needs to onboard this device.
    pub fn onboard_request(&self) -> OnboardRequest {
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
