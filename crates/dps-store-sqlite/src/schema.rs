//! The embedded schema and its migrations.

use dps_core::StoreError;
use rusqlite::{Connection, TransactionBehavior};

use crate::error::sql_error;

/// `PRAGMA application_id` of a dps database: "DPS1".
pub(crate) const APPLICATION_ID: i32 = 0x4450_5331;

/// The migrations, in order; migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: groups, devices, events.
    r#"
    CREATE TABLE dps_groups (
        id      BLOB    NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL,
        data    TEXT    NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE dps_devices (
        id           BLOB    NOT NULL PRIMARY KEY,
        group_id     BLOB    NOT NULL,
        serial       TEXT    NOT NULL,
        version      INTEGER NOT NULL,
        status       INTEGER NOT NULL,
        model_id     TEXT    NOT NULL,
        batch_tag    TEXT,
        target       TEXT,
        allocated_to TEXT,
        data         TEXT    NOT NULL
    );
    -- Unique serial per group; also the keyset cursor and the serial-prefix range.
    CREATE UNIQUE INDEX dps_devices_serial ON dps_devices (group_id, serial);
    CREATE INDEX dps_devices_status ON dps_devices (group_id, status, serial);
    CREATE INDEX dps_devices_batch_tag ON dps_devices (group_id, batch_tag, serial);
    CREATE INDEX dps_devices_model ON dps_devices (group_id, model_id, serial);
    CREATE INDEX dps_devices_pending ON dps_devices (id) WHERE status = 1;

    CREATE TABLE dps_events (
        seq  INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        data TEXT    NOT NULL
    );
    "#,
    // 2: access tokens and idempotency records.
    r#"
    -- A token by its name (the listing order) and by the SHA-256 hash of its text.
    CREATE TABLE dps_tokens (
        name TEXT NOT NULL PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        data TEXT NOT NULL
    ) WITHOUT ROWID;

    -- A request's idempotency key; `answer` stays NULL while the first request runs.
    CREATE TABLE dps_idempotency (
        key         TEXT    NOT NULL PRIMARY KEY,
        fingerprint BLOB    NOT NULL,
        created_at  INTEGER NOT NULL,
        answer      BLOB
    );
    CREATE INDEX dps_idempotency_created_at ON dps_idempotency (created_at);
    "#,
    // 3: jobs.
    r#"
    CREATE TABLE dps_jobs (
        id      BLOB    NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL,
        running INTEGER NOT NULL,
        data    TEXT    NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dps_jobs_running ON dps_jobs (id) WHERE running = 1;
    "#,
    // 4: the parts of jobs: per page, its results and its part of the output file.
    r#"
    CREATE TABLE dps_job_parts (
        job    BLOB    NOT NULL,
        stream INTEGER NOT NULL,
        part   INTEGER NOT NULL,
        bytes  BLOB    NOT NULL,
        PRIMARY KEY (job, stream, part)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this code writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Refuses files that are not SQLite, belong to another application, or are newer, before
/// anything is written to them.
pub(crate) fn check_file(conn: &Connection) -> Result<(), StoreError> {
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| sql_error("read the database header", e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_error("read the schema version", e))?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| sql_error("read the schema", e))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(StoreError::Corrupt {
            message: format!(
                "the file belongs to another application (application_id {app_id:#x})"
            ),
            source: None,
        });
    }
    if app_id == 0 && tables > 0 {
        return Err(StoreError::Corrupt {
            message: "the file is a SQLite database of another application".into(),
            source: None,
        });
    }
    if version > VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: VERSION,
        });
    }
    Ok(())
}

/// Brings the schema to [`VERSION`] inside a write transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error("begin migration", e))?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_error("read the schema version", e))?;
    if current > VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)
            .map_err(|e| sql_error(&format!("apply migration {}", i + 1), e))?;
    }
    if current < VERSION {
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|e| sql_error("set the application id", e))?;
        tx.pragma_update(None, "user_version", VERSION)
            .map_err(|e| sql_error("set the schema version", e))?;
    }
    tx.commit().map_err(|e| sql_error("commit migration", e))
}
