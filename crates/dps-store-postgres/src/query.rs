//! The reads of [`Store`]: point lookups and keyset pages.

use async_trait::async_trait;
use dps_core::access::{AccessToken, IdempotencyClaim, IdempotencyRecord, TokenHash};
use dps_core::stored;
use dps_core::{
    Actor, Changeset, Device, DeviceId, DeviceQuery, Event, EventCursor, GroupId,
    RegistrationGroup, SerialNumber, Store, StoreError, Timestamp, Uuid, Version,
    job::{Job, JobId, JobStream},
};
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use crate::PgStore;
use crate::error::pg_error;
use crate::row::{limit, query_sql};

impl PgStore {
    /// Runs a query whose first column is a device's `data` and decodes the devices.
    async fn query_devices(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Device>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let rows = client
            .query(&stmt, params)
            .await
            .map_err(|e| pg_error("query devices", e))?;
        rows.iter()
            .map(|r| stored::decode_device(r.get(0)))
            .collect()
    }
}

impl PgStore {
    /// Numbers every committed batch that has no numbers yet, in batch order, above every
    /// number handed out before: one short transaction under the counter's row lock.
    ///
    /// Numbering steps run one at a time, and each sees every step before it, so a number
    /// never becomes visible below one that a reader has already been given. A batch whose
    /// commit began after another batch was committed has the larger identifier, so events
    /// keep the order in which their commits followed each other.
    async fn number_batches(
        &self,
        client: &mut deadpool_postgres::Object,
    ) -> Result<(), StoreError> {
        // Read committed whatever the database's default: the numbering statement must see
        // what committed while it waited for the lock.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(|e| pg_error("begin numbering events", e))?;
        tx.batch_execute(&self.sql.events.number_batches)
            .await
            .map_err(|e| pg_error("number events", e))?;
        tx.commit()
            .await
            .map_err(|e| pg_error("commit numbering events", e))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn group(&self, id: GroupId) -> Result<Option<RegistrationGroup>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&self.sql.group, &[id.as_uuid()])
            .await
            .map_err(|e| pg_error("read group", e))?;
        row.map(|r| stored::decode_group(r.get(0))).transpose()
    }

    async fn groups(
        &self,
        after: Option<GroupId>,
        limit_n: usize,
    ) -> Result<Vec<RegistrationGroup>, StoreError> {
        let client = self.client().await?;
        let after = after.map(|g| *g.as_uuid()).unwrap_or(Uuid::nil());
        let rows = client
            .query(&self.sql.groups, &[&after, &limit(limit_n)])
            .await
            .map_err(|e| pg_error("list groups", e))?;
        rows.iter()
            .map(|r| stored::decode_group(r.get(0)))
            .collect()
    }

    async fn device(&self, id: DeviceId) -> Result<Option<Device>, StoreError> {
        Ok(self
            .query_devices(&self.sql.device, &[id.as_uuid()])
            .await?
            .pop())
    }

    async fn device_by_serial(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        Ok(self
            .query_devices(
                &self.sql.device_by_serial,
                &[group.as_uuid(), &serial.as_str()],
            )
            .await?
            .pop())
    }

    async fn devices_by_serials(
        &self,
        group: GroupId,
        serials: &[SerialNumber],
    ) -> Result<Vec<Device>, StoreError> {
        let serials: Vec<&str> = serials.iter().map(|s| s.as_str()).collect();
        self.query_devices(&self.sql.devices_by_serials, &[group.as_uuid(), &serials])
            .await
    }

    async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit_n: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let (clause, mut params) = query_sql(query, after.as_ref());
        params.push(Box::new(limit(limit_n)));
        let sql = format!(
            "SELECT data FROM {}{clause} ORDER BY serial LIMIT ${}",
            self.sql.devices_table,
            params.len()
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
        self.query_devices(&sql, &refs).await
    }

    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64, StoreError> {
        let (clause, params) = query_sql(query, None);
        let sql = format!("SELECT count(*) FROM {}{clause}", self.sql.devices_table);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&sql)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let n: i64 = client
            .query_one(&stmt, &refs)
            .await
            .map_err(|e| pg_error("count devices", e))?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn pending_devices(
        &self,
        after: Option<DeviceId>,
        limit_n: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let after = after.map(|d| *d.as_uuid()).unwrap_or(Uuid::nil());
        self.query_devices(&self.sql.pending, &[&after, &limit(limit_n)])
            .await
    }

    async fn events(&self, after: EventCursor, limit_n: usize) -> Result<Vec<Event>, StoreError> {
        let mut client = self.client().await?;
        let unnumbered = client
            .prepare_cached(&self.sql.events.unnumbered)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let waiting: bool = client
            .query_one(&unnumbered, &[])
            .await
            .map_err(|e| pg_error("look for unnumbered events", e))?
            .get(0);
        if waiting {
            self.number_batches(&mut client).await?;
        }
        let after = i64::try_from(after.get()).unwrap_or(i64::MAX);
        let stmt = client
            .prepare_cached(&self.sql.events.page)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let rows = client
            .query(&stmt, &[&after, &limit(limit_n)])
            .await
            .map_err(|e| pg_error("read events", e))?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.get(0);
                let cursor = EventCursor::new(u64::try_from(seq).unwrap_or(0));
                stored::decode_event(cursor, r.get(1))
            })
            .collect()
    }

    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        self.commit_changeset(changeset).await
    }

    async fn tokens(&self) -> Result<Vec<AccessToken>, StoreError> {
        self.list_tokens().await
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<AccessToken>, StoreError> {
        self.find_token(hash).await
    }

    async fn insert_token(&self, token: &AccessToken) -> Result<(), StoreError> {
        self.add_token(token).await
    }

    async fn remove_token(&self, name: &Actor) -> Result<bool, StoreError> {
        self.delete_token(name).await
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        stale_before: Timestamp,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.claim_key(record, stale_before).await
    }

    async fn finish_idempotency(&self, key: &str, answer: &[u8]) -> Result<(), StoreError> {
        self.finish_key(key, answer).await
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        self.release_key(key).await
    }

    async fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.purge_keys(before).await
    }

    async fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        self.add_job(job).await
    }

    async fn update_job(&self, job: &Job, expected: Version) -> Result<(), StoreError> {
        self.replace_job(job, expected).await
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.find_job(id).await
    }

    async fn jobs(&self, before: Option<JobId>, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.list_jobs(before, limit, false).await
    }

    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.list_jobs(None, usize::MAX, true).await
    }

    async fn put_job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.put_part(job, stream, index, bytes).await
    }

    async fn job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.part(job, stream, index).await
    }
}
