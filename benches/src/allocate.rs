//! The `sqlite_allocate` and `postgres_allocate` scenarios of the `ratios` binary: one page
//! of devices allocated through `Provisioner::allocate` with `StaticEnvironment`, against
//! the raw driver doing the same rows' two updates and event inserts in two transactions.
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use dps_core::lifecycle::EnvOutcome;
use dps_core::seal::SecretOf;
use dps_core::state::SealedCredentials;
use dps_core::stored::{DeviceColumns, encode_event};
use dps_core::{
    Device, EventKind, GroupId, OperationId, Provisioner, RegistrationGroup, Secret, Selection,
    SerialNumber, Store, Timestamp, Uuid, lifecycle,
};
use dps_env_static::StaticEnvironment;
use dps_store_postgres::{PgOptions, PgStore};
use dps_store_sqlite::{SqliteOptions, SqliteStore};

use crate::{Measured, device_event, rate, runtime, seeded_group};

/// The devices of one measured allocation: the default batch page.
const PAGE: usize = 1000;

/// One device's rows as a raw driver writes them: its pending and its allocated state, with
/// the event of each.
struct RawStep {
    id: Uuid,
    pending: DeviceColumns,
    pending_event: String,
    allocated: DeviceColumns,
    allocated_event: String,
}

/// The pending and allocated rows that allocating `devices` of `group` writes.
fn raw_steps(group: &RegistrationGroup, devices: &[Device]) -> Vec<RawStep> {
    let now = Timestamp::from_unix_millis(1_767_225_600_000);
    let sealer = crate::sealer();
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let op = OperationId::from_uuid(Uuid::from_u128(9_000_000 + i as u128));
            let begun = lifecycle::begin_allocate(d, group, op, now, now)
                .unwrap_or_else(|e| panic!("begin: {e}"));
            let secret = Secret::new(format!("secret-{i:032}")).unwrap_or_else(|e| panic!("{e}"));
            let onboarded = EnvOutcome::Onboarded {
                asset_id: format!("asset-{i}")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
                credentials: SealedCredentials {
                    product_key: "pk".parse().unwrap_or_else(|e| panic!("{e}")),
                    device_key: format!("dk-{i}").parse().unwrap_or_else(|e| panic!("{e}")),
                    device_secret: sealer
                        .seal(&secret, SecretOf::Device(d.id()))
                        .unwrap_or_else(|e| panic!("{e}")),
                },
            };
            let settled = begun
                .pending
                .settle(group, Ok(onboarded), now)
                .unwrap_or_else(|e| panic!("settle: {e}"));
            let pending = begun.pending.device();
            let allocated = settled
                .transition
                .device()
                .unwrap_or_else(|| panic!("an allocation keeps the device"));
            let event = |d: &Device| {
                encode_event(&device_event(d, EventKind::Edited)).unwrap_or_else(|e| panic!("{e}"))
            };
            RawStep {
                id: *d.id().as_uuid(),
                pending: DeviceColumns::of(pending).unwrap_or_else(|e| panic!("{e}")),
                pending_event: event(pending),
                allocated: DeviceColumns::of(allocated).unwrap_or_else(|e| panic!("{e}")),
                allocated_event: event(allocated),
            }
        })
        .collect()
}

/// Allocates each page of `pages` through `dps`; returns the fastest page's time.
async fn through_provisioner<S: Store>(
    dps: &Provisioner<S, StaticEnvironment>,
    group: GroupId,
    pages: &[Vec<SerialNumber>],
) -> Duration {
    let mut fastest = Duration::MAX;
    for page in pages {
        let selection = Selection::Serials(page.clone());
        let start = Instant::now();
        let report = dps
            .allocate(group, &selection)
            .await
            .unwrap_or_else(|e| panic!("allocate: {e}"));
        fastest = fastest.min(start.elapsed());
        assert_eq!(report.succeeded(), page.len(), "every device was allocated");
    }
    fastest
}

/// The serials of `devices`, a page at a time.
fn pages(devices: &[Device]) -> Vec<Vec<SerialNumber>> {
    devices
        .chunks(PAGE)
        .map(|c| c.iter().map(|d| d.serial().clone()).collect())
        .collect()
}

/// The devices of a fresh group of `n`, as the store holds them.
async fn stored_devices<S: Store>(store: &S, group: GroupId, n: usize) -> Vec<Device> {
    let devices = store
        .devices(&dps_core::DeviceQuery::group(group), None, n)
        .await
        .unwrap_or_else(|e| panic!("list: {e}"));
    assert_eq!(devices.len(), n, "set-up registered every device");
    devices
}

const RAW_UPDATE: &str = "UPDATE dps_devices SET version = ?2, status = ?3, \
    allocated_to = ?4, data = ?5 WHERE id = ?1 AND version = ?6";

/// `sqlite_allocate`: a page allocated through the provisioner on `SqliteStore` vs the raw
/// driver's two transactions of row updates and event inserts for the same page.
pub fn sqlite_allocate(quick: bool) -> Option<Measured> {
    let rounds = if quick { 3 } else { 5 };
    let n = PAGE * rounds;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    let store = SqliteStore::open(dir.path().join("ours.sqlite"), SqliteOptions::default())
        .unwrap_or_else(|e| panic!("open: {e}"));
    let ours = rt.block_on(async {
        let (dps, group) = seeded_group(store, n).await;
        let devices = stored_devices(dps.store(), group, n).await;
        through_provisioner(&dps, group, &pages(&devices)).await
    });

    let store = SqliteStore::open(dir.path().join("raw.sqlite"), SqliteOptions::default())
        .unwrap_or_else(|e| panic!("open: {e}"));
    let (group, devices) = rt.block_on(async {
        let (dps, group) = seeded_group(store, n).await;
        let g = dps
            .group(group)
            .await
            .unwrap_or_else(|e| panic!("group: {e}"));
        (g, stored_devices(dps.store(), group, n).await)
    });
    let steps = raw_steps(&group, &devices);
    let mut conn =
        rusqlite::Connection::open(dir.path().join("raw.sqlite")).unwrap_or_else(|e| panic!("{e}"));
    conn.pragma_update(None, "synchronous", "NORMAL")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut baseline = Duration::MAX;
    for page in steps.chunks(PAGE) {
        let start = Instant::now();
        for pending in [true, false] {
            let tx = conn.transaction().unwrap_or_else(|e| panic!("{e}"));
            {
                let mut update = tx
                    .prepare_cached(RAW_UPDATE)
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut event = tx
                    .prepare_cached("INSERT INTO dps_events (data) VALUES (?1)")
                    .unwrap_or_else(|e| panic!("{e}"));
                for s in page {
                    let (row, data, expected) = if pending {
                        (&s.pending, &s.pending_event, s.pending.version - 1)
                    } else {
                        (&s.allocated, &s.allocated_event, s.pending.version)
                    };
                    let n = update
                        .execute(rusqlite::params![
                            s.id.as_bytes(),
                            row.version,
                            row.status,
                            row.allocated_to,
                            row.data,
                            expected
                        ])
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(n, 1, "the raw update found its row");
                    event.execute([data]).unwrap_or_else(|e| panic!("{e}"));
                }
            }
            tx.commit().unwrap_or_else(|e| panic!("{e}"));
        }
        baseline = baseline.min(start.elapsed());
    }
    Some(Measured {
        ours: rate(PAGE, ours),
        baseline: rate(PAGE, baseline),
    })
}

/// Drops `store`'s schema.
async fn drop_schema(store: &PgStore) {
    if let Ok(client) = dps_store_postgres::__bench::client(store).await {
        let _ = client
            .batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", store.schema()))
            .await;
    }
}

async fn pg_store(url: &str, schema: &str) -> PgStore {
    let store = PgStore::connect(
        url,
        PgOptions::default()
            .with_schema(schema)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await
    .unwrap_or_else(|e| panic!("connect: {e}"));
    // A schema a failed earlier run left behind starts over.
    drop_schema(&store).await;
    PgStore::connect(
        url,
        PgOptions::default()
            .with_schema(schema)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await
    .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// `postgres_allocate`: as `sqlite_allocate`, on `PgStore`; the raw driver updates the page's
/// rows in one statement over arrays and writes its events to a plain table numbered by a
/// sequence, in one statement too. Needs `DPS_TEST_POSTGRES_URL`.
pub fn postgres_allocate(quick: bool) -> Option<Measured> {
    let Ok(url) = std::env::var("DPS_TEST_POSTGRES_URL") else {
        eprintln!("postgres_allocate: DPS_TEST_POSTGRES_URL is not set");
        return None;
    };
    let rounds = if quick { 3 } else { 5 };
    let n = PAGE * rounds;
    let rt = runtime();
    let (ours, baseline) = rt.block_on(async {
        let store = pg_store(&url, "dps_bench_allocate_ours").await;
        let (dps, group) = seeded_group(store, n).await;
        let devices = stored_devices(dps.store(), group, n).await;
        let ours = through_provisioner(&dps, group, &pages(&devices)).await;
        drop_schema(dps.store()).await;

        let store = pg_store(&url, "dps_bench_allocate_raw").await;
        let (dps, group) = seeded_group(store, n).await;
        let g = dps
            .group(group)
            .await
            .unwrap_or_else(|e| panic!("group: {e}"));
        let steps = raw_steps(&g, &stored_devices(dps.store(), group, n).await);
        let s = dps.store().schema().to_owned();
        let mut client = dps_store_postgres::__bench::client(dps.store())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        client
            .batch_execute(&format!(
                "CREATE TABLE \"{s}\".raw_events (seq bigserial PRIMARY KEY, data text NOT NULL)"
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The raw driver at its fastest: one statement of row updates and one of event
        // inserts per transaction, each over arrays.
        let update_sql = format!(
            "UPDATE \"{s}\".dps_devices AS d SET version = v.version, status = v.status, \
             allocated_to = v.allocated_to, data = v.data \
             FROM UNNEST($1::uuid[], $2::bigint[], $3::smallint[], $4::text[], $5::text[], \
             $6::bigint[]) AS v(id, version, status, allocated_to, data, expected) \
             WHERE d.id = v.id AND d.version = v.expected"
        );
        let event_sql =
            format!("INSERT INTO \"{s}\".raw_events (data) SELECT * FROM UNNEST($1::text[])");
        let mut baseline = Duration::MAX;
        for page in steps.chunks(PAGE) {
            let start = Instant::now();
            for pending in [true, false] {
                let mut ids = Vec::with_capacity(page.len());
                let mut versions = Vec::with_capacity(page.len());
                let mut statuses = Vec::with_capacity(page.len());
                let mut allocated_to = Vec::with_capacity(page.len());
                let mut data = Vec::with_capacity(page.len());
                let mut expected = Vec::with_capacity(page.len());
                let mut events = Vec::with_capacity(page.len());
                for s in page {
                    let (row, event, before) = if pending {
                        (&s.pending, &s.pending_event, s.pending.version - 1)
                    } else {
                        (&s.allocated, &s.allocated_event, s.pending.version)
                    };
                    ids.push(s.id);
                    versions.push(row.version);
                    statuses.push(row.status);
                    allocated_to.push(row.allocated_to.clone());
                    data.push(row.data.clone());
                    expected.push(before);
                    events.push(event.clone());
                }
                let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
                let n = tx
                    .execute(
                        &update_sql,
                        &[&ids, &versions, &statuses, &allocated_to, &data, &expected],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(n, page.len() as u64, "the raw update found its rows");
                tx.execute(&event_sql, &[&events])
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
            }
            baseline = baseline.min(start.elapsed());
        }
        drop(client);
        drop_schema(dps.store()).await;
        (ours, baseline)
    });
    Some(Measured {
        ours: rate(PAGE, ours),
        baseline: rate(PAGE, baseline),
    })
}
