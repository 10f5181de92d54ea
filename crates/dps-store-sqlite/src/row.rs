//! The rows of the tables, over the stored form of `dps_core::stored`.

use dps_core::stored::{self, ColumnValue, DeviceColumns};
use dps_core::{Device, DeviceQuery, SerialNumber, StoreError, Uuid};
use rusqlite::types::Value;

/// An identifier as the bytes of its `BLOB` column.
pub(crate) fn id_bytes(u: &Uuid) -> Vec<u8> {
    u.as_bytes().to_vec()
}

/// The column values of a device row, in `dps_devices` column order.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// `id`.
    pub id: Vec<u8>,
    /// `group_id`.
    pub group_id: Vec<u8>,
    /// `serial`.
    pub serial: String,
    /// `version`.
    pub version: i64,
    /// `status`.
    pub status: i64,
    /// `model_id`.
    pub model_id: String,
    /// `batch_tag`.
    pub batch_tag: Option<String>,
    /// `target`.
    pub target: Option<String>,
    /// `allocated_to`.
    pub allocated_to: Option<String>,
    /// `data`.
    pub data: String,
}

impl DeviceRow {
    /// The values, in column order.
    pub fn values(&self) -> [&dyn rusqlite::ToSql; 10] {
        [
            &self.id,
            &self.group_id,
            &self.serial,
            &self.version,
            &self.status,
            &self.model_id,
            &self.batch_tag,
            &self.target,
            &self.allocated_to,
            &self.data,
        ]
    }
}

/// Encodes a device as its row.
///
/// # Errors
///
/// When the device does not serialise, which does not happen for valid devices.
pub fn device_row(d: &Device) -> Result<DeviceRow, StoreError> {
    DeviceColumns::of(d).map(DeviceRow::from)
}

impl From<DeviceColumns> for DeviceRow {
    fn from(c: DeviceColumns) -> Self {
        Self {
            id: id_bytes(&c.id),
            group_id: id_bytes(&c.group_id),
            serial: c.serial,
            version: c.version,
            status: i64::from(c.status),
            model_id: c.model_id,
            batch_tag: c.batch_tag,
            target: c.target,
            allocated_to: c.allocated_to,
            data: c.data,
        }
    }
}

/// The SQL that inserts a device row.
pub const INSERT_DEVICE_SQL: &str = "INSERT INTO dps_devices \
    (id, group_id, serial, version, status, model_id, batch_tag, target, allocated_to, data) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// The SQL that updates a device row at version `?11`.
pub(crate) const UPDATE_DEVICE_SQL: &str = "UPDATE dps_devices SET serial = ?3, version = ?4, status = ?5, \
    model_id = ?6, batch_tag = ?7, target = ?8, allocated_to = ?9, data = ?10 \
    WHERE id = ?1 AND group_id = ?2 AND version = ?11";

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
