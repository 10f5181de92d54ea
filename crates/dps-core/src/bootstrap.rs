//! Device bootstrap: the call a device makes to learn where to connect and with which
//! credentials.
//!
//! A device knows its group ID, its serial number and its **device bootstrap key**,
//! `HMAC-SHA256(group secret, serial)` ([`DeviceBootstrapKey`]), which a factory flashes into
//! it; the group secret itself never leaves the server. To bootstrap, the device signs a
//! [canonical string](BootstrapClaims::canonical_string) of its claims with that key and
//! sends a [`BootstrapRequest`]; [`Provisioner::bootstrap`] verifies it and answers with a
//! [`BootstrapAnswer`]: endpoints, asset ID and credentials.
//!
//! `docs/bootstrap.md` in the repository is the specification for firmware authors, with
//! test vectors.
//!
//! ```
//! use dps_core::{BootstrapClaims, DeviceBootstrapKey, GroupId, Secret, SerialNumber};
//!
//! let group_secret = Secret::new("my-group-secret").unwrap();
//! let serial: SerialNumber = "SN-0001".parse().unwrap();
//! // Server side (the factory export): the key to flash into this unit.
//! let key = DeviceBootstrapKey::derive(&group_secret, &serial);
//!
//! // Device side: sign the claims with the key.
//! let group: GroupId = "0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b".parse().unwrap();
//! let request = BootstrapClaims::new(group, serial, 1_700_000_000).sign(&key);
//! assert!(key.verify(&request));
//! assert_eq!(format!("{key:?}"), "DeviceBootstrapKey(****)");
//! ```

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::device::Device;
use crate::environment::{Credentials, Endpoints, Environment};
use crate::error::{Error, Field, Result, Rule, ValidationError};
use crate::event::{EventKind, NewEvent};
use crate::group::RegistrationGroup;
use crate::id::{DeviceId, GroupId};
use crate::provisioner::{Provisioner, group_event};
use crate::secret::Secret;
use crate::state::AllocationState;
use crate::store::{Change, Changeset, Store};
use crate::text::{AssetId, DeviceName, SerialNumber, Target, Timezone};
use crate::time::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// The length of a device bootstrap key and of a signature, in bytes.
const MAC_LEN: usize = 32;
/// The length of a signature in padded standard base64.
const SIGNATURE_BASE64_LEN: usize = 44;

fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length (RFC 2104 §2): longer keys are hashed, shorter ones
        // padded, so this constructor never fails.
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// How [`Provisioner::bootstrap`] verifies requests; part of [`Config`](crate::Config).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BootstrapConfig {
    /// How far a request's timestamp may be from the injected clock, either way, in whole
    /// seconds. Default: 300 s.
    pub window: Duration,
    /// How long a group secret that was rotated out (with [`SecretRotation::Graceful`]) keeps
    /// verifying requests. Default: 7 days.
    pub secret_grace: Duration,
    /// How many times one bootstrap reads the device again after a concurrent change won a
    /// commit race, before it answers [`Error::TryAgain`]. Default: 4.
    pub max_attempts: u32,
    /// At most this many [`EventKind::BootstrapRefused`] events per minute, so that a flood
    /// of bad requests does not turn into as many store writes. Refusals beyond it are
    /// answered alike but only counted; the next recorded refusal carries the count. Each
    /// [`Provisioner`] counts on its own. Default: `None`, every refusal is recorded.
    pub refusal_events_per_minute: Option<u32>,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            secret_grace: Duration::from_secs(7 * 24 * 60 * 60),
            max_attempts: 4,
            refusal_events_per_minute: None,
        }
    }
}

impl BootstrapConfig {
    /// These settings with another timestamp window.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// These settings with another grace period for rotated-out group secrets.
    #[must_use]
    pub fn with_secret_grace(mut self, grace: Duration) -> Self {
        self.secret_grace = grace;
        self
    }

    /// These settings with another number of attempts (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// These settings recording at most `n` refused requests per minute.
    #[must_use]
    pub fn with_refusal_events_per_minute(mut self, n: u32) -> Self {
        self.refusal_events_per_minute = Some(n);
        self
    }
}

/// The refusals recorded in the current minute, for
/// [`BootstrapConfig::refusal_events_per_minute`].
#[derive(Debug, Default)]
pub(crate) struct RefusalBudget {
    /// When the current minute started.
    since: Option<Timestamp>,
    /// Refusals recorded since then.
    recorded: u32,
    /// Refusals not recorded since the last recorded one.
    suppressed: u64,
}

impl RefusalBudget {
    /// Whether a refusal at `now` is recorded under a limit of `per_minute`, and if so how
    /// many refusals before it were not.
    fn take(&mut self, now: Timestamp, per_minute: u32) -> Option<u64> {
        let minute_over = self
            .since
            .is_none_or(|since| since.saturating_add(Duration::from_secs(60)) <= now);
        if minute_over {
            self.since = Some(now);
            self.recorded = 0;
        }
        if self.recorded < per_minute {
            self.recorded += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// What happens to the old group secret when [`Provisioner::rotate_group_secret`] replaces
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRotation {
    /// The old secret keeps verifying for [`BootstrapConfig::secret_grace`], so that devices
    /// flashed with keys derived from it can still bootstrap while new keys are rolled out.
    #[default]
    Graceful,
    /// The old secret stops verifying at once (for a leaked secret).
    Immediate,
}

/// Why a bootstrap request was refused, as recorded in [`EventKind::BootstrapRefused`]. The
/// device itself only ever hears [`Error::Unauthorized`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BootstrapRefusal {
    /// No group has the request's group ID.
    UnknownGroup,
    /// The signature is correct, but the group has no device with the request's serial.
    UnknownSerial,
    /// The signature is missing, malformed or does not verify with a key derived from the
    /// group's secret (or its previous secret within the grace period).
    BadSignature,
    /// The signature is correct, but the timestamp is outside the window.
    StaleTimestamp {
        /// The request's timestamp minus the service's clock, in seconds (negative when the
        /// device's clock is behind).
        skew_seconds: i64,
    },
}

impl BootstrapRefusal {
    /// The reason as a snake_case word: `unknown_group`, `unknown_serial`, `bad_signature` or
    /// `stale_timestamp`.
    pub fn code(&self) -> &'static str {
        match self {
            BootstrapRefusal::UnknownGroup => "unknown_group",
            BootstrapRefusal::UnknownSerial => "unknown_serial",
            BootstrapRefusal::BadSignature => "bad_signature",
            BootstrapRefusal::StaleTimestamp { .. } => "stale_timestamp",
        }
    }
}

impl fmt::Display for BootstrapRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootstrapRefusal::StaleTimestamp { skew_seconds } => {
                write!(f, "stale_timestamp (skew {skew_seconds} s)")
            }
            BootstrapRefusal::UnknownGroup
            | BootstrapRefusal::UnknownSerial
            | BootstrapRefusal::BadSignature => f.write_str(self.code()),
        }
    }
}

/// A device bootstrap key: `HMAC-SHA256(group secret, serial)`, 32 bytes.
///
/// The HMAC key is the group secret's text as UTF-8 bytes and the message is the serial's
/// text. The key's text form is the 32 bytes in standard base64 with padding (44
/// characters), which is what a factory flashes into the device. `Debug` and `Display`
/// print a mask, and two keys compare in constant time.
///
/// A rotation of the group secret changes every device's key: devices flashed with the old
/// keys bootstrap only during the grace period.
///
/// ```
/// use dps_core::{DeviceBootstrapKey, Secret};
///
/// let key = DeviceBootstrapKey::derive(&Secret::new("s3cret").unwrap(), &"SN-1".parse().unwrap());
/// let text = key.expose_base64();
/// assert_eq!(text.len(), 44);
/// assert_eq!(DeviceBootstrapKey::from_base64(&text).unwrap(), key);
/// assert_eq!(key.to_string(), "****");
/// ```
#[derive(Clone)]
pub struct DeviceBootstrapKey([u8; MAC_LEN]);

impl DeviceBootstrapKey {
    /// The key of the device `serial` in a group whose secret is `group_secret`.
    pub fn derive(group_secret: &Secret, serial: &SerialNumber) -> Self {
        let mut mac = hmac_sha256(group_secret.expose().as_bytes());
        mac.update(serial.as_str().as_bytes());
        Self(mac.finalize().into_bytes().into())
    }

    /// The key of the device `serial` of `group`, from the group's current secret: what a
    /// factory export writes for each unit.
    pub fn for_device(group: &RegistrationGroup, serial: &SerialNumber) -> Self {
        Self::derive(group.secret(), serial)
    }

    /// Reads a key from its text form: 32 bytes in standard base64 with padding.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] for [`Field::Secret`] when the text is not that.
    pub fn from_base64(text: &str) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::new(
                Field::Secret,
                Rule::Format {
                    expected: "32 bytes in standard base64 with padding (44 characters)",
                },
            )
        };
        if text.len() != SIGNATURE_BASE64_LEN {
            return Err(invalid());
        }
        let bytes = BASE64.decode(text).map_err(|_| invalid())?;
        let bytes: [u8; MAC_LEN] = bytes.try_into().map_err(|_| invalid())?;
        Ok(Self(bytes))
    }

    /// The key's text form, standard base64 with padding. Call this only where the key must
    /// leave the process (a factory export, flashing a device).
    pub fn expose_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// The signature of `claims`: `HMAC-SHA256(key, canonical string)`, in standard base64
    /// with padding.
    pub fn sign_claims(&self, claims: &BootstrapClaims) -> String {
        let mut mac = hmac_sha256(&self.0);
        mac.update(claims.canonical_string().as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }

    /// Whether `request`'s signature is this key's signature of its claims. The comparison
    /// takes constant time; a signature that is not 32 bytes in standard base64 with padding
    /// never verifies.
    pub fn verify(&self, request: &BootstrapRequest) -> bool {
        let Some(tag) = decode_signature(&request.signature) else {
            return false;
        };
        let mut mac = hmac_sha256(&self.0);
        mac.update(request.claims.canonical_string().as_bytes());
        mac.verify_slice(&tag).is_ok()
    }
}

fn decode_signature(signature: &str) -> Option<Vec<u8>> {
    if signature.len() != SIGNATURE_BASE64_LEN {
        return None;
    }
    BASE64
        .decode(signature)
        .ok()
        .filter(|tag| tag.len() == MAC_LEN)
}

impl PartialEq for DeviceBootstrapKey {
    fn eq(&self, other: &Self) -> bool {
        Secret::constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for DeviceBootstrapKey {}

impl fmt::Debug for DeviceBootstrapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceBootstrapKey(****)")
    }
}

impl fmt::Display for DeviceBootstrapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// What a device claims when it bootstraps: every field of a [`BootstrapRequest`] but the
/// signature, all of which the signature covers.
///
/// ```
/// use dps_core::{BootstrapClaims, GroupId};
///
/// let group: GroupId = "0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b".parse().unwrap();
/// let claims = BootstrapClaims::new(group, "SN-0001".parse().unwrap(), 1_700_000_000)
///     .with_timezone("+01:00".parse().unwrap());
/// assert_eq!(
///     claims.canonical_string(),
///     "dps-bootstrap-v1\n0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b\nSN-0001\n1700000000\n\n+01:00",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapClaims {
    /// The group the device belongs to.
    pub group_id: GroupId,
    /// The device's serial number.
    pub serial: SerialNumber,
    /// When the request was made, in whole seconds since the Unix epoch (UTC).
    pub timestamp: i64,
    /// The name the device gives itself; it fills an empty device name at the first
    /// bootstrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<DeviceName>,
    /// The device's UTC offset; it fills an empty timezone at the first bootstrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Timezone>,
}

impl BootstrapClaims {
    /// The first line of every canonical string: the scheme and its version.
    pub const SCHEME: &'static str = "dps-bootstrap-v1";

    /// Claims without a name or timezone.
    pub fn new(group_id: GroupId, serial: SerialNumber, timestamp: i64) -> Self {
        Self {
            group_id,
            serial,
            timestamp,
            name: None,
            timezone: None,
        }
    }

    /// These claims with the device's name.
    #[must_use]
    pub fn with_name(mut self, name: DeviceName) -> Self {
        self.name = Some(name);
        self
    }

    /// These claims with the device's UTC offset.
    #[must_use]
    pub fn with_timezone(mut self, timezone: Timezone) -> Self {
        self.timezone = Some(timezone);
        self
    }

    /// The text that is signed: six lines joined by `\n` (no final line break) —
    /// [`SCHEME`](Self::SCHEME), the group ID (lowercase, hyphenated), the serial, the
    /// timestamp in decimal, the name (empty when absent) and the timezone as `±HH:MM` (empty
    /// when absent). No field can contain a line break, so the string is unambiguous.
    pub fn canonical_string(&self) -> String {
        let name = self.name.as_ref().map_or("", DeviceName::as_str);
        let timezone = self.timezone.map(|t| t.to_string()).unwrap_or_default();
        format!(
            "{}\n{}\n{}\n{}\n{name}\n{timezone}",
            Self::SCHEME,
            self.group_id,
            self.serial,
            self.timestamp,
        )
    }

    /// The signed request: what the device sends.
    pub fn sign(self, key: &DeviceBootstrapKey) -> BootstrapRequest {
        let signature = key.sign_claims(&self);
        BootstrapRequest {
            claims: self,
            signature,
        }
    }
}

/// A device's bootstrap call: its claims and their signature.
///
/// In JSON the claims' fields sit beside `signature`:
///
/// ```json
/// {"group_id": "0190a5b2-…", "serial": "SN-0001", "timestamp": 1700000000,
///  "name": "Boiler room", "timezone": "+01:00", "signature": "…44 characters…"}
/// ```
///
/// `Debug` masks the signature, which could be replayed within the window.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapRequest {
    /// What the device claims.
    #[serde(flatten)]
    pub claims: BootstrapClaims,
    /// `HMAC-SHA256(device bootstrap key, canonical string)` in standard base64 with padding.
    pub signature: String,
}

impl fmt::Debug for BootstrapRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapRequest")
            .field("claims", &self.claims)
            .field("signature", &"****")
            .finish()
    }
}

/// What a bootstrapped device receives: where to connect and with which credentials.
///
/// `Debug` masks the device secret; serialising it (to answer the device) does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapAnswer {
    /// The device's identifier.
    pub device_id: DeviceId,
    /// The device's serial number.
    pub serial: SerialNumber,
    /// The target the device is allocated to.
    pub target: Target,
    /// Where the device connects.
    pub endpoints: Endpoints,
    /// The identity the target gave the device.
    pub asset_id: AssetId,
    /// Product key, device key and device secret.
    pub credentials: Credentials,
    /// When this bootstrap was recorded.
    pub bootstrapped_at: Timestamp,
    /// Whether this call allocated the device (auto-activation).
    pub allocated_now: bool,
}

/// What one pass over a freshly read device came to.
#[allow(clippy::large_enum_variant, reason = "a short-lived return value")]
enum Step {
    Answered(BootstrapAnswer),
    ReadAgain,
}

/// A secret that no group has, for the work done on requests that name an unknown group.
fn decoy_secret() -> Secret {
    Secret::from_bytes_hex(&[0u8; MAC_LEN])
}

/// Whether `request` verifies with a key from `group`'s current secret, or from its
/// previous one while that is within its grace period at `now`.
fn signature_verifies(
    group: &RegistrationGroup,
    request: &BootstrapRequest,
    now: Timestamp,
    grace: Duration,
) -> bool {
    let serial = &request.claims.serial;
    DeviceBootstrapKey::derive(group.secret(), serial).verify(request)
        || group
            .previous_secret_at(now, grace)
            .is_some_and(|previous| DeviceBootstrapKey::derive(previous, serial).verify(request))
}

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Answers a device's bootstrap call.
    ///
    /// In order:
    ///
    /// 1. The group must exist, the signature must verify with the key derived from the
    ///    group's secret (or from its previous secret during the grace period), and the
    ///    timestamp must be within [`BootstrapConfig::window`] of the injected clock; the
    ///    device must exist. Otherwise the answer is [`Error::Unauthorized`], the same for
    ///    every reason, and an [`EventKind::BootstrapRefused`] event records the real one.
    /// 2. A pending device gets [`Error::TryAgain`]. A device that is not allocated gets
    ///    [`Error::NotAllocated`], unless its group has auto-activation: then it is allocated
    ///    now, through the same path as [`Provisioner::allocate`], and its errors
    ///    ([`Error::NoTarget`], [`Error::ModelMissing`], …) are returned as they are.
    /// 3. At the device's first bootstrap, the name and timezone it sent fill its empty
    ///    fields (event `Edited`).
    /// 4. The target's endpoints are read, `bootstrapped_at` is set (event `Bootstrapped`)
    ///    and the device gets its endpoints, asset ID and credentials.
    ///
    /// Repeating a request returns the same credentials and never allocates a second time.
    /// When concurrent bootstraps of one device race, the store's version check lets one
    /// allocate; the others read the device again and answer from the allocation, or get
    /// [`Error::TryAgain`] while it is still pending.
    ///
    /// # Errors
    ///
    /// [`Error::Unauthorized`], [`Error::NotAllocated`], [`Error::TryAgain`], the allocation
    /// errors above, environment and store errors. [`Error::is_retryable`] says whether the
    /// device should try again later.
    pub async fn bootstrap(&self, request: &BootstrapRequest) -> Result<BootstrapAnswer> {
        let claims = &request.claims;
        let settings = &self.config().bootstrap;
        let now = self.now();
        let Some(group) = self.store().group(claims.group_id).await? else {
            // The same work as for a known group, so that the time taken tells little.
            let decoy = DeviceBootstrapKey::derive(&decoy_secret(), &claims.serial);
            std::hint::black_box(decoy.verify(request));
            return self.refuse(claims, BootstrapRefusal::UnknownGroup).await;
        };
        if !signature_verifies(&group, request, now, settings.secret_grace) {
            return self.refuse(claims, BootstrapRefusal::BadSignature).await;
        }
        let skew_seconds = claims.timestamp.saturating_sub(now.unix_seconds());
        if skew_seconds.unsigned_abs() > settings.window.as_secs() {
            let reason = BootstrapRefusal::StaleTimestamp { skew_seconds };
            return self.refuse(claims, reason).await;
        }
        let mut allocated_now = false;
        for _ in 0..settings.max_attempts.max(1) {
            let Some(device) = self
                .store()
                .device_by_serial(group.id(), &claims.serial)
                .await?
            else {
                return self.refuse(claims, BootstrapRefusal::UnknownSerial).await;
            };
            match self
                .bootstrap_device(&group, device, claims, &mut allocated_now)
                .await
            {
                Ok(Step::Answered(answer)) => return Ok(answer),
                Ok(Step::ReadAgain) | Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::TryAgain {
            serial: claims.serial.clone(),
        })
    }

    /// One pass of [`Provisioner::bootstrap`] over an authenticated device.
    async fn bootstrap_device(
        &self,
        group: &RegistrationGroup,
        device: Device,
        claims: &BootstrapClaims,
        allocated_now: &mut bool,
    ) -> Result<Step> {
        match device.state() {
            AllocationState::Pending(_) => {
                return Err(Error::TryAgain {
                    serial: device.serial().clone(),
                });
            }
            AllocationState::NotAllocated(_) if !group.auto_activation() => {
                return Err(Error::NotAllocated {
                    serial: device.serial().clone(),
                });
            }
            AllocationState::NotAllocated(_) | AllocationState::Allocated(_) => {}
        }
        let now = self.now();
        let device = match device.first_contact(claims.name.as_ref(), claims.timezone, now)? {
            Some(reported) => {
                self.commit_update(&device, &reported, EventKind::Edited, now)
                    .await?;
                reported
            }
            None => device,
        };
        let allocated = match device.state() {
            AllocationState::Allocated(allocated) => allocated,
            AllocationState::NotAllocated(_) => {
                self.allocate_one(group, device).await?;
                *allocated_now = true;
                return Ok(Step::ReadAgain);
            }
            AllocationState::Pending(_) => return Ok(Step::ReadAgain),
        };
        let endpoints = self.environment().endpoints(allocated.target()).await?;
        let now = self.now();
        let bootstrapped = device.bootstrapped(now)?;
        self.commit_update(&device, &bootstrapped, EventKind::Bootstrapped, now)
            .await?;
        Ok(Step::Answered(BootstrapAnswer {
            device_id: device.id(),
            serial: device.serial().clone(),
            target: allocated.target().clone(),
            endpoints,
            asset_id: allocated.asset_id().clone(),
            credentials: allocated.credentials().clone(),
            bootstrapped_at: now,
            allocated_now: *allocated_now,
        }))
    }

    /// Records a refused bootstrap request (within
    /// [`BootstrapConfig::refusal_events_per_minute`]) and answers [`Error::Unauthorized`].
    async fn refuse<T>(&self, claims: &BootstrapClaims, reason: BootstrapRefusal) -> Result<T> {
        let now = self.now();
        let suppressed = match self.config().bootstrap.refusal_events_per_minute {
            None => Some(0),
            Some(limit) => self.refusal_budget().take(now, limit),
        };
        if let Some(suppressed) = suppressed {
            let mut cs = Changeset::with_capacity(1);
            cs.event(NewEvent {
                at: now,
                group_id: claims.group_id,
                device_id: None,
                serial: Some(claims.serial.clone()),
                kind: EventKind::BootstrapRefused { reason, suppressed },
            });
            self.store().commit(cs).await?;
        }
        Err(Error::Unauthorized)
    }

    /// Replaces a group's secret with a fresh one from the injected secret source, and with
    /// it every device bootstrap key of the group. With [`SecretRotation::Graceful`] the old
    /// secret keeps verifying for [`BootstrapConfig::secret_grace`]; with
    /// [`SecretRotation::Immediate`] it stops at once. Event `GroupSecretRotated`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`] when the group changed meanwhile, store
    /// errors.
    pub async fn rotate_group_secret(
        &self,
        group: GroupId,
        rotation: SecretRotation,
    ) -> Result<RegistrationGroup> {
        let group = self.group(group).await?;
        let now = self.now();
        let previous_kept = rotation == SecretRotation::Graceful;
        let rotated = group.with_rotated_secret(self.new_group_secret(), previous_kept, now);
        let mut cs = Changeset::with_capacity(1);
        cs.push(Change::UpdateGroup {
            expected: group.version(),
            group: rotated.clone(),
        })
        .event(group_event(
            &rotated,
            EventKind::GroupSecretRotated { previous_kept },
            now,
        ));
        self.store().commit(cs).await?;
        Ok(rotated)
    }

    /// The bootstrap key of the device `serial` of `group`, from the group's current secret
    /// (the device need not be registered yet, so a factory can flash units first).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group, store errors.
    pub async fn device_bootstrap_key(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<DeviceBootstrapKey> {
        let group = self.group(group).await?;
        Ok(DeviceBootstrapKey::for_device(&group, serial))
    }

    /// Signs `claims` as their device would: derives the device's key from its group's
    /// current secret and signs with it. For tools and tests that act as a device (the CLI's
    /// `dps device bootstrap`); a real device signs with its flashed key instead.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for the group, store errors.
    pub async fn sign_as_device(&self, claims: BootstrapClaims) -> Result<BootstrapRequest> {
        let key = self
            .device_bootstrap_key(claims.group_id, &claims.serial)
            .await?;
        Ok(claims.sign(&key))
    }
}
