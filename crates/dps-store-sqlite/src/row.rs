//! The rows of the tables, over the stored form of `dps_core::stored`.

use dps_core::stored::{self, ColumnValue, DeviceColumns};
use dps_core::{Device, DeviceQuery, SerialNumber, StoreError, Uuid};
use rusqlite::types::Value;

/// An identifier as the bytes of its `BLOB` column.
pub(crate) fn id_bytes(u: &Uuid) -> Vec<u8> {
    u.as_bytes().to_vec()
}

/// The values of a device row, in `dps_devices` column order (identifiers as 16-byte
/// blobs).
pub fn device_values(c: &DeviceColumns) -> [&dyn rusqlite::ToSql; 10] {
    [
        c.id.as_bytes(),
        c.group_id.as_bytes(),
        &c.serial,
        &c.version,
        &c.status,
        &c.model_id,
        &c.batch_tag,
        &c.target,
        &c.allocated_to,
        &c.data,
    ]
}

/// Encodes a device as its row.
///
/// # Errors
///
/// When the device does not serialise, which does not happen for valid devices.
pub fn device_row(d: &Device) -> Result<DeviceColumns, StoreError> {
    DeviceColumns::of(d)
}

/// The SQL that inserts a device row.
pub const INSERT_DEVICE_SQL: &str = "INSERT INTO dps_devices \
    (id, group_id, serial, version, status, model_id, batch_tag, target, allocated_to, data) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// The SQL that updates a device row at version `?11`.
pub(crate) const UPDATE_DEVICE_SQL: &str = "UPDATE dps_devices SET serial = ?3, version = ?4, status = ?5, \
    model_id = ?6, batch_tag = ?7, target = ?8, allocated_to = ?9, data = ?10 \
    WHERE id = ?1 AND group_id = ?2 AND version = ?11";

/// The SQL that updates a device row at version `?11` whose serial, model, batch tag and
/// target stay as they are: it writes only the columns that a lifecycle step changes, so
/// that the serial, batch-tag and model indexes are not touched. It changes no row when one
/// of the kept columns differs.
pub(crate) const UPDATE_LIFECYCLE_SQL: &str = "UPDATE dps_devices SET version = ?4, status = ?5, \
    allocated_to = ?9, data = ?10 \
    WHERE id = ?1 AND group_id = ?2 AND version = ?11 AND serial = ?3 AND model_id = ?6 \
    AND batch_tag IS ?7 AND target IS ?8";

/// The WHERE clause of a device query and its parameters, in placeholder order.
pub(crate) fn query_sql(query: &DeviceQuery, after: Option<&SerialNumber>) -> (String, Vec<Value>) {
    let conditions = stored::device_conditions(query, after);
    let mut sql = String::new();
    let mut params = Vec::with_capacity(conditions.len());
    for (i, c) in conditions.into_iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(c.column);
        sql.push(' ');
        sql.push_str(c.comparison.as_sql());
        sql.push_str(" ?");
        params.push(match c.value {
            ColumnValue::Id(id) => Value::Blob(id_bytes(&id)),
            ColumnValue::Text(text) => Value::Text(text),
            ColumnValue::Status(code) => Value::Integer(i64::from(code)),
        });
    }
    (sql, params)
}
