//! Scenarios of the `ratios` binary for dps-store-sqlite.

use std::time::{Duration, Instant};

use dps_core::{
    Change, Changeset, Device, DeviceId, EventKind, GroupId, NewDevice, NewGroup,
    RegistrationGroup, Secret, SerialNumber, Store, Timestamp, Uuid,
};
use dps_store_sqlite::__bench::{INSERT_DEVICE_SQL, device_row, device_values};
use dps_store_sqlite::{SqliteOptions, SqliteStore};

use crate::{Measured, best, device_event, rate, runtime};

const CHUNK: usize = 10_000;

/// A group and `n` registered devices, built in memory.
pub fn devices(n: usize) -> (RegistrationGroup, Vec<Device>) {
    let now = Timestamp::from_unix_millis(1_767_225_600_000);
    let id = GroupId::from_uuid(Uuid::from_u128(1));
    let secret = crate::sealer()
        .seal(
            &Secret::from_bytes_hex(&[1; 16]),
            dps_core::seal::SecretOf::Group(id),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let group = RegistrationGroup::new(
        id,
        NewGroup::new("bench".parse().unwrap_or_else(|e| panic!("{e}"))),
        secret,
        now,
    );
    let model: dps_core::ModelId = "m1".parse().unwrap_or_else(|e| panic!("{e}"));
    let devices = (0..n)
        .map(|i| {
            let serial: SerialNumber = format!("SN-{i:08}")
                .parse()
                .unwrap_or_else(|e| panic!("{e}"));
            let mut new = NewDevice::new(serial, model.clone());
            new.batch_tag = Some("batch-1".parse().unwrap_or_else(|e| panic!("{e}")));
            Device::register(
                DeviceId::from_uuid(Uuid::from_u128(1_000 + i as u128)),
                &group,
                new,
                now,
            )
            .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    (group, devices)
}

fn fresh_store(dir: &tempfile::TempDir, name: &str, group: &RegistrationGroup) -> SqliteStore {
    let store = SqliteStore::open(dir.path().join(name), SqliteOptions::default())
        .unwrap_or_else(|e| panic!("open: {e}"));
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    runtime()
        .block_on(store.commit(cs))
        .unwrap_or_else(|e| panic!("insert group: {e}"));
    store
}

/// Commits `devices` through the Store with their events, in chunks; returns the time.
fn import_through_store(group: &RegistrationGroup, devices: &[Device]) -> Duration {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = fresh_store(&dir, "ours.sqlite", group);
    let rt = runtime();
    let start = Instant::now();
    for chunk in devices.chunks(CHUNK) {
        let mut cs = Changeset::with_capacity(chunk.len());
        for d in chunk {
            cs.push(Change::InsertDevice(d.clone()))
                .event(device_event(d, EventKind::Registered));
        }
        rt.block_on(store.commit(cs))
            .unwrap_or_else(|e| panic!("commit: {e}"));
    }
    start.elapsed()
}

/// Inserts the same rows with a raw prepared statement into the same table, in chunks.
fn import_raw(group: &RegistrationGroup, devices: &[Device]) -> Duration {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = fresh_store(&dir, "raw.sqlite", group)
        .path()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| panic!("file store has a path"));
    let rows: Vec<_> = devices
        .iter()
        .map(|d| device_row(d).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut conn = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
    conn.pragma_update(None, "synchronous", "NORMAL")
        .unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    for chunk in rows.chunks(CHUNK) {
        let tx = conn.transaction().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut stmt = tx
                .prepare_cached(INSERT_DEVICE_SQL)
                .unwrap_or_else(|e| panic!("{e}"));
            for r in chunk {
                stmt.execute(&device_values(r)[..])
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        tx.commit().unwrap_or_else(|e| panic!("{e}"));
    }
    start.elapsed()
}

/// `sqlite_import`: devices committed through the Store (with events) vs a raw prepared
/// insert loop of the same rows into the same table (no events).
pub fn sqlite_import(quick: bool) -> Option<Measured> {
    let n = if quick { 30_000 } else { 100_000 };
    let (group, devices) = devices(n);
    let ours = rate(n, best(3, || import_through_store(&group, &devices)));
    let baseline = rate(n, best(3, || import_raw(&group, &devices)));
    Some(Measured { ours, baseline })
}

/// `sqlite_lookup`: device by group and serial through the Store vs a raw point lookup.
pub fn sqlite_lookup(quick: bool) -> Option<Measured> {
    let (n, lookups) = if quick {
        (10_000, 50_000)
    } else {
        (100_000, 200_000)
    };
    let (group, devices) = devices(n);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = fresh_store(&dir, "lookup.sqlite", &group);
    let rt = runtime();
    for chunk in devices.chunks(CHUNK) {
        let mut cs = Changeset::new();
        for d in chunk {
            cs.push(Change::InsertDevice(d.clone()));
        }
        rt.block_on(store.commit(cs))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // A fixed pseudo-random visiting order.
    let order: Vec<usize> = (0..lookups).map(|i| (i * 7919 + 13) % n).collect();
    let serials: Vec<SerialNumber> = devices.iter().map(|d| d.serial().clone()).collect();

    let ours = best(3, || {
        rt.block_on(async {
            let start = Instant::now();
            for &i in &order {
                let d = store
                    .device_by_serial(group.id(), &serials[i])
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(d.is_some());
            }
            start.elapsed()
        })
    });

    let path = store
        .path()
        .unwrap_or_else(|| panic!("file store has a path"));
    let conn = rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("{e}"));
    let gid = group.id().as_uuid().as_bytes().to_vec();
    let baseline = best(3, || {
        let mut stmt = conn
            .prepare_cached("SELECT data FROM dps_devices WHERE group_id = ?1 AND serial = ?2")
            .unwrap_or_else(|e| panic!("{e}"));
        let start = Instant::now();
        for &i in &order {
            let data: String = stmt
                .query_row(rusqlite::params![gid, serials[i].as_str()], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{e}"));
            std::hint::black_box(data);
        }
        start.elapsed()
    });
    Some(Measured {
        ours: rate(lookups, ours),
        baseline: rate(lookups, baseline),
    })
}
