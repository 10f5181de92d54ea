//! Jobs (`dps_jobs`) and their parts (`dps_job_parts`): each call one statement on a pooled connection (an update that
//! changed nothing reads the version to tell a conflict from a missing job).

use dps_core::job::{Job, JobId, JobStream};
use dps_core::stored::{self, StoredJob};
use dps_core::{Entity, StoreError, Uuid, Version};
use tokio_postgres::error::SqlState;

use crate::PgStore;
use crate::error::pg_error;

/// The statements of jobs, with the schema name filled in.
pub(crate) struct JobSql {
    insert: String,
    update: String,
    version: String,
    one: String,
    before: String,
    running: String,
    put_part: String,
    part: String,
}

impl JobSql {
    /// The statements for schema `s`.
    pub(crate) fn new(s: &str) -> Self {
        Self {
            insert: format!(
                "INSERT INTO \"{s}\".dps_jobs (id, version, running, data) VALUES ($1, $2, $3, $4)"
            ),
            update: format!(
                "UPDATE \"{s}\".dps_jobs SET version = $2, running = $3, data = $4 WHERE id = $1 AND version = $5"
            ),
            version: format!("SELECT version FROM \"{s}\".dps_jobs WHERE id = $1"),
            one: format!("SELECT data FROM \"{s}\".dps_jobs WHERE id = $1"),
            before: format!(
                "SELECT data FROM \"{s}\".dps_jobs WHERE id < $1 ORDER BY id DESC LIMIT $2"
            ),
            running: format!("SELECT data FROM \"{s}\".dps_jobs WHERE running ORDER BY id"),
            put_part: format!(
                "INSERT INTO \"{s}\".dps_job_parts (job, stream, part, bytes) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (job, stream, part) DO UPDATE SET bytes = EXCLUDED.bytes"
            ),
            part: format!(
                "SELECT bytes FROM \"{s}\".dps_job_parts WHERE job = $1 AND stream = $2 AND part = $3"
            ),
        }
    }
}

fn version(v: Version) -> i64 {
    i64::try_from(v.get()).unwrap_or(i64::MAX)
}

impl PgStore {
    /// Inserts a job; an identifier already stored is [`StoreError::AlreadyExists`].
    pub(crate) async fn add_job(&self, job: &Job) -> Result<(), StoreError> {
        let row = StoredJob::from(job);
        let data = row.to_json()?;
        let client = self.client().await?;
        let running = !row.is_over();
        let r = client
            .execute(
                &self.sql.jobs.insert,
                &[job.id().as_uuid(), &version(job.version()), &running, &data],
            )
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::AlreadyExists {
                    entity: Entity::Job,
                    key: job.id().to_string(),
                })
            }
            Err(e) => Err(pg_error("insert job", e)),
        }
    }

    /// Replaces a job at version `expected`.
    pub(crate) async fn replace_job(&self, job: &Job, expected: Version) -> Result<(), StoreError> {
        let row = StoredJob::from(job);
        let data = row.to_json()?;
        let client = self.client().await?;
        let running = !row.is_over();
        let n = client
            .execute(
                &self.sql.jobs.update,
                &[
                    job.id().as_uuid(),
                    &version(job.version()),
                    &running,
                    &data,
                    &version(expected),
                ],
            )
            .await
            .map_err(|e| pg_error("update job", e))?;
        if n == 1 {
            return Ok(());
        }
        let exists = client
            .query_opt(&self.sql.jobs.version, &[job.id().as_uuid()])
            .await
            .map_err(|e| pg_error("read job version", e))?;
        let id = job.id();
        Err(StoreError::stale_write(
            Entity::Job,
            id,
            id,
            exists.is_some(),
        ))
    }

    /// The job with this identifier.
    pub(crate) async fn find_job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&self.sql.jobs.one, &[id.as_uuid()])
            .await
            .map_err(|e| pg_error("read job", e))?;
        row.map(|r| stored::decode_job(r.get(0))).transpose()
    }

    /// Jobs before `before` (every job without it), newest first, or the running ones.
    pub(crate) async fn list_jobs(
        &self,
        before: Option<JobId>,
        limit: usize,
        running: bool,
    ) -> Result<Vec<Job>, StoreError> {
        let client = self.client().await?;
        let rows = if running {
            client.query(&self.sql.jobs.running, &[]).await
        } else {
            let before = before.map_or(Uuid::max(), |b| *b.as_uuid());
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            client
                .query(&self.sql.jobs.before, &[&before, &limit])
                .await
        }
        .map_err(|e| pg_error("list jobs", e))?;
        rows.iter().map(|r| stored::decode_job(r.get(0))).collect()
    }

    /// Stores a part of a job, replacing one stored there.
    pub(crate) async fn put_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let part = i32::try_from(index).map_err(|_| part_out_of_range(index))?;
        client
            .execute(
                &self.sql.jobs.put_part,
                &[job.as_uuid(), &stream.code(), &part, &bytes],
            )
            .await
            .map(drop)
            .map_err(|e| pg_error("write job part", e))
    }

    /// A part of a job.
    pub(crate) async fn part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Ok(part) = i32::try_from(index) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(&self.sql.jobs.part, &[job.as_uuid(), &stream.code(), &part])
            .await
            .map_err(|e| pg_error("read job part", e))?;
        Ok(row.map(|r| r.get(0)))
    }
}

fn part_out_of_range(index: u32) -> StoreError {
    StoreError::Corrupt {
        message: format!("job part {index} is beyond what the store numbers"),
        source: None,
    }
}
