//! Running jobs in this process: each in a task of its own, at most once per process; and
//! taking over the jobs whose runner stopped.

use std::collections::HashSet;
use std::sync::Mutex;

use dps_core::job::JobId;

use crate::Api;

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
            match api.provisioner().run_job(id).await {
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
}
