//! The CSV codec of **dps**: the import template, streaming import with per-row errors, the
//! error report and the export. Reach it through the facade as `dps::csv` (feature `csv` of
//! the `dps` crate).
//!
//! - [`write_template`] writes a group's template: the template columns and one column per
//!   schema attribute (see [The file format](#the-file-format)).
//! - [`DeviceReader`] reads a file from any [`std::io::Read`] as a stream and turns each row
//!   into a validated [`Row`] or a [`RowError`] (line, column, value, stable code, message).
//!   The [`Limits`] are enforced while reading, so memory never grows past them; crossing one
//!   stops at once with a [`CsvError`] that gives the position.
//! - [`import`] and [`import_with`] run a file through the
//!   [`Provisioner`](dps_core::Provisioner): create, upsert or update only
//!   ([`ImportOptions`]), dry run,
//!   best effort or all-or-nothing, committed in chunks of about 10 000 rows. Every row gets a
//!   [`RowOutcome`]: create, update, unchanged, or a [`RowError`]. [`import_async`] and
//!   [`import_with_async`] do the same from an async source.
//! - [`ErrorReportWriter`] writes the refused rows as a CSV a user opens next to their file.
//! - [`export`] streams a selection of any size with the export columns (the template's plus
//!   the read-only [`Column::READ_ONLY`]), and [`export_async`] streams it to an async writer;
//!   [`DeviceWriter`] writes devices you already hold. Device secrets are written only with
//!   [`ExportOptions::include_secrets`].
//! - The reports ([`ImportReport`], [`ImportSummary`], [`RowOutcome`], [`RowError`],
//!   [`Position`]) serialise with serde in the JSON shapes their docs show, and the errors
//!   ([`ImportError`], [`ExportError`], [`CsvError`]) implement
//!   [`DpsError`](dps_core::DpsError).
//!
//! | feature | what it adds |
//! |---|---|
//! | `xlsx` | the module `xlsx`: XLSX export, template and import, every cell text, hostile workbooks refused within the limits |
//!
//! An export and a template start with a UTF-8 byte order mark by default, so that
//! spreadsheets read them as UTF-8 ([`ExportOptions::without_bom`] leaves it out).
//!
//! # The file format
//!
//! **Columns.** The template and an import have these columns, in this order:
//! `Device Serial No.` (required), `Device Name`, `Model ID` (required), `Timezone`
//! (`±HH:MM`), `Batch Tag`, `Description`, `Environment`, `OU` (a device's own target, both or
//! neither), then one column per attribute of the group's schema, headed by the attribute's
//! identifier. An export writes the same columns and then the read-only ones:
//! `Allocation Status`, `Allocated Environment`, `Allocated OU`, `Asset ID`, `Product Key`,
//! `Device Key`, (`Device Secret` and `Device Bootstrap Key` when asked for),
//! `Last Allocation Error`, `Created At`, `Updated At`, `Version`. An export imports again as
//! it is: an import ignores the read-only columns, except that an upsert checks `Version`
//! against the stored device (optimistic concurrency).
//!
//! **Headers.** A header names its column case-insensitively with spaces and punctuation
//! ignored (`device serial no`, `DEVICE_SERIAL_NO` and `Device Serial No.` are one column),
//! or by an alias ([`Column::aliases`]: `serial_number`, `sn`, `model`, `tz`, …). Columns may
//! come in any order; a header that names no column and no attribute, or a column named
//! twice, refuses the file.
//!
//! **Bytes.** UTF-8, with or without a byte order mark (a UTF-16 file is refused with a hint
//! to save it as CSV UTF-8). The delimiter is `;` when the header line has more semicolons
//! than commas outside quotes, else `,`. Lines end with CRLF, LF or CR. Fields may be quoted,
//! with doubled quotes inside and line breaks. An unquoted cell is trimmed; an empty cell is
//! an absent value, and a quoted empty cell (`""`) is an empty text for a description or a
//! string attribute. Rows whose cells are all blank are skipped.
//!
//! **Limits.** [`Limits::default`] is the console's for untrusted uploads: at most 2 MiB,
//! 1000 records and 4 KiB per field; [`Limits::unbounded`] lifts the first two for bulk
//! jobs. A header has at most [`MAX_COLUMNS`] columns. A file over a limit stops at the
//! limit with [`CsvError::LimitExceeded`], at the same place however the source hands the
//! file out.
//!
//! **Formula guard.** A cell that a spreadsheet would run as a formula, one starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return, is written with a `'` in front; this
//! includes a negative timezone and a `Device Bootstrap Key` that starts with `+`. Import
//! strips the guard, so an export imports as it is; any other program reading an export,
//! such as a flashing tool, strips it with [`formula::unguard`]
//! (`dps::csv::formula::unguard`).
//!
//! **Codes.** Rows are checked exactly as [`Device::register`](dps_core::Device::register)
//! would check them; codes come from [`dps::Error::code`](dps_core::Error::code) where one applies. This crate
//! adds these row codes: `duplicate_in_file` (the message names the first line),
//! `version_conflict`, `wrong_field_count`, `invalid_utf8`, `invalid_version`,
//! `unterminated_quote`; and these whole-file codes ([`CsvError::code`]): `empty_file`,
//! `missing_column`, `unknown_column`, `duplicate_column`, `invalid_utf8`, `limit_exceeded`,
//! `io_error`; an update-mode import refuses an unknown serial as `unknown_serial`, and the
//! `xlsx` module adds `xlsx_invalid` and `xlsx_too_large`.
//!
//! # Blocking and async I/O
//!
//! | you have | use |
//! |---|---|
//! | a file, a byte slice, a `Vec<u8>`, a command-line tool | [`import`], [`import_with`], [`export`] with a [`std::io::Read`] or [`std::io::Write`] |
//! | an async service: an upload body, a response body | [`import_async`], [`import_with_async`], [`export_async`] with a [`tokio::io::AsyncRead`] or [`tokio::io::AsyncWrite`] |
//!
//! The sync forms are `async` only for the store; their reads and writes block the task. A
//! byte slice or a `Vec<u8>` never blocks, so they are fine in any task. For a blocking
//! source or writer in an async service, either use the async forms, which read a chunk of at
//! most 16 KiB at a time and write after every page or 64 KiB of rows, or run the sync form
//! on a blocking thread: `tokio::task::spawn_blocking(move || handle.block_on(dps::csv::import(…)))`
//! with a `tokio::runtime::Handle`. Do not wrap it in `tokio::task::block_in_place`, which
//! panics on a `current_thread` runtime.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use dps::attribute::{AttributeDef, AttributeSchema, AttributeType};
//! use dps::csv::{ExportOptions, ImportOptions, export, import, write_error_report};
//! use dps::inject::OsSecrets;
//! use dps::memory::InMemoryStore;
//! use dps::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(OsSecrets));
//! let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
//! let mut settings = NewGroup::new("Building 7".parse()?);
//! settings.attributes = AttributeSchema::new(vec![
//!     AttributeDef::new("floor".parse()?, AttributeType::Integer),
//! ])?;
//! let group = dps.create_group(settings).await?;
//!
//! // A spreadsheet's file: semicolons, a BOM, aliases, CRLF.
//! let file = "\u{feff}serial_number;model;Device Name;FLOOR\r\n\
//!             SN-0001;thermostat;Lobby;1\r\n\
//!             SN-0002;thermostat;\"Hall; west\";two\r\n";
//! let report = import(&dps, group.id(), file.as_bytes(), &ImportOptions::default()).await?;
//! assert_eq!(report.summary.created, 1);
//! let errors = write_error_report(Vec::new(), report.errors())?;
//! assert_eq!(
//!     String::from_utf8(errors)?,
//!     "Line,Column,Value,Code,Message\r\n\
//!      3,FLOOR,two,invalid_attribute,\"attribute \"\"floor\"\": \"\"two\"\" is not an integer\"\r\n"
//! );
//!
//! // Export and import the export again, as an upsert dry run: nothing to change.
//! let (csv, summary) = export(&dps, group.id(), &Selection::all(), Vec::new(), &ExportOptions::default()).await?;
//! assert_eq!(summary.rows, 1);
//! let again = import(&dps, group.id(), csv.as_slice(), &ImportOptions::default().upsert().dry_run()).await?;
//! assert_eq!(again.summary.unchanged, 1);
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod bytes;
mod columns;
mod error;
mod export;
mod feed;
pub mod formula;
mod import;
mod limits;
mod outcome;
mod read;
mod report;
mod results;
mod rows;
mod split;
mod write;
#[cfg(feature = "xlsx")]
#[cfg_attr(docsrs, doc(cfg(feature = "xlsx")))]
pub mod xlsx;

pub use columns::Column;
pub use dps_core::{import::ImportAction, import::ImportMode};
pub use error::{CsvError, ExportError, ImportError, MAX_VALUE_CHARS, Position, RowError};
pub use export::{
    DeviceWriter, ExportOptions, ExportSummary, export, export_async, export_columns,
    write_template,
};
pub use import::{
    ImportOptions, ImportReport, ImportSummary, RowOutcome, import, import_async, import_with,
    import_with_async,
};
pub use limits::{Limit, Limits};
pub use report::{ERROR_REPORT_HEADER, ErrorReportWriter, write_error_report};
pub use results::{JOB_RESULTS_HEADER, JobResultsWriter};
pub use rows::{DeviceReader, MAX_COLUMNS, Row};
pub use split::RecordSplitter;
pub use write::Delimiter;
