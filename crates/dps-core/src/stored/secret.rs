//! The stored form of a secret: sealed, as `{"key": …, "nonce": …, "sealed": …}`, or, in
//! records of format version 1 that no reseal has reached yet, the secret's text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::seal::{NONCE_LEN, SealedSecret};
use crate::secret::Secret;
use crate::text::KeyId;

/// A secret as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredSecret(pub(super) SealedSecret);

/// The parts of a sealed secret, the nonce and the ciphertext (with its tag) in base64.
#[derive(Serialize, Deserialize)]
struct Parts {
    key: KeyId,
    nonce: String,
    sealed: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Either {
    Sealed(Parts),
    Clear(Secret),
}

impl Serialize for StoredSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.parts() {
            Ok((key, nonce, sealed)) => Parts {
                key: key.clone(),
                nonce: STANDARD_NO_PAD.encode(nonce),
                sealed: STANDARD_NO_PAD.encode(sealed),
            }
            .serialize(serializer),
            Err(clear) => serializer.serialize_str(clear.expose()),
        }
    }
}

impl<'de> Deserialize<'de> for StoredSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Either::deserialize(deserializer)? {
            Either::Clear(secret) => Ok(Self(SealedSecret::clear(secret))),
            Either::Sealed(parts) => {
                let nonce = STANDARD_NO_PAD
                    .decode(&parts.nonce)
                    .ok()
                    .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
                    .ok_or_else(|| D::Error::custom("a sealed secret's nonce is not 24 bytes"))?;
                let sealed = STANDARD_NO_PAD
                    .decode(&parts.sealed)
                    .map_err(|e| D::Error::custom(format!("a sealed secret is not base64: {e}")))?;
                Ok(Self(SealedSecret::from_parts(
                    parts.key,
                    nonce,
                    sealed.into(),
                )))
            }
        }
    }
}

impl StoredSecret {
    /// Whether the secret is still in clear.
    pub(super) fn is_clear(&self) -> bool {
        !self.0.is_sealed()
    }
}

impl From<SealedSecret> for StoredSecret {
    fn from(s: SealedSecret) -> Self {
        Self(s)
    }
}

impl From<StoredSecret> for SealedSecret {
    fn from(s: StoredSecret) -> Self {
        s.0
    }
}
