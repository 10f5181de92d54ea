//! Secrets sealed at rest.
//!
//! Every group secret and device secret that a [`Store`](crate::Store) persists is a
//! [`SealedSecret`]: the secret encrypted with XChaCha20-Poly1305 under a 256-bit
//! [`SealingKey`], with a nonce of its own, the [`KeyId`] of the key that sealed it, and the
//! record it belongs to ([`SecretOf`]) as associated data, so that a sealed value copied to
//! another record, or altered by one bit, does not open.
//!
//! Keys come through the [`KeyProvider`] port: this crate never reads a key file or calls a
//! key service. [`Keys`] holds keys in memory (what a file-based or KMS-backed provider hands
//! over once it has read or unwrapped them); the `dps` CLI reads them from `DPS_KEY_FILE`. A
//! [`Provisioner`](crate::Provisioner) seals with the provider's current key and opens with
//! whichever key a value names, so that after a rotation secrets sealed with the previous key
//! keep opening until [`Provisioner::reseal`](crate::Provisioner::reseal) has sealed them
//! again with the current one.
//!
//! Without a key, a provisioner still lists and edits devices; what needs a secret (creating
//! a group, allocating, replacing, bootstrapping, exporting secrets) fails with
//! [`Error::KeyUnavailable`](crate::Error::KeyUnavailable) (`key_unavailable`). A secret is
//! never returned undecrypted or garbled.
//!
//! ```
//! use std::sync::Arc;
//! use dps::seal::{Keys, SealingKey, Sealer, SecretOf};
//! use dps::{DeviceId, Secret, Uuid};
//!
//! let keys = Keys::new("k1".parse()?, SealingKey::from_bytes([7; 32]));
//! let sealer = Sealer::new(Arc::new(keys), Arc::new(dps::inject::OsSecrets));
//! let device = SecretOf::Device(DeviceId::from_uuid(Uuid::from_u128(1)));
//! let sealed = sealer.seal(&Secret::new("s3cret")?, device)?;
//! assert_eq!(sealed.key_id().map(|k| k.as_str()), Some("k1"));
//! assert_eq!(sealer.open(&sealed, device)?.expose(), "s3cret");
//!
//! // Bound to its record: the same value does not open as another device's secret.
//! let other = SecretOf::Device(DeviceId::from_uuid(Uuid::from_u128(2)));
//! assert_eq!(sealer.open(&sealed, other).unwrap_err().code(), "key_unavailable");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

use crate::id::{DeviceId, GroupId};
use crate::inject::SecretSource;
use crate::secret::Secret;
use crate::text::KeyId;

/// The length of a nonce, in bytes (XChaCha20-Poly1305).
pub const NONCE_LEN: usize = 24;

/// A 256-bit key that seals secrets. Its `Debug` prints a mask.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey([u8; 32]);

impl SealingKey {
    /// A key made of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random key from `source`, which must be cryptographically secure.
    pub fn generate(source: &dyn SecretSource) -> Self {
        let mut bytes = [0u8; 32];
        source.fill(&mut bytes);
        Self(bytes)
    }

    /// A key from its 64 lowercase or uppercase hex digits.
    ///
    /// # Errors
    ///
    /// [`InvalidKey`] when the text is not 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, InvalidKey> {
        let digits = text.as_bytes();
        if digits.len() != 64 {
            return Err(InvalidKey);
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or(InvalidKey)?;
            let low = hex_value(pair[1]).ok_or(InvalidKey)?;
            *byte = (high << 4) | low;
        }
        Ok(Self(bytes))
    }

    /// The key as 64 lowercase hex digits, for writing it where keys are kept. Call this only
    /// there.
    pub fn to_hex(&self) -> String {
        crate::secret::hex(&self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(****)")
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Text that is not a sealing key: a key is 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sealing key is 64 hex digits")]
pub struct InvalidKey;

/// The port through which a [`Provisioner`](crate::Provisioner) gets its sealing keys.
///
/// Sealing and opening happen on every allocation and bootstrap, so the port is synchronous:
/// a provider reads its keys (or unwraps them with a key service) when it is built, and
/// answers from memory. A provider backed by a cloud KMS keeps the data keys it unwrapped,
/// wrapped copies of which it stores wherever it likes; nothing of the key goes into the
/// database.
pub trait KeyProvider: Send + Sync + fmt::Debug + 'static {
    /// The key that seals new secrets, with its identifier; `None` when there is no key, in
    /// which case nothing can be sealed.
    fn current(&self) -> Option<(KeyId, SealingKey)>;

    /// The key with identifier `id`, to open what it sealed; `None` when the provider does
    /// not have it.
    fn key(&self, id: &KeyId) -> Option<SealingKey>;
}

impl<T: KeyProvider + ?Sized> KeyProvider for Arc<T> {
    fn current(&self) -> Option<(KeyId, SealingKey)> {
        (**self).current()
    }
    fn key(&self, id: &KeyId) -> Option<SealingKey> {
        (**self).key(id)
    }
}

/// Keys held in memory: a current key that seals, and older keys that only open.
///
/// [`Keys::none`] has no key at all: nothing can be sealed or opened with it, which is how a
/// [`Provisioner`](crate::Provisioner) starts until it is given keys.
#[derive(Clone, Default)]
pub struct Keys {
    current: Option<KeyId>,
    keys: BTreeMap<KeyId, SealingKey>,
}

impl Keys {
    /// No key.
    pub fn none() -> Self {
        Self::default()
    }

    /// One key, which seals and opens.
    pub fn new(id: KeyId, key: SealingKey) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(id.clone(), key);
        Self {
            current: Some(id),
            keys,
        }
    }

    /// One new random key from `source`, named `id`: for a store that lives only in memory,
    /// whose secrets need not outlive the process.
    pub fn generate(id: KeyId, source: &dyn SecretSource) -> Self {
        Self::new(id, SealingKey::generate(source))
    }

    /// One new random key from the operating system's random source, named `ephemeral`: for
    /// a store that lives only in memory (tests, examples), whose secrets need not outlive
    /// the process. Never for a database that outlives it: its secrets would not open after a
    /// restart.
    #[cfg(feature = "system")]
    pub fn ephemeral() -> Self {
        let id = KeyId::new("ephemeral").unwrap_or_else(|_| unreachable!("a valid key ID"));
        Self::generate(id, &crate::inject::OsSecrets)
    }

    /// These keys and `key`, which opens what it sealed but seals nothing new.
    #[must_use]
    pub fn with_previous(mut self, id: KeyId, key: SealingKey) -> Self {
        self.keys.insert(id, key);
        self
    }

    /// The identifier of the current key.
    pub fn current_id(&self) -> Option<&KeyId> {
        self.current.as_ref()
    }

    /// The identifiers of every key, current or not, in order.
    pub fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyProvider for Keys {
    fn current(&self) -> Option<(KeyId, SealingKey)> {
        let id = self.current.as_ref()?;
        Some((id.clone(), self.keys.get(id)?.clone()))
    }
    fn key(&self, id: &KeyId) -> Option<SealingKey> {
        self.keys.get(id).cloned()
    }
}

/// The record a sealed secret belongs to: its associated data, so that it opens only there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretOf {
    /// A group's secret (current or previous).
    Group(GroupId),
    /// A device's secret.
    Device(DeviceId),
}

impl SecretOf {
    /// The associated data: a label, the kind of record, its identifier and the key's.
    fn associated_data(self, key: &KeyId) -> Vec<u8> {
        let (kind, id) = match self {
            SecretOf::Group(g) => (b'g', *g.as_uuid().as_bytes()),
            SecretOf::Device(d) => (b'd', *d.as_uuid().as_bytes()),
        };
        let mut aad = Vec::with_capacity(16 + 1 + 16 + key.as_str().len());
        aad.extend_from_slice(b"dps sealed v1\0");
        aad.push(kind);
        aad.extend_from_slice(&id);
        aad.extend_from_slice(key.as_str().as_bytes());
        aad
    }
}

impl fmt::Display for SecretOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretOf::Group(g) => write!(f, "group {g}"),
            SecretOf::Device(d) => write!(f, "device {d}"),
        }
    }
}

/// A secret as a store keeps it: sealed, or (in a record written before secrets were sealed)
/// still in clear until [`Provisioner::reseal`](crate::Provisioner::reseal) seals it.
///
/// It shows nothing of the secret: `Debug` names the key that sealed it, and only a
/// [`Sealer`] with that key opens it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Sealed {
        key: KeyId,
        nonce: [u8; NONCE_LEN],
        sealed: Box<[u8]>,
    },
    /// Written by a release that stored secrets in clear.
    Clear(Secret),
}

impl SealedSecret {
    /// The key that sealed it; `None` for a secret still in clear.
    pub fn key_id(&self) -> Option<&KeyId> {
        match &self.0 {
            Repr::Sealed { key, .. } => Some(key),
            Repr::Clear(_) => None,
        }
    }

    /// Whether the secret is sealed (rather than still in clear from an earlier release).
    pub fn is_sealed(&self) -> bool {
        matches!(self.0, Repr::Sealed { .. })
    }

    /// A secret that a record of an earlier release held in clear.
    pub(crate) fn clear(secret: Secret) -> Self {
        Self(Repr::Clear(secret))
    }

    /// A sealed value from its stored parts.
    pub(crate) fn from_parts(key: KeyId, nonce: [u8; NONCE_LEN], sealed: Box<[u8]>) -> Self {
        Self(Repr::Sealed { key, nonce, sealed })
    }

    /// The stored parts: the key, the nonce and the ciphertext with its tag; or the secret
    /// in clear.
    pub(crate) fn parts(&self) -> Result<(&KeyId, &[u8; NONCE_LEN], &[u8]), &Secret> {
        match &self.0 {
            Repr::Sealed { key, nonce, sealed } => Ok((key, nonce, sealed)),
            Repr::Clear(secret) => Err(secret),
        }
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Sealed { key, .. } => write!(f, "SealedSecret(key {key})"),
            Repr::Clear(_) => f.write_str("SealedSecret(in clear)"),
        }
    }
}

/// Why a secret could not be sealed or opened. Reaches callers as
/// [`Error::KeyUnavailable`](crate::Error::KeyUnavailable) (`key_unavailable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// There is no key to seal with.
    #[error("no sealing key is available, so no secret can be sealed or opened")]
    NoKey,
    /// The value names a key that the provider does not have.
    #[error("the secret of {of} is sealed with key {key}, which is not available")]
    UnknownKey {
        /// The key the value names.
        key: KeyId,
        /// The record.
        of: SecretOf,
    },
    /// The secret is still in clear, as a database of an earlier release stored it: it is not
    /// used until [`Provisioner::reseal`](crate::Provisioner::reseal) (`dps keys reseal`)
    /// has sealed it, so that a secret written into the database in clear is never trusted.
    #[error(
        "the secret of {of} is still in clear, as an earlier release stored it: seal it first (dps keys reseal, or Provisioner::reseal)"
    )]
    InClear {
        /// The record.
        of: SecretOf,
    },
    /// The value does not open with the key it names: it was altered, copied from another
    /// record, or the key is not the one that sealed it.
    #[error(
        "the secret of {of} does not open with key {key}: it was altered or copied from another record, or the key is not the one that sealed it"
    )]
    DoesNotOpen {
        /// The key the value names.
        key: KeyId,
        /// The record.
        of: SecretOf,
    },
}

impl KeyError {
    /// The stable error code: `key_unavailable`.
    pub fn code(&self) -> &'static str {
        "key_unavailable"
    }
}

/// Seals and opens secrets with the keys of a [`KeyProvider`], taking nonces from a
/// [`SecretSource`].
#[derive(Clone)]
pub struct Sealer {
    keys: Arc<dyn KeyProvider>,
    nonces: Arc<dyn SecretSource>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer").field("keys", &self.keys).finish()
    }
}

impl Sealer {
    /// A sealer over `keys`, with nonces from `nonces`.
    ///
    /// `nonces` must be cryptographically secure wherever the keys are real: a seeded source
    /// (such as [`SeededSecrets`](crate::inject::SeededSecrets)) repeats its nonces from one
    /// run to the next, and a nonce used twice with one key gives away what it sealed. Give
    /// seeded sources only to test keys.
    pub fn new(keys: Arc<dyn KeyProvider>, nonces: Arc<dyn SecretSource>) -> Self {
        Self { keys, nonces }
    }

    /// The key provider.
    pub fn keys(&self) -> &Arc<dyn KeyProvider> {
        &self.keys
    }

    /// The identifier of the key that seals new secrets.
    ///
    /// # Errors
    ///
    /// [`KeyError::NoKey`] when there is none.
    pub fn current_key(&self) -> Result<KeyId, KeyError> {
        self.keys.current().map(|(id, _)| id).ok_or(KeyError::NoKey)
    }

    /// Seals `secret` as the secret of `of` with the current key.
    ///
    /// # Errors
    ///
    /// [`KeyError::NoKey`] when there is no current key.
    pub fn seal(&self, secret: &Secret, of: SecretOf) -> Result<SealedSecret, KeyError> {
        let (id, key) = self.keys.current().ok_or(KeyError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.nonces.fill(&mut nonce);
        let aad = of.associated_data(&id);
        let payload = Payload {
            msg: secret.expose().as_bytes(),
            aad: &aad,
        };
        // Encryption fails only for messages far longer than a secret can be.
        let sealed = key
            .cipher()
            .encrypt(&XNonce::from(nonce), payload)
            .map_err(|_| KeyError::DoesNotOpen {
                key: id.clone(),
                of,
            })?;
        Ok(SealedSecret::from_parts(id, nonce, sealed.into()))
    }

    /// Opens `sealed` as the secret of `of`.
    ///
    /// # Errors
    ///
    /// [`KeyError::UnknownKey`] when the provider lacks the key the value names,
    /// [`KeyError::DoesNotOpen`] when the value does not open with it, and
    /// [`KeyError::InClear`] for a secret that an earlier release stored in clear and no
    /// reseal has sealed yet.
    pub fn open(&self, sealed: &SealedSecret, of: SecretOf) -> Result<Secret, KeyError> {
        let (id, nonce, ciphertext) = match sealed.parts() {
            Ok(parts) => parts,
            Err(_) => return Err(KeyError::InClear { of }),
        };
        let key = self.keys.key(id).ok_or_else(|| KeyError::UnknownKey {
            key: id.clone(),
            of,
        })?;
        let does_not_open = || KeyError::DoesNotOpen {
            key: id.clone(),
            of,
        };
        let aad = of.associated_data(id);
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let plain = key
            .cipher()
            .decrypt(&XNonce::from(*nonce), payload)
            .map_err(|_| does_not_open())?;
        let text = String::from_utf8(plain).map_err(|_| does_not_open())?;
        Secret::new(text).map_err(|_| does_not_open())
    }

    /// Whether `sealed` is sealed with the current key (and so needs no resealing).
    pub fn is_current(&self, sealed: &SealedSecret) -> bool {
        match (sealed.key_id(), self.keys.current()) {
            (Some(id), Some((current, _))) => *id == current,
            _ => false,
        }
    }

    /// `sealed` sealed again with the current key, or `None` when it already is. A secret
    /// still in clear is sealed: this is the one way it becomes usable.
    ///
    /// # Errors
    ///
    /// As [`Sealer::open`] (but for [`KeyError::InClear`]) and [`Sealer::seal`].
    pub fn reseal(
        &self,
        sealed: &SealedSecret,
        of: SecretOf,
    ) -> Result<Option<SealedSecret>, KeyError> {
        if self.is_current(sealed) {
            return Ok(None);
        }
        let secret = match sealed.parts() {
            Ok(_) => self.open(sealed, of)?,
            Err(clear) => clear.clone(),
        };
        self.seal(&secret, of).map(Some)
    }
}

#[cfg(test)]
mod tests;
