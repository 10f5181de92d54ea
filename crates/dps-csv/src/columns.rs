//! The columns of the template and the export, and how headers map to them.

use std::collections::HashMap;
use std::fmt;

use dps_core::{attribute::AttributeSchema, import::ImportFields};

use crate::error::CsvError;

/// A fixed column of the template or the export.
///
/// Headers match case-insensitively with spaces and punctuation ignored, so `device serial
/// no`, `DEVICE_SERIAL_NO` and `Device Serial No.` all name [`Column::Serial`]; each column
/// also has aliases (`serial_number`, `device_sn` and `sn` for the serial, `model` for the
/// model ID, …). Attribute columns are headed by the attribute's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Column {
    /// `Device Serial No.` (required).
    Serial,
    /// `Device Name`.
    DeviceName,
    /// `Model ID` (required).
    ModelId,
    /// `Timezone`, `±HH:MM`.
    Timezone,
    /// `Batch Tag`.
    BatchTag,
    /// `Description`.
    Description,
    /// `Environment` of the device's own target (with `OU`).
    Environment,
    /// `OU` of the device's own target (with `Environment`).
    Ou,
    /// `Allocation Status` (read-only).
    AllocationStatus,
    /// `Allocated Environment` (read-only).
    AllocatedEnvironment,
    /// `Allocated OU` (read-only).
    AllocatedOu,
    /// `Asset ID` (read-only).
    AssetId,
    /// `Product Key` (read-only).
    ProductKey,
    /// `Device Key` (read-only).
    DeviceKey,
    /// `Device Secret` (read-only; exported only on explicit request).
    DeviceSecret,
    /// `Device Bootstrap Key` (read-only; exported only on explicit request, for factories
    /// that flash each unit with its own key).
    DeviceBootstrapKey,
    /// `Last Allocation Error` (read-only).
    LastAllocationError,
    /// `Created At` (read-only).
    CreatedAt,
    /// `Updated At` (read-only).
    UpdatedAt,
    /// `Version` (read-only; checked by an upsert import).
    Version,
}

impl Column {
    /// The editable columns, in template order; the schema's attributes follow them.
    pub const TEMPLATE: [Column; 8] = [
        Column::Serial,
        Column::DeviceName,
        Column::ModelId,
        Column::Timezone,
        Column::BatchTag,
        Column::Description,
        Column::Environment,
        Column::Ou,
    ];

    /// The read-only columns an export adds after the attributes, in order
    /// ([`Column::DeviceSecret`] and [`Column::DeviceBootstrapKey`] go after
    /// [`Column::DeviceKey`] when asked for).
    pub const READ_ONLY: [Column; 10] = [
        Column::AllocationStatus,
        Column::AllocatedEnvironment,
        Column::AllocatedOu,
        Column::AssetId,
        Column::ProductKey,
        Column::DeviceKey,
        Column::LastAllocationError,
        Column::CreatedAt,
        Column::UpdatedAt,
        Column::Version,
    ];

    const ALL: [Column; 20] = [
        Column::Serial,
        Column::DeviceName,
        Column::ModelId,
        Column::Timezone,
        Column::BatchTag,
        Column::Description,
        Column::Environment,
        Column::Ou,
        Column::AllocationStatus,
        Column::AllocatedEnvironment,
        Column::AllocatedOu,
        Column::AssetId,
        Column::ProductKey,
        Column::DeviceKey,
        Column::DeviceSecret,
        Column::DeviceBootstrapKey,
        Column::LastAllocationError,
        Column::CreatedAt,
        Column::UpdatedAt,
        Column::Version,
    ];

    /// The header the template and the export write.
    pub fn header(self) -> &'static str {
        match self {
            Column::Serial => "Device Serial No.",
            Column::DeviceName => "Device Name",
            Column::ModelId => "Model ID",
            Column::Timezone => "Timezone",
            Column::BatchTag => "Batch Tag",
            Column::Description => "Description",
            Column::Environment => "Environment",
            Column::Ou => "OU",
            Column::AllocationStatus => "Allocation Status",
            Column::AllocatedEnvironment => "Allocated Environment",
            Column::AllocatedOu => "Allocated OU",
            Column::AssetId => "Asset ID",
            Column::ProductKey => "Product Key",
            Column::DeviceKey => "Device Key",
            Column::DeviceSecret => "Device Secret",
            Column::DeviceBootstrapKey => "Device Bootstrap Key",
            Column::LastAllocationError => "Last Allocation Error",
            Column::CreatedAt => "Created At",
            Column::UpdatedAt => "Updated At",
            Column::Version => "Version",
        }
    }

    /// Whether an import ignores the column's cells ([`Column::Version`] is read by an
    /// upsert import but never written).
    pub fn is_read_only(self) -> bool {
        !Self::TEMPLATE.contains(&self)
    }

    /// Whether an import needs the column.
    pub fn is_required(self) -> bool {
        matches!(self, Column::Serial | Column::ModelId)
    }

    /// Other names the column is recognised by (compared after normalisation).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Column::Serial => &[
                "serial",
                "serial_no",
                "serial_number",
                "serial_num",
                "sn",
                "device_sn",
                "device_serial",
                "device_serial_number",
            ],
            Column::DeviceName => &["name", "device"],
            Column::ModelId => &["model", "model_no", "device_model", "device_model_id"],
            Column::Timezone => &["tz", "time_zone", "utc_offset"],
            Column::BatchTag => &["batch", "tag", "batch_no", "batch_id"],
            Column::Description => &["desc", "device_description"],
            Column::Environment => &["env", "environment_id", "target_environment"],
            Column::Ou => &[
                "ou_id",
                "org_unit",
                "organization_unit",
                "organisation_unit",
            ],
            Column::AllocationStatus => &["status"],
            Column::AllocatedEnvironment | Column::AllocatedOu => &[],
            Column::AssetId => &["asset"],
            Column::ProductKey
            | Column::DeviceKey
            | Column::DeviceSecret
            | Column::DeviceBootstrapKey => &[],
            Column::LastAllocationError => &["last_error"],
            Column::CreatedAt => &["created"],
            Column::UpdatedAt => &["updated"],
            Column::Version => &["device_version"],
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

/// A header's normal form: lowercase letters and digits, everything else dropped.
pub(crate) fn normalize(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// What one column of a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    Field(Column),
    Attribute(usize),
    Ignored,
}

/// The columns of one file, mapped to what they hold.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) names: Vec<String>,
    pub(crate) slots: Vec<Slot>,
    /// For each column, by discriminant, its index in the file.
    fixed: [Option<usize>; Column::ALL.len()],
    /// For each schema attribute, its index in the file.
    pub(crate) attributes: Vec<Option<usize>>,
}

/// How header names find their columns: the template's names, then schema attribute
/// identifiers, then aliases, each compared in normal form.
struct Lookup<'a> {
    defs: &'a [dps_core::attribute::AttributeDef],
    canonical: HashMap<String, Slot>,
    aliases: HashMap<String, Slot>,
    by_attribute: HashMap<String, Slot>,
}

impl<'a> Lookup<'a> {
    fn new(schema: &'a AttributeSchema) -> Self {
        let defs = schema.attributes();
        let mut canonical = HashMap::new();
        let mut aliases = HashMap::new();
        for c in Column::ALL {
            canonical.insert(normalize(c.header()), Slot::Field(c));
            for a in c.aliases() {
                aliases.insert(normalize(a), Slot::Field(c));
            }
        }
        let mut by_attribute = HashMap::new();
        for (i, d) in defs.iter().enumerate() {
            by_attribute
                .entry(normalize(d.id.as_str()))
                .or_insert(Slot::Attribute(i));
        }
        Self {
            defs,
            canonical,
            aliases,
            by_attribute,
        }
    }

    /// What the column headed `name`, at `index` (from 0), holds.
    fn slot(&self, name: &str, index: usize) -> Result<Slot, CsvError> {
        if name.is_empty() {
            return Ok(Slot::Ignored);
        }
        if let Some(i) = self.defs.iter().position(|d| d.id.as_str() == name) {
            return Ok(Slot::Attribute(i));
        }
        let n = normalize(name);
        self.canonical
            .get(&n)
            .or_else(|| self.by_attribute.get(&n))
            .or_else(|| self.aliases.get(&n))
            .copied()
            .ok_or_else(|| CsvError::UnknownColumn {
                column: name.to_owned(),
                index: index + 1,
            })
    }
}

impl Header {
    /// Maps headers (already decoded and trimmed) to columns of `schema`.
    pub(crate) fn new(names: Vec<String>, schema: &AttributeSchema) -> Result<Self, CsvError> {
        let lookup = Lookup::new(schema);
        let mut slots = Vec::with_capacity(names.len());
        let mut seen: HashMap<Slot, usize> = HashMap::new();
        let mut fixed = [None; Column::ALL.len()];
        let mut attributes = vec![None; lookup.defs.len()];
        for (index, name) in names.iter().enumerate() {
            let slot = lookup.slot(name, index)?;
            if slot != Slot::Ignored
                && let Some(first) = seen.insert(slot, index)
            {
                return Err(CsvError::DuplicateColumn {
                    column: name.clone(),
                    first: first + 1,
                    second: index + 1,
                });
            }
            match slot {
                Slot::Field(c) => {
                    if let Some(f) = fixed.get_mut(c as usize) {
                        *f = Some(index);
                    }
                }
                Slot::Attribute(i) => attributes[i] = Some(index),
                Slot::Ignored => {}
            }
            slots.push(slot);
        }
        let header = Self {
            names,
            slots,
            fixed,
            attributes,
        };
        header.check_required(schema)?;
        Ok(header)
    }

    /// Refuses a header without the serial or the model, with only one of environment and OU,
    /// or without a required attribute that has no default.
    fn check_required(&self, schema: &AttributeSchema) -> Result<(), CsvError> {
        let missing = |c: Column| CsvError::MissingColumn {
            column: c.header().to_owned(),
        };
        for c in [Column::Serial, Column::ModelId] {
            if self.index_of(c).is_none() {
                return Err(missing(c));
            }
        }
        match (
            self.index_of(Column::Environment),
            self.index_of(Column::Ou),
        ) {
            (Some(_), None) => return Err(missing(Column::Ou)),
            (None, Some(_)) => return Err(missing(Column::Environment)),
            (Some(_), Some(_)) | (None, None) => {}
        }
        for (d, index) in schema.attributes().iter().zip(&self.attributes) {
            if d.required && d.default.is_none() && index.is_none() {
                return Err(CsvError::MissingColumn {
                    column: d.id.to_string(),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn index_of(&self, c: Column) -> Option<usize> {
        self.fixed.get(c as usize).copied().flatten()
    }

    /// The header of a column as written in the file, else the template's name.
    pub(crate) fn name_of(&self, c: Column) -> String {
        self.index_of(c)
            .and_then(|i| self.names.get(i))
            .cloned()
            .unwrap_or_else(|| c.header().to_owned())
    }

    /// The header of attribute `i` as written in the file, else its identifier.
    pub(crate) fn attribute_name(&self, schema: &AttributeSchema, i: usize) -> String {
        match self.attributes.get(i).copied().flatten() {
            Some(index) => self.names[index].clone(),
            None => schema
                .attributes()
                .get(i)
                .map(|d| d.id.to_string())
                .unwrap_or_default(),
        }
    }

    /// Which editable fields the file carries.
    pub(crate) fn fields(&self, schema: &AttributeSchema) -> ImportFields {
        ImportFields {
            name: self.index_of(Column::DeviceName).is_some(),
            timezone: self.index_of(Column::Timezone).is_some(),
            batch_tag: self.index_of(Column::BatchTag).is_some(),
            description: self.index_of(Column::Description).is_some(),
            target: self.index_of(Column::Environment).is_some(),
            attributes: schema
                .attributes()
                .iter()
                .zip(&self.attributes)
                .filter(|(_, i)| i.is_some())
                .map(|(d, _)| d.id.clone())
                .collect(),
        }
    }
}
