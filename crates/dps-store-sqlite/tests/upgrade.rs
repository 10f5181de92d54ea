//! A database written by an earlier release reads back record by record as the records that
//! the same history produces today.
//!
//! `fixtures/v1.sqlite` holds the golden scenario (`dps_testkit::golden`) as the first
//! release stored it; see that module for how the fixture was written.

use std::path::Path;

use dps_core::{Change, Changeset, EventKind, Store};
use dps_store_memory::InMemoryStore;
use dps_store_sqlite::{SqliteOptions, SqliteStore};
use dps_testkit::{Fixtures, golden};

/// The fixture, copied to a temporary directory so that opening it changes nothing here.
fn open_copy(name: &str) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let path = dir.path().join(name);
    std::fs::copy(&fixture, &path).expect("copy the fixture");
    let store = SqliteStore::open(&path, SqliteOptions::default()).expect("open the fixture");
    (dir, store)
}

#[tokio::test]
async fn a_v1_database_reads_back_every_record() {
    let expected = golden::expected(InMemoryStore::new()).await;
    let (_dir, store) = open_copy("v1.sqlite");
    assert_eq!(store.integrity_check().expect("integrity check"), "ok");
    golden::assert_reads_back(&expected, &store).await;
}

#[tokio::test]
async fn a_v1_database_takes_new_records_after_the_upgrade() {
    let expected = golden::expected(InMemoryStore::new()).await;
    let (_dir, store) = open_copy("v1.sqlite");
    // Every record rewritten by today's code reads back as before.
    let mut cs = Changeset::new();
    for g in &expected.groups {
        cs.push(Change::UpdateGroup {
            expected: g.version(),
            group: g.clone(),
        });
    }
    for d in &expected.devices {
        cs.push(Change::UpdateDevice {
            expected: d.version(),
            device: d.clone(),
        });
    }
    store.commit(cs).await.expect("rewrite every record");
    golden::assert_reads_back(&expected, &store).await;
    // The event log carries on after the last event.
    let last = expected.events.last().map(|e| e.cursor).expect("events");
    let mut cs = Changeset::new();
    cs.event(Fixtures::group_event(
        &expected.groups[0],
        EventKind::GroupEdited,
    ));
    store.commit(cs).await.expect("append an event");
    let next = store.events(last, 10).await.expect("read events");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].cursor.get(), last.get() + 1);
}
