//! A store that keeps something alive (a temporary directory, a test schema) as long as itself.

use async_trait::async_trait;
use dps_core::access::{AccessToken, IdempotencyClaim, IdempotencyRecord, TokenHash};
use dps_core::{
    Actor, Changeset, Device, DeviceId, DeviceQuery, Event, EventCursor, GroupId,
    RegistrationGroup, SerialNumber, Store, StoreError, Timestamp,
};

/// A store together with a guard that must live exactly as long as the store, such as the
/// temporary directory of a test database or a value that drops a test schema. Every [`Store`]
/// call goes to the inner store.
#[derive(Debug)]
pub struct Guarded<S, G> {
    store: S,
    _guard: G,
}

impl<S, G> Guarded<S, G> {
    /// `store`, keeping `guard` alive beside it.
    pub fn new(store: S, guard: G) -> Self {
        Self {
            store,
            _guard: guard,
        }
    }

    /// The inner store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

#[async_trait]
impl<S: Store, G: Send + Sync + std::fmt::Debug + 'static> Store for Guarded<S, G> {
    async fn group(&self, id: GroupId) -> Result<Option<RegistrationGroup>, StoreError> {
        self.store.group(id).await
    }
    async fn groups(
        &self,
        after: Option<GroupId>,
        limit: usize,
    ) -> Result<Vec<RegistrationGroup>, StoreError> {
        self.store.groups(after, limit).await
    }
    async fn device(&self, id: DeviceId) -> Result<Option<Device>, StoreError> {
        self.store.device(id).await
    }
    async fn device_by_serial(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        self.store.device_by_serial(group, serial).await
    }
    async fn devices_by_serials(
        &self,
        group: GroupId,
        serials: &[SerialNumber],
    ) -> Result<Vec<Device>, StoreError> {
        self.store.devices_by_serials(group, serials).await
    }
    async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        self.store.devices(query, after, limit).await
    }
    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64, StoreError> {
        self.store.count_devices(query).await
    }
    async fn pending_devices(
        &self,
        after: Option<DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        self.store.pending_devices(after, limit).await
    }
    async fn events(&self, after: EventCursor, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.store.events(after, limit).await
    }
    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        self.store.commit(changeset).await
    }
    async fn tokens(&self) -> Result<Vec<AccessToken>, StoreError> {
        self.store.tokens().await
    }
    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<AccessToken>, StoreError> {
        self.store.token_by_hash(hash).await
    }
    async fn insert_token(&self, token: &AccessToken) -> Result<(), StoreError> {
        self.store.insert_token(token).await
    }
    async fn remove_token(&self, name: &Actor) -> Result<bool, StoreError> {
        self.store.remove_token(name).await
    }
    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        stale_before: Timestamp,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.store.claim_idempotency(record, stale_before).await
    }
    async fn finish_idempotency(&self, key: &str, answer: &[u8]) -> Result<(), StoreError> {
        self.store.finish_idempotency(key, answer).await
    }
    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        self.store.release_idempotency(key).await
    }
    async fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.store.purge_idempotency(before).await
    }
    async fn insert_job(&self, job: &dps_core::job::Job) -> Result<(), StoreError> {
        self.store.insert_job(job).await
    }
    async fn update_job(
        &self,
        job: &dps_core::job::Job,
        expected: dps_core::Version,
    ) -> Result<(), StoreError> {
        self.store.update_job(job, expected).await
    }
    async fn job(
        &self,
        id: dps_core::job::JobId,
    ) -> Result<Option<dps_core::job::Job>, StoreError> {
        self.store.job(id).await
    }
    async fn jobs(
        &self,
        before: Option<dps_core::job::JobId>,
        limit: usize,
    ) -> Result<Vec<dps_core::job::Job>, StoreError> {
        self.store.jobs(before, limit).await
    }
    async fn running_jobs(&self) -> Result<Vec<dps_core::job::Job>, StoreError> {
        self.store.running_jobs().await
    }
    async fn put_job_part(
        &self,
        job: dps_core::job::JobId,
        stream: dps_core::job::JobStream,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.store.put_job_part(job, stream, index, bytes).await
    }
    async fn job_part(
        &self,
        job: dps_core::job::JobId,
        stream: dps_core::job::JobStream,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.job_part(job, stream, index).await
    }
}
