//! Running a job: its lease, its pages, their outcomes and parts, and taking over a page
//! that a stopped runner left in flight.

use crate::environment::Environment;
use crate::error::{Entity, Error, Result, StoreError};
use crate::id::GroupId;
use crate::inject::SecretSource as _;
use crate::job::{JOB_PAGE, Job, JobFailure, JobFile, JobKind, JobOutcome, JobState, JobStream};
use crate::state::AllocationStatus;
use crate::store::{DeviceQuery, Store};
use crate::stored;
use crate::text::SerialNumber;

use super::super::{BatchReport, Provisioner, Selection};

impl<S: Store + Clone, E: Environment + Clone> Provisioner<S, E> {
    /// Runs the job until it ends: takes its lease (unless another runner holds it), then
    /// works through its pages, storing each page's outcomes as a
    /// [results part](JobStream::Results) and renewing the lease, and stops between two
    /// pages when it is cancelled. A job that another runner holds is answered as it is. A
    /// page that a stopped runner left in flight is first counted from the state its devices
    /// are in, and only the devices it did not reach are operated on.
    ///
    /// A [file job](JobKind::makes_file) needs the writer of its file: this call answers it
    /// unchanged, for [`run_file_job`](Self::run_file_job) to run.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; a retryable failure of the store or the environment, after
    /// which the job stays running for a later run to take over.
    pub async fn run_job(&self, id: crate::job::JobId) -> Result<Job> {
        self.run_with(id, None).await
    }

    /// Runs the job as [`run_job`](Self::run_job) does; a file job's pages are written by
    /// `files`, each stored as the [output part](JobStream::Output) of the page's number.
    /// A page that a stopped runner left unfinished is written again.
    ///
    /// # Errors
    ///
    /// As [`run_job`](Self::run_job), and the failures of `files`, which end the job
    /// unless they are retryable.
    pub async fn run_file_job(&self, id: crate::job::JobId, files: &dyn JobFile) -> Result<Job> {
        self.run_with(id, Some(files)).await
    }

    async fn run_with(&self, id: crate::job::JobId, files: Option<&dyn JobFile>) -> Result<Job> {
        let mut job = self.job(id).await?;
        if job.kind.needs_files() && files.is_none() {
            return Ok(job);
        }
        let me = crate::Uuid::from_u128(u128::from_le_bytes({
            let mut b = [0u8; 16];
            self.injected.secrets.fill(&mut b);
            b
        }));
        let acting = job.actor.clone().map(|a| self.acting_as(a));
        let dps = acting.as_ref().unwrap_or(self);
        // Take the lease.
        loop {
            if job.state.is_over() || (job.lease_until > self.now() && job.owner != Some(me)) {
                return Ok(job);
            }
            job.owner = Some(me);
            match self.save_job(&mut job).await? {
                Saved::Done => break,
                Saved::Changed(now) => job = *now,
            }
        }
        match self.run_pages(dps, &mut job, me, files).await {
            Err(e) if !e.is_retryable() => {
                // A failure no retry mends (a damaged part, a refused write) ends the job,
                // rather than leaving it to be taken over and fail again for ever.
                job.state = JobState::Failed;
                job.error = Some(e.to_string());
                job.in_flight.clear();
                job.part_in_flight = false;
                match self.save_job(&mut job).await? {
                    Saved::Done => Ok(job),
                    Saved::Changed(now) => Ok(*now),
                }
            }
            other => other,
        }
    }

    /// Works through the job's pages while this runner holds it.
    async fn run_pages(
        &self,
        dps: &Provisioner<S, E>,
        job: &mut Job,
        me: crate::Uuid,
        files: Option<&dyn JobFile>,
    ) -> Result<Job> {
        loop {
            if job.state.is_over() {
                return Ok(job.clone());
            }
            if !job.in_flight.is_empty() {
                self.settle_in_flight(dps, job).await?;
            } else if job.cancel_requested && !job.part_in_flight {
                job.state = JobState::Cancelled;
                job.cancel_requested = false;
            } else if let Some(stop) = self.run_next_page(dps, job, files).await? {
                return Ok(stop);
            }
            match self.save_job(job).await? {
                Saved::Done => {}
                Saved::Changed(now) if now.owner == Some(me) => *job = *now,
                Saved::Changed(now) => return Ok(*now),
            }
        }
    }

    /// Does the job's next page (or finishes the job when none is left); the stored job
    /// when another runner took it over meanwhile.
    async fn run_next_page(
        &self,
        dps: &Provisioner<S, E>,
        job: &mut Job,
        files: Option<&dyn JobFile>,
    ) -> Result<Option<Job>> {
        if let (JobKind::Import, Some(files)) = (job.kind, files) {
            return self.import_part(job, files).await;
        }
        let page = self.next_job_page(job).await?;
        if page.is_empty() {
            job.state = JobState::Finished;
            return Ok(None);
        }
        if let (true, Some(files)) = (job.kind.makes_file(), files) {
            self.file_page(job, page, files).await?;
            return Ok(None);
        }
        let Some(page) = self.known_devices(job, page).await? else {
            return Ok(None);
        };
        job.in_flight = page.clone();
        job.page_started = self.now();
        if let Saved::Changed(now) = self.save_job(job).await? {
            // Another runner took the job over, or it ended.
            return Ok(Some(*now));
        }
        let report = run_page(dps, job.kind, job.group, page).await;
        self.record_page(job, report, Vec::new()).await?;
        Ok(None)
    }
}

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// The serials of the job's next page.
    async fn next_job_page(&self, job: &Job) -> Result<Vec<SerialNumber>> {
        Ok(match &job.selection {
            Selection::Serials(serials) => {
                let from = usize::try_from(job.position).unwrap_or(usize::MAX);
                serials.iter().skip(from).take(JOB_PAGE).cloned().collect()
            }
            Selection::Filter(filter) => {
                let query = DeviceQuery::new(job.group, filter.clone());
                self.store
                    .devices(&query, job.cursor.clone(), JOB_PAGE)
                    .await?
                    .into_iter()
                    .map(|d| d.serial().clone())
                    .collect()
            }
        })
    }

    /// The serials of `page` that name devices of the group, in its order, or `None` when
    /// none does; the others are recorded as not found (and passed, for a list of serials)
    /// in a results part of their own, as a batch reports them, so that a runner that takes
    /// the page over never mistakes a missing device for a deleted one.
    async fn known_devices(
        &self,
        job: &mut Job,
        page: Vec<SerialNumber>,
    ) -> Result<Option<Vec<SerialNumber>>> {
        let devices = self.store.devices_by_serials(job.group, &page).await?;
        let known: std::collections::HashSet<&SerialNumber> =
            devices.iter().map(|d| d.serial()).collect();
        let mut found = Vec::with_capacity(page.len());
        let mut missing = Vec::new();
        for serial in &page {
            if known.contains(serial) {
                found.push(serial.clone());
            } else {
                job.position += 1;
                missing.push(job.fail(not_found(serial)));
            }
        }
        self.store_results(job, &missing).await?;
        Ok((!found.is_empty()).then_some(found))
    }

    /// Writes a file job's part of `page` and records its outcomes.
    async fn file_page(
        &self,
        job: &mut Job,
        page: Vec<SerialNumber>,
        files: &dyn JobFile,
    ) -> Result<()> {
        let mut devices = self.store.devices_by_serials(job.group, &page).await?;
        devices.sort_by(|a, b| a.serial().cmp(b.serial()));
        let mut missing = Vec::new();
        let mut ordered = Vec::with_capacity(page.len());
        for serial in &page {
            match devices.binary_search_by(|d| d.serial().cmp(serial)) {
                Ok(i) => ordered.push(devices[i].clone()),
                Err(_) => missing.push(not_found(serial)),
            }
        }
        let written = match files.page(job, ordered).await {
            Ok(written) => written,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                job.state = JobState::Failed;
                job.error = Some(e.to_string());
                return Ok(());
            }
        };
        if !self.holds(job).await? {
            // Taken over: the next write finds that out; this page is the new runner's.
            return Ok(());
        }
        self.store
            .put_job_part(job.id, JobStream::Output, job.pages, &written.bytes)
            .await?;
        let failed: std::collections::HashMap<&SerialNumber, &JobFailure> = written
            .failures
            .iter()
            .chain(&missing)
            .map(|f| (&f.serial, f))
            .collect();
        let outcomes: Vec<JobOutcome> = page
            .iter()
            .map(|serial| match failed.get(serial) {
                Some(f) => JobOutcome::Failed((*f).clone()),
                None => JobOutcome::Succeeded(serial.clone()),
            })
            .collect();
        for outcome in &outcomes {
            match outcome {
                JobOutcome::Succeeded(_) => job.succeeded += 1,
                JobOutcome::Failed(f) => {
                    job.record_failure(f);
                }
            }
        }
        // The output part and the results part share the page's number.
        self.store
            .put_job_part(
                job.id,
                JobStream::Results,
                job.pages,
                &stored::encode_outcomes(&outcomes)?,
            )
            .await?;
        job.pages += 1;
        job.position += page.len() as u64;
        job.cursor = page.last().cloned();
        Ok(())
    }

    /// Imports the job's next input part (or finishes the job when none is left): marks it in
    /// flight, imports it, and records its outcomes. A part that a stopped runner left in
    /// flight is imported again, with the time it started, so that its records that the
    /// stopped runner created count as imported.
    async fn import_part(&self, job: &mut Job, files: &dyn JobFile) -> Result<Option<Job>> {
        if job.pages >= job.input_parts {
            job.state = JobState::Finished;
            return Ok(None);
        }
        let resumed_since = job.part_in_flight.then_some(job.page_started);
        if !job.part_in_flight {
            job.part_in_flight = true;
            job.page_started = self.now();
            if let Saved::Changed(now) = self.save_job(job).await? {
                return Ok(Some(*now));
            }
        }
        let index = job.pages;
        let part = self
            .store
            .job_part(job.id, JobStream::Input, index)
            .await?
            .ok_or_else(|| {
                Error::Store(StoreError::Corrupt {
                    message: format!("input part {index} of job {} is missing", job.id),
                    source: None,
                })
            })?;
        let page = match files.import(job, index, part, resumed_since).await {
            Ok(page) => page,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                job.state = JobState::Failed;
                job.error = Some(e.to_string());
                job.part_in_flight = false;
                return Ok(None);
            }
        };
        if !self.holds(job).await? {
            return Ok(None);
        }
        self.store
            .put_job_part(job.id, JobStream::Output, index, &page.report)
            .await?;
        self.store
            .put_job_part(
                job.id,
                JobStream::Results,
                index,
                &stored::encode_outcomes(&page.outcomes)?,
            )
            .await?;
        for outcome in &page.outcomes {
            if let JobOutcome::Failed(f) = outcome
                && job.failures.len() < crate::job::MAX_JOB_FAILURES
            {
                job.failures.push(f.clone());
            }
        }
        job.succeeded += page.imported;
        job.failed += page.refused;
        job.pages += 1;
        job.part_in_flight = false;
        Ok(None)
    }

    /// Stores `outcomes` as the job's next results part (nothing when there are none, or
    /// when this runner no longer holds the job: its next write finds that out).
    async fn store_results(&self, job: &mut Job, outcomes: &[JobOutcome]) -> Result<()> {
        if outcomes.is_empty() || !self.holds(job).await? {
            return Ok(());
        }
        let bytes = stored::encode_outcomes(outcomes)?;
        self.store
            .put_job_part(job.id, JobStream::Results, job.pages, &bytes)
            .await?;
        job.pages += 1;
        Ok(())
    }

    /// Whether the stored job is still this runner's, read just before it writes a part: a
    /// runner that stalled past its lease and was taken over never writes over the parts of
    /// the runner that took over (whose parts the job counts).
    async fn holds(&self, job: &Job) -> Result<bool> {
        let stored = self.job(job.id).await?;
        Ok(stored.owner == job.owner && !stored.state.is_over() && stored.pages == job.pages)
    }

    /// Records the outcomes of the page in flight (after `reached`, the devices that a
    /// stopped runner already did) and moves past it; a failure of the whole page ends the
    /// job, unless it is retryable.
    async fn record_page(
        &self,
        job: &mut Job,
        report: Result<BatchReport>,
        mut outcomes: Vec<JobOutcome>,
    ) -> Result<()> {
        job.succeeded += outcomes.len() as u64;
        match report {
            Ok(report) => {
                for outcome in report.outcomes {
                    match outcome.result {
                        Ok(_) => {
                            job.succeeded += 1;
                            outcomes.push(JobOutcome::Succeeded(outcome.serial));
                        }
                        Err(e) => outcomes.push(job.fail(failure(outcome.serial, &e))),
                    }
                }
            }
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                // The page's devices not counted yet failed with the page.
                let counted: std::collections::HashSet<SerialNumber> =
                    outcomes.iter().map(|o| o.serial().clone()).collect();
                for serial in job.in_flight.clone() {
                    if !counted.contains(&serial) {
                        outcomes.push(job.fail(failure(serial, &e)));
                    }
                }
                job.state = JobState::Failed;
                job.error = Some(e.to_string());
            }
        }
        self.store_results(job, &outcomes).await?;
        let page = std::mem::take(&mut job.in_flight);
        job.position += page.len() as u64;
        if let Some(last) = page.into_iter().last() {
            job.cursor = Some(last);
        }
        Ok(())
    }

    /// Counts the page that a stopped runner left in flight from its devices' states, then
    /// runs the operation on the devices it did not reach.
    async fn settle_in_flight(&self, dps: &Provisioner<S, E>, job: &mut Job) -> Result<()> {
        let page = job.in_flight.clone();
        let devices = self.store.devices_by_serials(job.group, &page).await?;
        let mut reached_ones = Vec::new();
        let mut todo = Vec::new();
        for serial in &page {
            let device = devices.iter().find(|d| d.serial() == serial);
            let touched = device.is_some_and(|d| d.updated_at() >= job.page_started);
            let reached = match (job.kind, device.map(|d| d.status())) {
                // A pending operation is recovery's to complete.
                (_, Some(AllocationStatus::Pending)) => touched,
                (JobKind::Delete, None) => true,
                (JobKind::Allocate, Some(AllocationStatus::Allocated))
                | (JobKind::Reset, Some(AllocationStatus::NotAllocated)) => touched,
                _ => false,
            };
            if reached {
                reached_ones.push(JobOutcome::Succeeded(serial.clone()));
            } else {
                todo.push(serial.clone());
            }
        }
        let report = if todo.is_empty() {
            // Only the cursor moves.
            Ok(BatchReport::default())
        } else {
            run_page(dps, job.kind, job.group, todo).await
        };
        self.record_page(job, report, reached_ones).await
    }

    /// Writes the job with a new version and a renewed lease; when the stored job changed
    /// meanwhile (a cancellation, another runner), answers the stored one.
    ///
    /// A change that only asked for a cancellation (the stored job still has this runner as
    /// its owner) is taken into `job`, which is then written: the page's outcomes are kept,
    /// and the cancellation is obeyed before the next page.
    async fn save_job(&self, job: &mut Job) -> Result<Saved> {
        loop {
            let expected = job.version;
            let now = self.now();
            job.version = expected.next();
            job.updated_at = now;
            job.lease_until = if job.state.is_over() {
                now
            } else {
                self.lease_from(now)
            };
            match self.store.update_job(job, expected).await {
                Ok(()) => return Ok(Saved::Done),
                Err(StoreError::Conflict { .. }) => {
                    let stored = self.job(job.id).await?;
                    if job.owner.is_some() && stored.owner == job.owner && !stored.state.is_over() {
                        job.version = stored.version;
                        job.cancel_requested |= stored.cancel_requested;
                        continue;
                    }
                    return Ok(Saved::Changed(Box::new(stored)));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// What [`Provisioner::save_job`] found.
enum Saved {
    Done,
    Changed(Box<Job>),
}

fn not_found(serial: &SerialNumber) -> JobFailure {
    let e = Error::NotFound {
        entity: Entity::Device,
        key: serial.to_string(),
    };
    failure(serial.clone(), &e)
}

/// The failure `e` of the device `serial`.
fn failure(serial: SerialNumber, e: &Error) -> JobFailure {
    JobFailure {
        serial,
        code: e.code().to_owned(),
        message: e.to_string(),
    }
}

/// Runs `kind` over `serials`.
async fn run_page<S: Store, E: Environment>(
    dps: &Provisioner<S, E>,
    kind: JobKind,
    group: GroupId,
    serials: Vec<SerialNumber>,
) -> Result<BatchReport> {
    let selection = Selection::Serials(serials);
    match kind {
        JobKind::Allocate => dps.allocate(group, &selection).await,
        JobKind::Reset => dps.reset(group, &selection).await,
        JobKind::Delete => dps.delete(group, &selection).await,
        // A file job changes no device (its pages are written by `file_page`); an import's
        // parts are imported by `import_part`.
        JobKind::Export | JobKind::Labels | JobKind::Import => Ok(BatchReport::default()),
    }
}
