//! XLSX export and import (cargo feature `xlsx`): the same columns, limits, checks, modes and
//! reports as the CSV ones, in a workbook that a spreadsheet opens and saves without changing
//! a value.
//!
//! - [`export`] writes the export columns ([`export_columns`]) to the
//!   sheet `Devices`, one row per device, streaming: rows go to a temporary file as they are
//!   written, so memory stays flat however many devices are exported.
//! - [`write_template`] writes the import template as a workbook.
//! - [`import`] and [`import_with`] read the first sheet of a workbook and run its rows
//!   through the same reader and planner as a CSV import ([`crate::import`]): create,
//!   upsert or update ([`ImportOptions`]), dry run, best effort or all-or-nothing.
//!
//! **Every cell is text.** The export writes each value as a string cell, in columns
//! formatted as text (`@`), so that a spreadsheet reinterprets nothing: `000123` stays
//! `000123`, `1E5` stays `1E5`, `2024-01-02` stays a text. A string cell is never run as a
//! formula, so values are written as they are, without the CSV export's
//! [formula guard](crate::formula): `=1+2` is the cell's text, and imports as `=1+2`. An
//! empty text is written as an empty cell and imports as an absent value.
//!
//! **The sheet.** The header row is bold and frozen; the read-only columns have a grey header
//! with a note saying that an import ignores them (`Version`: that an update or upsert checks
//! it). An import reads the first sheet; its first row with a value is the header. Cells are
//! taken as they are (not trimmed); a cell that the spreadsheet holds as a number is read as
//! its shortest decimal form, a boolean as `true` or `false`, a date as its serial number:
//! format such columns as text before typing into them.
//!
//! **Row numbers.** A [`RowError`](crate::RowError)'s `line` is the sheet's row number, as
//! the spreadsheet shows it: row 1 is the header, row 2 the first record.
//!
//! **Limits.** The file is read into memory up to [`Limits::max_bytes`](crate::Limits) (a
//! larger file is [`CsvError::LimitExceeded`](crate::CsvError::LimitExceeded)); the record
//! and field limits apply as to a CSV file. Before the workbook is parsed, the sizes that the
//! archive declares for its entries must add up to at most 16 times `max_bytes` (32 MiB for
//! the console's limits), and each entry is inflated, into nothing, to check that it holds no
//! more than it declared: a zip bomb or a huge shared-strings table is refused with
//! [`XlsxError::TooLarge`] before it takes memory. A cell past column
//! [`MAX_COLUMNS`] or past row 1 048 576 is refused the same way. A file
//! that is not a workbook (a CSV file named `.xlsx`, a truncated archive, a workbook without
//! a sheet) is [`XlsxError`] with the code `xlsx_invalid`.
//!
//! ```
//! use std::io::Cursor;
//! use std::sync::Arc;
//! use dps::csv::{ExportOptions, ImportOptions, xlsx};
//! use dps::memory::InMemoryStore;
//! use dps::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(dps::inject::OsSecrets));
//! let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
//! let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
//! dps.register(group.id(), NewDevice::new("000123".parse()?, "1E5".parse()?)).await?;
//!
//! let (book, summary) =
//!     xlsx::export(&dps, group.id(), &Selection::all(), Vec::new(), &ExportOptions::default()).await?;
//! assert_eq!(summary.rows, 1);
//! assert!(xlsx::is_xlsx(&book));
//!
//! // The workbook imports again as it is; in update mode it can never create a device.
//! let options = ImportOptions::default().update();
//! let report = xlsx::import(&dps, group.id(), Cursor::new(book), &options).await?;
//! assert_eq!(report.summary.unchanged, 1);
//! # Ok(())
//! # }
//! ```

use std::io::{Read, Write};

use dps_core::{
    Device, Environment, GroupId, Provisioner, Selection, Store, attribute::AttributeSchema,
};

use crate::error::{ExportError, ImportError};
use crate::export::{
    DeviceSink, ExportOptions, ExportSummary, RowSecrets, export_columns, write_device,
};
use crate::import::{ImportOptions, ImportReport, ImportSummary, RowOutcome};
use crate::read::RecordReader;
use crate::rows::{DeviceReader, MAX_COLUMNS};

mod error;
mod read;
mod write;

pub use error::XlsxError;
use write::SheetWriter;

/// Whether `head`, the first bytes of a file, start like an XLSX workbook (a ZIP archive).
///
/// ```
/// assert!(dps::csv::xlsx::is_xlsx(b"PK\x03\x04\x14\x00"));
/// assert!(!dps::csv::xlsx::is_xlsx(b"Device Serial No.,Model ID\n"));
/// ```
pub fn is_xlsx(head: &[u8]) -> bool {
    head.starts_with(&read::ZIP_MAGIC)
}

/// Writes the import template of a group as a workbook: the header row of
/// [`write_template`](crate::write_template), styled, over columns formatted as text.
///
/// # Errors
///
/// Write errors.
pub fn write_template<W: Write + Send>(schema: &AttributeSchema, writer: W) -> std::io::Result<W> {
    let mut columns: Vec<String> = crate::Column::TEMPLATE
        .iter()
        .map(|c| c.header().to_owned())
        .collect();
    columns.extend(schema.attributes().iter().map(|d| d.id.to_string()));
    SheetWriter::new(&columns)?.finish(writer)
}

/// The devices of an XLSX export, written into a sheet.
struct SheetSink {
    out: SheetWriter,
    schema: AttributeSchema,
    secrets: RowSecrets,
    rows: u64,
}

impl DeviceSink for SheetSink {
    async fn device(&mut self, device: &Device) -> Result<(), ExportError> {
        write_device(&mut self.out, device, &self.schema, &self.secrets)?;
        self.rows += 1;
        Ok(())
    }

    async fn page_done(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Exports the selected devices of a group as a workbook to `writer`, page by page like
/// [`export`](crate::export): the same columns and rows, every cell a string (see
/// [the module docs](self)). `options.bom` and `options.delimiter` do not apply. Rows are
/// kept in a temporary file until the workbook is written to `writer` at the end.
///
/// # Errors
///
/// [`ExportError::Core`] when the group does not exist (`not_found`) or the store fails,
/// [`ExportError::Io`] when writing fails (the temporary file, `writer`, or more rows than a
/// sheet holds).
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
    W: Write + Send,
{
    let group = dps.group(group).await?;
    let mut sink = SheetSink {
        out: SheetWriter::new(&export_columns(group.attributes(), options))?,
        schema: group.attributes().clone(),
        secrets: RowSecrets::new(&group, dps.sealer(), options)?,
        rows: 0,
    };
    let not_found =
        crate::export::write_selection(dps, group.id(), selection, options, &mut sink).await?;
    let rows = sink.rows;
    let writer = sink.out.finish(writer)?;
    Ok((writer, ExportSummary { rows, not_found }))
}

/// Imports the first sheet of a workbook into a group, like [`import`](crate::import) does
/// a CSV file, and returns every row's outcome; `line` is the sheet's row number.
///
/// # Errors
///
/// As [`import`](crate::import), and [`ImportError::Xlsx`] when the file is not a readable
/// workbook or is too large once inflated; nothing was written then.
pub async fn import<S, E, R>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    reader: R,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError>
where
    S: Store,
    E: Environment,
    R: Read,
{
    let mut rows = Vec::new();
    let result = import_with(dps, group, reader, options, |o| rows.push(o)).await;
    crate::import::with_rows(result, rows)
}

/// Imports the first sheet of a workbook like [`import`], handing each row's outcome to
/// `on_row` in sheet order instead of keeping it; returns the counts.
///
/// # Errors
///
/// As [`import`].
pub async fn import_with<S, E, R, F>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    reader: R,
    options: &ImportOptions,
    on_row: F,
) -> Result<ImportSummary, ImportError>
where
    S: Store,
    E: Environment,
    R: Read,
    F: FnMut(RowOutcome),
{
    let group = dps.group(group).await?;
    let bytes = read::read_bounded(reader, &options.limits)?;
    let mut book = read::open(bytes, &options.limits)?;
    let name = read::first_sheet(&book)?;
    let cells = book
        .worksheet_cells_reader(&name)
        .map_err(XlsxError::invalid)?;
    // The sheet's text is made here, so only the file's own size counts against the limit.
    let limits = options.limits.with_max_bytes(u64::MAX);
    let mut records =
        RecordReader::new(read::SheetCsv::new(cells), limits, MAX_COLUMNS + 1).map_err(lift_csv)?;
    records.breaks_in_quotes = false;
    let header = records.read_record().map_err(lift_csv)?;
    let rows =
        DeviceReader::with_header(records, header, group.attributes(), limits).map_err(lift_csv)?;
    crate::import::run(dps, group, rows, options, on_row)
        .await
        .map_err(lift)
}

/// A CSV error of the sheet's text as an import error: the [`XlsxError`] a read of the
/// sheet failed with, or the CSV error itself.
fn lift_csv(e: crate::CsvError) -> ImportError {
    match read::sheet_error(e) {
        Ok(x) => ImportError::Xlsx(x),
        Err(e) => ImportError::File(e),
    }
}

/// An import error with the [`XlsxError`] a read of the sheet failed with brought out.
fn lift(e: ImportError) -> ImportError {
    match e {
        ImportError::File(e) => lift_csv(e),
        ImportError::Interrupted { cause, report } => ImportError::Interrupted {
            cause: Box::new(lift(*cause)),
            report,
        },
        other => other,
    }
}
