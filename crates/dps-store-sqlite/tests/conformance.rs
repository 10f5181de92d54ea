//! `SqliteStore` passes the whole Store conformance suite, on a temporary file and in memory,
//! directly and through `Arc<dyn Store>`.

use async_trait::async_trait;
use dps_core::{
    Changeset, Device, DeviceId, DeviceQuery, Event, EventCursor, GroupId, RegistrationGroup,
    SerialNumber, Store, StoreError,
};
use dps_store_sqlite::{SqliteOptions, SqliteStore};

/// A store on a file in a temporary directory that lives as long as the store.
#[derive(Debug)]
struct TempFileStore {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

#[async_trait]
impl Store for TempFileStore {
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
}

mod file {
    use super::*;

    async fn fresh() -> TempFileStore {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(dir.path().join("dps.sqlite"), SqliteOptions::default())
            .expect("open a fresh database");
        TempFileStore { store, _dir: dir }
    }

    dps_testkit::store_conformance_tests!(fresh);
}

mod memory {
    use super::*;

    async fn fresh() -> SqliteStore {
        SqliteStore::open_in_memory().expect("open an in-memory database")
    }

    dps_testkit::store_conformance_tests!(fresh);
}
