//! The stored form of a job.

use serde::{Deserialize, Serialize};

use super::{Record, StoredTarget, Versioned, decode, encode};
use crate::error::StoreError;
use crate::id::{GroupId, JobId, Version};
use crate::import::ImportMode;
use crate::job::{Job, JobFailure, JobKind, JobOutcome, JobState};
use crate::provisioner::Selection;
use crate::state::AllocationStatus;
use crate::store::DeviceFilter;
use crate::text::{Actor, BatchTag, ModelId, SerialNumber};
use crate::time::Timestamp;

/// A [job](crate::job) as a backend stores it; see the [module documentation](super).
///
/// Convert with `StoredJob::from(&job)` and [`StoredJob::into_job`];
/// [`StoredJob::to_json`] and [`StoredJob::from_json`] are the JSON text that the SQL
/// backends keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredJob {
    format: u64,
    id: JobId,
    kind: StoredKind,
    group: GroupId,
    selection: StoredSelection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<Actor>,
    state: StoredState,
    total: u64,
    succeeded: u64,
    failed: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    failures: Vec<StoredFailure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<SerialNumber>,
    #[serde(default)]
    position: u64,
    #[serde(default)]
    pages: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    import_mode: Option<StoredMode>,
    #[serde(default)]
    input_parts: u32,
    #[serde(default)]
    part_in_flight: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    in_flight: Vec<SerialNumber>,
    page_started: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<crate::Uuid>,
    #[serde(default)]
    cancel_requested: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    lease_until: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredKind {
    Allocate,
    Reset,
    Delete,
    Export,
    Labels,
    Import,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredMode {
    Create,
    Upsert,
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredState {
    Running,
    Finished,
    Cancelled,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredSelection {
    Serials(Vec<SerialNumber>),
    Filter(StoredFilter),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct StoredFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<StoredStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch_tag: Option<BatchTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model_id: Option<ModelId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<StoredTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allocated_to: Option<StoredTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serial_prefix: Option<SerialNumber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredStatus {
    NotAllocated,
    Pending,
    Allocated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredFailure {
    serial: SerialNumber,
    code: String,
    message: String,
}

impl Versioned for StoredJob {
    const RECORD: Record = Record::Job;
    fn format(&self) -> u64 {
        self.format
    }
}

/// The first format version of jobs (the stored form's version when they were added).
const JOB_FORMAT: u64 = 2;

impl StoredJob {
    /// The record as JSON text.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if it does not serialise, which does not happen.
    pub fn to_json(&self) -> Result<String, StoreError> {
        encode(Record::Job, self)
    }

    /// A record from JSON text of any format version this code reads.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] for text that does not decode, and for a newer format version.
    pub fn from_json(data: &str) -> Result<Self, StoreError> {
        decode(data)
    }

    /// The job this record holds.
    pub fn into_job(self) -> Job {
        Job {
            id: self.id,
            kind: match self.kind {
                StoredKind::Allocate => JobKind::Allocate,
                StoredKind::Reset => JobKind::Reset,
                StoredKind::Delete => JobKind::Delete,
                StoredKind::Export => JobKind::Export,
                StoredKind::Labels => JobKind::Labels,
                StoredKind::Import => JobKind::Import,
            },
            group: self.group,
            selection: match self.selection {
                StoredSelection::Serials(s) => Selection::Serials(s),
                StoredSelection::Filter(f) => Selection::Filter(DeviceFilter {
                    status: f.status.map(|s| match s {
                        StoredStatus::NotAllocated => AllocationStatus::NotAllocated,
                        StoredStatus::Pending => AllocationStatus::Pending,
                        StoredStatus::Allocated => AllocationStatus::Allocated,
                    }),
                    batch_tag: f.batch_tag,
                    model_id: f.model_id,
                    target: f.target.map(Into::into),
                    allocated_to: f.allocated_to.map(Into::into),
                    serial_prefix: f.serial_prefix,
                }),
            },
            actor: self.actor,
            state: match self.state {
                StoredState::Running => JobState::Running,
                StoredState::Finished => JobState::Finished,
                StoredState::Cancelled => JobState::Cancelled,
                StoredState::Failed => JobState::Failed,
            },
            total: self.total,
            succeeded: self.succeeded,
            failed: self.failed,
            failures: self
                .failures
                .into_iter()
                .map(|f| JobFailure {
                    serial: f.serial,
                    code: f.code,
                    message: f.message,
                })
                .collect(),
            cursor: self.cursor,
            position: self.position,
            pages: self.pages,
            import_mode: match self.import_mode {
                Some(StoredMode::Upsert) => ImportMode::Upsert,
                Some(StoredMode::Update) => ImportMode::Update,
                Some(StoredMode::Create) | None => ImportMode::Create,
            },
            input_parts: self.input_parts,
            part_in_flight: self.part_in_flight,
            in_flight: self.in_flight,
            page_started: self.page_started,
            owner: self.owner,
            cancel_requested: self.cancel_requested,
            error: self.error,
            lease_until: self.lease_until,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: Version::new(self.version),
        }
    }

    /// Whether the job has ended (a backend may index running jobs by it).
    pub fn is_over(&self) -> bool {
        self.state != StoredState::Running
    }
}

/// The job of stored JSON text.
///
/// # Errors
///
/// As [`StoredJob::from_json`].
pub fn decode_job(data: &str) -> Result<Job, StoreError> {
    Ok(StoredJob::from_json(data)?.into_job())
}

fn stored_filter(f: &DeviceFilter) -> StoredFilter {
    StoredFilter {
        status: f.status.map(|s| match s {
            AllocationStatus::NotAllocated => StoredStatus::NotAllocated,
            AllocationStatus::Pending => StoredStatus::Pending,
            AllocationStatus::Allocated => StoredStatus::Allocated,
        }),
        batch_tag: f.batch_tag.clone(),
        model_id: f.model_id.clone(),
        target: f.target.clone().map(Into::into),
        allocated_to: f.allocated_to.clone().map(Into::into),
        serial_prefix: f.serial_prefix.clone(),
    }
}

impl From<&Job> for StoredJob {
    fn from(j: &Job) -> Self {
        Self {
            format: JOB_FORMAT,
            id: j.id,
            kind: match j.kind {
                JobKind::Allocate => StoredKind::Allocate,
                JobKind::Reset => StoredKind::Reset,
                JobKind::Delete => StoredKind::Delete,
                JobKind::Export => StoredKind::Export,
                JobKind::Labels => StoredKind::Labels,
                JobKind::Import => StoredKind::Import,
            },
            group: j.group,
            selection: match &j.selection {
                Selection::Serials(s) => StoredSelection::Serials(s.clone()),
                Selection::Filter(f) => StoredSelection::Filter(stored_filter(f)),
            },
            actor: j.actor.clone(),
            state: match j.state {
                JobState::Running => StoredState::Running,
                JobState::Finished => StoredState::Finished,
                JobState::Cancelled => StoredState::Cancelled,
                JobState::Failed => StoredState::Failed,
            },
            total: j.total,
            succeeded: j.succeeded,
            failed: j.failed,
            failures: j
                .failures
                .iter()
                .map(|f| StoredFailure {
                    serial: f.serial.clone(),
                    code: f.code.clone(),
                    message: f.message.clone(),
                })
                .collect(),
            cursor: j.cursor.clone(),
            position: j.position,
            pages: j.pages,
            import_mode: (j.kind == JobKind::Import).then_some(match j.import_mode {
                ImportMode::Upsert => StoredMode::Upsert,
                ImportMode::Update => StoredMode::Update,
                _ => StoredMode::Create,
            }),
            input_parts: j.input_parts,
            part_in_flight: j.part_in_flight,
            in_flight: j.in_flight.clone(),
            page_started: j.page_started,
            owner: j.owner,
            cancel_requested: j.cancel_requested,
            error: j.error.clone(),
            lease_until: j.lease_until,
            created_at: j.created_at,
            updated_at: j.updated_at,
            version: j.version.get(),
        }
    }
}

/// One device's outcome in a results part: `code` and `message` when it failed.
#[derive(Debug, Serialize, Deserialize)]
struct StoredOutcome {
    serial: SerialNumber,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// The bytes of a [results part](crate::job::JobStream::Results): a JSON array.
pub(crate) fn encode_outcomes(outcomes: &[JobOutcome]) -> Result<Vec<u8>, StoreError> {
    let rows: Vec<StoredOutcome> = outcomes
        .iter()
        .map(|o| match o {
            JobOutcome::Succeeded(serial) => StoredOutcome {
                serial: serial.clone(),
                code: None,
                message: None,
            },
            JobOutcome::Failed(f) => StoredOutcome {
                serial: f.serial.clone(),
                code: Some(f.code.clone()),
                message: Some(f.message.clone()),
            },
        })
        .collect();
    serde_json::to_vec(&rows).map_err(|e| StoreError::Backend {
        message: format!("encode job results: {e}"),
        source: None,
    })
}

/// The outcomes of a results part.
pub(crate) fn decode_outcomes(bytes: &[u8]) -> Result<Vec<JobOutcome>, StoreError> {
    let rows: Vec<StoredOutcome> =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            message: format!("a job's results part does not decode: {e}"),
            source: None,
        })?;
    Ok(rows
        .into_iter()
        .map(|r| match r.code {
            None => JobOutcome::Succeeded(r.serial),
            Some(code) => JobOutcome::Failed(JobFailure {
                serial: r.serial,
                code,
                message: r.message.unwrap_or_default(),
            }),
        })
        .collect())
}
