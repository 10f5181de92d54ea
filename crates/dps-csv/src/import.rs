//! Importing a device file through the [`Provisioner`].

use std::io::Read;

use dps_core::{
    Atomicity, Environment, GroupId, Provisioner, RegistrationGroup, SerialNumber, Store, Version,
    import::ImportAction, import::ImportMode, import::ImportPlan, import::ImportRecord,
};

use tokio::io::AsyncRead;

use crate::error::{CsvError, ImportError, RowError};
use crate::feed::{AsyncRows, Feed};
use crate::limits::Limits;
pub use crate::outcome::{ImportReport, ImportSummary, RowOutcome};
use crate::rows::{DeviceReader, Row};
use names::Names;

mod names;

/// How an import runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Create only (existing serials are refused as `already_registered`), upsert, or
    /// update only (unknown serials are refused as `unknown_serial`). Default: create.
    pub mode: ImportMode,
    /// Plan only: every row's outcome is reported and nothing is written. Default: off.
    pub dry_run: bool,
    /// Best effort (good rows land, bad rows are reported) or all-or-nothing (one bad row and
    /// nothing lands). Default: best effort.
    pub atomicity: Atomicity,
    /// The limits enforced while reading. Default: the console's ([`Limits::default`]).
    pub limits: Limits,
    /// How many rows are planned and committed together. Default: 10 000.
    pub chunk_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            mode: ImportMode::Create,
            dry_run: false,
            atomicity: Atomicity::BestEffort,
            limits: Limits::default(),
            chunk_size: 10_000,
        }
    }
}

impl ImportOptions {
    /// These options in upsert mode.
    #[must_use]
    pub fn upsert(mut self) -> Self {
        self.mode = ImportMode::Upsert;
        self
    }

    /// These options in update mode: rows of existing devices update them as in an upsert,
    /// and a row whose serial is not registered in the group is refused as
    /// `unknown_serial`, so that an edited export never creates a device.
    #[must_use]
    pub fn update(mut self) -> Self {
        self.mode = ImportMode::Update;
        self
    }

    /// These options with another mode.
    #[must_use]
    pub fn with_mode(mut self, mode: ImportMode) -> Self {
        self.mode = mode;
        self
    }

    /// These options as a dry run.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// These options, all-or-nothing.
    #[must_use]
    pub fn all_or_nothing(mut self) -> Self {
        self.atomicity = Atomicity::AllOrNothing;
        self
    }

    /// These options with other limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// These options with another chunk size (at least 1).
    #[must_use]
    pub fn with_chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n.max(1);
        self
    }
}

/// Imports a device file into a group and returns every row's outcome.
///
/// The file is read from `reader` as a stream within `options.limits`, rows are validated
/// ([`DeviceReader`]), then planned and committed through
/// [`Provisioner::plan_import`] and [`Provisioner::apply_import`] in chunks of
/// `options.chunk_size` rows. All-or-nothing imports hold the whole plan and commit it once.
///
/// `reader` is a blocking [`Read`]: use this form for a file, a byte slice or anything
/// already in memory. For an upload in an async service, use [`import_async`], which reads
/// an [`AsyncRead`] without blocking the runtime; or run this form on a blocking thread
/// (`tokio::task::spawn_blocking` with a runtime handle's `block_on` inside).
///
/// This keeps one [`RowOutcome`] per row; for files of hundreds of thousands of rows use
/// [`import_with`], which hands each outcome to a callback instead.
///
/// ```
/// use std::sync::Arc;
/// use dps::csv::{ImportOptions, import};
/// use dps::memory::InMemoryStore;
/// use dps::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(dps::inject::OsSecrets));
/// let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
/// let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
/// let file = "Device Serial No.,Model ID\nSN-1,thermostat\nSN 2,thermostat\n";
/// let report = import(&dps, group.id(), file.as_bytes(), &ImportOptions::default()).await?;
/// assert_eq!((report.summary.created, report.summary.failed), (1, 1));
/// assert_eq!(report.errors().next().map(|e| e.code), Some("invalid_serial"));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`ImportError::File`] when the file is unusable (header, limits, I/O),
/// [`ImportError::Core`] when the group does not exist (`not_found`) or the store fails; in
/// both cases nothing was written. [`ImportError::Interrupted`] when such an error stops a
/// best-effort import after earlier chunks were written.
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
    with_rows(result, rows)
}

/// Imports a device file read from an async source, like [`import`]: the same rows, checks,
/// chunks and report.
///
/// The file is read from `reader` a chunk of at most 16 KiB at a time, each chunk awaited and
/// then parsed, so that the task never blocks on the source and memory stays bounded as in
/// [`import`] (the reader's 64 KiB buffer and one chunk more). The source is read no further
/// than `options.limits.max_bytes` and one byte. This is the form for an HTTP upload: pass
/// the request body as an [`AsyncRead`] (for example through `tokio_util::io::StreamReader`).
///
/// ```
/// use std::sync::Arc;
/// use dps::csv::{ImportOptions, import_async};
/// use dps::memory::InMemoryStore;
/// use dps::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(dps::inject::OsSecrets));
/// let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
/// let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
///
/// // An upload arriving in pieces: here one end of an in-memory pipe.
/// let (mut upload, body) = tokio::io::duplex(64);
/// let send = async move {
///     use tokio::io::AsyncWriteExt;
///     upload.write_all(b"Device Serial No.,Model ID\nSN-1,thermostat\n").await?;
///     upload.shutdown().await
/// };
/// let options = ImportOptions::default();
/// let (sent, report) = tokio::join!(send, import_async(&dps, group.id(), body, &options));
/// sent?;
/// assert_eq!(report?.summary.created, 1);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`import`]; a failed read of `reader` is [`ImportError::File`] with
/// [`CsvError::Io`](crate::CsvError::Io).
pub async fn import_async<S, E, R>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    reader: R,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError>
where
    S: Store,
    E: Environment,
    R: AsyncRead + Unpin + Send,
{
    let mut rows = Vec::new();
    let result = import_with_async(dps, group, reader, options, |o| rows.push(o)).await;
    with_rows(result, rows)
}

/// The report of an import whose outcomes were collected in `rows`.
pub(crate) fn with_rows(
    result: Result<ImportSummary, ImportError>,
    rows: Vec<RowOutcome>,
) -> Result<ImportReport, ImportError> {
    match result {
        Ok(summary) => Ok(ImportReport { summary, rows }),
        Err(ImportError::Interrupted { cause, mut report }) => {
            report.rows = rows;
            Err(ImportError::Interrupted { cause, report })
        }
        Err(e) => Err(e),
    }
}

/// Imports a device file into a group like [`import`], handing each row's outcome to
/// `on_row` in file order instead of keeping it; returns the counts. Memory stays flat
/// however long the file is (one chunk of rows, plus 24 bytes per row to find duplicate
/// serials), except that an all-or-nothing import holds its whole plan until it commits.
///
/// # Errors
///
/// As [`import`]; an [`ImportError::Interrupted`] carries the counts, not the rows (they went
/// to `on_row`).
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
    let rows = DeviceReader::new(reader, group.attributes(), options.limits)?;
    run(dps, group, rows, options, on_row).await
}

/// Imports a device file read from an async source like [`import_async`], handing each
/// row's outcome to `on_row` in file order instead of keeping it, as [`import_with`] does;
/// returns the counts.
///
/// # Errors
///
/// As [`import_with`].
pub async fn import_with_async<S, E, R, F>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    reader: R,
    options: &ImportOptions,
    on_row: F,
) -> Result<ImportSummary, ImportError>
where
    S: Store,
    E: Environment,
    R: AsyncRead + Unpin + Send,
    F: FnMut(RowOutcome),
{
    let group = dps.group(group).await?;
    let rows = AsyncRows::open(reader, group.attributes(), options.limits).await?;
    run(dps, group, rows, options, on_row).await
}

/// Runs the rows of `rows` through the provisioner into `group`.
pub(crate) async fn run<S, E, F, T>(
    dps: &Provisioner<S, E>,
    group: RegistrationGroup,
    rows: T,
    options: &ImportOptions,
    on_row: F,
) -> Result<ImportSummary, ImportError>
where
    S: Store,
    E: Environment,
    F: FnMut(RowOutcome),
    T: RowSource,
{
    let mut run = Run {
        dps,
        options,
        names: Names::new(rows.reader()),
        fields: rows.reader().fields(),
        group,
        summary: ImportSummary::default(),
        on_row,
        written: false,
        held: Vec::new(),
        plan: None,
    };
    match run.read_all(rows).await {
        Ok(()) => Ok(run.summary),
        Err(cause) if run.written => Err(ImportError::Interrupted {
            cause: Box::new(cause),
            report: Box::new(ImportReport {
                summary: run.summary,
                rows: Vec::new(),
            }),
        }),
        Err(cause) => Err(cause),
    }
}

/// Where an import's rows come from: a [`DeviceReader`] of a blocking source, or one fed
/// from an async source.
pub(crate) trait RowSource {
    /// The reader's source.
    type Source: Read;

    /// The reader, for its header.
    fn reader(&self) -> &DeviceReader<Self::Source>;

    /// The next row, as [`DeviceReader::next_row`] gives it.
    async fn next_row(&mut self) -> Result<Option<Result<Row, RowError>>, CsvError>;
}

impl<R: Read> RowSource for DeviceReader<R> {
    type Source = R;

    fn reader(&self) -> &DeviceReader<R> {
        self
    }

    async fn next_row(&mut self) -> Result<Option<Result<Row, RowError>>, CsvError> {
        DeviceReader::next_row(self)
    }
}

impl<A: AsyncRead + Unpin> RowSource for AsyncRows<A> {
    type Source = Feed;

    fn reader(&self) -> &DeviceReader<Feed> {
        self.rows()
    }

    async fn next_row(&mut self) -> Result<Option<Result<Row, RowError>>, CsvError> {
        AsyncRows::next_row(self).await
    }
}

/// Reads up to `chunk` records (and the refused rows among them); whether the file ended.
async fn read_chunk<T: RowSource>(
    rows: &mut T,
    chunk: usize,
) -> Result<(Vec<Entry>, Vec<ImportRecord>, bool), ImportError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut records: Vec<ImportRecord> = Vec::with_capacity(chunk);
    while records.len() < chunk {
        match rows.next_row().await? {
            Some(Ok(row)) => {
                entries.push(Entry::Record {
                    line: row.line,
                    serial: row.device.serial.clone(),
                    version: row.version,
                });
                records.push(row.into_record());
            }
            Some(Err(e)) => entries.push(Entry::Refused(e, rows.reader().last_serial().cloned())),
            None => return Ok((entries, records, true)),
        }
    }
    Ok((entries, records, false))
}

/// A row read but not yet planned.
enum Entry {
    /// A refused row, and its serial when the serial itself is valid.
    Refused(RowError, Option<SerialNumber>),
    Record {
        line: u64,
        serial: SerialNumber,
        version: Option<Version>,
    },
}

struct Run<'a, S, E, F> {
    dps: &'a Provisioner<S, E>,
    options: &'a ImportOptions,
    names: Names,
    fields: dps_core::import::ImportFields,
    group: RegistrationGroup,
    summary: ImportSummary,
    on_row: F,
    /// Whether a best-effort chunk wrote a device.
    written: bool,
    /// All-or-nothing: outcomes held until the end.
    held: Vec<RowOutcome>,
    /// All-or-nothing: the plan so far.
    plan: Option<ImportPlan>,
}

impl<S: Store, E: Environment, F: FnMut(RowOutcome)> Run<'_, S, E, F> {
    fn holds(&self) -> bool {
        self.options.atomicity == Atomicity::AllOrNothing && !self.options.dry_run
    }

    async fn read_all<T: RowSource>(&mut self, mut rows: T) -> Result<(), ImportError> {
        let chunk = self.options.chunk_size.max(1);
        if !self.holds() && !self.options.dry_run {
            return self.read_and_apply(rows, chunk).await;
        }
        loop {
            let (entries, records, end) = read_chunk(&mut rows, chunk).await?;
            if !entries.is_empty() {
                self.chunk(entries, records).await?;
            }
            if end {
                return self.finish().await;
            }
        }
    }

    /// Best effort: reads and checks the next chunk's rows while the one before is being
    /// committed, then plans it against the store once that commit is done, as a chunk at a
    /// time would.
    async fn read_and_apply<T: RowSource>(
        &mut self,
        mut rows: T,
        chunk: usize,
    ) -> Result<(), ImportError> {
        let dps = self.dps;
        let mut planned: Option<(Vec<Entry>, ImportPlan)> = None;
        loop {
            let apply = async {
                match planned.take() {
                    Some((entries, plan)) => {
                        Some((entries, dps.apply_import(plan, Atomicity::BestEffort).await))
                    }
                    None => None,
                }
            };
            let (applied, read) =
                futures_util::future::join(apply, read_chunk(&mut rows, chunk)).await;
            if let Some((entries, applied)) = applied {
                self.report(entries, &applied?);
            }
            let (entries, records, end) = read?;
            if !entries.is_empty() {
                let plan = dps
                    .plan_import(&self.group, records, self.options.mode, &self.fields)
                    .await?;
                planned = Some((entries, plan));
            }
            if end {
                if let Some((entries, plan)) = planned.take() {
                    let applied = dps.apply_import(plan, Atomicity::BestEffort).await?;
                    self.report(entries, &applied);
                }
                return self.finish().await;
            }
        }
    }

    /// Reports the outcomes of an applied best-effort chunk.
    fn report(&mut self, entries: Vec<Entry>, applied: &dps_core::import::ImportApplied) {
        self.written |= applied.committed
            && applied
                .outcomes
                .iter()
                .any(|o| matches!(o, Ok(ImportAction::Create | ImportAction::Update)));
        for outcome in self.outcomes(entries, &applied.outcomes) {
            self.emit(outcome);
        }
    }

    /// Plans (and in best effort applies) one chunk, then reports or holds its outcomes.
    async fn chunk(
        &mut self,
        entries: Vec<Entry>,
        records: Vec<ImportRecord>,
    ) -> Result<(), ImportError> {
        let plan = self
            .dps
            .plan_import(&self.group, records, self.options.mode, &self.fields)
            .await?;
        let outcomes = if self.options.dry_run || self.holds() {
            let outcomes = self.outcomes(entries, plan.outcomes());
            if self.holds() {
                match &mut self.plan {
                    Some(total) => total.append(plan)?,
                    None => self.plan = Some(plan),
                }
            }
            outcomes
        } else {
            let applied = self.dps.apply_import(plan, Atomicity::BestEffort).await?;
            self.report(entries, &applied);
            return Ok(());
        };
        for outcome in outcomes {
            if self.holds() {
                self.held.push(outcome);
            } else {
                self.emit(outcome);
            }
        }
        Ok(())
    }

    /// Pairs the rows of a chunk with the planned or applied outcomes of its records.
    fn outcomes(
        &self,
        entries: Vec<Entry>,
        planned: &[dps_core::Result<ImportAction>],
    ) -> Vec<RowOutcome> {
        let mut planned = planned.iter();
        entries
            .into_iter()
            .map(|entry| match entry {
                Entry::Refused(e, serial) => RowOutcome {
                    line: e.line,
                    serial,
                    result: Err(e),
                },
                Entry::Record {
                    line,
                    serial,
                    version,
                } => {
                    let result = match planned.next() {
                        Some(Ok(action)) => Ok(*action),
                        Some(Err(e)) => Err(self.names.row_error(line, &serial, version, e)),
                        // A plan has one outcome per record; this arm is never taken.
                        None => Err(RowError::new(
                            line,
                            None,
                            serial.as_str(),
                            "import_incomplete",
                            "the row has no planned outcome",
                        )),
                    };
                    RowOutcome {
                        line,
                        serial: Some(serial),
                        result,
                    }
                }
            })
            .collect()
    }

    fn emit(&mut self, outcome: RowOutcome) {
        self.summary.count(&outcome);
        (self.on_row)(outcome);
    }

    /// All-or-nothing: commits the whole plan when no row was refused; then reports.
    async fn finish(&mut self) -> Result<(), ImportError> {
        if !self.holds() {
            self.summary.committed = !self.options.dry_run;
            return Ok(());
        }
        let clean = self.held.iter().all(|o| o.result.is_ok());
        let mut committed = clean;
        if clean && let Some(plan) = self.plan.take() {
            committed = self
                .dps
                .apply_import(plan, Atomicity::AllOrNothing)
                .await?
                .committed;
        }
        self.summary.committed = committed;
        for outcome in std::mem::take(&mut self.held) {
            self.emit(outcome);
        }
        Ok(())
    }
}
