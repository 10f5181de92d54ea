//! Jobs: a batch operation run a page at a time, its progress kept in the store; see
//! [`crate::job`].

use crate::environment::Environment;
use crate::error::{Entity, Error, Result, StoreError};
use crate::id::{GroupId, JobId, Version};
use crate::inject::SecretSource as _;
use crate::job::{JOB_PAGE, Job, JobKind, JobState};
use crate::state::AllocationStatus;
use crate::store::{DeviceQuery, Store};
use crate::text::SerialNumber;

use super::{BatchReport, Provisioner, Selection};

/// How often a cancellation is tried again when the job changed meanwhile.
const CANCEL_ATTEMPTS: usize = 10;

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// Records a job that runs `kind` over `selection` of `group`, a page at a time; run it
    /// with [`run_job`](Self::run_job) (in a task of its own: it returns when the job ends).
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
        let now = self.now();
        let job = Job {
            id: JobId::from_uuid(self.injected.ids.new_uuid()),
            kind,
            group: group.id(),
            selection,
            actor: self.actor.clone(),
            state: JobState::Running,
            total,
            succeeded: 0,
            failed: 0,
            failures: Vec::new(),
            cursor: None,
            position: 0,
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
        };
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
    /// for [`run_job`](Self::run_job) to take over.
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
}

impl<S: Store + Clone, E: Environment + Clone> Provisioner<S, E> {
    /// Runs the job until it ends: takes its lease (unless another runner holds it), then
    /// works through its pages, recording each page's outcomes and renewing the lease, and
    /// stops between two pages when it is cancelled. A job that another runner holds is
    /// answered as it is. A page that a stopped runner left in flight is first counted from
    /// the state its devices are in, and only the devices it did not reach are operated on.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; a retryable failure of the store or the environment, after
    /// which the job stays running for a later run to take over.
    pub async fn run_job(&self, id: JobId) -> Result<Job> {
        let mut job = self.job(id).await?;
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
        loop {
            if job.state.is_over() {
                return Ok(job);
            }
            if !job.in_flight.is_empty() {
                self.settle_in_flight(dps, &mut job).await?;
            } else if job.cancel_requested {
                job.state = JobState::Cancelled;
                job.cancel_requested = false;
            } else {
                let page = self.next_job_page(&job).await?;
                if page.is_empty() {
                    job.state = JobState::Finished;
                } else if let Some(page) = self.known_devices(&mut job, page).await? {
                    job.in_flight = page.clone();
                    job.page_started = self.now();
                    match self.save_job(&mut job).await? {
                        Saved::Done => {}
                        Saved::Changed(now) => {
                            if now.owner != Some(me) {
                                return Ok(*now);
                            }
                            job = *now;
                            continue;
                        }
                    }
                    let report = run_page(dps, job.kind, job.group, page).await;
                    self.record_page(&mut job, report)?;
                }
            }
            match self.save_job(&mut job).await? {
                Saved::Done => {}
                Saved::Changed(now) if now.owner == Some(me) => job = *now,
                Saved::Changed(now) => return Ok(*now),
            }
        }
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
    /// none does; the others are recorded as not found (and passed, for a list of serials),
    /// as a batch reports them, so that a runner that takes the page over never mistakes a
    /// missing device for a deleted one.
    async fn known_devices(
        &self,
        job: &mut Job,
        page: Vec<SerialNumber>,
    ) -> Result<Option<Vec<SerialNumber>>> {
        let devices = self.store.devices_by_serials(job.group, &page).await?;
        let known: std::collections::HashSet<&SerialNumber> =
            devices.iter().map(|d| d.serial()).collect();
        let mut found = Vec::with_capacity(page.len());
        for serial in &page {
            if known.contains(serial) {
                found.push(serial.clone());
            } else {
                let e = Error::NotFound {
                    entity: Entity::Device,
                    key: serial.to_string(),
                };
                job.record_failure(serial.clone(), e.code(), e.to_string());
                job.position += 1;
            }
        }
        Ok((!found.is_empty()).then_some(found))
    }

    /// Records the outcomes of the page in flight and moves past it; a failure of the
    /// whole page ends the job, unless it is retryable.
    fn record_page(&self, job: &mut Job, report: Result<BatchReport>) -> Result<()> {
        match report {
            Ok(report) => {
                for outcome in report.outcomes {
                    match outcome.result {
                        Ok(_) => job.succeeded += 1,
                        Err(e) => job.record_failure(outcome.serial, e.code(), e.to_string()),
                    }
                }
            }
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                job.state = JobState::Failed;
                job.error = Some(e.to_string());
            }
        }
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
                job.succeeded += 1;
            } else {
                todo.push(serial.clone());
            }
        }
        if todo.is_empty() {
            // Only the cursor moves.
            return self.record_page(job, Ok(BatchReport::default()));
        }
        let report = run_page(dps, job.kind, job.group, todo).await;
        self.record_page(job, report)
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
    }
}
