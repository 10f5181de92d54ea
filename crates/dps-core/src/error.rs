//! Errors and their stable codes.
//!
//! Every error that reaches a caller has a stable snake_case code ([`Error::code`]) that the
//! CSV row reports and the CLI's `--json` output share. Codes are listed in `docs/errors.md`;
//! a code that has shipped is never renamed.

use std::fmt;

use crate::environment::EnvironmentError;
use crate::id::{DeviceId, GroupId, OperationId};
use crate::state::TransitionError;
use crate::store::StoreError;
use crate::text::SerialNumber;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// The kind of record that a [`Error::NotFound`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Entity {
    /// A registration group.
    Group,
    /// A device.
    Device,
    /// An attribute of a group's schema.
    Attribute,
    /// An allocation target (environment and OU).
    Target,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Group => "group",
            Entity::Device => "device",
            Entity::Attribute => "attribute",
            Entity::Target => "target",
        })
    }
}

/// What kind of failure an [`Error`] is: the one fact an edge needs to report it (an exit
/// code, an HTTP status) without reading codes.
///
/// ```
/// use dps_core::{Category, Entity, Error};
///
/// let e = Error::NotFound { entity: Entity::Device, key: "SN-1".into() };
/// assert_eq!(e.category(), Category::NotFound);
/// assert_eq!(e.category().as_str(), "not_found");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Category {
    /// The operation is not allowed as asked: the record's state, its group's settings or the
    /// caller's credentials rule it out. A different request helps; retrying alone does not.
    Usage,
    /// A value breaks a rule of the data: a field, an attribute, a limit, a taken serial.
    Validation,
    /// A concurrent change or an operation in progress stood in the way; reading again and
    /// retrying may succeed.
    Conflict,
    /// The named record does not exist.
    NotFound,
    /// The storage backend failed or holds data this version cannot use.
    Storage,
    /// The environment (the target platform) failed or refused.
    Environment,
}

impl Category {
    /// The category as a snake_case word: `usage`, `validation`, `conflict`, `not_found`,
    /// `storage` or `environment`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Usage => "usage",
            Category::Validation => "validation",
            Category::Conflict => "conflict",
            Category::NotFound => "not_found",
            Category::Storage => "storage",
            Category::Environment => "environment",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error type of the `dps` domain: every outcome a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value broke a validation rule.
    #[error(transparent)]
    Validation(#[from] ValidationError),

    /// A required attribute has no value and no default.
    #[error("attribute {attribute:?} is required")]
    MissingRequired {
        /// The attribute identifier.
        attribute: String,
    },

    /// An attribute value does not fit the group's schema, or the attribute is not in it.
    #[error("attribute {attribute:?}: {reason}")]
    InvalidAttribute {
        /// The attribute identifier.
        attribute: String,
        /// Why the value was refused.
        reason: String,
    },

    /// The attribute schema itself is inconsistent.
    #[error("invalid attribute schema: {reason}")]
    InvalidSchema {
        /// What is wrong with the schema.
        reason: String,
    },

    /// No record with this key exists.
    #[error("{entity} {key} not found")]
    NotFound {
        /// The kind of record.
        entity: Entity,
        /// The key that was looked up.
        key: String,
    },

    /// The serial number is already registered in the group.
    #[error("serial {serial} is already registered in group {group}")]
    AlreadyRegistered {
        /// The group.
        group: GroupId,
        /// The serial number.
        serial: SerialNumber,
    },

    /// The record changed since it was read (stale version); read it again and retry.
    #[error("{entity} {key} was changed concurrently (stale version)")]
    Conflict {
        /// The kind of record.
        entity: Entity,
        /// The record's key.
        key: String,
    },

    /// The operation is not allowed in the device's current allocation state.
    #[error(transparent)]
    InvalidState(TransitionError),

    /// Another operation on the device has not finished yet.
    #[error("device {device} has operation {operation} in progress")]
    OperationInProgress {
        /// The device.
        device: DeviceId,
        /// The operation that is still pending.
        operation: OperationId,
    },

    /// Neither the device nor its group names a target to allocate to.
    #[error("device {serial} has no target: set one on the device or a default on its group")]
    NoTarget {
        /// The device's serial number.
        serial: SerialNumber,
    },

    /// The device's model does not exist in the target.
    #[error("model {model} does not exist in target {target}")]
    ModelMissing {
        /// The model identifier.
        model: String,
        /// The target, as `environment/ou`.
        target: String,
    },

    /// A private-model device may only be allocated to the target it was first allocated to.
    #[error("device {serial} uses a private model and may only be allocated to {first}")]
    PrivateModelTarget {
        /// The device's serial number.
        serial: SerialNumber,
        /// The first target, as `environment/ou`.
        first: String,
    },

    /// The group's reprovision method is `disabled`, so reset is refused.
    #[error("reset is disabled for group {group}")]
    ReprovisionDisabled {
        /// The group.
        group: GroupId,
    },

    /// The group still has devices; delete them first or ask for a cascade.
    #[error("group {group} still has {devices} devices")]
    GroupNotEmpty {
        /// The group.
        group: GroupId,
        /// How many devices it has.
        devices: u64,
    },

    /// The environment is unreachable or failed transiently; the device stays pending and
    /// [`Provisioner::recover`](crate::Provisioner::recover) completes it later.
    #[error("environment unavailable: {message}")]
    EnvironmentUnavailable {
        /// What the environment reported.
        message: String,
    },

    /// The environment refused the operation; the state was rolled back.
    #[error("environment rejected the operation: {reason}")]
    EnvironmentRejected {
        /// Why the environment refused.
        reason: String,
    },

    /// A size or count limit was crossed.
    #[error("limit exceeded: {what} (at most {max})")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The limit.
        max: u64,
    },

    /// The storage backend failed.
    #[error(transparent)]
    Store(StoreError),

    /// A bootstrap request was not authenticated: its group or serial is unknown, its
    /// signature is wrong, or its timestamp is outside the window. The error is the same for
    /// every reason, so that a caller cannot probe which groups and serials exist; the event
    /// log records the real one ([`EventKind::BootstrapRefused`](crate::EventKind::BootstrapRefused)).
    #[error("unauthorized")]
    Unauthorized,

    /// The device bootstrapped, but it is not allocated and its group does not allocate on
    /// bootstrap (auto-activation is off).
    #[error("device {serial} is not allocated")]
    NotAllocated {
        /// The device's serial number.
        serial: SerialNumber,
    },

    /// The device bootstrapped while an operation on it is in progress (or while concurrent
    /// changes kept winning); bootstrapping again later returns its credentials.
    #[error("device {serial} is busy, try again later")]
    TryAgain {
        /// The device's serial number.
        serial: SerialNumber,
    },
}

impl Error {
    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(e) => e.code(),
            Error::MissingRequired { .. } => "missing_required",
            Error::InvalidAttribute { .. } => "invalid_attribute",
            Error::InvalidSchema { .. } => "invalid_schema",
            Error::NotFound { .. } => "not_found",
            Error::AlreadyRegistered { .. } => "already_registered",
            Error::Conflict { .. } => "conflict",
            Error::InvalidState(_) => "invalid_state",
            Error::OperationInProgress { .. } => "operation_in_progress",
            Error::NoTarget { .. } => "no_target",
            Error::ModelMissing { .. } => "model_missing",
            Error::PrivateModelTarget { .. } => "private_model_target",
            Error::ReprovisionDisabled { .. } => "reprovision_disabled",
            Error::GroupNotEmpty { .. } => "group_not_empty",
            Error::EnvironmentUnavailable { .. } => "environment_unavailable",
            Error::EnvironmentRejected { .. } => "environment_rejected",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::Store(e) => e.code(),
            Error::Unauthorized => "unauthorized",
            Error::NotAllocated { .. } => "not_allocated",
            Error::TryAgain { .. } => "try_again",
        }
    }

    /// What kind of failure this is; see [`Category`].
    pub fn category(&self) -> Category {
        match self {
            Error::Validation(_)
            | Error::MissingRequired { .. }
            | Error::InvalidAttribute { .. }
            | Error::InvalidSchema { .. }
            | Error::AlreadyRegistered { .. }
            | Error::LimitExceeded { .. } => Category::Validation,
            Error::NotFound { .. } => Category::NotFound,
            Error::Conflict { .. } | Error::OperationInProgress { .. } | Error::TryAgain { .. } => {
                Category::Conflict
            }
            Error::InvalidState(_)
            | Error::NoTarget { .. }
            | Error::ModelMissing { .. }
            | Error::PrivateModelTarget { .. }
            | Error::ReprovisionDisabled { .. }
            | Error::GroupNotEmpty { .. }
            | Error::Unauthorized
            | Error::NotAllocated { .. } => Category::Usage,
            Error::EnvironmentUnavailable { .. } | Error::EnvironmentRejected { .. } => {
                Category::Environment
            }
            Error::Store(e) => e.category(),
        }
    }

    /// Whether retrying the same call later may succeed without any change to the input.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Conflict { .. }
            | Error::OperationInProgress { .. }
            | Error::EnvironmentUnavailable { .. }
            | Error::TryAgain { .. } => true,
            Error::Store(e) => e.is_retryable(),
            Error::Validation(_)
            | Error::MissingRequired { .. }
            | Error::InvalidAttribute { .. }
            | Error::InvalidSchema { .. }
            | Error::NotFound { .. }
            | Error::AlreadyRegistered { .. }
            | Error::InvalidState(_)
            | Error::NoTarget { .. }
            | Error::ModelMissing { .. }
            | Error::PrivateModelTarget { .. }
            | Error::ReprovisionDisabled { .. }
            | Error::GroupNotEmpty { .. }
            | Error::EnvironmentRejected { .. }
            | Error::LimitExceeded { .. }
            | Error::Unauthorized
            | Error::NotAllocated { .. } => false,
        }
    }

    pub(crate) fn not_found(entity: Entity, key: impl fmt::Display) -> Self {
        Error::NotFound {
            entity,
            key: key.to_string(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { entity, key } => Error::Conflict { entity, key },
            StoreError::DuplicateSerial { group, serial } => {
                Error::AlreadyRegistered { group, serial }
            }
            StoreError::NotFound { entity, key } => Error::NotFound { entity, key },
            other => Error::Store(other),
        }
    }
}

impl From<EnvironmentError> for Error {
    fn from(e: EnvironmentError) -> Self {
        match e {
            EnvironmentError::Transient { message } => Error::EnvironmentUnavailable { message },
            EnvironmentError::Rejected { reason } => Error::EnvironmentRejected { reason },
        }
    }
}
