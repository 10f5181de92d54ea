//! The template and the export.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use dps_core::seal::Sealer;
use dps_core::{
    Device, DeviceQuery, Environment, GroupId, Provisioner, RegistrationGroup, Selection,
    SerialNumber, Store, attribute::AttributeSchema,
};

use crate::columns::Column;
use crate::error::ExportError;
use crate::write::{CellWriter, Delimiter};
pub(crate) use device_row::write_device;
pub(crate) use secrets::RowSecrets;

mod device_row;
mod secrets;

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
    /// Start the file with a UTF-8 byte order mark, which spreadsheets need to read the file
    /// as UTF-8 (without it, Excel and LibreOffice Calc read `Küche` as `KÃ¼che`). On by
    /// default, for the export and the template alike; [`ExportOptions::without_bom`] leaves
    /// it out for programs that do not expect one. An import accepts files with and without.
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
            bom: true,
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

    /// These options with a byte order mark (the default).
    #[must_use]
    pub fn with_bom(mut self) -> Self {
        self.bom = true;
        self
    }

    /// These options without a byte order mark.
    #[must_use]
    pub fn without_bom(mut self) -> Self {
        self.bom = false;
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

/// Writes the import template of a group: the template columns ([`Column::TEMPLATE`]) and one
/// column per schema attribute, header row only.
///
/// ```
/// use dps::attribute::{AttributeDef, AttributeSchema, AttributeType};
/// use dps::csv::{ExportOptions, write_template};
///
/// let schema = AttributeSchema::new(vec![AttributeDef::new("floor".parse()?, AttributeType::Integer)])?;
/// let out = write_template(&schema, Vec::new(), &ExportOptions::default())?;
/// assert_eq!(
///     String::from_utf8(out)?,
///     "\u{feff}Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,Description,Environment,OU,floor\r\n"
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

/// Writes devices with the export columns ([`export_columns`]), one row per device,
/// streaming: nothing but the current row is held. Cells are guarded against formula
/// execution as [`export`] says.
///
/// ```
/// use dps::attribute::AttributeSchema;
/// use dps::csv::{DeviceWriter, ExportOptions};
///
/// let w = DeviceWriter::new(Vec::new(), &AttributeSchema::default(), &ExportOptions::default())?;
/// let out = String::from_utf8(w.finish()?)?;
/// assert!(out.starts_with("\u{feff}Device Serial No.,Device Name,Model ID,"));
/// assert!(out.ends_with(",Created At,Updated At,Version\r\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DeviceWriter<W: Write> {
    out: CellWriter<W>,
    schema: AttributeSchema,
    secrets: RowSecrets,
    rows: u64,
}

impl<W: Write> DeviceWriter<W> {
    /// A writer for devices of a group with `schema`; writes the header row.
    ///
    /// # Errors
    ///
    /// Write errors; [`std::io::ErrorKind::InvalidInput`] when the options ask for device
    /// secrets or bootstrap keys, which need the group and the keys that open its secrets
    /// ([`DeviceWriter::for_group`]).
    pub fn new(
        writer: W,
        schema: &AttributeSchema,
        options: &ExportOptions,
    ) -> Result<Self, ExportError> {
        no_secrets(
            options,
            "secrets need the group and its keys: use DeviceWriter::for_group",
        )?;
        Self::start(writer, schema, RowSecrets::none(), options, 64 * 1024, true)
    }

    /// A writer that continues a file that [`DeviceWriter::new`] started with the same
    /// schema and options: it writes neither the byte order mark nor the header row, so that
    /// a file can be written in parts (as a job writes one a page) and read as one.
    ///
    /// ```
    /// use dps::attribute::AttributeSchema;
    /// use dps::csv::{DeviceWriter, ExportOptions};
    ///
    /// let schema = AttributeSchema::default();
    /// let options = ExportOptions::default();
    /// let rest = DeviceWriter::continuing(Vec::new(), &schema, &options)?;
    /// assert!(rest.finish()?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`DeviceWriter::new`].
    pub fn continuing(
        writer: W,
        schema: &AttributeSchema,
        options: &ExportOptions,
    ) -> Result<Self, ExportError> {
        no_secrets(options, "a file written in parts holds no secrets")?;
        Self::start(writer, schema, RowSecrets::none(), options, 0, false)
    }

    /// A writer for devices of `group`; writes the header row. Unlike [`DeviceWriter::new`]
    /// it can write the `Device Secret` and `Device Bootstrap Key` columns, opening the
    /// secrets with `sealer` (a provisioner's [`sealer`](Provisioner::sealer)).
    ///
    /// # Errors
    ///
    /// Write errors; [`ExportError::Core`] with
    /// [`Error::KeyUnavailable`](dps_core::Error::KeyUnavailable) when the options ask for
    /// bootstrap keys and the group's secret does not open.
    pub fn for_group(
        writer: W,
        group: &RegistrationGroup,
        sealer: &Sealer,
        options: &ExportOptions,
    ) -> Result<Self, ExportError> {
        let secrets = RowSecrets::new(group, sealer, options)?;
        Self::start(
            writer,
            group.attributes(),
            secrets,
            options,
            64 * 1024,
            true,
        )
    }

    /// A writer that buffers up to `capacity` bytes (0 when `writer` is a buffer already);
    /// writes the byte order mark (if the options ask for it) and the header row when
    /// `header`.
    fn start(
        writer: W,
        schema: &AttributeSchema,
        secrets: RowSecrets,
        options: &ExportOptions,
        capacity: usize,
        header: bool,
    ) -> Result<Self, ExportError> {
        let bom = options.bom && header;
        let mut out = CellWriter::with_buffer(writer, options.delimiter, bom, capacity)?;
        if header {
            for name in export_columns(schema, options) {
                out.raw(&name)?;
            }
            out.end_record()?;
        }
        Ok(Self {
            out,
            schema: schema.clone(),
            secrets,
            rows: 0,
        })
    }

    /// Writes one device.
    ///
    /// # Errors
    ///
    /// Write errors; [`ExportError::Core`] with
    /// [`Error::KeyUnavailable`](dps_core::Error::KeyUnavailable) when its secret is asked
    /// for and does not open.
    pub fn write(&mut self, device: &Device) -> Result<(), ExportError> {
        write_device(&mut self.out, device, &self.schema, &self.secrets)?;
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
/// `writer` is a blocking [`Write`]: use this form for a file or a buffer. To stream the
/// export into an HTTP response in an async service, use [`export_async`], which writes to an
/// [`AsyncWrite`] without blocking the runtime; or run this form on a blocking thread
/// (`tokio::task::spawn_blocking` with a runtime handle's `block_on` inside).
///
/// Cells that a spreadsheet would run as a formula, those starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return, are written with a `'` in front ([`formula::guard`](crate::formula::guard)).
/// That includes a `Device Bootstrap Key` that starts with `+` (base64 does), or a negative
/// timezone. [`import`](crate::import) strips the guard again; any other program that reads
/// the export, such as a factory's flashing tool, must strip it too, with
/// [`formula::unguard`](crate::formula::unguard) (`dps::csv::formula::unguard`), before it
/// uses a value.
///
/// ```
/// use std::sync::Arc;
/// use dps::csv::{ExportOptions, export, formula};
/// use dps::memory::InMemoryStore;
/// use dps::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(dps::inject::OsSecrets));
/// let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
/// let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
/// let mut device = NewDevice::new("SN-0001".parse()?, "thermostat".parse()?);
/// device.timezone = Some("-05:00".parse()?);
/// dps.register(group.id(), device).await?;
///
/// let (csv, summary) = export(&dps, group.id(), &Selection::all(), Vec::new(), &ExportOptions::default()).await?;
/// assert_eq!(summary.rows, 1);
/// let text = String::from_utf8(csv)?;
/// let row = text.lines().nth(1).unwrap_or_default();
/// assert!(row.starts_with("SN-0001,,thermostat,'-05:00,"));
/// assert_eq!(formula::unguard("'-05:00"), "-05:00");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`ExportError::Core`] when the group does not exist (`not_found`) or the store fails,
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
    let mut out = DeviceWriter::for_group(writer, &group, dps.sealer(), options)?;
    let not_found = write_selection(dps, group.id(), selection, options, &mut out).await?;
    let rows = out.rows();
    Ok((out.finish()?, ExportSummary { rows, not_found }))
}

/// How many bytes of rows [`export_async`] holds at most before it writes them on.
const FLUSH_AT: usize = 64 * 1024;

/// Exports the selected devices of a group to an async writer, like [`export`]: the same
/// pages, rows and bytes, with the same [formula guard](crate::formula).
///
/// Rows are written into a buffer that goes on to `writer` once it holds 64 KiB and after
/// every page of devices, so that the task never blocks on the writer and memory stays
/// bounded: one page of devices ([`ExportOptions::page_size`]) and at most 64 KiB of rows plus
/// one row. `writer` is flushed at the end but not shut down; shut it down (or drop it) to end
/// the stream. This is the form for an HTTP response: write to one end of a
/// [`tokio::io::duplex`] (or a `tokio_util::io::SinkWriter`) and stream the other end as the
/// body.
///
/// ```
/// use std::sync::Arc;
/// use dps::csv::{ExportOptions, export_async};
/// use dps::memory::InMemoryStore;
/// use dps::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(dps::inject::OsSecrets));
/// let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
/// let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
/// dps.register(group.id(), NewDevice::new("SN-0001".parse()?, "thermostat".parse()?)).await?;
///
/// // Any `AsyncWrite`; here a vector, which is one.
/// let (csv, summary) =
///     export_async(&dps, group.id(), &Selection::all(), Vec::new(), &ExportOptions::default()).await?;
/// assert_eq!(summary.rows, 1);
/// assert!(csv.starts_with("\u{feff}Device Serial No.,".as_bytes()));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`export`]; a failed write to `writer` is [`ExportError::Io`].
pub async fn export_async<S, E, W>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    selection: &Selection,
    writer: W,
    options: &ExportOptions,
) -> Result<(W, ExportSummary), ExportError>
where
    S: Store,
    E: Environment,
    W: AsyncWrite + Unpin + Send,
{
    let group = dps.group(group).await?;
    let out = DeviceWriter::start(
        Vec::new(),
        group.attributes(),
        RowSecrets::new(&group, dps.sealer(), options)?,
        options,
        0,
        true,
    )?;
    let mut sink = AsyncSink { out, writer };
    let not_found = write_selection(dps, group.id(), selection, options, &mut sink).await?;
    sink.drain().await?;
    let rows = sink.out.rows();
    let mut writer = sink.writer;
    writer.flush().await?;
    Ok((writer, ExportSummary { rows, not_found }))
}

/// Where an export's devices go: a [`DeviceWriter`], or a buffer that goes on to an async
/// writer.
pub(crate) trait DeviceSink {
    /// Writes one device.
    async fn device(&mut self, device: &Device) -> Result<(), ExportError>;

    /// A page of devices is written.
    async fn page_done(&mut self) -> Result<(), ExportError>;
}

impl<W: Write> DeviceSink for DeviceWriter<W> {
    async fn device(&mut self, device: &Device) -> Result<(), ExportError> {
        self.write(device)
    }

    async fn page_done(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

/// The rows of [`export_async`], buffered and written on to `writer`.
struct AsyncSink<W> {
    out: DeviceWriter<Vec<u8>>,
    writer: W,
}

impl<W: AsyncWrite + Unpin> AsyncSink<W> {
    /// Writes the buffered rows on to the writer.
    async fn drain(&mut self) -> Result<(), ExportError> {
        let buffer = self.out.out.flushed()?;
        if !buffer.is_empty() {
            self.writer.write_all(buffer).await?;
            buffer.clear();
        }
        Ok(())
    }
}

impl<W: AsyncWrite + Unpin> DeviceSink for AsyncSink<W> {
    async fn device(&mut self, device: &Device) -> Result<(), ExportError> {
        self.out.write(device)?;
        if self.out.out.flushed()?.len() >= FLUSH_AT {
            self.drain().await?;
        }
        Ok(())
    }

    async fn page_done(&mut self) -> Result<(), ExportError> {
        self.drain().await
    }
}

/// Writes the selected devices of `group` to `sink`, a page at a time; returns the selected
/// serials that are not in the group.
pub(crate) async fn write_selection<S, E, K>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    selection: &Selection,
    options: &ExportOptions,
    sink: &mut K,
) -> Result<Vec<SerialNumber>, ExportError>
where
    S: Store,
    E: Environment,
    K: DeviceSink,
{
    let page = options.page_size.max(1);
    let mut not_found = Vec::new();
    match selection {
        Selection::Serials(serials) => {
            let mut written: HashSet<&SerialNumber> = HashSet::new();
            for chunk in serials.chunks(page) {
                let found = dps.store().devices_by_serials(group, chunk).await;
                let mut found: HashMap<SerialNumber, Device> = found
                    .map_err(dps_core::Error::from)?
                    .into_iter()
                    .map(|d| (d.serial().clone(), d))
                    .collect();
                for s in chunk {
                    if !written.insert(s) {
                        continue;
                    }
                    match found.remove(s) {
                        Some(d) => sink.device(&d).await?,
                        None => not_found.push(s.clone()),
                    }
                }
                sink.page_done().await?;
            }
        }
        Selection::Filter(filter) => {
            let query = DeviceQuery::new(group, filter.clone());
            let mut after = None;
            loop {
                let page = dps.devices(&query, after.take(), page).await?;
                for d in &page.items {
                    sink.device(d).await?;
                }
                sink.page_done().await?;
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    Ok(not_found)
}

/// Refuses options that ask for secrets or bootstrap keys, saying `why`.
fn no_secrets(options: &ExportOptions, why: &'static str) -> Result<(), ExportError> {
    if options.include_bootstrap_keys || options.include_secrets {
        return Err(ExportError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            why,
        )));
    }
    Ok(())
}
