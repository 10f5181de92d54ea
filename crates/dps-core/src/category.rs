//! What kind of failure an error is, and the trait every error of the crates shares.

use std::fmt;

/// What kind of failure an [`Error`](crate::Error) is: the one fact an edge needs to report it (an exit
/// code, an HTTP status) without reading codes.
///
/// ```
/// use dps::{Category, Entity, Error};
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
    /// The service is set up wrongly: a path that does not exist, a file it may not read, a
    /// database URL or credentials that cannot work. Fix the configuration; retrying alone
    /// does not help.
    Configuration,
}

impl Category {
    /// The category as a snake_case word: `usage`, `validation`, `conflict`, `not_found`,
    /// `storage`, `environment` or `configuration`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Usage => "usage",
            Category::Validation => "validation",
            Category::Conflict => "conflict",
            Category::NotFound => "not_found",
            Category::Storage => "storage",
            Category::Environment => "environment",
            Category::Configuration => "configuration",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every error of the dps crates tells about itself, so that an edge (an HTTP handler, a
/// CLI, a retry loop) treats them all alike: [`Error`](crate::Error), [`StoreError`](crate::StoreError), the CSV codec's
/// `ImportError` and `ExportError`, and the QR codec's `Error`.
///
/// ```
/// use dps::{Category, DpsError, Entity, Error};
///
/// // One mapping for every crate's errors, e.g. to an HTTP status.
/// fn status(error: &dyn DpsError) -> u16 {
///     match error.category() {
///         Category::Validation | Category::Usage => 400,
///         Category::NotFound => 404,
///         Category::Conflict => 409,
///         Category::Environment => 502,
///         Category::Storage if error.is_retryable() => 503,
///         _ => 500,
///     }
/// }
///
/// let e = Error::NotFound { entity: Entity::Group, key: "g".into() };
/// assert_eq!((e.code(), status(&e)), ("not_found", 404));
/// ```
pub trait DpsError: std::error::Error + Send + Sync + 'static {
    /// The stable snake_case code, listed in `docs/errors.md`; a code that has shipped is
    /// never renamed.
    fn code(&self) -> &'static str;

    /// What kind of failure this is.
    fn category(&self) -> Category;

    /// Whether the same call may succeed later without any change to its input.
    fn is_retryable(&self) -> bool;
}
