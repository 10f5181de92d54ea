//! Jobs (`dps_jobs`) and their parts (`dps_job_parts`): reads on a reader connection, writes on the writer connection, each
//! one statement.

use dps_core::job::{Job, JobId, JobStream};
use dps_core::stored::{self, StoredJob};
use dps_core::{Entity, StoreError, Version};
use rusqlite::OptionalExtension;

use crate::error::{SQLITE_CONSTRAINT_PRIMARYKEY, is_constraint, sql_error};
use crate::{Inner, lock};

impl Inner {
    /// Inserts a job; an identifier already stored is [`StoreError::AlreadyExists`].
    pub(crate) fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        let row = StoredJob::from(job);
        let data = row.to_json()?;
        let r = lock(&self.writer)
            .prepare_cached(
                "INSERT INTO dps_jobs (id, version, running, data) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(rusqlite::params![
                    &job.id().as_uuid().as_bytes()[..],
                    job.version().get() as i64,
                    !row.is_over(),
                    data
                ])
            });
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_PRIMARYKEY) => {
                Err(StoreError::AlreadyExists {
                    entity: Entity::Job,
                    key: job.id().to_string(),
                })
            }
            Err(e) => Err(sql_error("insert job", e)),
        }
    }

    /// Replaces a job at version `expected`.
    pub(crate) fn update_job(&self, job: &Job, expected: Version) -> Result<(), StoreError> {
        let row = StoredJob::from(job);
        let data = row.to_json()?;
        let id = job.id().as_uuid().as_bytes().to_vec();
        let conn = lock(&self.writer);
        let n = conn
            .prepare_cached(
                "UPDATE dps_jobs SET version = ?2, running = ?3, data = ?4 WHERE id = ?1 AND version = ?5",
            )
            .and_then(|mut s| {
                s.execute(rusqlite::params![
                    id,
                    job.version().get() as i64,
                    !row.is_over(),
                    data,
                    expected.get() as i64
                ])
            })
            .map_err(|e| sql_error("update job", e))?;
        if n == 1 {
            return Ok(());
        }
        let exists: Option<i64> = conn
            .prepare_cached("SELECT version FROM dps_jobs WHERE id = ?1")
            .and_then(|mut s| s.query_row([&id], |r| r.get(0)).optional())
            .map_err(|e| sql_error("read job version", e))?;
        let id = job.id();
        Err(StoreError::stale_write(
            Entity::Job,
            id,
            id,
            exists.is_some(),
        ))
    }

    /// The job with this identifier.
    pub(crate) fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.read(|c| {
            let data: Option<String> = c
                .prepare_cached("SELECT data FROM dps_jobs WHERE id = ?1")
                .and_then(|mut s| {
                    s.query_row([&id.as_uuid().as_bytes()[..]], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| sql_error("read job", e))?;
            data.map(|d| stored::decode_job(&d)).transpose()
        })
    }

    /// Jobs newest first: before `before`, or running ones only (oldest first).
    pub(crate) fn jobs(
        &self,
        before: Option<JobId>,
        limit: usize,
        running: bool,
    ) -> Result<Vec<Job>, StoreError> {
        self.read(|c| {
            let (sql, key): (&str, Vec<u8>) = match (running, before) {
                (true, _) => (
                    "SELECT data FROM dps_jobs WHERE running = 1 ORDER BY id LIMIT ?2",
                    Vec::new(),
                ),
                (false, Some(b)) => (
                    "SELECT data FROM dps_jobs WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
                    b.as_uuid().as_bytes().to_vec(),
                ),
                (false, None) => (
                    "SELECT data FROM dps_jobs WHERE ?1 IS NOT NULL ORDER BY id DESC LIMIT ?2",
                    Vec::new(),
                ),
            };
            let mut stmt = c
                .prepare_cached(sql)
                .map_err(|e| sql_error("prepare jobs", e))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt
                .query_map(rusqlite::params![key, limit], |r| r.get::<_, String>(0))
                .map_err(|e| sql_error("query jobs", e))?;
            let mut out = Vec::new();
            for data in rows {
                out.push(stored::decode_job(
                    &data.map_err(|e| sql_error("read job", e))?,
                )?);
            }
            Ok(out)
        })
    }

    /// Stores a part of a job, replacing one stored there.
    pub(crate) fn put_job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        lock(&self.writer)
            .prepare_cached(
                "INSERT OR REPLACE INTO dps_job_parts (job, stream, part, bytes) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(rusqlite::params![
                    &job.as_uuid().as_bytes()[..],
                    stream.code(),
                    index,
                    bytes
                ])
            })
            .map(drop)
            .map_err(|e| sql_error("write job part", e))
    }

    /// A part of a job.
    pub(crate) fn job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT bytes FROM dps_job_parts WHERE job = ?1 AND stream = ?2 AND part = ?3",
            )
            .and_then(|mut s| {
                s.query_row(
                    rusqlite::params![&job.as_uuid().as_bytes()[..], stream.code(), index],
                    |r| r.get(0),
                )
                .optional()
            })
            .map_err(|e| sql_error("read job part", e))
        })
    }
}
