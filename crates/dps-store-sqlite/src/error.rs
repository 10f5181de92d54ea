//! SQLite errors as the store's error kinds.

use dps_core::StoreError;
use rusqlite::ErrorCode;

/// Maps a SQLite error to the store's error kinds.
pub(crate) fn sql_error(context: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable {
            message: format!("{context}: the database is locked by another connection"),
            source: Some(Box::new(e)),
        },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            message: format!("{context}: {e}"),
            source: Some(Box::new(e)),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::configuration(format!("{context}: {e}"), e)
        }
        _ => StoreError::Backend {
            message: format!("{context}: {e}"),
            source: Some(Box::new(e)),
        },
    }
}

/// Whether `e` is the constraint violation with this extended result code.
pub(crate) fn is_constraint(e: &rusqlite::Error, extended: i32) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == extended)
}

/// `SQLITE_CONSTRAINT_PRIMARYKEY`.
pub(crate) const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
/// `SQLITE_CONSTRAINT_UNIQUE`.
pub(crate) const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
