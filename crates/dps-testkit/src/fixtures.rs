//! Deterministic groups, devices and states for tests.

use std::sync::Arc;

use dps_core::bootstrap::DeviceBootstrapKey;
use dps_core::seal::{Keys, Sealer, SealingKey, SecretOf};
use dps_core::state::SealedCredentials;
use dps_core::{
    AssetId, BatchTag, Device, DeviceId, EventKind, GroupId, Key, NewDevice, NewEvent, NewGroup,
    OperationId, RegistrationGroup, Secret, Target, Timestamp, attribute::AttributeDef,
    attribute::AttributeSchema, attribute::AttributeType, attribute::AttributeValue, inject::IdGen,
    inject::SeededSecrets, inject::SequentialIds, lifecycle::EnvOutcome,
};
use dps_core::{Credentials, SerialNumber};

/// The instant every fixture is stamped with: 2026-01-01T00:00:00Z.
pub const EPOCH: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);

/// The sealing keys of every fixture and of the golden scenario: one fixed key, `test-1`,
/// for tests only.
pub fn test_keys() -> Keys {
    Keys::new(lit("test-1"), SealingKey::from_bytes([0x5e; 32]))
}

/// A sealer with [`test_keys`], its nonces from a seeded (deterministic) source.
pub fn test_sealer() -> Sealer {
    Sealer::new(Arc::new(test_keys()), Arc::new(SeededSecrets::new(7)))
}

/// Builds deterministic test records: identifiers come from a counter, times from [`EPOCH`],
/// secrets are sealed with [`test_keys`].
#[derive(Debug)]
pub struct Fixtures {
    ids: SequentialIds,
    sealer: Sealer,
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
        Self::starting_at(1)
    }

    /// A builder whose identifiers start at `start`, so that two builders never collide.
    pub fn starting_at(start: u64) -> Self {
        Self {
            ids: SequentialIds::new(start),
            sealer: test_sealer(),
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

    /// The sealer of these fixtures' secrets, with [`test_keys`].
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    fn seal(&self, secret: &Secret, of: SecretOf) -> dps_core::seal::SealedSecret {
        self.sealer
            .seal(secret, of)
            .unwrap_or_else(|e| panic!("fixture seal: {e}"))
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
        let id = GroupId::from_uuid(self.ids.new_uuid());
        let secret = self.seal(&Secret::from_bytes_hex(&[7; 16]), SecretOf::Group(id));
        RegistrationGroup::new(id, new, secret, EPOCH)
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
        let secret = Secret::new(format!("secret-{}", device.serial()))
            .unwrap_or_else(|e| panic!("fixture secret: {e}"));
        let onboarded = EnvOutcome::Onboarded {
            asset_id: lit::<AssetId>(&format!("asset-{}", device.serial())),
            credentials: SealedCredentials {
                product_key: lit::<Key>("pk-1"),
                device_key: lit::<Key>(&format!("dk-{}", device.serial())),
                device_secret: self.seal(&secret, SecretOf::Device(device.id())),
            },
        };
        let allocated = pending
            .settle(group, Ok(onboarded), EPOCH)
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

/// The current secret of `group`, opened with [`test_keys`].
///
/// # Panics
///
/// When it does not open with them.
pub fn group_secret(group: &RegistrationGroup) -> Secret {
    test_sealer()
        .open(group.secret(), SecretOf::Group(group.id()))
        .unwrap_or_else(|e| panic!("open the secret of group {}: {e}", group.id()))
}

/// The bootstrap key of the device `serial` of `group`, from its current secret opened with
/// [`test_keys`].
///
/// # Panics
///
/// When the secret does not open with them.
pub fn bootstrap_key(group: &RegistrationGroup, serial: &SerialNumber) -> DeviceBootstrapKey {
    DeviceBootstrapKey::derive(&group_secret(group), serial)
}

/// The credentials of `device`, its secret opened with [`test_keys`]; `None` when it is not
/// allocated.
///
/// # Panics
///
/// When the secret does not open with them.
pub fn credentials(device: &Device) -> Option<Credentials> {
    let allocated = device.state().allocated()?;
    let sealed = allocated.credentials();
    let device_secret = test_sealer()
        .open(&sealed.device_secret, SecretOf::Device(device.id()))
        .unwrap_or_else(|e| panic!("open the secret of device {}: {e}", device.id()));
    Some(Credentials {
        product_key: sealed.product_key.clone(),
        device_key: sealed.device_key.clone(),
        device_secret,
    })
}

/// `secret` sealed as the secret of `of` with [`test_keys`].
///
/// # Panics
///
/// Never: the test keys always seal.
pub fn sealed(secret: &Secret, of: SecretOf) -> dps_core::seal::SealedSecret {
    test_sealer()
        .seal(secret, of)
        .unwrap_or_else(|e| panic!("seal: {e}"))
}
