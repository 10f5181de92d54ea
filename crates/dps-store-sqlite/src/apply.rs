//! [`Store::commit`](dps_core::Store::commit): one `BEGIN IMMEDIATE … COMMIT` transaction on
//! the writer connection.

use std::collections::HashSet;

use dps_core::stored::{self, DeviceColumns, GroupColumns};
use dps_core::{Change, Changeset, Device, Entity, GroupId, StoreError, Uuid, Version};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};

use crate::error::{
    SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE, is_constraint, sql_error,
};
use crate::row::{
    INSERT_DEVICE_SQL, UPDATE_DEVICE_SQL, UPDATE_LIFECYCLE_SQL, device_values, id_bytes,
};
use crate::{Inner, lock};

impl Inner {
    /// Applies `changeset` in one write transaction, events last.
    pub(crate) fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        let (changes, events) = changeset.into_parts();
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error("begin", e))?;
        let mut known_groups: HashSet<GroupId> = HashSet::new();
        for change in changes {
            apply(&tx, change, &mut known_groups)?;
        }
        if !events.is_empty() {
            let mut stmt = tx
                .prepare_cached("INSERT INTO dps_events (data) VALUES (?1)")
                .map_err(|e| sql_error("prepare event insert", e))?;
            for event in &events {
                let data = stored::encode_event(event)?;
                stmt.execute([data])
                    .map_err(|e| sql_error("append event", e))?;
            }
        }
        tx.commit().map_err(|e| sql_error("commit", e))
    }
}

/// Applies one change; `known_groups` remembers groups seen in this transaction.
fn apply(
    tx: &Transaction<'_>,
    change: Change,
    known_groups: &mut HashSet<GroupId>,
) -> Result<(), StoreError> {
    match change {
        Change::InsertGroup(g) => {
            let id = g.id();
            insert_group(tx, g)?;
            known_groups.insert(id);
            Ok(())
        }
        Change::UpdateGroup { expected, group } => update_group(tx, expected, group),
        Change::DeleteGroup { id, expected } => {
            delete_group(tx, id, expected)?;
            known_groups.remove(&id);
            Ok(())
        }
        Change::InsertDevice(d) => {
            if !group_exists(tx, d.group_id(), known_groups)? {
                return Err(StoreError::NotFound {
                    entity: Entity::Group,
                    key: d.group_id().to_string(),
                });
            }
            insert_device(tx, d)
        }
        Change::UpdateDevice { expected, device } => update_device(tx, expected, device),
        Change::DeleteDevice { id, expected } => {
            delete_at_version(tx, "dps_devices", Entity::Device, id.as_uuid(), expected)
        }
    }
}

fn insert_group(tx: &Transaction<'_>, g: dps_core::RegistrationGroup) -> Result<(), StoreError> {
    let id = g.id();
    let row = GroupColumns::from_group(g)?;
    let r = tx
        .prepare_cached("INSERT INTO dps_groups (id, version, data) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(rusqlite::params![id_bytes(&row.id), row.version, row.data]));
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_PRIMARYKEY) => {
            Err(StoreError::AlreadyExists {
                entity: Entity::Group,
                key: id.to_string(),
            })
        }
        Err(e) => Err(sql_error("insert group", e)),
    }
}

fn update_group(
    tx: &Transaction<'_>,
    expected: Version,
    group: dps_core::RegistrationGroup,
) -> Result<(), StoreError> {
    let id = group.id();
    let row = GroupColumns::from_group(group)?;
    let n = tx
        .prepare_cached(
            "UPDATE dps_groups SET version = ?2, data = ?3 WHERE id = ?1 AND version = ?4",
        )
        .and_then(|mut s| {
            s.execute(rusqlite::params![
                id_bytes(&row.id),
                row.version,
                row.data,
                stored::version_column(expected)
            ])
        })
        .map_err(|e| sql_error("update group", e))?;
    if n == 0 {
        return Err(missing_or_conflict(
            tx,
            "dps_groups",
            Entity::Group,
            id.as_uuid(),
            id.to_string(),
        ));
    }
    Ok(())
}

fn delete_group(tx: &Transaction<'_>, id: GroupId, expected: Version) -> Result<(), StoreError> {
    let has_devices = tx
        .prepare_cached("SELECT 1 FROM dps_devices WHERE group_id = ?1 LIMIT 1")
        .and_then(|mut s| s.exists([id_bytes(id.as_uuid())]))
        .map_err(|e| sql_error("count group devices", e))?;
    if has_devices {
        return Err(StoreError::Conflict {
            entity: Entity::Group,
            key: id.to_string(),
        });
    }
    delete_at_version(tx, "dps_groups", Entity::Group, id.as_uuid(), expected)
}

fn insert_device(tx: &Transaction<'_>, d: Device) -> Result<(), StoreError> {
    let (id, group, serial) = (d.id(), d.group_id(), d.serial().clone());
    let row = DeviceColumns::from_device(d)?;
    let r = tx
        .prepare_cached(INSERT_DEVICE_SQL)
        .and_then(|mut s| s.execute(&device_values(&row)[..]));
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_UNIQUE) => {
            Err(StoreError::DuplicateSerial { group, serial })
        }
        Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_PRIMARYKEY) => {
            Err(StoreError::AlreadyExists {
                entity: Entity::Device,
                key: id.to_string(),
            })
        }
        Err(e) => Err(sql_error("insert device", e)),
    }
}

fn update_device(
    tx: &Transaction<'_>,
    expected: Version,
    device: Device,
) -> Result<(), StoreError> {
    let (id, group, serial) = (device.id(), device.group_id(), device.serial().clone());
    let row = DeviceColumns::from_device(device)?;
    let expected = stored::version_column(expected);
    let mut params = device_values(&row).to_vec();
    params.push(&expected);
    // Most changes (every lifecycle step) keep the serial, model, batch tag and target: the
    // narrow update then leaves their index entries alone; otherwise the full one runs.
    let r = tx
        .prepare_cached(UPDATE_LIFECYCLE_SQL)
        .and_then(|mut s| s.execute(&params[..]))
        .and_then(|n| match n {
            0 => tx
                .prepare_cached(UPDATE_DEVICE_SQL)
                .and_then(|mut s| s.execute(&params[..])),
            n => Ok(n),
        });
    match r {
        Ok(0) => Err(missing_or_conflict(
            tx,
            "dps_devices",
            Entity::Device,
            id.as_uuid(),
            serial.to_string(),
        )),
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_UNIQUE) => {
            Err(StoreError::DuplicateSerial { group, serial })
        }
        Err(e) => Err(sql_error("update device", e)),
    }
}

fn group_exists(
    tx: &Transaction<'_>,
    id: GroupId,
    known: &mut HashSet<GroupId>,
) -> Result<bool, StoreError> {
    if known.contains(&id) {
        return Ok(true);
    }
    let exists = tx
        .prepare_cached("SELECT 1 FROM dps_groups WHERE id = ?1")
        .and_then(|mut s| s.exists([id_bytes(id.as_uuid())]))
        .map_err(|e| sql_error("look up group", e))?;
    if exists {
        known.insert(id);
    }
    Ok(exists)
}

fn stored_version(tx: &Transaction<'_>, table: &str, id: &Uuid) -> Result<Option<i64>, StoreError> {
    tx.prepare_cached(&format!("SELECT version FROM {table} WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id_bytes(id)], |r| r.get(0)).optional())
        .map_err(|e| sql_error("read version", e))
}

/// The error for a versioned write that changed no row: the record is gone, or at another
/// version.
fn missing_or_conflict(
    tx: &Transaction<'_>,
    table: &str,
    entity: Entity,
    id: &Uuid,
    key: String,
) -> StoreError {
    match stored_version(tx, table, id) {
        Ok(version) => StoreError::stale_write(entity, id, key, version.is_some()),
        Err(e) => e,
    }
}

/// Deletes the record `id` of `table` if it is at version `expected`.
fn delete_at_version(
    tx: &Transaction<'_>,
    table: &str,
    entity: Entity,
    id: &Uuid,
    expected: Version,
) -> Result<(), StoreError> {
    let n = tx
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE id = ?1 AND version = ?2"
        ))
        .and_then(|mut s| {
            s.execute(rusqlite::params![
                id_bytes(id),
                stored::version_column(expected)
            ])
        })
        .map_err(|e| sql_error("delete", e))?;
    if n == 0 {
        return Err(missing_or_conflict(tx, table, entity, id, id.to_string()));
    }
    Ok(())
}
