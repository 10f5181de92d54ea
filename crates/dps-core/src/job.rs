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
}

impl JobKind {
    /// The kind as a word: `allocate`, `reset` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Allocate => "allocate",
            JobKind::Reset => "reset",
            JobKind::Delete => "delete",
        }
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
    pub(crate) fn record_failure(&mut self, serial: SerialNumber, code: &str, message: String) {
        self.failed += 1;
        if self.failures.len() < MAX_JOB_FAILURES {
            self.failures.push(JobFailure {
                serial,
                code: code.to_owned(),
                message,
            });
        }
    }
}
