//! The statements, with the schema name filled in.

/// The statements of a store, with its schema name filled in.
pub(crate) struct Sql {
    pub(crate) group: String,
    pub(crate) groups: String,
    pub(crate) insert_group: String,
    pub(crate) update_group: String,
    pub(crate) delete_group: String,
    pub(crate) device: String,
    pub(crate) device_by_serial: String,
    pub(crate) devices_by_serials: String,
    pub(crate) insert_device: String,
    pub(crate) copy_devices: String,
    pub(crate) update_device: String,
    pub(crate) delete_device: String,
    pub(crate) device_version: String,
    pub(crate) group_version: String,
    pub(crate) pending: String,
    pub(crate) events: String,
    pub(crate) unnumbered: String,
    pub(crate) number_batches: String,
    pub(crate) insert_events: String,
    pub(crate) devices_table: String,
    pub(crate) tokens: String,
    pub(crate) token_by_hash: String,
    pub(crate) insert_token: String,
    pub(crate) remove_token: String,
    pub(crate) claim_idempotency: String,
    pub(crate) idempotency_record: String,
    pub(crate) finish_idempotency: String,
    pub(crate) release_idempotency: String,
    pub(crate) purge_idempotency: String,
    pub(crate) jobs: crate::jobs::JobSql,
}

impl Sql {
    /// The statements for schema `s`.
    pub(crate) fn new(s: &str) -> Self {
        let cols = "id, group_id, serial, version, status, model_id, batch_tag, target, allocated_to, data";
        Self {
            group: format!("SELECT data FROM \"{s}\".dps_groups WHERE id = $1"),
            groups: format!(
                "SELECT data FROM \"{s}\".dps_groups WHERE id > $1 ORDER BY id LIMIT $2"
            ),
            insert_group: format!(
                "INSERT INTO \"{s}\".dps_groups (id, version, data) VALUES ($1, $2, $3)"
            ),
            update_group: format!(
                "UPDATE \"{s}\".dps_groups SET version = $2, data = $3 WHERE id = $1 AND version = $4"
            ),
            delete_group: format!("DELETE FROM \"{s}\".dps_groups WHERE id = $1 AND version = $2"),
            device: format!("SELECT data FROM \"{s}\".dps_devices WHERE id = $1"),
            device_by_serial: format!(
                "SELECT data FROM \"{s}\".dps_devices WHERE group_id = $1 AND serial = $2"
            ),
            devices_by_serials: format!(
                "SELECT data FROM \"{s}\".dps_devices WHERE group_id = $1 AND serial = ANY($2)"
            ),
            insert_device: format!(
                "INSERT INTO \"{s}\".dps_devices ({cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            copy_devices: format!("COPY \"{s}\".dps_devices ({cols}) FROM STDIN (FORMAT binary)"),
            update_device: format!(
                "UPDATE \"{s}\".dps_devices SET serial = $3, version = $4, status = $5, model_id = $6, \
                 batch_tag = $7, target = $8, allocated_to = $9, data = $10 \
                 WHERE id = $1 AND group_id = $2 AND version = $11"
            ),
            delete_device: format!(
                "DELETE FROM \"{s}\".dps_devices WHERE id = $1 AND version = $2"
            ),
            device_version: format!("SELECT version FROM \"{s}\".dps_devices WHERE id = $1"),
            group_version: format!("SELECT version FROM \"{s}\".dps_groups WHERE id = $1"),
            pending: format!(
                "SELECT data FROM \"{s}\".dps_devices WHERE status = 1 AND id > $1 ORDER BY id LIMIT $2"
            ),
            // Batches are disjoint ranges of cursors, so ordering by the batch's range and
            // then by the event's place in it orders by cursor, along both indexes.
            events: format!(
                "SELECT b.first_seq + e.idx, e.data \
                 FROM \"{s}\".dps_event_batches AS b \
                 JOIN \"{s}\".dps_events AS e ON e.batch = b.id AND e.idx > $1 - b.first_seq \
                 WHERE b.last_seq > $1 \
                 ORDER BY b.last_seq, e.idx \
                 LIMIT $2"
            ),
            unnumbered: format!(
                "SELECT EXISTS (SELECT 1 FROM \"{s}\".dps_event_batches WHERE last_seq IS NULL)"
            ),
            // Two statements: the second one's snapshot is taken once the counter is locked,
            // so it sees every batch committed before, and every number handed out before.
            number_batches: format!(
                "SELECT last FROM \"{s}\".dps_event_counter WHERE id = 1 FOR UPDATE; \
                 WITH counter AS ( \
                     SELECT last FROM \"{s}\".dps_event_counter WHERE id = 1 \
                 ), todo AS ( \
                     SELECT b.id, b.n, counter.last + sum(b.n) OVER (ORDER BY b.id) AS last_seq \
                     FROM \"{s}\".dps_event_batches AS b, counter \
                     WHERE b.last_seq IS NULL \
                 ), numbered AS ( \
                     UPDATE \"{s}\".dps_event_batches AS b \
                     SET first_seq = todo.last_seq - todo.n + 1, last_seq = todo.last_seq \
                     FROM todo WHERE b.id = todo.id \
                     RETURNING b.last_seq \
                 ) \
                 UPDATE \"{s}\".dps_event_counter \
                 SET last = (SELECT max(last_seq) FROM numbered) \
                 WHERE id = 1 AND EXISTS (SELECT 1 FROM numbered)"
            ),
            insert_events: format!(
                "WITH batch AS ( \
                     INSERT INTO \"{s}\".dps_event_batches (n) VALUES (cardinality($1::text[])) \
                     RETURNING id \
                 ) \
                 INSERT INTO \"{s}\".dps_events (batch, idx, data) \
                 SELECT batch.id, e.idx - 1, e.data \
                 FROM batch, UNNEST($1::text[]) WITH ORDINALITY AS e (data, idx)"
            ),
            devices_table: format!("\"{s}\".dps_devices"),
            tokens: format!("SELECT data FROM \"{s}\".dps_tokens ORDER BY name"),
            token_by_hash: format!("SELECT data FROM \"{s}\".dps_tokens WHERE hash = $1"),
            insert_token: format!(
                "INSERT INTO \"{s}\".dps_tokens (name, hash, data) VALUES ($1, $2, $3)"
            ),
            remove_token: format!("DELETE FROM \"{s}\".dps_tokens WHERE name = $1"),
            claim_idempotency: format!(
                "INSERT INTO \"{s}\".dps_idempotency AS i (key, fingerprint, created_at, answer) \
                 VALUES ($1, $2, $3, NULL) ON CONFLICT (key) DO UPDATE \
                 SET fingerprint = excluded.fingerprint, created_at = excluded.created_at \
                 WHERE i.answer IS NULL AND i.created_at < $4"
            ),
            idempotency_record: format!(
                "SELECT fingerprint, created_at, answer FROM \"{s}\".dps_idempotency WHERE key = $1"
            ),
            finish_idempotency: format!(
                "UPDATE \"{s}\".dps_idempotency SET answer = $2 WHERE key = $1"
            ),
            release_idempotency: format!("DELETE FROM \"{s}\".dps_idempotency WHERE key = $1"),
            purge_idempotency: format!("DELETE FROM \"{s}\".dps_idempotency WHERE created_at < $1"),
            jobs: crate::jobs::JobSql::new(s),
        }
    }
}
