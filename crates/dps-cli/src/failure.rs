//! A failed command: its stable code, its message and the exit code it ends the process with.
//!
//! Exit code 2 means the command itself is invalid (usage, validation, an unknown record); 3
//! means storage, the environment or the file system failed, or a concurrent change stood in
//! the way.

use dps_core::{Category, StoreError};

/// The exit code of a command that is invalid as given.
pub(crate) const EXIT_INVALID: u8 = 2;

/// The exit code of a command that storage, the environment or the file system failed.
pub(crate) const EXIT_FAILED: u8 = 3;

/// A failed command: what to say, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: u8,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Failure {
    /// The command itself is invalid (exit code 2).
    pub(crate) fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::with_exit(EXIT_INVALID, code, message)
    }

    /// Storage, environment or file-system failure (exit code 3).
    pub(crate) fn io(code: &str, message: impl Into<String>) -> Self {
        Self::with_exit(EXIT_FAILED, code, message)
    }

    fn with_exit(exit: u8, code: &str, message: impl Into<String>) -> Self {
        Self {
            exit,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// This failure with `what` in front of its message.
    pub(crate) fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// The exit code for a category of domain error.
pub(crate) fn exit_for(category: Category) -> u8 {
    match category {
        Category::Usage | Category::Validation | Category::NotFound | Category::Configuration => {
            EXIT_INVALID
        }
        Category::Conflict | Category::Storage | Category::Environment => EXIT_FAILED,
        _ => EXIT_FAILED,
    }
}

/// The exit code of a domain error: that of its category, except that an insert whose record
/// identifier is already taken (`already_exists`) exits 2.
fn exit_of(e: &dps_core::Error) -> u8 {
    match e {
        dps_core::Error::Store(StoreError::AlreadyExists { .. }) => EXIT_INVALID,
        other => exit_for(other.category()),
    }
}

impl From<dps_core::Error> for Failure {
    fn from(e: dps_core::Error) -> Self {
        Self::with_exit(exit_of(&e), e.code(), e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        dps_core::Error::from(e).into()
    }
}

impl From<dps_core::ValidationError> for Failure {
    fn from(e: dps_core::ValidationError) -> Self {
        Self::invalid(e.code(), e.to_string())
    }
}

/// The exit code of a whole-file CSV error: 3 when reading failed, 2 when the file is unusable.
fn csv_exit(e: &dps_csv::CsvError) -> u8 {
    match e {
        dps_csv::CsvError::Io(_) => EXIT_FAILED,
        _ => EXIT_INVALID,
    }
}

fn import_exit(e: &dps_csv::ImportError) -> u8 {
    match e {
        dps_csv::ImportError::File(e) => csv_exit(e),
        dps_csv::ImportError::Core(e) => exit_of(e),
        dps_csv::ImportError::Interrupted { cause, .. } => import_exit(cause),
        _ => EXIT_FAILED,
    }
}

impl From<dps_csv::ImportError> for Failure {
    fn from(e: dps_csv::ImportError) -> Self {
        Self::with_exit(import_exit(&e), e.code(), e.to_string())
    }
}

impl From<dps_csv::ExportError> for Failure {
    fn from(e: dps_csv::ExportError) -> Self {
        let exit = match &e {
            dps_csv::ExportError::Core(e) => exit_of(e),
            _ => EXIT_FAILED,
        };
        Self::with_exit(exit, e.code(), e.to_string())
    }
}

impl From<dps_qr::Error> for Failure {
    fn from(e: dps_qr::Error) -> Self {
        let exit = match &e {
            dps_qr::Error::Core(e) => exit_of(e),
            dps_qr::Error::Io(_) => EXIT_FAILED,
            _ => EXIT_INVALID,
        };
        Self::with_exit(exit, e.code(), e.to_string())
    }
}

/// The result of a command step.
pub(crate) type CliResult<T> = Result<T, Failure>;

#[cfg(test)]
mod tests {
    use dps_core::{DeviceId, Entity, Error, GroupId, OperationId, SerialNumber, Uuid};

    use super::*;

    /// The exit code the command gave each error code before exit codes came from categories.
    fn exit_by_code(code: &str) -> u8 {
        if code.starts_with("storage_")
            || code.starts_with("environment_")
            || code == "io_error"
            || code == "conflict"
            || code == "operation_in_progress"
            || code == "try_again"
        {
            3
        } else {
            2
        }
    }

    fn serial() -> SerialNumber {
        "SN-1".parse().unwrap()
    }

    fn every_error() -> Vec<Error> {
        let group = GroupId::from_uuid(Uuid::from_u128(1));
        let store = |e: StoreError| Error::from(e);
        vec![
            Error::Validation("".parse::<SerialNumber>().unwrap_err()),
            Error::Validation("x".repeat(1000).parse::<SerialNumber>().unwrap_err()),
            Error::MissingRequired {
                attribute: "floor".into(),
            },
            Error::InvalidAttribute {
                attribute: "floor".into(),
                reason: "no".into(),
            },
            Error::InvalidSchema {
                reason: "no".into(),
            },
            Error::NotFound {
                entity: Entity::Group,
                key: "g".into(),
            },
            Error::AlreadyRegistered {
                group,
                serial: serial(),
            },
            Error::Conflict {
                entity: Entity::Device,
                key: "SN-1".into(),
            },
            Error::OperationInProgress {
                device: DeviceId::from_uuid(Uuid::from_u128(2)),
                operation: OperationId::from_uuid(Uuid::from_u128(3)),
            },
            Error::NoTarget { serial: serial() },
            Error::ModelMissing {
                model: "m".into(),
                target: "e/o".into(),
            },
            Error::PrivateModelTarget {
                serial: serial(),
                first: "e/o".into(),
            },
            Error::ReprovisionDisabled { group },
            Error::GroupNotEmpty { group, devices: 1 },
            Error::EnvironmentUnavailable {
                message: "down".into(),
            },
            Error::EnvironmentRejected {
                reason: "no".into(),
            },
            Error::LimitExceeded {
                what: "records",
                max: 1,
            },
            Error::Unauthorized,
            Error::NotAllocated { serial: serial() },
            Error::TryAgain { serial: serial() },
            store(StoreError::Conflict {
                entity: Entity::Device,
                key: "k".into(),
            }),
            store(StoreError::DuplicateSerial {
                group,
                serial: serial(),
            }),
            store(StoreError::NotFound {
                entity: Entity::Device,
                key: "k".into(),
            }),
            store(StoreError::AlreadyExists {
                entity: Entity::Device,
                key: "k".into(),
            }),
            store(StoreError::Unavailable {
                message: "busy".into(),
                source: None,
            }),
            store(StoreError::SchemaTooNew {
                found: 9,
                supported: 1,
            }),
            store(StoreError::Corrupt {
                message: "bad".into(),
                source: None,
            }),
            store(StoreError::Backend {
                message: "bad".into(),
                source: None,
            }),
        ]
    }

    #[test]
    fn every_domain_error_keeps_its_exit_code() {
        for e in every_error() {
            let code = e.code();
            let message = e.to_string();
            let f = Failure::from(e);
            assert_eq!(f.exit, exit_by_code(code), "{code}: {message}");
            assert_eq!(f.code, code);
            assert_eq!(f.message, message);
        }
    }

    #[test]
    fn categories_map_to_exit_codes() {
        assert_eq!(exit_for(Category::Usage), 2);
        assert_eq!(exit_for(Category::Validation), 2);
        assert_eq!(exit_for(Category::NotFound), 2);
        assert_eq!(exit_for(Category::Conflict), 3);
        assert_eq!(exit_for(Category::Storage), 3);
        assert_eq!(exit_for(Category::Environment), 3);
    }

    #[test]
    fn file_errors_keep_their_exit_codes() {
        let io = || std::io::Error::other("disk");
        let cases: Vec<Failure> = vec![
            dps_csv::ImportError::File(dps_csv::CsvError::Empty).into(),
            dps_csv::ImportError::File(dps_csv::CsvError::Io(io())).into(),
            dps_csv::ImportError::Core(Error::Unauthorized).into(),
            dps_csv::ImportError::Core(Error::TryAgain { serial: serial() }).into(),
            dps_csv::ExportError::Io(io()).into(),
            dps_csv::ExportError::Core(Error::NoTarget { serial: serial() }).into(),
            dps_qr::Error::Io(io()).into(),
            dps_qr::Error::Render {
                message: "no".into(),
            }
            .into(),
            dps_qr::Error::Core(Error::EnvironmentUnavailable {
                message: "down".into(),
            })
            .into(),
        ];
        for f in cases {
            assert_eq!(f.exit, exit_by_code(&f.code), "{}: {}", f.code, f.message);
        }
    }
}
