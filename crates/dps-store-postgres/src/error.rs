//! PostgreSQL errors as the store's error kinds.

use dps_core::{Actor, Device, Entity, SerialNumber, StoreError};
use tokio_postgres::error::SqlState;

/// Maps a PostgreSQL error to the store's error kinds.
pub(crate) fn pg_error(context: &str, e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() || e.code().is_none() {
        return StoreError::Unavailable {
            message: format!("{context}: {e}"),
            source: Some(Box::new(e)),
        };
    }
    let code = e.code().cloned();
    match code {
        Some(c) if c.code().starts_with("28") || c == SqlState::INVALID_CATALOG_NAME => {
            StoreError::configuration(format!("{context}: {e}"), e)
        }
        Some(c)
            if c == SqlState::T_R_SERIALIZATION_FAILURE
                || c == SqlState::T_R_DEADLOCK_DETECTED
                || c == SqlState::ADMIN_SHUTDOWN
                || c == SqlState::CRASH_SHUTDOWN
                || c == SqlState::CANNOT_CONNECT_NOW
                || c == SqlState::TOO_MANY_CONNECTIONS
                || c.code().starts_with("08") =>
        {
            StoreError::Unavailable {
                message: format!("{context}: {e}"),
                source: Some(Box::new(e)),
            }
        }
        _ => StoreError::Backend {
            message: format!("{context}: {e}"),
            source: Some(Box::new(e)),
        },
    }
}

/// The store error for a failed insert of the token named `name`: a unique violation (of
/// the name or of the hash) is [`StoreError::AlreadyExists`].
pub(crate) fn token_insert_error(e: tokio_postgres::Error, name: &Actor) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::AlreadyExists {
            entity: Entity::Token,
            key: name.to_string(),
        };
    }
    pg_error("insert token", e)
}

/// The error for a connection the pool could not hand out.
pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    if let deadpool_postgres::PoolError::Backend(e) = e {
        return pg_error("no database connection", e);
    }
    StoreError::Unavailable {
        message: format!("no database connection: {e}"),
        source: Some(Box::new(e)),
    }
}

/// The serial named in a unique-violation detail such as
/// `Key (group_id, serial)=(…, SN-1) already exists.`
pub(crate) fn duplicate_serial_in(detail: &str) -> Option<SerialNumber> {
    let start = detail.find(")=(")? + 3;
    let rest = &detail[start..];
    let end = rest.find(')')?;
    let (_, serial) = rest[..end].split_once(", ")?;
    serial.parse().ok()
}

/// The store error for a failed insert of `batch`, when it is a constraint violation.
pub(crate) fn insert_error(e: &tokio_postgres::Error, batch: &[Device]) -> Option<StoreError> {
    let db = e.as_db_error()?;
    let group = batch.first().map(|d| d.group_id())?;
    match db.code() {
        c if *c == SqlState::UNIQUE_VIOLATION => {
            if db.constraint() == Some("dps_devices_serial") {
                let serial = duplicate_serial_in(db.detail().unwrap_or(""))
                    .or_else(|| (batch.len() == 1).then(|| batch[0].serial().clone()))?;
                Some(StoreError::DuplicateSerial { group, serial })
            } else {
                Some(StoreError::AlreadyExists {
                    entity: Entity::Device,
                    key: db.detail().unwrap_or("device").to_owned(),
                })
            }
        }
        c if *c == SqlState::FOREIGN_KEY_VIOLATION => Some(StoreError::NotFound {
            entity: Entity::Group,
            key: group.to_string(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_serials_are_read_from_the_detail() {
        let d = "Key (group_id, serial)=(0190e5a4-0000-7000-8000-000000000001, SN-1:a.b) already exists.";
        assert_eq!(
            duplicate_serial_in(d).map(|s| s.to_string()),
            Some("SN-1:a.b".to_owned())
        );
        assert_eq!(duplicate_serial_in("garbage"), None);
    }
}
