//! Running jobs in this process: each in a task of its own, at most once per process; and
//! taking over the jobs whose runner stopped. A batch, an export or a label archive over
//! [`Options::job_threshold`](crate::Options::job_threshold) devices runs as a job.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dps_core::job::{Job, JobId, JobKind};
use dps_core::{DeviceQuery, GroupId, Selection};

use crate::problem::Problem;
use crate::views::JobView;
use crate::{Api, DynProvisioner};

pub(crate) mod files;
pub(crate) mod import;

/// The jobs this process runs.
#[derive(Debug, Default)]
pub(crate) struct Runners {
    running: Mutex<HashSet<JobId>>,
}

impl Runners {
    /// Marks `id` as running here; false when it already is.
    fn claim(&self, id: JobId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id)
    }

    fn release(&self, id: JobId) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

impl Api {
    /// Runs the job `id` in a task of its own, unless this process runs it already.
    pub(crate) fn spawn_job(&self, id: JobId) {
        if !self.inner.runners.claim(id) {
            return;
        }
        let api = self.clone();
        tokio::spawn(async move {
            let files = files::Files { api: api.clone() };
            match api.provisioner().run_file_job(id, &files).await {
                Ok(job) => {
                    tracing::info!(job = %id, state = job.state().as_str(), done = job.done(), "job stopped")
                }
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "job interrupted; it is taken over once its lease runs out")
                }
            }
            api.inner.runners.release(id);
        });
    }

    /// Takes over the running jobs whose runner stopped (their lease ran out), each in a
    /// task of its own; how many it took. Call it at start and then once a lease, as
    /// `dps serve` does, so that a job survives the restart of its server.
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn resume_jobs(&self) -> Result<usize, dps_core::Error> {
        let jobs = self.provisioner().resumable_jobs().await?;
        for job in &jobs {
            self.spawn_job(job.id());
        }
        Ok(jobs.len())
    }

    /// Starts `kind` over `selection` as a job when it holds more than
    /// [`Options::job_threshold`](crate::Options::job_threshold) devices, and answers
    /// `202 Accepted` with the job at `Location`; `None` when the selection is small enough
    /// to run in the request.
    pub(crate) async fn job_if_large(
        &self,
        dps: &DynProvisioner,
        kind: JobKind,
        group: GroupId,
        selection: &Selection,
    ) -> Result<Option<Job>, Problem> {
        let size = match selection {
            Selection::Serials(serials) => serials.len() as u64,
            Selection::Filter(filter) => {
                dps.count(&DeviceQuery::new(group, filter.clone())).await?
            }
        };
        if size <= self.options().job_threshold as u64 {
            return Ok(None);
        }
        let job = dps.start_job(kind, group, selection.clone()).await?;
        self.spawn_job(job.id());
        Ok(Some(job))
    }
}

/// `202 Accepted`, the job at `Location`, and the job.
pub(crate) fn accepted(job: &Job) -> Response {
    let location = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id()))
        .unwrap_or_else(|_| HeaderValue::from_static("/v1/jobs"));
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(JobView::from(job)),
    )
        .into_response()
}
