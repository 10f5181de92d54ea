//! The error report: a CSV of refused rows that a user opens next to their file.

use std::io::{self, Write};

use crate::error::RowError;
use crate::write::{CellWriter, Delimiter};

/// The error report's header.
pub const ERROR_REPORT_HEADER: [&str; 5] = ["Line", "Column", "Value", "Code", "Message"];

/// Writes refused rows as CSV: `Line,Column,Value,Code,Message`, one row per error, values
/// guarded against formula execution like an export.
///
/// ```
/// use dps::csv::{ErrorReportWriter, RowError};
///
/// let mut report = ErrorReportWriter::new(Vec::new())?;
/// report.write(&RowError::new(3, Some("Timezone".into()), "+25:00", "invalid_timezone", "invalid timezone"))?;
/// let text = String::from_utf8(report.finish()?)?;
/// assert_eq!(text, "Line,Column,Value,Code,Message\r\n3,Timezone,'+25:00,invalid_timezone,invalid timezone\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ErrorReportWriter<W: Write> {
    out: CellWriter<W>,
    rows: u64,
}

impl<W: Write> ErrorReportWriter<W> {
    /// A report writer with `,` as the delimiter; writes the header row.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn new(writer: W) -> io::Result<Self> {
        Self::with_delimiter(writer, Delimiter::Comma)
    }

    /// A report writer with the given delimiter (use the one of the imported file, so that
    /// both open alike); writes the header row.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn with_delimiter(writer: W, delimiter: Delimiter) -> io::Result<Self> {
        let mut out = CellWriter::new(writer, delimiter, false)?;
        for h in ERROR_REPORT_HEADER {
            out.raw(h)?;
        }
        out.end_record()?;
        Ok(Self { out, rows: 0 })
    }

    /// A report writer that continues a report that [`ErrorReportWriter::new`] started: it
    /// writes no header row, so that a report can be written in parts (as an import job
    /// writes one a part of its file) and read as one.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn continuing(writer: W) -> io::Result<Self> {
        let out = CellWriter::new(writer, Delimiter::Comma, false)?;
        Ok(Self { out, rows: 0 })
    }

    /// Writes one error.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn write(&mut self, error: &RowError) -> io::Result<()> {
        self.out.value(&error.line.to_string())?;
        self.out.opt(error.column.as_deref())?;
        if error.value.is_empty() {
            self.out.absent()?;
        } else {
            self.out.value(&error.value)?;
        }
        self.out.value(error.code)?;
        self.out.value(&error.message)?;
        self.out.end_record()?;
        self.rows += 1;
        Ok(())
    }

    /// How many errors were written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the underlying writer.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn finish(self) -> io::Result<W> {
        self.out.finish()
    }
}

/// Writes an error report of `errors` to `writer` and returns the writer.
///
/// # Errors
///
/// Write errors.
pub fn write_error_report<'a, W, I>(writer: W, errors: I) -> io::Result<W>
where
    W: Write,
    I: IntoIterator<Item = &'a RowError>,
{
    let mut report = ErrorReportWriter::new(writer)?;
    for e in errors {
        report.write(e)?;
    }
    report.finish()
}
