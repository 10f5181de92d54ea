//! A job: a batch operation that runs in the background.

use dps_core::job::{Job, JobFailure, JobKind, JobState};
use serde::Serialize;

/// A job's progress and outcome: `done` of `total` devices, how many succeeded and failed,
/// and each failed device with its reason (the first 10,000).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView<'a> {
    id: String,
    /// `allocate`, `reset`, `delete`, `export` (a CSV file), `labels` (a ZIP of QR labels) or
    /// `import` (a device file).
    kind: &'static str,
    group_id: String,
    /// `running`, `finished`, `cancelled` or `failed`.
    state: &'static str,
    total: u64,
    done: u64,
    succeeded: u64,
    failed: u64,
    failures: Vec<FailureOut<'a>>,
    cancel_requested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    actor: Option<&'a str>,
    created_at: String,
    updated_at: String,
    /// Where each device's result is, as CSV.
    results: String,
    /// Where the file of a finished `export` or `labels` job is (for an `import`, the report
    /// of its refused records).
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

/// A device the job failed for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct FailureOut<'a> {
    serial: &'a str,
    code: &'a str,
    message: &'a str,
}

impl<'a> From<&'a JobFailure> for FailureOut<'a> {
    fn from(f: &'a JobFailure) -> Self {
        Self {
            serial: f.serial.as_str(),
            code: &f.code,
            message: &f.message,
        }
    }
}

impl<'a> From<&'a Job> for JobView<'a> {
    fn from(j: &'a Job) -> Self {
        Self {
            id: j.id().to_string(),
            kind: j.kind().as_str(),
            group_id: j.group_id().to_string(),
            state: j.state().as_str(),
            total: j.total(),
            done: j.done(),
            succeeded: j.succeeded(),
            failed: j.failed(),
            failures: j.failures().iter().map(Into::into).collect(),
            cancel_requested: j.cancel_requested(),
            error: j.error(),
            actor: j.actor().map(|a| a.as_str()),
            created_at: j.created_at().to_string(),
            updated_at: j.updated_at().to_string(),
            results: format!("/v1/jobs/{}/results", j.id()),
            file: ((j.kind().makes_file() || j.kind() == JobKind::Import)
                && j.state() == JobState::Finished)
                .then(|| format!("/v1/jobs/{}/file", j.id())),
        }
    }
}
