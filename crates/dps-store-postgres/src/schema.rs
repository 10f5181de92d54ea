//! The embedded schema and its migrations; `{s}` stands for the schema name.

use dps_core::StoreError;

use crate::PgStore;
use crate::error::pg_error;

/// The migrations, in order; migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: groups, devices, events and the event counter.
    r#"
    CREATE TABLE "{s}".dps_groups (
        id      uuid   PRIMARY KEY,
        version bigint NOT NULL,
        data    text   NOT NULL
    );

    CREATE TABLE "{s}".dps_devices (
        id           uuid     PRIMARY KEY,
        group_id     uuid     NOT NULL REFERENCES "{s}".dps_groups (id),
        serial       text     COLLATE "C" NOT NULL,
        version      bigint   NOT NULL,
        status       smallint NOT NULL,
        model_id     text     NOT NULL,
        batch_tag    text,
        target       text,
        allocated_to text,
        data         text     NOT NULL,
        -- Unique serial per group; also the keyset cursor and the serial-prefix range.
        CONSTRAINT dps_devices_serial UNIQUE (group_id, serial)
    );
    CREATE INDEX dps_devices_status ON "{s}".dps_devices (group_id, status, serial);
    CREATE INDEX dps_devices_batch_tag ON "{s}".dps_devices (group_id, batch_tag, serial);
    CREATE INDEX dps_devices_model ON "{s}".dps_devices (group_id, model_id, serial);
    CREATE INDEX dps_devices_pending ON "{s}".dps_devices (id) WHERE status = 1;

    CREATE TABLE "{s}".dps_events (
        seq  bigint PRIMARY KEY,
        data text   NOT NULL
    );

    -- One row: the last event number handed out. Its row lock orders event numbering by
    -- commit order.
    CREATE TABLE "{s}".dps_event_counter (
        id   smallint PRIMARY KEY CHECK (id = 1),
        last bigint   NOT NULL
    );
    INSERT INTO "{s}".dps_event_counter (id, last) VALUES (1, 0);
    "#,
];

/// The schema version this code writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory-lock key that serialises migrations of one schema (FNV-1a of its name).
pub(crate) fn lock_key(schema: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "dps-migrate:".bytes().chain(schema.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

impl PgStore {
    /// Creates the schema or brings it to [`VERSION`], under the migration lock.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error("begin migration", e))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&lock_key(&self.schema)],
        )
        .await
        .map_err(|e| pg_error("take the migration lock", e))?;
        let s = &self.schema;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{s}\"; \
             CREATE TABLE IF NOT EXISTS \"{s}\".dps_schema_version (version integer NOT NULL)"
        ))
        .await
        .map_err(|e| pg_error("create the schema", e))?;
        let current: i64 = tx
            .query_opt(
                &format!("SELECT version::bigint FROM \"{s}\".dps_schema_version"),
                &[],
            )
            .await
            .map_err(|e| pg_error("read the schema version", e))?
            .map(|r| r.get(0))
            .unwrap_or(0);
        if current > VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported: VERSION,
            });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.batch_execute(&m.replace("{s}", s))
                .await
                .map_err(|e| pg_error(&format!("apply migration {}", i + 1), e))?;
        }
        if current < VERSION {
            tx.execute(&format!("DELETE FROM \"{s}\".dps_schema_version"), &[])
                .await
                .map_err(|e| pg_error("record the schema version", e))?;
            tx.execute(
                &format!("INSERT INTO \"{s}\".dps_schema_version VALUES ($1)"),
                &[&(VERSION as i32)],
            )
            .await
            .map_err(|e| pg_error("record the schema version", e))?;
        }
        tx.commit()
            .await
            .map_err(|e| pg_error("commit migration", e))
    }
}
