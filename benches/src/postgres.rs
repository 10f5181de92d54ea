//! The `postgres_import` and `postgres_concurrent_commits` scenarios of the `ratios` binary.
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use dps_core::stored::DeviceColumns;
use dps_core::{
    Change, Changeset, Device, DeviceEdit, EventKind, RegistrationGroup, Store, lifecycle,
};
use dps_store_postgres::__bench::{self, copy_sql, device_row, write_copy};
use dps_store_postgres::{PgOptions, PgStore};

use crate::sqlite::devices;
use crate::{Measured, best, device_event, rate, runtime};

const CHUNK: usize = 10_000;

async fn fresh(url: &str, schema: &str, group: &RegistrationGroup) -> PgStore {
    fresh_with_pool(url, schema, group, PgOptions::default().pool_size).await
}

async fn fresh_with_pool(
    url: &str,
    schema: &str,
    group: &RegistrationGroup,
    pool_size: usize,
) -> PgStore {
    let store = PgStore::connect(
        url,
        PgOptions::default()
            .with_schema(schema)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_pool_size(pool_size),
    )
    .await
    .unwrap_or_else(|e| panic!("connect: {e}"));
    let client = __bench::client(&store)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .batch_execute(&format!(
            "TRUNCATE \"{schema}\".dps_events, \"{schema}\".dps_event_batches, \
             \"{schema}\".dps_devices, \"{schema}\".dps_groups RESTART IDENTITY; \
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
            cs.push(Change::InsertDevice(d.clone()))
                .event(device_event(d, EventKind::Registered));
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

/// Concurrent writers in `postgres_concurrent_commits`.
const WRITERS: usize = 16;

/// `WRITERS` devices of a fresh group, committed with their events.
async fn writers_store(url: &str, schema: &str) -> (PgStore, RegistrationGroup, Vec<Device>) {
    let (group, devices) = devices(WRITERS);
    let store = fresh_with_pool(url, schema, &group, WRITERS).await;
    let mut cs = Changeset::with_capacity(devices.len());
    for d in &devices {
        cs.push(Change::InsertDevice(d.clone()));
    }
    store
        .commit(cs)
        .await
        .unwrap_or_else(|e| panic!("insert devices: {e}"));
    (store, group, devices)
}

/// One writer: edits `device`'s name through the store, one commit with its event each,
/// until `deadline`; returns the number of commits.
async fn edit_until(
    store: PgStore,
    group: RegistrationGroup,
    mut device: Device,
    deadline: Instant,
) -> usize {
    let mut commits = 0;
    while Instant::now() < deadline {
        let edit = DeviceEdit {
            name: Some(Some(
                format!("edit-{commits}")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
            )),
            ..DeviceEdit::default()
        };
        let edited = lifecycle::edit(&device, &group, &edit, device.updated_at())
            .unwrap_or_else(|e| panic!("edit: {e}"));
        let mut cs = Changeset::new();
        cs.push(Change::UpdateDevice {
            expected: device.version(),
            device: edited.clone(),
        })
        .event(device_event(&edited, EventKind::Edited));
        store
            .commit(cs)
            .await
            .unwrap_or_else(|e| panic!("commit: {e}"));
        device = edited;
        commits += 1;
    }
    commits
}

/// Commits per second of `WRITERS` tasks each editing its own device through the store.
async fn concurrent_store_commits(url: &str, run: Duration) -> f64 {
    let (store, group, devices) = writers_store(url, "dps_bench_commits_ours").await;
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = tokio::task::JoinSet::new();
    for d in devices {
        tasks.spawn(edit_until(store.clone(), group.clone(), d, deadline));
    }
    let mut commits = 0;
    while let Some(n) = tasks.join_next().await {
        commits += n.unwrap_or_else(|e| panic!("writer: {e}"));
    }
    let elapsed = start.elapsed();
    drop_schema(&store).await;
    rate(commits, elapsed)
}

/// Commits per second of `WRITERS` connections each updating its own device row with a raw
/// single-statement transaction.
async fn concurrent_raw_updates(url: &str, run: Duration) -> f64 {
    let (store, _group, devices) = writers_store(url, "dps_bench_commits_raw").await;
    let sql = format!(
        "UPDATE \"{}\".dps_devices SET version = version + 1, data = $2 WHERE id = $1",
        store.schema()
    );
    let mut clients = Vec::with_capacity(WRITERS);
    for _ in 0..WRITERS {
        clients.push(
            __bench::client(&store)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = tokio::task::JoinSet::new();
    for (mut client, d) in clients.into_iter().zip(devices) {
        let sql = sql.clone();
        let data = device_row(&d).unwrap_or_else(|e| panic!("{e}")).data;
        tasks.spawn(async move {
            let mut commits = 0;
            while Instant::now() < deadline {
                let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
                tx.execute(&sql, &[d.id().as_uuid(), &data])
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
                commits += 1;
            }
            commits
        });
    }
    let mut commits = 0;
    while let Some(n) = tasks.join_next().await {
        commits += n.unwrap_or_else(|e| panic!("writer: {e}"));
    }
    let elapsed = start.elapsed();
    drop_schema(&store).await;
    rate(commits, elapsed)
}

/// `postgres_concurrent_commits`: 16 tasks each committing single-device edits with their
/// event through the Store vs 16 connections each running single-row `UPDATE` transactions
/// on the same table, in commits per second. Needs `DPS_TEST_POSTGRES_URL`.
pub fn postgres_concurrent_commits(quick: bool) -> Option<Measured> {
    let Ok(url) = std::env::var("DPS_TEST_POSTGRES_URL") else {
        eprintln!("postgres_concurrent_commits: DPS_TEST_POSTGRES_URL is not set");
        return None;
    };
    let run = Duration::from_secs(if quick { 3 } else { 10 });
    let rt = runtime();
    let rounds = if quick { 1 } else { 3 };
    let mut ours: f64 = 0.0;
    let mut baseline: f64 = 0.0;
    // Alternate, keeping each side's best, so that a busy moment slows both alike.
    for _ in 0..rounds {
        baseline = baseline.max(rt.block_on(concurrent_raw_updates(&url, run)));
        ours = ours.max(rt.block_on(concurrent_store_commits(&url, run)));
    }
    Some(Measured { ours, baseline })
}
