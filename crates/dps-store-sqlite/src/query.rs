//! The reads of [`Store`]: point lookups and keyset pages on reader connections.

use async_trait::async_trait;
use dps_core::access::{AccessToken, IdempotencyClaim, IdempotencyRecord, TokenHash};
use dps_core::stored::{self, decode_device, decode_group};
use dps_core::{
    Actor, Changeset, Device, DeviceId, DeviceQuery, Event, EventCursor, GroupId,
    RegistrationGroup, SerialNumber, Store, StoreError, Timestamp, Version,
    job::{Job, JobId, JobStream},
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

use crate::error::sql_error;
use crate::row::{id_bytes, query_sql};
use crate::{Inner, SqliteStore, lock, open_connection};

impl Inner {
    /// Runs `f` on a reader connection (the single connection when in memory).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(path) = &self.path else {
            return f(&lock(&self.writer));
        };
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = open_connection(path, &self.options)?;
                c.pragma_update(None, "query_only", true)
                    .map_err(|e| sql_error("open a reader", e))?;
                c
            }
        };
        let result = f(&conn);
        let mut readers = lock(&self.readers);
        if readers.len() < self.options.max_readers {
            readers.push(conn);
        }
        result
    }
}

/// Runs a query whose first column is a device's `data` and decodes the devices.
fn collect_devices(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<Device>, StoreError> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| sql_error("prepare query", e))?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(|e| sql_error("query devices", e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| sql_error("read devices", e))? {
        let data = row
            .get_ref(0)
            .and_then(|v| v.as_str().map_err(Into::into))
            .map_err(|e| sql_error("read device", e))?;
        out.push(decode_device(data)?);
    }
    Ok(out)
}

#[async_trait]
impl Store for SqliteStore {
    async fn group(&self, id: GroupId) -> Result<Option<RegistrationGroup>, StoreError> {
        self.inner.read(|c| {
            let data: Option<String> = c
                .prepare_cached("SELECT data FROM dps_groups WHERE id = ?1")
                .and_then(|mut s| {
                    s.query_row([id_bytes(id.as_uuid())], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| sql_error("read group", e))?;
            data.map(|d| decode_group(&d)).transpose()
        })
    }

    async fn groups(
        &self,
        after: Option<GroupId>,
        limit: usize,
    ) -> Result<Vec<RegistrationGroup>, StoreError> {
        self.run(limit, move |inner| {
            inner.read(|c| {
                let after = after.map(|g| id_bytes(g.as_uuid())).unwrap_or_default();
                let mut stmt = c
                    .prepare_cached(
                        "SELECT data FROM dps_groups WHERE id > ?1 ORDER BY id LIMIT ?2",
                    )
                    .map_err(|e| sql_error("prepare groups", e))?;
                let rows = stmt
                    .query_map(rusqlite::params![after, limit as i64], |r| {
                        r.get::<_, String>(0)
                    })
                    .map_err(|e| sql_error("query groups", e))?;
                let mut out = Vec::new();
                for data in rows {
                    out.push(decode_group(
                        &data.map_err(|e| sql_error("read group", e))?,
                    )?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn device(&self, id: DeviceId) -> Result<Option<Device>, StoreError> {
        self.inner.read(|c| {
            let data: Option<String> = c
                .prepare_cached("SELECT data FROM dps_devices WHERE id = ?1")
                .and_then(|mut s| {
                    s.query_row([id_bytes(id.as_uuid())], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| sql_error("read device", e))?;
            data.map(|d| decode_device(&d)).transpose()
        })
    }

    async fn device_by_serial(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        self.inner.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM dps_devices WHERE group_id = ?1 AND serial = ?2")
                .map_err(|e| sql_error("prepare device lookup", e))?;
            let mut rows = stmt
                .query(rusqlite::params![
                    id_bytes(group.as_uuid()),
                    serial.as_str()
                ])
                .map_err(|e| sql_error("look up device", e))?;
            match rows.next().map_err(|e| sql_error("read device", e))? {
                Some(row) => {
                    let data = row
                        .get_ref(0)
                        .and_then(|v| v.as_str().map_err(Into::into))
                        .map_err(|e| sql_error("read device", e))?;
                    decode_device(data).map(Some)
                }
                None => Ok(None),
            }
        })
    }

    async fn devices_by_serials(
        &self,
        group: GroupId,
        serials: &[SerialNumber],
    ) -> Result<Vec<Device>, StoreError> {
        let serials: Vec<String> = serials.iter().map(|s| s.to_string()).collect();
        self.run(serials.len(), move |inner| {
            inner.read(|c| {
                let mut out = Vec::with_capacity(serials.len());
                for chunk in serials.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let sql = format!(
                        "SELECT data FROM dps_devices WHERE group_id = ? AND serial IN ({marks})"
                    );
                    let mut params = vec![Value::Blob(id_bytes(group.as_uuid()))];
                    params.extend(chunk.iter().map(|s| Value::Text(s.clone())));
                    out.extend(collect_devices(c, &sql, params)?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let (clause, mut params) = query_sql(query, after.as_ref());
        let sql = format!("SELECT data FROM dps_devices{clause} ORDER BY serial LIMIT ?");
        params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        self.run(limit, move |inner| {
            inner.read(|c| collect_devices(c, &sql, params))
        })
        .await
    }

    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64, StoreError> {
        let (clause, params) = query_sql(query, None);
        let sql = format!("SELECT count(*) FROM dps_devices{clause}");
        self.inner.read(|c| {
            let n: i64 = c
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row(rusqlite::params_from_iter(params), |r| r.get(0)))
                .map_err(|e| sql_error("count devices", e))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    async fn pending_devices(
        &self,
        after: Option<DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let after = after.map(|d| id_bytes(d.as_uuid())).unwrap_or_default();
        self.run(limit, move |inner| {
            inner.read(|c| {
                collect_devices(
                    c,
                    "SELECT data FROM dps_devices WHERE status = 1 AND id > ? ORDER BY id LIMIT ?",
                    vec![
                        Value::Blob(after),
                        Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
                    ],
                )
            })
        })
        .await
    }

    async fn events(&self, after: EventCursor, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.run(limit, move |inner| {
            inner.read(|c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT seq, data FROM dps_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    )
                    .map_err(|e| sql_error("prepare events", e))?;
                let rows = stmt
                    .query_map(
                        rusqlite::params![
                            i64::try_from(after.get()).unwrap_or(i64::MAX),
                            i64::try_from(limit).unwrap_or(i64::MAX)
                        ],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                    )
                    .map_err(|e| sql_error("query events", e))?;
                let mut out = Vec::new();
                for row in rows {
                    let (seq, data) = row.map_err(|e| sql_error("read event", e))?;
                    let cursor = EventCursor::new(u64::try_from(seq).unwrap_or(0));
                    out.push(stored::decode_event(cursor, &data)?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        let size = changeset.changes().len() + changeset.events().len();
        self.run(size, move |inner| inner.commit(changeset)).await
    }

    async fn tokens(&self) -> Result<Vec<AccessToken>, StoreError> {
        self.inner.tokens()
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<AccessToken>, StoreError> {
        self.inner.token_by_hash(hash)
    }

    async fn insert_token(&self, token: &AccessToken) -> Result<(), StoreError> {
        self.inner.insert_token(token)
    }

    async fn remove_token(&self, name: &Actor) -> Result<bool, StoreError> {
        self.inner.remove_token(name)
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        stale_before: Timestamp,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.inner.claim_idempotency(record, stale_before)
    }

    async fn finish_idempotency(&self, key: &str, answer: &[u8]) -> Result<(), StoreError> {
        self.inner.finish_idempotency(key, answer)
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        self.inner.release_idempotency(key)
    }

    async fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError> {
        // A purge deletes however many records expired: off the calling thread.
        self.run(usize::MAX, move |inner| inner.purge_idempotency(before))
            .await
    }

    async fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        self.inner.insert_job(job)
    }

    async fn update_job(&self, job: &Job, expected: Version) -> Result<(), StoreError> {
        self.inner.update_job(job, expected)
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.inner.job(id)
    }

    async fn jobs(&self, before: Option<JobId>, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.inner.jobs(before, limit, false)
    }

    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.inner.jobs(None, usize::MAX, true)
    }

    async fn put_job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.inner.put_job_part(job, stream, index, bytes)
    }

    async fn job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.job_part(job, stream, index)
    }
}
