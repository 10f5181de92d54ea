//! A schema written by an earlier release reads back record by record as the records that
//! the same history produces today.
//!
//! `fixtures/v1.sql` is a `pg_dump --inserts` of the golden scenario (`dps_testkit::golden`)
//! as the first release stored it, with the schema name replaced by a placeholder; see that
//! module for how the fixture was written.

mod common;

use common::{DropSchema, raw, unique_schema, url};
use dps_core::{Change, Changeset, EventKind, Store};
use dps_store_memory::InMemoryStore;
use dps_store_postgres::{PgOptions, PgStore};
use dps_testkit::Fixtures;
use dps_testkit::golden::{self, SCHEMA_PLACEHOLDER};

/// Loads the fixture `name` into a fresh schema and opens a store on it.
async fn load(url: &str, name: &str) -> (DropSchema, PgStore) {
    let schema = unique_schema();
    let guard = DropSchema {
        url: url.to_owned(),
        schema: schema.clone(),
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dump = std::fs::read_to_string(path).expect("read the fixture");
    let sql = dump.replace(SCHEMA_PLACEHOLDER, &schema);
    raw(url)
        .await
        .batch_execute(&sql)
        .await
        .expect("load the fixture");
    let store = PgStore::connect(url, PgOptions::default().with_schema(&schema).unwrap())
        .await
        .expect("open the fixture");
    (guard, store)
}

#[tokio::test]
async fn a_v1_schema_reads_back_every_record() {
    let Some(url) = url() else { return };
    let expected = golden::expected(InMemoryStore::new()).await;
    let (_guard, store) = load(&url, "v1.sql").await;
    golden::assert_reads_back(&expected, &store).await;
}

#[tokio::test]
async fn a_v1_schema_takes_new_records_after_the_upgrade() {
    let Some(url) = url() else { return };
    let expected = golden::expected(InMemoryStore::new()).await;
    let (_guard, store) = load(&url, "v1.sql").await;
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
    // The event counter carried over: the next event follows the last one.
    let last = expected.events.last().map(|e| e.cursor).expect("events");
    let group = &expected.groups[0];
    let mut cs = Changeset::new();
    cs.event(Fixtures::group_event(group, EventKind::GroupEdited));
    store.commit(cs).await.expect("append an event");
    let next = store.events(last, 10).await.expect("read events");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].cursor.get(), last.get() + 1);
}

#[tokio::test]
async fn a_v1_schema_keeps_its_event_cursors_and_numbers_new_events_above_them() {
    let Some(url) = url() else { return };
    let expected = golden::expected(InMemoryStore::new()).await;
    let (_guard, store) = load(&url, "v1.sql").await;
    let old = &expected.events;
    assert!(old.len() > 2, "the fixture has events");
    // A reader that stopped in the middle of the old events goes on from its cursor.
    let mid = old.len() / 2;
    let rest = store
        .events(old[mid].cursor, old.len())
        .await
        .expect("read events");
    assert_eq!(rest, old[mid + 1..]);

    let group = &expected.groups[0];
    let mut first = Changeset::new();
    first
        .event(Fixtures::group_event(group, EventKind::GroupEdited))
        .event(Fixtures::group_event(group, EventKind::GroupEdited));
    store.commit(first).await.expect("append two events");
    let mut second = Changeset::new();
    second.event(Fixtures::group_event(group, EventKind::GroupDeleted));
    store.commit(second).await.expect("append an event");

    // The old events keep their cursors; the new ones follow them, in commit order.
    let last = old.last().map(|e| e.cursor).expect("events");
    let all = store
        .events(dps_core::EventCursor::START, old.len() + 10)
        .await
        .expect("read events");
    assert_eq!(all[..old.len()], old[..]);
    let new = &all[old.len()..];
    let kinds: Vec<&str> = new.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["group_edited", "group_edited", "group_deleted"]);
    assert!(new[0].cursor > last);
    assert!(new.windows(2).all(|p| p[0].cursor < p[1].cursor));
    assert_eq!(store.events(last, 10).await.expect("read events"), new);
}
