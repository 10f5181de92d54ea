//! Jobs: a batch operation run a page at a time, its progress kept in the store; see
//! [`crate::job`].

use crate::environment::Environment;
use crate::error::{Entity, Error, Result, StoreError};
use crate::id::{GroupId, JobId, Version};
use crate::job::{Job, JobInput, JobKind, JobOutcome, JobState, JobStream};
use crate::store::{DeviceQuery, Store};
use crate::stored;

mod run;

use super::{Provisioner, Selection};

/// How often a cancellation is tried again when the job changed meanwhile.
const CANCEL_ATTEMPTS: usize = 10;

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Records a job that runs `kind` over `selection` of `group`, a page at a time; run it
    /// with [`run_job`](Self::run_job), or, for a [file job](JobKind::makes_file), with
    /// [`run_file_job`](Self::run_file_job) (in a task of its own: it returns when the job
    /// ends).
    /// Its changes' events name this provisioner's actor.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a missing group; the store's errors.
    pub async fn start_job(
        &self,
        kind: JobKind,
        group: GroupId,
        selection: Selection,
    ) -> Result<Job> {
        let group = self.group(group).await?;
        let total = match &selection {
            Selection::Serials(serials) => serials.len() as u64,
            Selection::Filter(filter) => {
                self.count(&DeviceQuery::new(group.id(), filter.clone()))
                    .await?
            }
        };
        let job = self.new_job(
            JobId::from_uuid(self.injected.ids.new_uuid()),
            kind,
            group.id(),
            selection,
            total,
        );
        self.store.insert_job(&job).await?;
        Ok(job)
    }

    /// Starts storing the input of an import job: push its parts with
    /// [`push_job_input`](Self::push_job_input), then start the job with
    /// [`start_import_job`](Self::start_import_job). Parts of an input whose job never
    /// starts stay unread.
    pub fn new_job_input(&self) -> JobInput {
        JobInput {
            id: JobId::from_uuid(self.injected.ids.new_uuid()),
            parts: 0,
        }
    }

    /// Stores `part` as the next part of `input`: a part the [`JobFile`](crate::job::JobFile)
    /// of the runner imports as a whole (for a CSV file, its header and some of its records).
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn push_job_input(&self, input: &mut JobInput, part: &[u8]) -> Result<()> {
        self.store
            .put_job_part(input.id, JobStream::Input, input.parts, part)
            .await?;
        input.parts += 1;
        Ok(())
    }

    /// Records a job that imports `input` into `group` in `mode`, a part at a time; `records`
    /// is how many records its parts hold (the job's total). Run it with
    /// [`run_file_job`](Self::run_file_job).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a missing group; the store's errors.
    pub async fn start_import_job(
        &self,
        input: JobInput,
        group: GroupId,
        mode: crate::import::ImportMode,
        records: u64,
    ) -> Result<Job> {
        let group = self.group(group).await?;
        let mut job = self.new_job(
            input.id,
            JobKind::Import,
            group.id(),
            Selection::Serials(Vec::new()),
            records,
        );
        job.import_mode = mode;
        job.input_parts = input.parts;
        self.store.insert_job(&job).await?;
        Ok(job)
    }

    /// The job with this identifier.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub async fn job(&self, id: JobId) -> Result<Job> {
        self.store.job(id).await?.ok_or_else(|| Error::NotFound {
            entity: Entity::Job,
            key: id.to_string(),
        })
    }

    /// Jobs started before `before` (every job without it), newest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn jobs(&self, before: Option<JobId>, limit: usize) -> Result<Vec<Job>> {
        Ok(self.store.jobs(before, limit).await?)
    }

    /// The running jobs that no runner holds (their lease ran out: their process stopped),
    /// for [`run_job`](Self::run_job) or [`run_file_job`](Self::run_file_job) to take over.
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn resumable_jobs(&self) -> Result<Vec<Job>> {
        let now = self.now();
        let running = self.store.running_jobs().await?;
        Ok(running
            .into_iter()
            .filter(|j| j.lease_until <= now)
            .collect())
    }

    /// Asks the job to stop after the page in flight; answers the job as it is then (a job
    /// that already ended is answered unchanged).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; the store's errors.
    pub async fn cancel_job(&self, id: JobId) -> Result<Job> {
        for _ in 0..CANCEL_ATTEMPTS {
            let mut job = self.job(id).await?;
            if job.state.is_over() || job.cancel_requested {
                return Ok(job);
            }
            let expected = job.version;
            job.cancel_requested = true;
            job.version = expected.next();
            match self.store.update_job(&job, expected).await {
                Ok(()) => return Ok(job),
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict {
            entity: Entity::Job,
            key: id.to_string(),
        })
    }

    /// The outcomes of part `index` of the job's [results](JobStream::Results) (parts
    /// `0..job.pages()`; one that is not stored has none).
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn job_results(&self, job: &Job, index: u32) -> Result<Vec<JobOutcome>> {
        match self
            .store
            .job_part(job.id(), JobStream::Results, index)
            .await?
        {
            Some(bytes) => Ok(stored::decode_outcomes(&bytes)?),
            None => Ok(Vec::new()),
        }
    }

    /// Part `index` of a file job's [output](JobStream::Output) (parts `0..job.pages()`).
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn job_output(&self, job: &Job, index: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .store
            .job_part(job.id(), JobStream::Output, index)
            .await?)
    }

    /// A new running job, free for the first runner to take.
    fn new_job(
        &self,
        id: JobId,
        kind: JobKind,
        group: GroupId,
        selection: Selection,
        total: u64,
    ) -> Job {
        let now = self.now();
        Job {
            id,
            kind,
            group,
            selection,
            actor: self.actor.clone(),
            state: JobState::Running,
            total,
            succeeded: 0,
            failed: 0,
            failures: Vec::new(),
            cursor: None,
            position: 0,
            pages: 0,
            import_mode: crate::import::ImportMode::Create,
            input_parts: 0,
            part_in_flight: false,
            in_flight: Vec::new(),
            page_started: now,
            owner: None,
            cancel_requested: false,
            error: None,
            // Free to be taken by the first runner.
            lease_until: now,
            created_at: now,
            updated_at: now,
            version: Version::new(1),
        }
    }
}
