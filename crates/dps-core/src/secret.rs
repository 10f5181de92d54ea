//! Secrets that never show themselves by accident.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::{Field, Rule, ValidationError};

/// A secret (group secret, device secret): text whose `Debug` and `Display` print a mask.
///
/// Two secrets compare in constant time. The text is reachable only through
/// [`Secret::expose`], so that every place that reveals a secret is easy to find. Serde
/// serialises the plain text: stores must persist it, exporters leave it out unless asked.
///
/// ```
/// use dps_core::Secret;
/// let s = Secret::new("hunter2").unwrap();
/// assert_eq!(format!("{s} {s:?}"), "**** Secret(****)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Secret(String);

impl Secret {
    /// Wraps secret text: 1 to 256 printable ASCII characters.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] for [`Field::Secret`].
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        if value.is_empty() {
            return Err(ValidationError::new(Field::Secret, Rule::Empty));
        }
        if let Some(ch) = value.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(ValidationError::new(
                Field::Secret,
                Rule::ForbiddenChar {
                    ch,
                    allowed: "printable ASCII characters",
                },
            ));
        }
        if value.len() > 256 {
            return Err(ValidationError::new(
                Field::Secret,
                Rule::TooLong { max: 256 },
            ));
        }
        Ok(Self(value))
    }

    /// A secret made of the lowercase hex digits of `bytes`.
    pub fn from_bytes_hex(bytes: &[u8]) -> Self {
        Self(hex(bytes))
    }

    /// The secret text. Call this only where the secret must leave the process.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares two byte strings in time that depends only on their lengths.
    pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut diff = 0u8;
        for (x, y) in a.iter().zip(b) {
            diff |= x ^ y;
        }
        std::hint::black_box(diff) == 0
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        Secret::constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl TryFrom<String> for Secret {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Secret::new(s)
    }
}

impl From<Secret> for String {
    fn from(s: Secret) -> String {
        s.0
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    hex_digits(bytes).collect()
}

/// The lowercase hex digits of `bytes`, two per byte.
pub(crate) fn hex_digits(bytes: &[u8]) -> impl Iterator<Item = char> + '_ {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| {
        [
            char::from(DIGITS[usize::from(b >> 4)]),
            char::from(DIGITS[usize::from(b & 0x0f)]),
        ]
    })
}
