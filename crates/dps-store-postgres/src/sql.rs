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
    pub(crate) devices_table: String,
    pub(crate) events: EventSql,
    pub(crate) access: crate::access::AccessSql,
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
            events: EventSql::new(s),
            devices_table: format!("\"{s}\".dps_devices"),
            access: crate::access::AccessSql::new(s),
            jobs: crate::jobs::JobSql::new(s),
        }
    }
}

/// The statements of the event log, with the schema name filled in.
pub(crate) struct EventSql {
    /// A page of events after a cursor.
    pub(crate) page: String,
    /// Whether a committed batch of events has no cursors yet.
    pub(crate) unnumbered: String,
    /// Numbers the batches that have no cursors yet.
    pub(crate) number_batches: String,
    /// Inserts a batch of events.
    pub(crate) insert: String,
}

impl EventSql {
    /// The statements for schema `s`.
    fn new(s: &str) -> Self {
        Self {
            // Batches are disjoint ranges of cursors, so ordering by the batch's range and
            // then by the event's place in it orders by cursor, along both indexes.
            page: format!(
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
            insert: format!(
                "WITH batch AS ( \
                     INSERT INTO \"{s}\".dps_event_batches (n) VALUES (cardinality($1::text[])) \
                     RETURNING id \
                 ) \
                 INSERT INTO \"{s}\".dps_events (batch, idx, data) \
                 SELECT batch.id, e.idx - 1, e.data \
                 FROM batch, UNNEST($1::text[]) WITH ORDINALITY AS e (data, idx)"
            ),
        }
    }
}
