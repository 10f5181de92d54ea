//! Imports as jobs: a file of more than [`Options::job_threshold`](crate::Options::job_threshold)
//! records is stored as parts (each the header and up to [`JOB_PAGE`] records, after the line
//! number its records start from), then imported a part at a time.
//!
//! A part is stored as `line offset (8 bytes, big-endian), records (4 bytes), CSV bytes`.

use dps_core::import::ImportMode;
use dps_core::job::{ImportPage, JOB_PAGE, Job, JobFailure, JobInput, JobOutcome};
use dps_core::{GroupId, Timestamp};
use dps_csv::{ErrorReportWriter, ImportOptions, Limits, RecordSplitter, RowError};

use crate::{Api, DynProvisioner};

/// A file cut into records as it arrives: held in memory up to the job threshold, then
/// stored as the parts of a job's input.
pub(crate) struct Spool {
    splitter: RecordSplitter,
    header: Vec<u8>,
    /// Records not yet stored, with their lines.
    held: Vec<Vec<u8>>,
    /// Lines of the file before the first held record.
    lines_before: u64,
    records: u64,
    threshold: u64,
    input: Option<JobInput>,
}

impl Spool {
    pub(crate) fn new(threshold: usize) -> Self {
        Self {
            splitter: RecordSplitter::new(),
            header: Vec::new(),
            held: Vec::new(),
            lines_before: 0,
            records: 0,
            threshold: threshold as u64,
            input: None,
        }
    }

    /// Takes the next bytes of the file; stores parts once the file holds more records than
    /// the threshold.
    pub(crate) async fn push(
        &mut self,
        dps: &DynProvisioner,
        bytes: &[u8],
    ) -> dps_core::Result<()> {
        let mut records = Vec::new();
        self.splitter.push(bytes, &mut |r| records.push(r.to_vec()));
        self.take(dps, records).await
    }

    /// Takes the last record.
    pub(crate) async fn finish(&mut self, dps: &DynProvisioner) -> dps_core::Result<()> {
        let mut records = Vec::new();
        self.splitter.finish(&mut |r| records.push(r.to_vec()));
        self.take(dps, records).await?;
        if self.input.is_some() && !self.held.is_empty() {
            self.store_part(dps).await?;
        }
        Ok(())
    }

    async fn take(&mut self, dps: &DynProvisioner, records: Vec<Vec<u8>>) -> dps_core::Result<()> {
        for record in records {
            let lines = self.splitter.lines_of(&record);
            if self.header.is_empty() {
                self.header = record;
                self.lines_before = lines;
                continue;
            }
            // A blank line is no record for the import (nor for the job's total), but its
            // lines count for the lines of the records after it.
            if !record.iter().all(u8::is_ascii_whitespace) {
                self.records += 1;
            }
            self.held.push(record);
            if self.input.is_none() && self.records > self.threshold {
                self.input = Some(dps.new_job_input());
            }
            if self.input.is_some() {
                while self.held.len() >= JOB_PAGE {
                    self.store_part(dps).await?;
                }
            }
        }
        Ok(())
    }

    /// Stores the first [`JOB_PAGE`] held records as the next part.
    async fn store_part(&mut self, dps: &DynProvisioner) -> dps_core::Result<()> {
        let n = self.held.len().min(JOB_PAGE);
        let rest = self.held.split_off(n);
        let records = std::mem::replace(&mut self.held, rest);
        let offset = self.lines_before - self.splitter.lines_of(&self.header);
        let mut part = Vec::new();
        part.extend_from_slice(&offset.to_be_bytes());
        let counted = records
            .iter()
            .filter(|r| !r.iter().all(u8::is_ascii_whitespace))
            .count();
        part.extend_from_slice(&(counted as u32).to_be_bytes());
        part.extend_from_slice(&self.header);
        let mut lines = 0;
        for r in &records {
            lines += self.splitter.lines_of(r);
            part.extend_from_slice(r);
        }
        self.lines_before += lines;
        let Some(input) = self.input.as_mut() else {
            return Ok(());
        };
        dps.push_job_input(input, &part).await
    }

    /// The job's input, when the file held more records than the threshold, and how many
    /// records it holds; otherwise the file (without its byte order mark), to import in the
    /// request.
    pub(crate) fn into_outcome(self) -> Spooled {
        match self.input {
            Some(input) => Spooled::Job {
                input,
                records: self.records,
            },
            None => {
                let mut file = self.header;
                for r in self.held {
                    file.extend_from_slice(&r);
                }
                Spooled::Small(file)
            }
        }
    }

    /// Whether the file held more records than the threshold: its parts are stored.
    pub(crate) fn is_job(&self) -> bool {
        self.input.is_some()
    }

    /// The header, for checking before the job starts.
    pub(crate) fn header(&self) -> &[u8] {
        &self.header
    }
}

/// What a [`Spool`] made of a file.
pub(crate) enum Spooled {
    /// Few enough records to import in the request: the file.
    Small(Vec<u8>),
    /// A job's stored input.
    Job { input: JobInput, records: u64 },
}

/// Starts the import job of a spooled input and runs it.
pub(crate) async fn start(
    api: &Api,
    dps: &DynProvisioner,
    input: JobInput,
    group: GroupId,
    mode: ImportMode,
    records: u64,
) -> dps_core::Result<Job> {
    let job = dps.start_import_job(input, group, mode, records).await?;
    api.spawn_job(job.id());
    Ok(job)
}

/// Imports one stored part of `job`; see [`JobFile::import`](dps_core::job::JobFile::import).
pub(crate) async fn import_part(
    api: &Api,
    job: &Job,
    part: Vec<u8>,
    resumed_since: Option<Timestamp>,
) -> dps_core::Result<ImportPage> {
    let (offset, records, csv) = split_part(&part).ok_or_else(|| {
        dps_core::Error::Store(dps_core::StoreError::Corrupt {
            message: format!("an input part of job {} does not decode", job.id()),
            source: None,
        })
    })?;
    // The devices' events name whoever started the job.
    let acting;
    let dps: &DynProvisioner = match job.actor() {
        Some(actor) => {
            acting = api.provisioner().acting_as(actor.clone());
            &acting
        }
        None => api.provisioner(),
    };
    let options = ImportOptions::default()
        .with_mode(job.import_mode())
        .with_limits(Limits::unbounded());
    let mut page = ImportPage::default();
    let mut report = ErrorReportWriter::continuing(Vec::new()).map_err(io_failure)?;
    let rows = match dps_csv::import(dps, job.group_id(), csv, &options).await {
        Ok(report) => report.rows,
        Err(dps_csv::ImportError::Core(e)) => return Err(e),
        Err(dps_csv::ImportError::Interrupted {
            cause,
            report: done,
        }) => match *cause {
            dps_csv::ImportError::Core(e) if e.is_retryable() => return Err(e),
            other => {
                refuse_rest(
                    &mut page,
                    &mut report,
                    offset,
                    &other,
                    records,
                    done.rows.len(),
                )?;
                done.rows
            }
        },
        Err(e) => {
            refuse_rest(&mut page, &mut report, offset, &e, records, 0)?;
            Vec::new()
        }
    };
    for row in rows {
        let result = match row.result {
            Err(e) if resumed(dps, job, &e, row.serial.as_ref(), resumed_since).await? => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        };
        match (result, row.serial) {
            (Ok(()), serial) => {
                page.imported += 1;
                page.outcomes.extend(serial.map(JobOutcome::Succeeded));
            }
            (Err(mut e), serial) => {
                page.refused += 1;
                e.line += offset;
                report.write(&e).map_err(io_failure)?;
                page.outcomes.extend(serial.map(|serial| {
                    JobOutcome::Failed(JobFailure {
                        serial,
                        code: e.code.to_owned(),
                        message: e.message.clone(),
                    })
                }));
            }
        }
    }
    page.report = report.finish().map_err(io_failure)?;
    Ok(page)
}

/// Whether a record refused as already registered was created by a stopped runner of this
/// part (since it started), and so is imported.
async fn resumed(
    dps: &DynProvisioner,
    job: &Job,
    error: &RowError,
    serial: Option<&dps_core::SerialNumber>,
    since: Option<Timestamp>,
) -> dps_core::Result<bool> {
    let (Some(since), Some(serial)) = (since, serial) else {
        return Ok(false);
    };
    if error.code != "already_registered" {
        return Ok(false);
    }
    let devices = dps
        .store()
        .devices_by_serials(job.group_id(), std::slice::from_ref(serial))
        .await?;
    Ok(devices.iter().any(|d| d.created_at() >= since))
}

/// Counts the records of a part that a file error stopped as refused, with one report row.
fn refuse_rest(
    page: &mut ImportPage,
    report: &mut ErrorReportWriter<Vec<u8>>,
    offset: u64,
    error: &dps_csv::ImportError,
    records: u32,
    done: usize,
) -> dps_core::Result<()> {
    let left = u64::from(records).saturating_sub(done as u64);
    page.refused += left;
    let row = RowError::new(
        offset + 2 + done as u64,
        None,
        "",
        error.code(),
        error.to_string(),
    );
    report.write(&row).map_err(io_failure)
}

fn split_part(part: &[u8]) -> Option<(u64, u32, &[u8])> {
    let (offset, rest) = part.split_first_chunk::<8>()?;
    let (records, csv) = rest.split_first_chunk::<4>()?;
    Some((
        u64::from_be_bytes(*offset),
        u32::from_be_bytes(*records),
        csv,
    ))
}

fn io_failure(e: std::io::Error) -> dps_core::Error {
    dps_core::Error::Store(dps_core::StoreError::Backend {
        message: format!("write an import report: {e}"),
        source: None,
    })
}
