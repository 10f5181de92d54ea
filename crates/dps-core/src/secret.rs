//! Secrets that never show themselves by accident.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use crate::validation::{Field, Rule, ValidationError};

/// A secret (group secret, device secret): text whose `Debug` and `Display` print a mask.
///
/// Two secrets compare in constant time. The text is reachable only through
/// [`Secret::expose`] and [`Secret::revealed`], so that every place that reveals a secret is
/// easy to find.
///
/// `Secret` does not implement `Serialize`, and neither do the records that carry one put it
/// in their JSON: [`RegistrationGroup`](crate::RegistrationGroup), [`Device`](crate::Device),
/// [`Credentials`](crate::Credentials) and
/// [`BootstrapAnswer`](crate::bootstrap::BootstrapAnswer) serialise without their secrets, so
/// that `Json(device)` in a web handler never puts one on the wire. Where a secret must leave
/// the process (the answer to a device's bootstrap call, an administrator's export), ask for
/// it by name: [`Secret::expose`] for the text, or `revealed()` on the secret, the
/// credentials or the bootstrap answer for a value whose JSON includes it.
///
/// ```
/// use dps::Secret;
/// let s = Secret::new("hunter2").unwrap();
/// assert_eq!(format!("{s} {s:?}"), "**** Secret(****)");
/// assert_eq!(s.expose(), "hunter2");
/// assert_eq!(serde_json::to_string(&s.revealed()).unwrap(), r#""hunter2""#);
/// ```
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
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

    /// The secret as a value that serialises as its plain text. Call this only where the
    /// secret must leave the process.
    pub fn revealed(&self) -> Revealed<'_, Self> {
        Revealed(self)
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

/// A borrowed value whose `Serialize` includes the secrets that the value's own `Serialize`
/// leaves out: what `revealed()` on a [`Secret`], on [`Credentials`](crate::Credentials) or
/// on a [`BootstrapAnswer`](crate::bootstrap::BootstrapAnswer) returns.
///
/// It is the one way a secret reaches a serialiser, so that every place that sends one is
/// easy to find.
///
/// ```
/// use dps::{Credentials, Secret};
///
/// let credentials = Credentials {
///     product_key: "pk-1".parse()?,
///     device_key: "dk-1".parse()?,
///     device_secret: Secret::new("s3cret")?,
/// };
/// // Plain serialisation leaves the secret out ...
/// assert_eq!(
///     serde_json::to_string(&credentials)?,
///     r#"{"product_key":"pk-1","device_key":"dk-1"}"#,
/// );
/// // ... and `revealed()` asks for it by name.
/// assert_eq!(
///     serde_json::to_string(&credentials.revealed())?,
///     r#"{"product_key":"pk-1","device_key":"dk-1","device_secret":"s3cret"}"#,
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Revealed<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: ?Sized> Revealed<'_, T> {
    /// The value itself.
    pub fn get(&self) -> &T {
        self.0
    }
}

impl Serialize for Revealed<'_, Secret> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose())
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
