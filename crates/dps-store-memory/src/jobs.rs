//! Jobs and their parts.

use std::ops::Bound;

use dps_core::job::{Job, JobId};
use dps_core::{Entity, StoreError, Version};

use crate::{Inner, conflict, not_found};

impl Inner {
    pub(crate) fn insert_job(&mut self, job: &Job) -> Result<(), StoreError> {
        if self.jobs.contains_key(&job.id()) {
            return Err(StoreError::AlreadyExists {
                entity: Entity::Job,
                key: job.id().to_string(),
            });
        }
        self.jobs.insert(job.id(), job.clone());
        Ok(())
    }

    pub(crate) fn update_job(&mut self, job: &Job, expected: Version) -> Result<(), StoreError> {
        match self.jobs.get_mut(&job.id()) {
            None => Err(not_found(Entity::Job, job.id())),
            Some(stored) if stored.version() != expected => Err(conflict(Entity::Job, job.id())),
            Some(stored) => {
                *stored = job.clone();
                Ok(())
            }
        }
    }

    pub(crate) fn jobs_before(&self, before: Option<JobId>, limit: usize) -> Vec<Job> {
        let upper = before.map_or(Bound::Unbounded, Bound::Excluded);
        self.jobs
            .range((Bound::Unbounded, upper))
            .rev()
            .take(limit)
            .map(|(_, j)| j.clone())
            .collect()
    }

    pub(crate) fn running_jobs(&self) -> Vec<Job> {
        self.jobs
            .values()
            .filter(|j| !j.state().is_over())
            .cloned()
            .collect()
    }
}
