//! Criterion benches of dps-store-sqlite: a chunked import through the Store and point
//! lookups by serial.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dps_benches::runtime;
use dps_benches::sqlite::devices;
use dps_core::{Change, Changeset, Store};
use dps_store_sqlite::{SqliteOptions, SqliteStore};

fn import(c: &mut Criterion) {
    let (group, devices) = devices(10_000);
    let rt = runtime();
    let mut g = c.benchmark_group("sqlite");
    g.sample_size(10);
    g.throughput(Throughput::Elements(devices.len() as u64));
    g.bench_function("import_10k", |b| {
        b.iter_with_setup(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let store =
                    SqliteStore::open(dir.path().join("b.sqlite"), SqliteOptions::default())
                        .expect("open");
                let mut cs = Changeset::new();
                cs.push(Change::InsertGroup(group.clone()));
                rt.block_on(store.commit(cs)).expect("group");
                (dir, store)
            },
            |(_dir, store)| {
                let mut cs = Changeset::new();
                for d in &devices {
                    cs.push(Change::InsertDevice(d.clone()));
                }
                rt.block_on(store.commit(cs)).expect("commit");
            },
        );
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        SqliteStore::open(dir.path().join("l.sqlite"), SqliteOptions::default()).expect("open");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    for d in &devices {
        cs.push(Change::InsertDevice(d.clone()));
    }
    rt.block_on(store.commit(cs)).expect("commit");
    g.throughput(Throughput::Elements(1));
    let serial = devices[devices.len() / 2].serial().clone();
    g.bench_function("lookup_by_serial", |b| {
        b.iter(|| rt.block_on(store.device_by_serial(group.id(), &serial)))
    });
    g.finish();
}

criterion_group!(benches, import);
criterion_main!(benches);
