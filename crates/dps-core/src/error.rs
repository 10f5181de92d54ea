//! Errors and their stable codes.
//!
//! Every error that reaches a caller has a stable snake_case code ([`Error::code`]) that the
//! CSV row reports and the CLI's `--json` output share. Codes are listed in `docs/errors.md`;
//! a code that has shipped is never renamed.

use std::fmt;

pub use crate::category::{Category, DpsError};
use crate::environment::EnvironmentError;
use crate::id::{DeviceId, GroupId, OperationId};
use crate::seal::KeyError;
use crate::state::TransitionError;
use crate::text::SerialNumber;
use crate::validation::ValidationError;

mod store;

pub use store::StoreError;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    /// An access token.
    Token,
    /// A [job](crate::job).
    Job,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Group => "group",
            Entity::Device => "device",
            Entity::Attribute => "attribute",
            Entity::Target => "target",
            Entity::Token => "token",
            Entity::Job => "job",
        })
    }
}

impl DpsError for Error {
    fn code(&self) -> &'static str {
        Error::code(self)
    }
    fn category(&self) -> Category {
        Error::category(self)
    }
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
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

    /// An update named a serial that is not registered in the group; nothing is created.
    #[error("serial {serial} is not registered in group {group}; an update creates no device")]
    UnknownSerial {
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

    /// More than one group has the name that was given where a group ID or unique name was
    /// expected.
    #[error("{count} groups are named {name:?}; use the group ID")]
    AmbiguousGroup {
        /// The name given.
        name: String,
        /// How many groups have it.
        count: usize,
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

    /// A secret could not be sealed or opened: there is no sealing key, the key that sealed
    /// it is not available, or the sealed value does not open (see [`KeyError`]). Nothing
    /// that needs a secret is done without it; listing and editing still work.
    #[error("key unavailable: {0}")]
    KeyUnavailable(#[from] KeyError),

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
            Error::UnknownSerial { .. } => "unknown_serial",
            Error::Conflict { .. } => "conflict",
            Error::InvalidState(_) => "invalid_state",
            Error::OperationInProgress { .. } => "operation_in_progress",
            Error::NoTarget { .. } => "no_target",
            Error::ModelMissing { .. } => "model_missing",
            Error::PrivateModelTarget { .. } => "private_model_target",
            Error::ReprovisionDisabled { .. } => "reprovision_disabled",
            Error::GroupNotEmpty { .. } => "group_not_empty",
            Error::AmbiguousGroup { .. } => "ambiguous_group",
            Error::EnvironmentUnavailable { .. } => "environment_unavailable",
            Error::EnvironmentRejected { .. } => "environment_rejected",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::Store(e) => e.code(),
            Error::Unauthorized => "unauthorized",
            Error::NotAllocated { .. } => "not_allocated",
            Error::TryAgain { .. } => "try_again",
            Error::KeyUnavailable(_) => "key_unavailable",
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
            | Error::UnknownSerial { .. }
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
            | Error::AmbiguousGroup { .. }
            | Error::Unauthorized
            | Error::NotAllocated { .. } => Category::Usage,
            Error::EnvironmentUnavailable { .. } | Error::EnvironmentRejected { .. } => {
                Category::Environment
            }
            Error::Store(e) => e.category(),
            Error::KeyUnavailable(_) => Category::Configuration,
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
            | Error::UnknownSerial { .. }
            | Error::InvalidState(_)
            | Error::NoTarget { .. }
            | Error::ModelMissing { .. }
            | Error::PrivateModelTarget { .. }
            | Error::ReprovisionDisabled { .. }
            | Error::GroupNotEmpty { .. }
            | Error::AmbiguousGroup { .. }
            | Error::EnvironmentRejected { .. }
            | Error::LimitExceeded { .. }
            | Error::Unauthorized
            | Error::NotAllocated { .. }
            | Error::KeyUnavailable(_) => false,
        }
    }

    pub(crate) fn not_found(entity: Entity, key: impl fmt::Display) -> Self {
        Error::NotFound {
            entity,
            key: key.to_string(),
        }
    }
}

/// An error's JSON, for reports and APIs: its code, category, whether a retry may help, and
/// its message.
///
/// ```
/// use dps::{Entity, Error};
///
/// let e = Error::NotFound { entity: Entity::Device, key: "SN-1".into() };
/// assert_eq!(
///     serde_json::to_string(&e)?,
///     r#"{"code":"not_found","category":"not_found","retryable":false,"message":"device SN-1 not found"}"#,
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Error", 4)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("category", self.category().as_str())?;
        s.serialize_field("retryable", &self.is_retryable())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
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

impl TransitionError {
    /// The crate error for this refusal on `device`: `operation_in_progress` when the device
    /// is pending, `invalid_state` otherwise.
    pub fn into_error(self, device: DeviceId) -> Error {
        match self.pending {
            Some(operation) => Error::OperationInProgress { device, operation },
            None => Error::InvalidState(self),
        }
    }
}
