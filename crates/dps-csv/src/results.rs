//! The results of a job as CSV: one row per device.

use std::io::{self, Write};

use dps_core::job::JobOutcome;

use crate::write::{CellWriter, Delimiter};

/// The header of a job's results.
pub const JOB_RESULTS_HEADER: [&str; 4] = ["Device Serial No.", "Result", "Code", "Message"];

/// Writes a [job](dps_core::job)'s outcomes as CSV: `Device Serial No.,Result,Code,Message`,
/// one row per device, `succeeded` or `failed` (with the failure's code and message), values
/// guarded against formula execution like an export.
///
/// ```
/// use dps::csv::JobResultsWriter;
/// use dps::job::{JobFailure, JobOutcome};
///
/// let mut out = JobResultsWriter::new(Vec::new())?;
/// out.write(&JobOutcome::Succeeded("SN-0001".parse()?))?;
/// out.write(&JobOutcome::Failed(JobFailure {
///     serial: "-SN-2".parse()?,
///     code: "not_found".into(),
///     message: "no device -SN-2".into(),
/// }))?;
/// let text = String::from_utf8(out.finish()?)?;
/// assert_eq!(
///     text,
///     "Device Serial No.,Result,Code,Message\r\n\
///      SN-0001,succeeded,,\r\n\
///      '-SN-2,failed,not_found,no device -SN-2\r\n",
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JobResultsWriter<W: Write> {
    out: CellWriter<W>,
    rows: u64,
}

impl<W: Write> JobResultsWriter<W> {
    /// A writer with `,` as the delimiter; writes the header row.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn new(writer: W) -> io::Result<Self> {
        let mut out = CellWriter::new(writer, Delimiter::Comma, false)?;
        for h in JOB_RESULTS_HEADER {
            out.raw(h)?;
        }
        out.end_record()?;
        Ok(Self { out, rows: 0 })
    }

    /// Writes one device's outcome.
    ///
    /// # Errors
    ///
    /// Write errors.
    pub fn write(&mut self, outcome: &JobOutcome) -> io::Result<()> {
        self.out.value(outcome.serial().as_str())?;
        match outcome {
            JobOutcome::Succeeded(_) => {
                self.out.raw("succeeded")?;
                self.out.opt(None)?;
                self.out.opt(None)?;
            }
            JobOutcome::Failed(f) => {
                self.out.raw("failed")?;
                self.out.value(&f.code)?;
                self.out.value(&f.message)?;
            }
        }
        self.out.end_record()?;
        self.rows += 1;
        Ok(())
    }

    /// How many outcomes were written.
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

impl JobResultsWriter<Vec<u8>> {
    /// Takes the bytes written so far out of the buffer, to send a long report in pieces.
    ///
    /// # Errors
    ///
    /// Write errors (none for a buffer).
    pub fn take(&mut self) -> io::Result<Vec<u8>> {
        Ok(std::mem::take(self.out.flushed()?))
    }
}
