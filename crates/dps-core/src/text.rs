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

mod target;
mod timezone;

pub use target::Target;
pub use timezone::Timezone;

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
    /// The identifier of a sealing key, stored beside every secret it seals: 1 to 64 ASCII
    /// letters, digits and `- _ . :`.
    KeyId, Field::KeyId, |s| check_ident(Field::KeyId, s, 64)
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
}
