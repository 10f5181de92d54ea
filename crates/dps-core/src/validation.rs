//! Validation errors: which field a value was checked for, and which rule it broke.

use std::fmt;

/// A field that a value was checked for.
///
/// The field names the column, argument or attribute that failed validation, so that an error
/// message can point a user at the exact place to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// A device serial number.
    Serial,
    /// A registration group name.
    GroupName,
    /// A device name.
    DeviceName,
    /// A batch tag.
    BatchTag,
    /// A free-text description of a group or device.
    Description,
    /// A device model identifier.
    ModelId,
    /// An environment (region or deployment) identifier.
    Environment,
    /// An organization unit identifier.
    Ou,
    /// A UTC offset of the form `±HH:MM`.
    Timezone,
    /// An attribute identifier in a group's attribute schema.
    AttributeId,
    /// A human-readable attribute name in a group's attribute schema.
    AttributeName,
    /// A value of a schema attribute.
    AttributeValue,
    /// An asset ID issued by an environment.
    AssetId,
    /// A product key or device key issued by an environment.
    Key,
    /// A secret.
    Secret,
    /// A calendar date of the form `YYYY-MM-DD`.
    Date,
    /// A UUID-based identifier.
    Id,
    /// An endpoint address.
    Endpoint,
    /// A group's model type (`public` or `private`).
    ModelType,
    /// A group's reprovision method.
    Reprovision,
    /// An allocation status.
    Status,
    /// Who changed something: an access token's name, or `cli`.
    Actor,
    /// An access token's role.
    Role,
    /// The identifier of a sealing key.
    KeyId,
}

impl Field {
    /// The field's name as it appears in messages and codes, in snake_case.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Serial => "serial",
            Field::GroupName => "group_name",
            Field::DeviceName => "device_name",
            Field::BatchTag => "batch_tag",
            Field::Description => "description",
            Field::ModelId => "model_id",
            Field::Environment => "environment",
            Field::Ou => "ou",
            Field::Timezone => "timezone",
            Field::AttributeId => "attribute_id",
            Field::AttributeName => "attribute_name",
            Field::AttributeValue => "attribute",
            Field::AssetId => "asset_id",
            Field::Key => "key",
            Field::Secret => "secret",
            Field::Date => "date",
            Field::Id => "id",
            Field::Endpoint => "endpoint",
            Field::ModelType => "model_type",
            Field::Reprovision => "reprovision",
            Field::Status => "status",
            Field::Actor => "actor",
            Field::Role => "role",
            Field::KeyId => "key_id",
        }
    }

    /// The stable error code for an invalid value of this field (`invalid_<field>`).
    pub fn invalid_code(self) -> &'static str {
        match self {
            Field::Serial => "invalid_serial",
            Field::GroupName => "invalid_group_name",
            Field::DeviceName => "invalid_device_name",
            Field::BatchTag => "invalid_batch_tag",
            Field::Description => "invalid_description",
            Field::ModelId => "invalid_model_id",
            Field::Environment => "invalid_environment",
            Field::Ou => "invalid_ou",
            Field::Timezone => "invalid_timezone",
            Field::AttributeId => "invalid_attribute_id",
            Field::AttributeName => "invalid_attribute_name",
            Field::AttributeValue => "invalid_attribute",
            Field::AssetId => "invalid_asset_id",
            Field::Key => "invalid_key",
            Field::Secret => "invalid_secret",
            Field::Date => "invalid_date",
            Field::Id => "invalid_id",
            Field::Endpoint => "invalid_endpoint",
            Field::ModelType => "invalid_model_type",
            Field::Reprovision => "invalid_reprovision",
            Field::Status => "invalid_status",
            Field::Actor => "invalid_actor",
            Field::Role => "invalid_role",
            Field::KeyId => "invalid_key_id",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule that a value broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// The value is empty but must have at least one character.
    Empty,
    /// The value has more than `max` characters.
    TooLong {
        /// The largest number of characters allowed.
        max: usize,
    },
    /// The value contains a character that the field does not allow.
    ForbiddenChar {
        /// The offending character.
        ch: char,
        /// Which characters are allowed, in words.
        allowed: &'static str,
    },
    /// The value starts or ends with white space.
    SurroundingWhitespace,
    /// The value does not have the expected shape.
    Format {
        /// The expected shape, in words.
        expected: &'static str,
    },
    /// The value is outside its allowed range.
    OutOfRange {
        /// The allowed range, in words.
        range: &'static str,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Empty => f.write_str("must not be empty"),
            Rule::TooLong { max } => write!(f, "must be at most {max} characters"),
            Rule::ForbiddenChar { ch, allowed } => {
                write!(f, "contains {ch:?}; allowed are {allowed}")
            }
            Rule::SurroundingWhitespace => f.write_str("must not start or end with white space"),
            Rule::Format { expected } => write!(f, "must be {expected}"),
            Rule::OutOfRange { range } => write!(f, "must be {range}"),
        }
    }
}

/// A value that failed validation: which field, and which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {rule}")]
pub struct ValidationError {
    /// The field that was checked.
    pub field: Field,
    /// The rule the value broke.
    pub rule: Rule,
}

impl ValidationError {
    /// Creates a validation error for `field` breaking `rule`.
    pub fn new(field: Field, rule: Rule) -> Self {
        Self { field, rule }
    }

    /// The stable error code: `too_long` for a length overflow, otherwise `invalid_<field>`.
    pub fn code(&self) -> &'static str {
        match self.rule {
            Rule::TooLong { .. } => "too_long",
            Rule::Empty
            | Rule::ForbiddenChar { .. }
            | Rule::SurroundingWhitespace
            | Rule::Format { .. }
            | Rule::OutOfRange { .. } => self.field.invalid_code(),
        }
    }
}
