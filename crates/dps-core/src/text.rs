//! Validated identifiers and bounded text.
//!
//! Each type here can only hold a value that passed its rule: the constructor (`new`, or
//! [`FromStr`]) returns a [`ValidationError`] naming the field and the rule otherwise, and serde
//! deserialisation goes through the same check. Values are never trimmed silently: surrounding
//! white space is an error, so that what is stored is exactly what was given.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use compact_str::CompactString;
use serde::de::{self, Visitor};
use serde::{Deserialize, Serialize};

use crate::bytes::{ident_bytes, printable_ascii};
use crate::validation::{Field, Rule, ValidationError};

const IDENT_CHARS: &str = "ASCII letters, digits and - _ . :";

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

/// Checks an identifier: 1 to `max` characters of ASCII letters, digits and `- _ . :`.
fn check_ident(field: Field, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::new(field, Rule::Empty));
    }
    if s.len() <= max && ident_bytes(s.as_bytes()) {
        return Ok(());
    }
    if let Some(ch) = s.chars().find(|c| !is_ident_char(*c)) {
        if s.trim() != s && ch.is_whitespace() {
            return Err(ValidationError::new(field, Rule::SurroundingWhitespace));
        }
        return Err(ValidationError::new(
            field,
            Rule::ForbiddenChar {
                ch,
                allowed: IDENT_CHARS,
            },
        ));
    }
    if s.len() > max {
        return Err(ValidationError::new(field, Rule::TooLong { max }));
    }
    Ok(())
}

/// Checks free text: `min` to `max` characters, no surrounding white space, no control
/// characters (line breaks and tabs are allowed inside when `multiline`).
fn check_text(
    field: Field,
    s: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<(), ValidationError> {
    if s.is_empty() {
        return if min == 0 {
            Ok(())
        } else {
            Err(ValidationError::new(field, Rule::Empty))
        };
    }
    let bytes = s.as_bytes();
    // Printable ASCII (space to `~`) with no space at either end: one byte per character,
    // nothing to decode.
    if bytes.len() <= max
        && printable_ascii(bytes)
        && bytes.first().is_some_and(|&b| b != b' ')
        && bytes.last().is_some_and(|&b| b != b' ')
    {
        return Ok(());
    }
    if s.is_ascii()
        && (bytes.first().is_some_and(u8::is_ascii_whitespace)
            || bytes.last().is_some_and(u8::is_ascii_whitespace))
    {
        return Err(ValidationError::new(field, Rule::SurroundingWhitespace));
    }
    if s.trim() != s {
        return Err(ValidationError::new(field, Rule::SurroundingWhitespace));
    }
    let mut count = 0usize;
    for c in s.chars() {
        count += 1;
        let allowed_control = multiline && matches!(c, '\n' | '\r' | '\t');
        if c.is_control() && !allowed_control {
            return Err(ValidationError::new(
                field,
                Rule::ForbiddenChar {
                    ch: c,
                    allowed: if multiline {
                        "printable characters, line breaks and tabs"
                    } else {
                        "printable characters"
                    },
                },
            ));
        }
    }
    if count > max {
        return Err(ValidationError::new(field, Rule::TooLong { max }));
    }
    Ok(())
}

/// A text type built by validating a string slice.
trait FromText: Sized {
    /// The field the type validates.
    const FIELD: Field;

    /// Validates `s` and wraps a copy of it.
    fn from_text(s: &str) -> Result<Self, ValidationError>;

    /// Validates `s` and wraps it, reusing its buffer.
    fn from_string(s: String) -> Result<Self, ValidationError>;
}

/// Deserialises a text type through its validating constructor, from a borrowed string when
/// the format lends one.
struct TextVisitor<T>(PhantomData<T>);

impl<T> TextVisitor<T> {
    fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: FromText> Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} string", T::FIELD.as_str())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_text(v).map_err(E::custom)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        T::from_string(v).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<T, E> {
        let text = std::str::from_utf8(v)
            .map_err(|_| E::invalid_value(de::Unexpected::Bytes(v), &self))?;
        self.visit_str(text)
    }
}

macro_rules! text_type {
    (
        $(#[$meta:meta])*
        $name:ident, $field:expr, |$s:ident| $check:expr
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(CompactString);

        impl $name {
            /// The field this type validates, as named in errors.
            pub const FIELD: Field = $field;

            /// Validates `value` and wraps it.
            ///
            /// # Errors
            ///
            /// A [`ValidationError`] naming the field and the rule the value broke.
            pub fn new(value: impl AsRef<str>) -> Result<Self, ValidationError> {
                let $s: &str = value.as_ref();
                $check?;
                Ok(Self(CompactString::new($s)))
            }

            /// The value as a string slice.
            #[inline]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the value.
            pub fn into_string(self) -> String {
                self.0.into_string()
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(TextVisitor::<$name>::new())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            #[inline]
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            #[inline]
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                {
                    let $s: &str = &s;
                    $check?;
                }
                // A long value keeps its buffer; a short one moves inline.
                Ok(Self(CompactString::from(s)))
            }
        }

        impl FromText for $name {
            const FIELD: Field = $field;
            fn from_text(s: &str) -> Result<Self, ValidationError> {
                Self::new(s)
            }
            fn from_string(s: String) -> Result<Self, ValidationError> {
                Self::try_from(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.into_string()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

text_type! {
    /// A device serial number ("Device Serial No."): 1 to 64 ASCII letters, digits and
    /// `- _ . :`, unique within its registration group.
    ///
    /// ```
    /// use dps::SerialNumber;
    /// assert!(SerialNumber::new("SN-0001").is_ok());
    /// assert_eq!(SerialNumber::new("SN 1").unwrap_err().code(), "invalid_serial");
    /// ```
    SerialNumber, Field::Serial, |s| check_ident(Field::Serial, s, 64)
}

text_type! {
    /// A device model identifier: 1 to 64 ASCII letters, digits and `- _ . :`.
    ModelId, Field::ModelId, |s| check_ident(Field::ModelId, s, 64)
}

text_type! {
    /// An environment (region or deployment) identifier: 1 to 64 ASCII letters, digits and
    /// `- _ . :`.
    EnvironmentId, Field::Environment, |s| check_ident(Field::Environment, s, 64)
}

text_type! {
    /// An organization unit (tenant) identifier: 1 to 64 ASCII letters, digits and `- _ . :`.
    OuId, Field::Ou, |s| check_ident(Field::Ou, s, 64)
}

text_type! {
    /// An asset ID issued by an environment: 1 to 128 ASCII letters, digits and `- _ . :`.
    AssetId, Field::AssetId, |s| check_ident(Field::AssetId, s, 128)
}

text_type! {
    /// A product key or device key issued by an environment: 1 to 128 ASCII letters, digits
    /// and `- _ . :`.
    Key, Field::Key, |s| check_ident(Field::Key, s, 128)
}

text_type! {
    /// A registration group name: 1 to 64 printable characters without surrounding white space.
    GroupName, Field::GroupName, |s| check_text(Field::GroupName, s, 1, 64, false)
}

text_type! {
    /// Who made a change, as its event records it: the name of the access token of a
    /// request, or `cli` for the command line. 1 to 64 printable characters without
    /// surrounding white space.
    ///
    /// ```
    /// use dps::Actor;
    /// assert_eq!(Actor::new("ci-pipeline")?.as_str(), "ci-pipeline");
    /// assert_eq!(Actor::new("").unwrap_err().code(), "invalid_actor");
    /// # Ok::<(), dps::ValidationError>(())
    /// ```
    Actor, Field::Actor, |s| check_text(Field::Actor, s, 1, 64, false)
}

text_type! {
    /// A device name: 1 to 64 printable characters without surrounding white space.
    DeviceName, Field::DeviceName, |s| check_text(Field::DeviceName, s, 1, 64, false)
}

text_type! {
    /// A batch tag: 1 to 64 printable characters without surrounding white space.
    BatchTag, Field::BatchTag, |s| check_text(Field::BatchTag, s, 1, 64, false)
}

text_type! {
    /// A description: at most 512 characters without surrounding white space; line breaks and
    /// tabs are allowed inside.
    Description, Field::Description, |s| check_text(Field::Description, s, 0, 512, true)
}

text_type! {
    /// A human-readable attribute name: 1 to 64 printable characters.
    AttributeName, Field::AttributeName, |s| check_text(Field::AttributeName, s, 1, 64, false)
}

text_type! {
    /// An endpoint address (URL or `host:port`): 1 to 512 printable characters.
    Endpoint, Field::Endpoint, |s| check_text(Field::Endpoint, s, 1, 512, false)
}

text_type! {
    /// An attribute identifier: 1 to 64 characters, an ASCII letter first, then ASCII letters,
    /// digits and `_`.
    AttributeId, Field::AttributeId, |s| check_attribute_id(s)
}

impl From<&AttributeId> for AttributeName {
    /// An attribute's identifier is always a valid name for it.
    fn from(id: &AttributeId) -> Self {
        AttributeName(id.0.clone())
    }
}

fn check_attribute_id(s: &str) -> Result<(), ValidationError> {
    const FIELD: Field = Field::AttributeId;
    const ALLOWED: &str = "an ASCII letter first, then ASCII letters, digits and _";
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return Err(ValidationError::new(FIELD, Rule::Empty));
    };
    if s.trim() != s {
        return Err(ValidationError::new(FIELD, Rule::SurroundingWhitespace));
    }
    if !first.is_ascii_alphabetic() {
        return Err(ValidationError::new(
            FIELD,
            Rule::ForbiddenChar {
                ch: first,
                allowed: ALLOWED,
            },
        ));
    }
    if let Some(ch) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(ValidationError::new(
            FIELD,
            Rule::ForbiddenChar {
                ch,
                allowed: ALLOWED,
            },
        ));
    }
    if s.len() > 64 {
        return Err(ValidationError::new(FIELD, Rule::TooLong { max: 64 }));
    }
    Ok(())
}

/// A UTC offset of the form `±HH:MM`, from `-12:00` to `+14:00`.
///
/// ```
/// use dps::Timezone;
/// let tz: Timezone = "+05:30".parse().unwrap();
/// assert_eq!(tz.offset_minutes(), 330);
/// assert_eq!(tz.to_string(), "+05:30");
/// assert!("+14:01".parse::<Timezone>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timezone(i16);

impl Timezone {
    /// The field this type validates, as named in errors.
    pub const FIELD: Field = Field::Timezone;

    /// UTC, `+00:00`.
    pub const UTC: Timezone = Timezone(0);

    /// Parses `±HH:MM`.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] for [`Field::Timezone`] when the shape or range is wrong.
    pub fn new(value: &str) -> Result<Self, ValidationError> {
        let err = |rule| ValidationError::new(Field::Timezone, rule);
        if value.is_empty() {
            return Err(err(Rule::Empty));
        }
        if value.trim() != value {
            return Err(err(Rule::SurroundingWhitespace));
        }
        let format = Rule::Format {
            expected: "a UTC offset of the form ±HH:MM",
        };
        let b = value.as_bytes();
        if b.len() != 6 || b[3] != b':' {
            return Err(err(format));
        }
        let sign: i16 = match b[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(err(format)),
        };
        let digit = |i: usize| -> Option<i16> {
            let c = b[i];
            c.is_ascii_digit().then(|| i16::from(c - b'0'))
        };
        let (Some(h1), Some(h2), Some(m1), Some(m2)) = (digit(1), digit(2), digit(4), digit(5))
        else {
            return Err(err(format));
        };
        let hours = h1 * 10 + h2;
        let minutes = m1 * 10 + m2;
        let range = Rule::OutOfRange {
            range: "between -12:00 and +14:00",
        };
        if minutes >= 60 {
            return Err(err(range));
        }
        let total = sign * (hours * 60 + minutes);
        Self::from_offset_minutes(total).ok_or_else(|| err(range))
    }

    /// A timezone from its offset in minutes east of UTC, if within −12:00 to +14:00.
    pub fn from_offset_minutes(minutes: i16) -> Option<Self> {
        (-12 * 60..=14 * 60)
            .contains(&minutes)
            .then_some(Timezone(minutes))
    }

    /// The offset in minutes east of UTC.
    pub fn offset_minutes(self) -> i16 {
        self.0
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

impl fmt::Debug for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timezone({self})")
    }
}

impl FromStr for Timezone {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Timezone {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Timezone> for String {
    fn from(tz: Timezone) -> String {
        tz.to_string()
    }
}

/// Where a device is allocated: an environment plus an organization unit.
///
/// Displayed and parsed as `environment/ou`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The environment (region or deployment).
    pub environment: EnvironmentId,
    /// The organization unit (tenant).
    pub ou: OuId,
}

impl Target {
    /// A target from its two parts.
    pub fn new(environment: EnvironmentId, ou: OuId) -> Self {
        Self { environment, ou }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.environment, self.ou)
    }
}

impl FromStr for Target {
    type Err = ValidationError;
    /// Parses `environment/ou`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((env, ou)) = s.split_once('/') else {
            return Err(ValidationError::new(
                Field::Environment,
                Rule::Format {
                    expected: "environment/ou",
                },
            ));
        };
        Ok(Target::new(EnvironmentId::new(env)?, OuId::new(ou)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ident_rules_are_checked_in_order() {
        assert_eq!(SerialNumber::new("").unwrap_err().rule, Rule::Empty);
        assert_eq!(
            SerialNumber::new(" a").unwrap_err().rule,
            Rule::SurroundingWhitespace
        );
        assert!(matches!(
            SerialNumber::new("a b").unwrap_err().rule,
            Rule::ForbiddenChar { ch: ' ', .. }
        ));
        assert_eq!(
            SerialNumber::new("a".repeat(65)).unwrap_err().code(),
            "too_long"
        );
    }

    #[test]
    fn printable_ascii_judges_every_byte_at_every_position() {
        for len in 1..=20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(
                        printable_ascii(&bytes),
                        (0x20..=0x7e).contains(&b),
                        "byte {b:#04x} at {at} of {len}"
                    );
                }
            }
        }
        assert!(printable_ascii(b""));
    }

    #[test]
    fn timezone_round_trips_through_display() {
        for m in -720..=840 {
            let tz = Timezone::from_offset_minutes(m).unwrap();
            assert_eq!(Timezone::new(&tz.to_string()).unwrap(), tz);
        }
    }
}
