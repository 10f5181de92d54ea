//! [`StoreError`]: what a store call can fail with.

use std::fmt;

use super::{Category, DpsError, Entity};
use crate::id::GroupId;
use crate::text::SerialNumber;

/// A failed store call, in terms a caller can act on; a backend's native error is mapped to
/// one of these and kept as the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An update or delete found a different version than expected.
    #[error("{entity} {key} was changed concurrently (stale version)")]
    Conflict {
        /// The kind of record.
        entity: Entity,
        /// The record's key.
        key: String,
    },
    /// An insert or update would give two devices of one group the same serial.
    #[error("serial {serial} is already registered in group {group}")]
    DuplicateSerial {
        /// The group.
        group: GroupId,
        /// The serial.
        serial: SerialNumber,
    },
    /// An update or delete named a record that does not exist, or an insert named a group
    /// that does not exist.
    #[error("{entity} {key} not found")]
    NotFound {
        /// The kind of record.
        entity: Entity,
        /// The key.
        key: String,
    },
    /// An insert named a record whose identifier already exists.
    #[error("{entity} {key} already exists")]
    AlreadyExists {
        /// The kind of record.
        entity: Entity,
        /// The key.
        key: String,
    },
    /// The backend is unreachable, busy or failed transiently; nothing was written. Retry.
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The database was written by a newer version of this software and is left untouched.
    #[error("database schema version {found} is newer than the supported {supported}")]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// The database is corrupt, or is not a database of this software.
    #[error("not a usable dps database: {message}")]
    Corrupt {
        /// What is wrong.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The store cannot be opened as configured: its directory does not exist, its file may
    /// not be read or written, or the database URL, user or password cannot work. Nothing is
    /// retried: fix the configuration.
    #[error("storage misconfigured: {message}")]
    Configuration {
        /// What is wrong.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Any other backend failure.
    #[error("storage error: {message}")]
    Backend {
        /// What happened.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// The refusal of a versioned write (an update or a delete at an expected version) that
    /// changed no record, for [`Store`](crate::Store) implementations:
    /// [`StoreError::Conflict`] keyed by `key` when the record `exists` at another version,
    /// [`StoreError::NotFound`] keyed by `id` when it is gone.
    ///
    /// ```
    /// use dps::{Entity, StoreError};
    ///
    /// let gone = StoreError::stale_write(Entity::Device, "0190…", "SN-1", false);
    /// assert_eq!(gone.to_string(), "device 0190… not found");
    /// let changed = StoreError::stale_write(Entity::Device, "0190…", "SN-1", true);
    /// assert_eq!(changed.to_string(), "device SN-1 was changed concurrently (stale version)");
    /// ```
    pub fn stale_write(
        entity: Entity,
        id: impl fmt::Display,
        key: impl fmt::Display,
        exists: bool,
    ) -> Self {
        if exists {
            StoreError::Conflict {
                entity,
                key: key.to_string(),
            }
        } else {
            StoreError::NotFound {
                entity,
                key: id.to_string(),
            }
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Conflict { .. } => "conflict",
            StoreError::DuplicateSerial { .. } => "already_registered",
            StoreError::NotFound { .. } => "not_found",
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::Unavailable { .. } => "storage_unavailable",
            StoreError::SchemaTooNew { .. } => "storage_schema_too_new",
            StoreError::Corrupt { .. } => "storage_corrupt",
            StoreError::Configuration { .. } => "storage_misconfigured",
            StoreError::Backend { .. } => "storage_error",
        }
    }

    /// What kind of failure this is; see [`Category`].
    pub fn category(&self) -> Category {
        match self {
            StoreError::Conflict { .. } | StoreError::AlreadyExists { .. } => Category::Conflict,
            StoreError::DuplicateSerial { .. } => Category::Validation,
            StoreError::NotFound { .. } => Category::NotFound,
            StoreError::Unavailable { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Backend { .. } => Category::Storage,
            StoreError::Configuration { .. } => Category::Configuration,
        }
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Conflict { .. } | StoreError::Unavailable { .. } => true,
            StoreError::DuplicateSerial { .. }
            | StoreError::NotFound { .. }
            | StoreError::AlreadyExists { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Configuration { .. }
            | StoreError::Backend { .. } => false,
        }
    }

    /// A configuration failure with a message and a source.
    pub fn configuration(
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Configuration {
            message: message.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// A backend failure with a message and a source.
    pub fn backend(
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            message: message.to_string(),
            source: Some(Box::new(source)),
        }
    }
}

impl DpsError for StoreError {
    fn code(&self) -> &'static str {
        StoreError::code(self)
    }
    fn category(&self) -> Category {
        StoreError::category(self)
    }
    fn is_retryable(&self) -> bool {
        StoreError::is_retryable(self)
    }
}
