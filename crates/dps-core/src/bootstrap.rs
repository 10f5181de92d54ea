//! Device bootstrap: the call a device makes to learn where to connect and with which
//! credentials.
//!
//! A device knows its group ID, its serial number and its **device bootstrap key**,
//! `HMAC-SHA256(group secret, serial)` ([`DeviceBootstrapKey`]), which a factory flashes into
//! it; the group secret itself never leaves the server. To bootstrap, the device signs a
//! [canonical string](BootstrapClaims::canonical_string) of its claims with that key and
//! sends a [`BootstrapRequest`]; [`Provisioner::bootstrap`](crate::Provisioner::bootstrap) verifies it and answers with a
//! [`BootstrapAnswer`]: endpoints, asset ID and credentials.
//!
//! `docs/bootstrap.md` in the repository is the specification for firmware authors, with
//! test vectors.
//!
//! ```
//! use dps::{bootstrap::BootstrapClaims, bootstrap::DeviceBootstrapKey, GroupId, Secret, SerialNumber};
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

use crate::environment::{Credentials, Endpoints};
use crate::id::{DeviceId, GroupId};
use crate::secret::{Revealed, Secret};
use crate::text::{AssetId, DeviceName, SerialNumber, Target, Timezone};
use crate::time::Timestamp;
use crate::validation::{Field, Rule, ValidationError};

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

/// How [`Provisioner::bootstrap`](crate::Provisioner::bootstrap) verifies requests; part of [`Config`](crate::Config).
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
    /// commit race, before it answers [`Error::TryAgain`](crate::Error::TryAgain). Default: 4.
    pub max_attempts: u32,
    /// At most this many [`EventKind::BootstrapRefused`](crate::EventKind::BootstrapRefused) events per minute, so that a flood
    /// of bad requests does not turn into as many store writes. Refusals beyond it are
    /// answered alike but only counted; the next recorded refusal carries the count. Each
    /// [`Provisioner`](crate::Provisioner) counts on its own. Default: `None`, every refusal is recorded.
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

/// What happens to the old group secret when [`Provisioner::rotate_group_secret`](crate::Provisioner::rotate_group_secret) replaces
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

/// Why a bootstrap request was refused, as recorded in [`EventKind::BootstrapRefused`](crate::EventKind::BootstrapRefused). The
/// device itself only ever hears [`Error::Unauthorized`](crate::Error::Unauthorized).
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
/// use dps::{bootstrap::DeviceBootstrapKey, Secret};
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
/// use dps::{bootstrap::BootstrapClaims, GroupId};
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
/// `Debug` masks the device secret and `Serialize` leaves it out; the device's answer is
/// [`BootstrapAnswer::revealed`], whose JSON carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

impl BootstrapAnswer {
    /// The answer as the device receives it: a value whose JSON is this answer's with the
    /// device secret in `credentials` (see `docs/bootstrap.md`).
    ///
    /// ```json
    /// {"device_id": "…", "serial": "SN-0001",
    ///  "target": {"environment": "prod-eu", "ou": "acme"},
    ///  "endpoints": {"mqtt": "mqtts://…", "http": null}, "asset_id": "…",
    ///  "credentials": {"product_key": "…", "device_key": "…", "device_secret": "…"},
    ///  "bootstrapped_at": 1767225600000, "allocated_now": false}
    /// ```
    pub fn revealed(&self) -> Revealed<'_, Self> {
        Revealed(self)
    }
}

impl Serialize for Revealed<'_, BootstrapAnswer> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let a = self.0;
        let mut s = serializer.serialize_struct("BootstrapAnswer", 8)?;
        s.serialize_field("device_id", &a.device_id)?;
        s.serialize_field("serial", &a.serial)?;
        s.serialize_field("target", &a.target)?;
        s.serialize_field("endpoints", &a.endpoints)?;
        s.serialize_field("asset_id", &a.asset_id)?;
        s.serialize_field("credentials", &a.credentials.revealed())?;
        s.serialize_field("bootstrapped_at", &a.bootstrapped_at)?;
        s.serialize_field("allocated_now", &a.allocated_now)?;
        s.end()
    }
}

/// A secret that no group has, for the work done on requests that name an unknown group.
pub(crate) fn decoy_secret() -> Secret {
    Secret::from_bytes_hex(&[0u8; MAC_LEN])
}

/// Whether `request` verifies with a key from a group's current secret, or from its
/// previous one (opened only when the current one does not verify).
pub(crate) fn signature_verifies(
    current: &Secret,
    previous: impl FnOnce() -> Option<Secret>,
    request: &BootstrapRequest,
) -> bool {
    let serial = &request.claims.serial;
    DeviceBootstrapKey::derive(current, serial).verify(request)
        || previous()
            .is_some_and(|previous| DeviceBootstrapKey::derive(&previous, serial).verify(request))
}
