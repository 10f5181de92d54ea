//! The rows of `dps_devices`, over the stored form of `dps_core::stored`, and the device
//! queries on its columns.

use dps_core::stored::{ColumnValue, DeviceColumns, device_conditions};
use dps_core::{Device, DeviceQuery, SerialNumber, StoreError};
use futures_util::pin_mut;
use tokio_postgres::CopyInSink;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// A row count as a `bigint` parameter (saturating).
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The column types of a device row, for binary COPY.
pub const DEVICE_COLUMN_TYPES: [Type; 10] = [
    Type::UUID,
    Type::UUID,
    Type::TEXT,
    Type::INT8,
    Type::INT2,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// The values of a device row, in `dps_devices` column order.
pub fn device_values(c: &DeviceColumns) -> [&(dyn ToSql + Sync); 10] {
    [
        &c.id,
        &c.group_id,
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

/// The row of `d`.
///
/// # Errors
///
/// When the device does not serialise, which does not happen for valid devices.
pub fn device_row(d: &Device) -> Result<DeviceColumns, StoreError> {
    DeviceColumns::of(d)
}

/// The binary `COPY … FROM STDIN` statement for `table` (`"schema".dps_devices`).
pub fn copy_sql(table: &str) -> String {
    format!(
        "COPY {table} (id, group_id, serial, version, status, model_id, batch_tag, target, allocated_to, data) FROM STDIN (FORMAT binary)"
    )
}

/// Writes rows into a sink opened with [`copy_sql`].
///
/// # Errors
///
/// The database's errors.
pub async fn write_copy(
    sink: CopyInSink<bytes::Bytes>,
    rows: &[DeviceColumns],
) -> Result<u64, tokio_postgres::Error> {
    let writer = BinaryCopyInWriter::new(sink, &DEVICE_COLUMN_TYPES);
    pin_mut!(writer);
    for row in rows {
        writer.as_mut().write(&device_values(row)).await?;
    }
    writer.finish().await
}

/// A query parameter.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

/// The WHERE clause of a device query and its parameters, numbered from `$1`.
pub(crate) fn query_sql(query: &DeviceQuery, after: Option<&SerialNumber>) -> (String, Vec<Param>) {
    let conditions = device_conditions(query, after);
    let mut sql = String::new();
    let mut params: Vec<Param> = Vec::with_capacity(conditions.len());
    for (i, c) in conditions.into_iter().enumerate() {
        params.push(match c.value {
            ColumnValue::Id(id) => Box::new(id),
            ColumnValue::Text(text) => Box::new(text),
            ColumnValue::Status(code) => Box::new(code),
        });
        let join = if i == 0 { " WHERE" } else { " AND" };
        sql.push_str(&format!(
            "{join} {} {} ${}",
            c.column,
            c.comparison.as_sql(),
            params.len()
        ));
    }
    (sql, params)
}
