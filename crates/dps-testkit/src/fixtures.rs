//! Deterministic groups, devices and states for tests.

use dps_core::{
    AssetId, BatchTag, Credentials, Device, DeviceId, EventKind, GroupId, Key, NewDevice, NewEvent,
    NewGroup, OperationId, RegistrationGroup, Secret, Target, Timestamp, attribute::AttributeDef,
    attribute::AttributeSchema, attribute::AttributeType, attribute::AttributeValue, inject::IdGen,
    inject::SequentialIds, lifecycle::EnvOutcome,
};
use dps_core::{Onboarded, SerialNumber};

/// The instant every fixture is stamped with: 2026-01-01T00:00:00Z.
pub const EPOCH: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);

/// Builds deterministic test records: identifiers come from a counter, times from [`EPOCH`].
#[derive(Debug)]
pub struct Fixtures {
    ids: SequentialIds,
}

impl Default for Fixtures {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses a value that a fixture spells out literally.
fn lit<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .unwrap_or_else(|e| panic!("fixture literal {s:?} does not parse: {e}"))
}

impl Fixtures {
    /// A fixture builder whose identifiers start at 1.
    pub fn new() -> Self {
        Self {
            ids: SequentialIds::new(1),
        }
    }

    /// A builder whose identifiers start at `start`, so that two builders never collide.
    pub fn starting_at(start: u64) -> Self {
        Self {
            ids: SequentialIds::new(start),
        }
    }

    /// The target `prod/acme`.
    pub fn target() -> Target {
        lit("prod/acme")
    }

    /// The target `staging/acme`.
    pub fn other_target() -> Target {
        lit("staging/acme")
    }

    /// A fresh operation identifier.
    pub fn op(&self) -> OperationId {
        OperationId::from_uuid(self.ids.new_uuid())
    }

    /// A group named `name` with default target [`Fixtures::target`] and an optional integer
    /// attribute `floor`.
    pub fn group(&self, name: &str) -> RegistrationGroup {
        let mut new = NewGroup::new(lit(name));
        new.default_target = Some(Self::target());
        new.attributes = AttributeSchema::new(vec![AttributeDef::new(
            lit("floor"),
            AttributeType::Integer,
        )])
        .unwrap_or_else(|e| panic!("fixture schema: {e}"));
        RegistrationGroup::new(
            GroupId::from_uuid(self.ids.new_uuid()),
            new,
            Secret::from_bytes_hex(&[7; 16]),
            EPOCH,
        )
    }

    /// A new device of `group` with model `m1`, batch tag `b1` and `floor = 1`.
    pub fn device(&self, group: &RegistrationGroup, serial: &str) -> Device {
        let mut new = NewDevice::new(lit(serial), lit("m1"));
        new.batch_tag = Some(lit::<BatchTag>("b1"));
        new.attributes
            .insert(lit("floor"), AttributeValue::Integer(1));
        Device::register(DeviceId::from_uuid(self.ids.new_uuid()), group, new, EPOCH)
            .unwrap_or_else(|e| panic!("fixture device: {e}"))
    }

    /// `device` allocated to its resolved target with asset `asset-<serial>`: the pending
    /// state and the allocated state, at the next two versions.
    pub fn allocated(&self, group: &RegistrationGroup, device: &Device) -> (Device, Device) {
        let op = self.op();
        let pending = dps_core::lifecycle::begin_allocate(device, group, op, EPOCH, EPOCH)
            .unwrap_or_else(|e| panic!("fixture allocate: {e}"))
            .pending;
        let onboarded = Onboarded {
            asset_id: lit::<AssetId>(&format!("asset-{}", device.serial())),
            credentials: Credentials {
                product_key: lit::<Key>("pk-1"),
                device_key: lit::<Key>(&format!("dk-{}", device.serial())),
                device_secret: Secret::new(format!("secret-{}", device.serial()))
                    .unwrap_or_else(|e| panic!("fixture secret: {e}")),
            },
        };
        let allocated = pending
            .settle(group, Ok(EnvOutcome::Onboarded(onboarded)), EPOCH)
            .unwrap_or_else(|e| panic!("fixture complete: {e}"))
            .transition
            .device()
            .cloned()
            .unwrap_or_else(|| panic!("fixture complete deleted the device"));
        (pending.into_device(), allocated)
    }

    /// `device` pending allocation.
    pub fn pending(&self, group: &RegistrationGroup, device: &Device) -> Device {
        dps_core::lifecycle::begin_allocate(device, group, self.op(), EPOCH, EPOCH)
            .unwrap_or_else(|e| panic!("fixture pending: {e}"))
            .pending
            .into_device()
    }

    /// A serial from a number: `SN-000042`.
    pub fn serial(n: usize) -> SerialNumber {
        lit(&format!("SN-{n:06}"))
    }

    /// An event about `device`.
    pub fn event(device: &Device, kind: EventKind) -> NewEvent {
        NewEvent {
            at: EPOCH,
            actor: None,
            group_id: device.group_id(),
            device_id: Some(device.id()),
            serial: Some(device.serial().clone()),
            kind,
        }
    }

    /// An event about `group`.
    pub fn group_event(group: &RegistrationGroup, kind: EventKind) -> NewEvent {
        NewEvent {
            at: EPOCH,
            actor: None,
            group_id: group.id(),
            device_id: None,
            serial: None,
            kind,
        }
    }
}
