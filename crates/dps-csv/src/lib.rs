//! The CSV codec of **dps**: the import template, streaming import with per-row errors, the
//! error report and the export, in the format of DESIGN §7.
//!
//! - [`write_template`] writes a group's template: the columns `Device Serial No.`,
//!   `Device Name`, `Model ID`, `Timezone`, `Batch Tag`, `Description`, `Environment`, `OU`
//!   ([`Column::TEMPLATE`]) and one column per schema attribute, headed by its identifier.
//! - [`DeviceReader`] reads a file from any [`std::io::Read`] as a stream and turns each row
//!   into a validated [`Row`] or a [`RowError`] (line, column, value, stable code, message).
//!   Headers match case-insensitively with spaces and punctuation ignored, plus aliases
//!   ([`Column::aliases`]); UTF-8 with or without BOM; `,` or `;` detected from the header
//!   line; CRLF, LF or CR; quoted fields with embedded quotes and line breaks. The [`Limits`]
//!   (file size, records, bytes per field) are enforced while reading, so memory never grows
//!   past them; crossing one stops at once with a [`CsvError`] that gives the position.
//! - [`import`] and [`import_with`] run a file through the
//!   [`Provisioner`](dps_core::Provisioner): create or upsert ([`ImportOptions`]), dry run,
//!   best effort or all-or-nothing, committed in chunks of about 10 000 rows. Every row gets a
//!   [`RowOutcome`]: create, update, unchanged, or a [`RowError`].
//! - [`ErrorReportWriter`] writes the refused rows as a CSV a user opens next to their file.
//! - [`export`] streams a selection of any size with the export columns (the template's plus
//!   the read-only [`Column::READ_ONLY`]); [`DeviceWriter`] writes devices you already hold.
//!   Device secrets are written only with [`ExportOptions::include_secrets`]. Cells a
//!   spreadsheet would run as a formula are guarded ([`formula`]); import strips the guard,
//!   so an export re-imports as it is.
//!
//! Rows are checked exactly as [`Device::register`](dps_core::Device::register) would check
//! them; codes come from [`dps_core::Error::code`] where one applies. This crate adds these
//! row codes: `duplicate_in_file` (the message names the first line), `version_conflict`,
//! `wrong_field_count`, `invalid_utf8`, `invalid_version`, `unterminated_quote`; and these
//! whole-file codes ([`CsvError::code`]): `empty_file`, `missing_column`, `unknown_column`,
//! `duplicate_column`, `invalid_utf8`, `limit_exceeded`, `io_error`.
//!
//! This crate has no cargo features.
//!
//! # Example
//!
//! ```
//! use dps_core::attribute::{AttributeDef, AttributeSchema, AttributeType};
//! use dps_core::*;
//! use dps_csv::{ExportOptions, ImportOptions, export, import, write_error_report};
//! use dps_store_memory::InMemoryStore;
//! use dps_testkit::FakeEnvironment;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dps = Provisioner::new(InMemoryStore::new(), FakeEnvironment::new());
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
mod read;
mod report;
mod rows;
mod write;

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
pub use rows::{DeviceReader, MAX_COLUMNS, Row};
pub use write::Delimiter;
