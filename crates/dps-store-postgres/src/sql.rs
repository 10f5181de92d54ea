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
    pub(crate) bump_counter: String,
    pub(crate) insert_events: String,
    pub(crate) devices_table: String,
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
            events: format!(
                "SELECT seq, data FROM \"{s}\".dps_events WHERE seq > $1 ORDER BY seq LIMIT $2"
            ),
            bump_counter: format!(
                "UPDATE \"{s}\".dps_event_counter SET last = last + $1 WHERE id = 1 RETURNING last"
            ),
            insert_events: format!(
                "INSERT INTO \"{s}\".dps_events (seq, data) SELECT * FROM UNNEST($1::bigint[], $2::text[])"
            ),
            devices_table: format!("\"{s}\".dps_devices"),
        }
    }
}
