//! [`Store::commit`](dps_core::Store::commit): one transaction whose last statement writes
//! its events as one unnumbered batch.

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use dps_core::stored::{self, DeviceColumns, GroupColumns};
use dps_core::{
    Change, Changeset, Device, DeviceId, Entity, GroupId, NewEvent, RegistrationGroup, StoreError,
    Uuid, Version,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::error::{insert_error, pg_error};
use crate::row::{device_row, device_values, write_copy};
use crate::{COPY_THRESHOLD, PgStore};

impl PgStore {
    /// Applies `changeset` in one transaction, events last.
    pub(crate) async fn commit_changeset(&self, changeset: Changeset) -> Result<(), StoreError> {
        let (changes, events) = changeset.into_parts();
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error("begin", e))?;
        self.apply(&tx, changes).await?;
        // Last, so that batch identifiers follow commit order as closely as they can; a commit
        // that starts after this one returned always gets a larger one.
        self.append_events(&tx, events).await?;
        tx.commit().await.map_err(|e| pg_error("commit", e))
    }

    /// Applies the changes in order; runs of device inserts go in one batch.
    async fn apply(&self, tx: &Transaction<'_>, changes: Vec<Change>) -> Result<(), StoreError> {
        let mut changes = changes.into_iter().peekable();
        while let Some(change) = changes.next() {
            match change {
                Change::InsertDevice(first) => {
                    let mut batch = vec![first];
                    while let Some(Change::InsertDevice(_)) = changes.peek() {
                        if let Some(Change::InsertDevice(d)) = changes.next() {
                            batch.push(d);
                        }
                    }
                    self.insert_devices(tx, batch).await?;
                }
                Change::UpdateDevice { expected, device } => {
                    // A run of updates of distinct devices goes in one statement.
                    let mut ids = HashSet::from([device.id()]);
                    let mut batch = vec![(expected, device)];
                    while let Some(Change::UpdateDevice { device, .. }) = changes.peek() {
                        if !ids.insert(device.id()) {
                            break;
                        }
                        if let Some(Change::UpdateDevice { expected, device }) = changes.next() {
                            batch.push((expected, device));
                        }
                    }
                    if let [_] = batch.as_slice() {
                        if let Some((expected, device)) = batch.pop() {
                            self.update_device(tx, expected, device).await?;
                        }
                    } else {
                        self.update_devices(tx, batch).await?;
                    }
                }
                other => self.apply_one(tx, other).await?,
            }
        }
        Ok(())
    }

    async fn apply_one(&self, tx: &Transaction<'_>, change: Change) -> Result<(), StoreError> {
        match change {
            Change::InsertGroup(g) => self.insert_group(tx, g).await,
            Change::UpdateGroup { expected, group } => self.update_group(tx, expected, group).await,
            Change::DeleteGroup { id, expected } => self.delete_group(tx, id, expected).await,
            Change::InsertDevice(d) => self.insert_devices(tx, vec![d]).await,
            Change::UpdateDevice { expected, device } => {
                self.update_device(tx, expected, device).await
            }
            Change::DeleteDevice { id, expected } => self.delete_device(tx, id, expected).await,
        }
    }

    /// Inserts new devices: one binary COPY from [`COPY_THRESHOLD`] devices on, else one
    /// prepared insert each.
    async fn insert_devices(
        &self,
        tx: &Transaction<'_>,
        batch: Vec<Device>,
    ) -> Result<(), StoreError> {
        let rows = batch
            .iter()
            .map(device_row)
            .collect::<Result<Vec<_>, _>>()?;
        if batch.len() >= COPY_THRESHOLD {
            let copied = match tx.copy_in(&self.sql.copy_devices).await {
                Ok(sink) => write_copy(sink, &rows).await,
                Err(e) => Err(e),
            };
            return match copied {
                Ok(_) => Ok(()),
                Err(e) => {
                    Err(insert_error(&e, &batch).unwrap_or_else(|| pg_error("copy devices", e)))
                }
            };
        }
        let stmt = tx
            .prepare_cached(&self.sql.insert_device)
            .await
            .map_err(|e| pg_error("prepare insert", e))?;
        for (row, d) in rows.iter().zip(&batch) {
            if let Err(e) = tx.execute(&stmt, &device_values(row)).await {
                return Err(insert_error(&e, std::slice::from_ref(d))
                    .unwrap_or_else(|| pg_error("insert device", e)));
            }
        }
        Ok(())
    }

    async fn insert_group(
        &self,
        tx: &Transaction<'_>,
        group: RegistrationGroup,
    ) -> Result<(), StoreError> {
        let id = group.id();
        let row = GroupColumns::from_group(group)?;
        let r = tx
            .execute(&self.sql.insert_group, &[&row.id, &row.version, &row.data])
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::AlreadyExists {
                    entity: Entity::Group,
                    key: id.to_string(),
                })
            }
            Err(e) => Err(pg_error("insert group", e)),
        }
    }

    async fn update_group(
        &self,
        tx: &Transaction<'_>,
        expected: Version,
        group: RegistrationGroup,
    ) -> Result<(), StoreError> {
        let id = group.id();
        let row = GroupColumns::from_group(group)?;
        let expected = stored::version_column(expected);
        let n = tx
            .execute(
                &self.sql.update_group,
                &[&row.id, &row.version, &row.data, &expected],
            )
            .await
            .map_err(|e| pg_error("update group", e))?;
        if n == 0 {
            let sql = &self.sql.group_version;
            return Err(
                missing_or_conflict(tx, sql, Entity::Group, id.as_uuid(), id.to_string()).await,
            );
        }
        Ok(())
    }

    async fn delete_group(
        &self,
        tx: &Transaction<'_>,
        id: GroupId,
        expected: Version,
    ) -> Result<(), StoreError> {
        let expected = stored::version_column(expected);
        let r = tx
            .execute(&self.sql.delete_group, &[id.as_uuid(), &expected])
            .await;
        let n = match r {
            Ok(n) => n,
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                return Err(StoreError::Conflict {
                    entity: Entity::Group,
                    key: id.to_string(),
                });
            }
            Err(e) => return Err(pg_error("delete group", e)),
        };
        if n == 0 {
            let sql = &self.sql.group_version;
            return Err(
                missing_or_conflict(tx, sql, Entity::Group, id.as_uuid(), id.to_string()).await,
            );
        }
        Ok(())
    }

    async fn update_device(
        &self,
        tx: &Transaction<'_>,
        expected: Version,
        device: Device,
    ) -> Result<(), StoreError> {
        let (id, group, serial) = (device.id(), device.group_id(), device.serial().clone());
        let row = DeviceColumns::from_device(device)?;
        let v = device_values(&row);
        let expected = stored::version_column(expected);
        let params: [&(dyn ToSql + Sync); 11] = [
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], &expected,
        ];
        match tx.execute(&self.sql.update_device, &params).await {
            Ok(0) => {
                let sql = &self.sql.device_version;
                Err(
                    missing_or_conflict(tx, sql, Entity::Device, id.as_uuid(), serial.to_string())
                        .await,
                )
            }
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::DuplicateSerial { group, serial })
            }
            Err(e) => Err(pg_error("update device", e)),
        }
    }

    async fn delete_device(
        &self,
        tx: &Transaction<'_>,
        id: DeviceId,
        expected: Version,
    ) -> Result<(), StoreError> {
        let expected = stored::version_column(expected);
        let n = tx
            .execute(&self.sql.delete_device, &[id.as_uuid(), &expected])
            .await
            .map_err(|e| pg_error("delete device", e))?;
        if n == 0 {
            let sql = &self.sql.device_version;
            return Err(
                missing_or_conflict(tx, sql, Entity::Device, id.as_uuid(), id.to_string()).await,
            );
        }
        Ok(())
    }

    /// Inserts the events as one unnumbered batch; readers number it once it is committed
    /// (see `PgStore::number_batches`), so concurrent commits share no row.
    async fn append_events(
        &self,
        tx: &Transaction<'_>,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let data = events
            .iter()
            .map(stored::encode_event)
            .collect::<Result<Vec<_>, _>>()?;
        let stmt = tx
            .prepare_cached(&self.sql.events.insert)
            .await
            .map_err(|e| pg_error("prepare append events", e))?;
        tx.execute(&stmt, &[&data])
            .await
            .map_err(|e| pg_error("append events", e))?;
        Ok(())
    }
}

/// The error for a versioned write that changed no row: the record is gone, or at another
/// version. `sql` reads the record's version.
pub(crate) async fn missing_or_conflict(
    tx: &Transaction<'_>,
    sql: &str,
    entity: Entity,
    id: &Uuid,
    key: String,
) -> StoreError {
    match tx.query_opt(sql, &[id]).await {
        Ok(row) => StoreError::stale_write(entity, id, key, row.is_some()),
        Err(e) => pg_error("read version", e),
    }
}
