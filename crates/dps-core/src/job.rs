//! Jobs: a batch operation over a selection of a group's devices, run page by page in the
//! background and kept in the store, so that its progress can be watched, it can be
//! cancelled between pages, and another process takes it over after a crash.
//!
//! [`Provisioner::start_job`](crate::Provisioner::start_job) records a job,
//! [`Provisioner::run_job`](crate::Provisioner::run_job) runs it to its end (or until it is
//! cancelled), and [`Provisioner::resumable_jobs`](crate::Provisioner::resumable_jobs) names
//! the running jobs whose runner stopped renewing their lease. A page is marked in flight
//! before its operation starts; a runner that takes the job over counts each device of that
//! page from the state the operation left it in, so that no device is operated on twice.

pub use crate::id::JobId;
use crate::id::{GroupId, Version};
use crate::provisioner::Selection;
use crate::text::{Actor, SerialNumber};
use crate::time::Timestamp;

/// The batch operation a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobKind {
    /// [`Provisioner::allocate`](crate::Provisioner::allocate), a page at a time.
    Allocate,
    /// [`Provisioner::reset`](crate::Provisioner::reset), a page at a time.
    Reset,
    /// [`Provisioner::delete`](crate::Provisioner::delete), a page at a time.
    Delete,
    /// The CSV file of the devices (without secrets), written a page at a time by the
    /// [`JobFile`] the runner is given; see [`Provisioner::run_file_job`](crate::Provisioner::run_file_job).
    Export,
    /// The ZIP archive of the devices' QR labels, rendered a page at a time by the
    /// [`JobFile`] the runner is given.
    Labels,
    /// A device file imported a part at a time (its [`JobStream::Input`] parts, stored
    /// before the job starts, see [`Provisioner::start_import_job`](crate::Provisioner::start_import_job))
    /// by the [`JobFile`] the runner is given; its output is the report of the refused
    /// records.
    Import,
}

impl JobKind {
    /// The kind as a word: `allocate`, `reset`, `delete`, `export`, `labels` or `import`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Allocate => "allocate",
            JobKind::Reset => "reset",
            JobKind::Delete => "delete",
            JobKind::Export => "export",
            JobKind::Labels => "labels",
            JobKind::Import => "import",
        }
    }

    /// Whether the job makes a file (its [`JobStream::Output`] parts) and changes no device.
    pub fn makes_file(self) -> bool {
        matches!(self, JobKind::Export | JobKind::Labels)
    }

    /// Whether the runner needs a [`JobFile`] for it: a file job or an import.
    pub fn needs_files(self) -> bool {
        self.makes_file() || self == JobKind::Import
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// Pages remain.
    Running,
    /// Every page was done (some devices may have failed: see [`Job::failed`]).
    Finished,
    /// Cancelled between two pages; the pages before stay done.
    Cancelled,
    /// Stopped by a failure of the store or of the group itself (see [`Job::error`]).
    Failed,
}

impl JobState {
    /// The state as a word: `running`, `finished`, `cancelled` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Finished => "finished",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
        }
    }

    /// Whether the job has ended.
    pub fn is_over(self) -> bool {
        self != JobState::Running
    }
}

/// A device the job's operation failed for, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// The device's serial.
    pub serial: SerialNumber,
    /// The stable code of the failure (as `docs/errors.md` lists them).
    pub code: String,
    /// The failure's one-line message.
    pub message: String,
}

/// The outcome of one device of a job, as its [`JobStream::Results`] parts keep them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The operation succeeded, or the device is in the file.
    Succeeded(SerialNumber),
    /// The operation failed, or the device could not be written.
    Failed(JobFailure),
}

impl JobOutcome {
    /// The device's serial.
    pub fn serial(&self) -> &SerialNumber {
        match self {
            JobOutcome::Succeeded(serial) => serial,
            JobOutcome::Failed(failure) => &failure.serial,
        }
    }
}

/// What a [`JobFile`] made of one page of devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePage {
    /// The page's part of the output, stored as [`JobStream::Output`] part of the page's
    /// number.
    pub bytes: Vec<u8>,
    /// The devices of the page that are not in the part, and why.
    pub failures: Vec<JobFailure>,
}

/// What a [`JobFile`] made of one part of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPage {
    /// The outcome of each record that names a device, in the part's order.
    pub outcomes: Vec<JobOutcome>,
    /// The records refused, counted in [`Job::failed`], whether or not they name a device.
    pub refused: u64,
    /// The records that were imported (created, updated or already as the file says).
    pub imported: u64,
    /// The part's share of the job's output: the report of its refused records.
    pub report: Vec<u8>,
}

/// Writes and reads the files of jobs: the parts of the files that [`JobKind::Export`] and
/// [`JobKind::Labels`] jobs make, and the parts of the file a [`JobKind::Import`] job imports.
/// The job stores a part a page; a file is its parts in order (with whatever a reader adds
/// before and after them, such as a header or an archive's directory).
///
/// A page may be done again (by a runner that takes the job over), so a part must depend
/// only on its devices or its records.
#[async_trait::async_trait]
pub trait JobFile: Send + Sync {
    /// The part of `job`'s file that `devices` make: one page, in the selection's order.
    ///
    /// # Errors
    ///
    /// A failure that stops the whole job (not one of a device, which is a
    /// [`FilePage::failures`] entry).
    async fn page(&self, job: &Job, devices: Vec<crate::Device>) -> crate::Result<FilePage>;

    /// Imports `part` (input part `index` of `job`). `resumed_since` is set when a stopped
    /// runner may have imported the part already, from that time on: a record whose device
    /// was created since then is the stopped runner's, and counts as imported.
    ///
    /// # Errors
    ///
    /// A failure that stops the whole job (not one of a record, which is an outcome).
    async fn import(
        &self,
        job: &Job,
        index: u32,
        part: Vec<u8>,
        resumed_since: Option<crate::Timestamp>,
    ) -> crate::Result<ImportPage>;
}

/// The input of an import job being stored, part by part, before the job starts; see
/// [`Provisioner::start_import_job`](crate::Provisioner::start_import_job).
#[derive(Debug)]
pub struct JobInput {
    pub(crate) id: JobId,
    pub(crate) parts: u32,
}

impl JobInput {
    /// The identifier the job will have.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// How many parts are stored.
    pub fn parts(&self) -> u32 {
        self.parts
    }
}

/// The devices of one page of a job: its outcomes are recorded, and a cancellation is
/// noticed, between two pages.
pub const JOB_PAGE: usize = 500;

/// The most failures a job keeps, beyond which it only counts them.
pub const MAX_JOB_FAILURES: usize = 10_000;

/// A batch operation run in the background; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub(crate) id: JobId,
    pub(crate) kind: JobKind,
    pub(crate) group: GroupId,
    pub(crate) selection: Selection,
    pub(crate) actor: Option<Actor>,
    pub(crate) state: JobState,
    pub(crate) total: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) failures: Vec<JobFailure>,
    /// Where the next page starts: the last serial of a filter's pages, or how many serials
    /// of a list were done.
    pub(crate) cursor: Option<SerialNumber>,
    pub(crate) position: u64,
    /// How many pages have their parts stored: the next page's part number.
    pub(crate) pages: u32,
    /// An import's mode.
    pub(crate) import_mode: crate::import::ImportMode,
    /// An import's input parts.
    pub(crate) input_parts: u32,
    /// Whether an import's part `pages` has started and its outcome is not recorded.
    pub(crate) part_in_flight: bool,
    /// The serials of the page whose operation started and whose outcome is not recorded.
    pub(crate) in_flight: Vec<SerialNumber>,
    /// When the page in flight started.
    pub(crate) page_started: Timestamp,
    /// The runner that holds the lease (a random identifier per run).
    pub(crate) owner: Option<crate::Uuid>,
    pub(crate) cancel_requested: bool,
    pub(crate) error: Option<String>,
    pub(crate) lease_until: Timestamp,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) version: Version,
}

impl Job {
    /// Its identifier.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The operation it runs.
    pub fn kind(&self) -> JobKind {
        self.kind
    }

    /// The group whose devices it works on.
    pub fn group_id(&self) -> GroupId {
        self.group
    }

    /// The devices it works on.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Who started it; its changes' events name them.
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    /// Where it is in its life.
    pub fn state(&self) -> JobState {
        self.state
    }

    /// How many devices the selection held when the job started.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many devices are done, succeeded or failed.
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed
    }

    /// How many devices succeeded.
    pub fn succeeded(&self) -> u64 {
        self.succeeded
    }

    /// How many devices failed.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// The devices that failed, with their reasons: the first [`MAX_JOB_FAILURES`].
    pub fn failures(&self) -> &[JobFailure] {
        &self.failures
    }

    /// How many parts of its [streams](JobStream) it counts: parts `0..pages()` of its
    /// results (a page of a batch may have two, when some of its serials name no device;
    /// a part may be missing when a page had no outcome), and, for a file job or an
    /// import, of its output, one a page.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// The mode of an [import](JobKind::Import) (create for other jobs).
    pub fn import_mode(&self) -> crate::import::ImportMode {
        self.import_mode
    }

    /// How many parts an [import](JobKind::Import) has to import.
    pub fn input_parts(&self) -> u32 {
        self.input_parts
    }

    /// Whether a cancellation was asked for and the job has not yet stopped.
    pub fn cancel_requested(&self) -> bool {
        self.cancel_requested
    }

    /// Why a [`JobState::Failed`] job stopped.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Until when its runner holds it; a running job whose lease ran out is taken over.
    pub fn lease_until(&self) -> Timestamp {
        self.lease_until
    }

    /// When it started.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When it last changed.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// Its optimistic-concurrency version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Records the failure of `serial`.
    pub(crate) fn record_failure(&mut self, failure: &JobFailure) {
        self.failed += 1;
        if self.failures.len() < MAX_JOB_FAILURES {
            self.failures.push(failure.clone());
        }
    }

    /// Counts `failure` and gives it as the device's outcome.
    pub(crate) fn fail(&mut self, failure: JobFailure) -> JobOutcome {
        self.record_failure(&failure);
        JobOutcome::Failed(failure)
    }
}

/// The streams of parts a job keeps beside its record, one part a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum JobStream {
    /// The outcome of each device of the page.
    Results,
    /// The page's part of the job's output file.
    Output,
    /// The part of the file an import job imports.
    Input,
}

impl JobStream {
    /// The number a backend stores for the stream: 0 for results, 1 for output, 2 for input.
    pub fn code(self) -> i16 {
        match self {
            JobStream::Results => 0,
            JobStream::Output => 1,
            JobStream::Input => 2,
        }
    }
}
