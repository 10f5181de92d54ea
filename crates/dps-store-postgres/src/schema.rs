//! The embedded schema and its migrations; `{s}` stands for the schema name.

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
