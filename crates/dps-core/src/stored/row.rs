//! The rows of the SQL backends: the stored record beside the columns queries use.

use super::{StoredDevice, StoredGroup};
use crate::device::Device;
use crate::error::StoreError;
use crate::group::RegistrationGroup;
use crate::id::Version;
use crate::state::AllocationStatus;
use crate::store::DeviceQuery;
use crate::text::SerialNumber;
use uuid::Uuid;

/// The number a status is stored as in the `status` column.
pub fn status_code(status: AllocationStatus) -> i16 {
    match status {
        AllocationStatus::NotAllocated => 0,
        AllocationStatus::Pending => 1,
        AllocationStatus::Allocated => 2,
    }
}

/// A version as the signed 64-bit integer of a `version` column (saturating).
pub fn version_column(version: Version) -> i64 {
    i64::try_from(version.get()).unwrap_or(i64::MAX)
}

/// The row of a device: the stored record as JSON (`data`) beside the columns that queries
/// filter, sort and check versions on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceColumns {
    /// `id`: the device's identifier.
    pub id: Uuid,
    /// `group_id`: its group.
    pub group_id: Uuid,
    /// `serial`: unique within the group, the sort key of listings.
    pub serial: String,
    /// `version`: see [`version_column`].
    pub version: i64,
    /// `status`: see [`status_code`].
    pub status: i16,
    /// `model_id`.
    pub model_id: String,
    /// `batch_tag`.
    pub batch_tag: Option<String>,
    /// `target`: the device's own target as `environment/ou`.
    pub target: Option<String>,
    /// `allocated_to`: the target it is allocated to, as `environment/ou`.
    pub allocated_to: Option<String>,
    /// `data`: the [`StoredDevice`] as JSON.
    pub data: String,
}

impl DeviceColumns {
    /// The column names, in the order of the fields.
    pub const NAMES: [&'static str; 10] = [
        "id",
        "group_id",
        "serial",
        "version",
        "status",
        "model_id",
        "batch_tag",
        "target",
        "allocated_to",
        "data",
    ];

    /// The row of `device`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the record does not serialise, which does not happen.
    pub fn of(device: &Device) -> Result<Self, StoreError> {
        Self::from_device(device.clone())
    }

    /// The row of `device`, moving its fields into the record.
    ///
    /// # Errors
    ///
    /// As [`DeviceColumns::of`].
    pub fn from_device(device: Device) -> Result<Self, StoreError> {
        let id = *device.id().as_uuid();
        let group_id = *device.group_id().as_uuid();
        let serial = device.serial().to_string();
        let version = version_column(device.version());
        let status = status_code(device.status());
        let model_id = device.model_id().to_string();
        let batch_tag = device.batch_tag().map(ToString::to_string);
        let target = device.target().map(ToString::to_string);
        let allocated_to = device.state().allocated().map(|a| a.target().to_string());
        let data = StoredDevice::from(device).to_json()?;
        Ok(Self {
            id,
            group_id,
            serial,
            version,
            status,
            model_id,
            batch_tag,
            target,
            allocated_to,
            data,
        })
    }
}

/// The row of a group: the stored record as JSON beside its identifier and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupColumns {
    /// `id`: the group's identifier.
    pub id: Uuid,
    /// `version`: see [`version_column`].
    pub version: i64,
    /// `data`: the [`StoredGroup`] as JSON.
    pub data: String,
}

impl GroupColumns {
    /// The row of `group`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the record does not serialise, which does not happen.
    pub fn of(group: &RegistrationGroup) -> Result<Self, StoreError> {
        Self::from_group(group.clone())
    }

    /// The row of `group`, moving its fields into the record.
    ///
    /// # Errors
    ///
    /// As [`GroupColumns::of`].
    pub fn from_group(group: RegistrationGroup) -> Result<Self, StoreError> {
        Ok(Self {
            id: *group.id().as_uuid(),
            version: version_column(group.version()),
            data: StoredGroup::from(group).to_json()?,
        })
    }
}

/// How a [`Condition`] compares its column with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `=`
    Eq,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
}

impl Comparison {
    /// The SQL operator.
    pub fn as_sql(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
        }
    }
}

/// The value a [`Condition`] compares with, typed as its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnValue {
    /// An identifier column (`group_id`).
    Id(Uuid),
    /// A text column.
    Text(String),
    /// The `status` column (see [`status_code`]).
    Status(i16),
}

/// One condition of a device query on a [`DeviceColumns`] column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The column, one of [`DeviceColumns::NAMES`].
    pub column: &'static str,
    /// The comparison.
    pub comparison: Comparison,
    /// The value.
    pub value: ColumnValue,
}

impl Condition {
    fn new(column: &'static str, comparison: Comparison, value: ColumnValue) -> Self {
        Self {
            column,
            comparison,
            value,
        }
    }

    fn text(column: &'static str, comparison: Comparison, value: impl ToString) -> Self {
        Self::new(column, comparison, ColumnValue::Text(value.to_string()))
    }
}

/// The conditions, all of which a row must meet, for the devices of `query` with serial
/// greater than `after`. The first is always `group_id = <the group>`.
///
/// Serials compare by bytes (the SQL backends sort them in the `"C"` collation or as
/// binary), so a serial prefix becomes the range `[prefix, prefix + "\x7f")`: serials are
/// ASCII below `0x7f`.
pub fn device_conditions(query: &DeviceQuery, after: Option<&SerialNumber>) -> Vec<Condition> {
    use Comparison::{Eq, Ge, Gt, Lt};
    let mut out = vec![Condition::new(
        "group_id",
        Eq,
        ColumnValue::Id(*query.group.as_uuid()),
    )];
    let f = &query.filter;
    if let Some(after) = after {
        out.push(Condition::text("serial", Gt, after));
    }
    if let Some(prefix) = &f.serial_prefix {
        out.push(Condition::text("serial", Ge, prefix));
        out.push(Condition::text("serial", Lt, format!("{prefix}\u{7f}")));
    }
    if let Some(s) = f.status {
        out.push(Condition::new(
            "status",
            Eq,
            ColumnValue::Status(status_code(s)),
        ));
    }
    if let Some(t) = &f.batch_tag {
        out.push(Condition::text("batch_tag", Eq, t));
    }
    if let Some(m) = &f.model_id {
        out.push(Condition::text("model_id", Eq, m));
    }
    if let Some(t) = &f.target {
        out.push(Condition::text("target", Eq, t));
    }
    if let Some(t) = &f.allocated_to {
        out.push(Condition::text("allocated_to", Eq, t));
    }
    out
}
