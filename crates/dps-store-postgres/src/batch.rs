//! A run of device updates in one statement: a batch page's intents or results are one round
//! trip instead of one per device.

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use dps_core::stored::{self, DeviceColumns};
use dps_core::{Device, Entity, StoreError, Uuid, Version};
use tokio_postgres::error::SqlState;

use crate::PgStore;
use crate::apply::missing_or_conflict;
use crate::error::{insert_error, pg_error};

impl PgStore {
    /// Updates every device of `batch` that is at its expected version, in one statement. The
    /// devices are distinct. Fails like one update at a time would: the first device (in
    /// order) that is gone or at another version, or a taken serial.
    pub(crate) async fn update_devices(
        &self,
        tx: &Transaction<'_>,
        batch: Vec<(Version, Device)>,
    ) -> Result<(), StoreError> {
        let n = batch.len();
        let mut cols = UpdateColumns::with_capacity(n);
        let mut devices = Vec::with_capacity(n);
        for (expected, device) in batch {
            let row = DeviceColumns::of(&device)?;
            cols.push(row, stored::version_column(expected));
            devices.push(device);
        }
        let sql = format!(
            "UPDATE \"{s}\".dps_devices AS d SET serial = v.serial, version = v.version, \
             status = v.status, model_id = v.model_id, batch_tag = v.batch_tag, \
             target = v.target, allocated_to = v.allocated_to, data = v.data \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::smallint[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[]) \
             AS v(id, group_id, serial, version, status, model_id, batch_tag, target, \
             allocated_to, data, expected) \
             WHERE d.id = v.id AND d.group_id = v.group_id AND d.version = v.expected \
             RETURNING d.id",
            s = self.schema
        );
        let stmt = tx
            .prepare_cached(&sql)
            .await
            .map_err(|e| pg_error("prepare device updates", e))?;
        let rows = match tx
            .query(
                &stmt,
                &[
                    &cols.id,
                    &cols.group_id,
                    &cols.serial,
                    &cols.version,
                    &cols.status,
                    &cols.model_id,
                    &cols.batch_tag,
                    &cols.target,
                    &cols.allocated_to,
                    &cols.data,
                    &cols.expected,
                ],
            )
            .await
        {
            Ok(rows) => rows,
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(
                    insert_error(&e, &devices).unwrap_or_else(|| pg_error("update devices", e))
                );
            }
            Err(e) => return Err(pg_error("update devices", e)),
        };
        if rows.len() == n {
            return Ok(());
        }
        let updated: HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
        for d in &devices {
            if !updated.contains(d.id().as_uuid()) {
                let sql = &self.sql.device_version;
                return Err(missing_or_conflict(
                    tx,
                    sql,
                    Entity::Device,
                    d.id().as_uuid(),
                    d.serial().to_string(),
                )
                .await);
            }
        }
        Ok(())
    }
}

/// The columns of a run of device updates, one array per column.
struct UpdateColumns {
    id: Vec<Uuid>,
    group_id: Vec<Uuid>,
    serial: Vec<String>,
    version: Vec<i64>,
    status: Vec<i16>,
    model_id: Vec<String>,
    batch_tag: Vec<Option<String>>,
    target: Vec<Option<String>>,
    allocated_to: Vec<Option<String>>,
    data: Vec<String>,
    expected: Vec<i64>,
}

impl UpdateColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: Vec::with_capacity(n),
            group_id: Vec::with_capacity(n),
            serial: Vec::with_capacity(n),
            version: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            model_id: Vec::with_capacity(n),
            batch_tag: Vec::with_capacity(n),
            target: Vec::with_capacity(n),
            allocated_to: Vec::with_capacity(n),
            data: Vec::with_capacity(n),
            expected: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, row: DeviceColumns, expected: i64) {
        self.id.push(row.id);
        self.group_id.push(row.group_id);
        self.serial.push(row.serial);
        self.version.push(row.version);
        self.status.push(row.status);
        self.model_id.push(row.model_id);
        self.batch_tag.push(row.batch_tag);
        self.target.push(row.target);
        self.allocated_to.push(row.allocated_to);
        self.data.push(row.data);
        self.expected.push(expected);
    }
}
