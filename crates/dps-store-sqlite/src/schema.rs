//! The embedded schema and its migrations.

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
];

/// The schema version this code writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;
