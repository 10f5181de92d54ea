//! The template and the export.

use std::io::Write;

use dps_core::{
    Device, DeviceQuery, Environment, GroupId, Provisioner, RegistrationGroup, Selection,
    SerialNumber, Store, attribute::AttributeSchema, bootstrap::DeviceBootstrapKey,
};

use crate::columns::Column;
use crate::error::ExportError;
use crate::write::{CellWriter, Delimiter};

/// How files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// Add a `Device Secret` column after `Device Key`. Off by default: secrets leave the
    /// service only when the caller asks for them.
    pub include_secrets: bool,
    /// Add a `Device Bootstrap Key` column (after `Device Key` and `Device Secret`): each
    /// device's key derived from the group's current secret, for a factory to flash into the
    /// unit. Off by default. The keys change when the group secret is rotated.
    pub include_bootstrap_keys: bool,
    /// Start the file with a UTF-8 byte order mark, which some spreadsheets need to read
    /// non-ASCII text. Off by default.
    pub bom: bool,
    /// The field delimiter. Default: `,`.
    pub delimiter: Delimiter,
    /// How many devices the export reads per store query. Default: 1000.
    pub page_size: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            include_secrets: false,
            include_bootstrap_keys: false,
            bom: false,
            delimiter: Delimiter::Comma,
            page_size: 1000,
        }
    }
}

impl ExportOptions {
    /// These options with the `Device Secret` column.
    #[must_use]
    pub fn with_secrets(mut self) -> Self {
        self.include_secrets = true;
        self
    }

    /// These options with the `Device Bootstrap Key` column.
    #[must_use]
    pub fn with_bootstrap_keys(mut self) -> Self {
        self.include_bootstrap_keys = true;
        self
    }

    /// These options with a byte order mark.
    #[must_use]
    pub fn with_bom(mut self) -> Self {
        self.bom = true;
        self
    }

    /// These options with another delimiter.
    #[must_use]
    pub fn with_delimiter(mut self, delimiter: Delimiter) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// These options with another page size (at least 1).
    #[must_use]
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }
}

/// Writes the import template of a group: the template columns of DESIGN §7 and one column per
/// schema attribute, header row only.
///
/// ```
/// use dps_core::{attribute::AttributeDef, attribute::AttributeSchema, attribute::AttributeType};
/// use dps_csv::{ExportOptions, write_template};
///
/// let schema = AttributeSchema::new(vec![AttributeDef::new("floor".parse()?, AttributeType::Integer)])?;
/// let out = write_template(&schema, Vec::new(), &ExportOptions::default())?;
/// assert_eq!(
///     String::from_utf8(out)?,
///     "Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,Description,Environment,OU,floor\r\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Write errors.
pub fn write_template<W: Write>(
    schema: &AttributeSchema,
    writer: W,
    options: &ExportOptions,
) -> std::io::Result<W> {
    let mut w = CellWriter::new(writer, options.delimiter, options.bom)?;
    for c in Column::TEMPLATE {
        w.raw(c.header())?;
    }
    for d in schema.attributes() {
        w.raw(d.id.as_str())?;
    }
    w.end_record()?;
    w.finish()
}

/// The export columns for a schema, in order.
pub fn export_columns(schema: &AttributeSchema, options: &ExportOptions) -> Vec<String> {
    let mut out: Vec<String> = Column::TEMPLATE
        .iter()
        .map(|c| c.header().to_owned())
        .collect();
    out.extend(schema.attributes().iter().map(|d| d.id.to_string()));
    for c in Column::READ_ONLY {
        out.push(c.header().to_owned());
        if c == Column::DeviceKey && options.include_secrets {
            out.push(Column::DeviceSecret.header().to_owned());
        }
        if c == Column::DeviceKey && options.include_bootstrap_keys {
            out.push(Column::DeviceBootstrapKey.header().to_owned());
        }
    }
    out
}

/// Writes devices as the export of DESIGN §7, one row per device, streaming: nothing but the
/// current row is held.
///
/// ```
/// use dps_core::attribute::AttributeSchema;
/// use dps_csv::{DeviceWriter, ExportOptions};
///
/// let w = DeviceWriter::new(Vec::new(), &AttributeSchema::default(), &ExportOptions::default())?;
/// let out = String::from_utf8(w.finish()?)?;
/// assert!(out.starts_with("Device Serial No.,Device Name,Model ID,"));
/// assert!(out.ends_with(",Created At,Updated At,Version\r\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DeviceWriter<W: Write> {
    out: CellWriter<W>,
    schema: AttributeSchema,
    include_secrets: bool,
    bootstrap_group: Option<RegistrationGroup>,
    rows: u64,
}

impl<W: Write> DeviceWriter<W> {
    /// A writer for devices of a group with `schema`; writes the header row.
    ///
    /// # Errors
    ///
    /// Write errors; [`std::io::ErrorKind::InvalidInput`] when the options ask for bootstrap
    /// keys, which need the group ([`DeviceWriter::for_group`]).
    pub fn new(
        writer: W,
        schema: &AttributeSchema,
        options: &ExportOptions,
    ) -> std::io::Result<Self> {
        if options.include_bootstrap_keys {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bootstrap keys need the group: use DeviceWriter::for_group",
            ));
        }
        Self::start(writer, schema, None, options)
    }

    /// A writer for devices of `group`; writes the header row. Unlike [`DeviceWriter::new`]
    /// it can write the `Device Bootstrap Key` column.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn for_group(
        writer: W,
        group: &RegistrationGroup,
        options: &ExportOptions,
    ) -> std::io::Result<Self> {
        let keys = options.include_bootstrap_keys.then(|| group.clone());
        Self::start(writer, group.attributes(), keys, options)
    }

    fn start(
        writer: W,
        schema: &AttributeSchema,
        bootstrap_group: Option<RegistrationGroup>,
        options: &ExportOptions,
    ) -> std::io::Result<Self> {
        let mut out = CellWriter::new(writer, options.delimiter, options.bom)?;
        for name in export_columns(schema, options) {
            out.raw(&name)?;
        }
        out.end_record()?;
        Ok(Self {
            out,
            schema: schema.clone(),
            include_secrets: options.include_secrets,
            bootstrap_group,
            rows: 0,
        })
    }

    /// Writes one device.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn write(&mut self, device: &Device) -> std::io::Result<()> {
        let w = &mut self.out;
        w.value(device.serial().as_str())?;
        w.opt(device.name().map(|n| n.as_str()))?;
        w.value(device.model_id().as_str())?;
        match device.timezone() {
            Some(tz) => w.value(&tz.to_string())?,
            None => w.absent()?,
        }
        w.opt(device.batch_tag().map(|t| t.as_str()))?;
        w.opt(device.description().map(|d| d.as_str()))?;
        w.opt(device.target().map(|t| t.environment.as_str()))?;
        w.opt(device.target().map(|t| t.ou.as_str()))?;
        let mut text = String::new();
        for def in self.schema.attributes() {
            match device.attributes().get(&def.id) {
                Some(v) => {
                    text.clear();
                    std::fmt::Write::write_fmt(&mut text, format_args!("{v}"))
                        .map_err(std::io::Error::other)?;
                    w.value(&text)?;
                }
                None => w.absent()?,
            }
        }
        let allocated = device.state().allocated();
        w.value(device.status().as_str())?;
        w.opt(allocated.map(|a| a.target().environment.as_str()))?;
        w.opt(allocated.map(|a| a.target().ou.as_str()))?;
        w.opt(allocated.map(|a| a.asset_id().as_str()))?;
        w.opt(allocated.map(|a| a.credentials().product_key.as_str()))?;
        w.opt(allocated.map(|a| a.credentials().device_key.as_str()))?;
        if self.include_secrets {
            w.opt(allocated.map(|a| a.credentials().device_secret.expose()))?;
        }
        if let Some(group) = &self.bootstrap_group {
            let key = DeviceBootstrapKey::for_device(group, device.serial());
            w.value(&key.expose_base64())?;
        }
        match device.last_error() {
            Some(e) => w.value(&format!("{}: {}", e.code, e.message))?,
            None => w.absent()?,
        }
        w.value(&device.created_at().to_string())?;
        w.value(&device.updated_at().to_string())?;
        w.value(&device.version().to_string())?;
        w.end_record()?;
        self.rows += 1;
        Ok(())
    }

    /// How many devices were written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the underlying writer.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn finish(self) -> std::io::Result<W> {
        self.out.finish()
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// How many devices were written.
    pub rows: u64,
    /// Serials of a [`Selection::Serials`] that are not in the group, in selection order. A
    /// serial selected twice is written once.
    pub not_found: Vec<SerialNumber>,
}

/// Exports the selected devices of a group to `writer`, page by page (keyset paging by serial
/// for a filter, in selection order for explicit serials), so that a selection of any size
/// streams through a page of memory. Returns the writer with what was written.
///
/// # Errors
///
/// [`ExportError::Core`] when the group does not exist or the store fails,
/// [`ExportError::Io`] when writing fails.
pub async fn export<S, E, W>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    selection: &Selection,
    writer: W,
    options: &ExportOptions,
) -> Result<(W, ExportSummary), ExportError>
where
    S: Store,
    E: Environment,
    W: Write,
{
    let group = dps.group(group).await?;
    let mut out = DeviceWriter::for_group(writer, &group, options)?;
    let page = options.page_size.max(1);
    let mut not_found = Vec::new();
    match selection {
        Selection::Serials(serials) => {
            let mut written: std::collections::HashSet<&SerialNumber> =
                std::collections::HashSet::new();
            for chunk in serials.chunks(page) {
                let found = dps.store().devices_by_serials(group.id(), chunk).await;
                let mut found: std::collections::HashMap<SerialNumber, Device> = found
                    .map_err(dps_core::Error::from)?
                    .into_iter()
                    .map(|d| (d.serial().clone(), d))
                    .collect();
                for s in chunk {
                    if !written.insert(s) {
                        continue;
                    }
                    match found.remove(s) {
                        Some(d) => out.write(&d)?,
                        None => not_found.push(s.clone()),
                    }
                }
            }
        }
        Selection::Filter(filter) => {
            let query = DeviceQuery::new(group.id(), filter.clone());
            let mut after = None;
            loop {
                let page = dps.devices(&query, after.take(), page).await?;
                for d in &page.items {
                    out.write(d)?;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    let rows = out.rows();
    Ok((out.finish()?, ExportSummary { rows, not_found }))
}
