//! The `postgres_import` scenario of the `ratios` binary.
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use dps_core::stored::DeviceColumns;
use dps_core::{Change, Changeset, Device, EventKind, NewEvent, RegistrationGroup, Store};
use dps_store_postgres::__bench::{self, copy_sql, device_row, write_copy};
use dps_store_postgres::{PgOptions, PgStore};

use crate::sqlite::devices;
use crate::{Measured, best, rate, runtime};

const CHUNK: usize = 10_000;

async fn fresh(url: &str, schema: &str, group: &RegistrationGroup) -> PgStore {
    let store = PgStore::connect(
        url,
        PgOptions::default()
            .with_schema(schema)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await
    .unwrap_or_else(|e| panic!("connect: {e}"));
    let client = __bench::client(&store)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .batch_execute(&format!(
            "TRUNCATE \"{schema}\".dps_events, \"{schema}\".dps_devices, \"{schema}\".dps_groups; \
             UPDATE \"{schema}\".dps_event_counter SET last = 0"
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    store
        .commit(cs)
        .await
        .unwrap_or_else(|e| panic!("insert group: {e}"));
    store
}

async fn drop_schema(store: &PgStore) {
    if let Ok(client) = __bench::client(store).await {
        let _ = client
            .batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", store.schema()))
            .await;
    }
}

async fn through_store(url: &str, group: &RegistrationGroup, devices: &[Device]) -> Duration {
    let store = fresh(url, "dps_bench_ours", group).await;
    let start = Instant::now();
    for chunk in devices.chunks(CHUNK) {
        let mut cs = Changeset::with_capacity(chunk.len());
        for d in chunk {
            cs.push(Change::InsertDevice(d.clone())).event(NewEvent {
                at: d.created_at(),
                group_id: d.group_id(),
                device_id: Some(d.id()),
                serial: Some(d.serial().clone()),
                kind: EventKind::Registered,
            });
        }
        store
            .commit(cs)
            .await
            .unwrap_or_else(|e| panic!("commit: {e}"));
    }
    let elapsed = start.elapsed();
    drop_schema(&store).await;
    elapsed
}

async fn raw_copy(url: &str, group: &RegistrationGroup, devices: &[Device]) -> Duration {
    let store = fresh(url, "dps_bench_raw", group).await;
    let rows: Vec<DeviceColumns> = devices
        .iter()
        .map(|d| device_row(d).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut client = __bench::client(&store)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let table = format!("\"{}\".dps_devices", store.schema());
    let start = Instant::now();
    for chunk in rows.chunks(CHUNK) {
        let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
        let sink = tx
            .copy_in(&copy_sql(&table))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        write_copy(sink, chunk)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
    }
    let elapsed = start.elapsed();
    drop(client);
    drop_schema(&store).await;
    elapsed
}

/// `postgres_import`: devices committed through the Store (with events) vs a raw binary COPY
/// of the same rows into the same table (no events). Needs `DPS_TEST_POSTGRES_URL`.
pub fn postgres_import(quick: bool) -> Option<Measured> {
    let Ok(url) = std::env::var("DPS_TEST_POSTGRES_URL") else {
        eprintln!("postgres_import: DPS_TEST_POSTGRES_URL is not set");
        return None;
    };
    let n = if quick { 30_000 } else { 100_000 };
    let (group, devices) = devices(n);
    let rt = runtime();
    let ours = best(3, || rt.block_on(through_store(&url, &group, &devices)));
    let baseline = best(3, || rt.block_on(raw_copy(&url, &group, &devices)));
    Some(Measured {
        ours: rate(n, ours),
        baseline: rate(n, baseline),
    })
}
