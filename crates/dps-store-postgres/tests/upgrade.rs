//! A schema written by an earlier release reads back record by record as the records that
//! the same history produces today, and takes what later releases store beside them (access
//! tokens and idempotency records).
//!
//! `fixtures/v1.sql` is a `pg_dump --inserts` of the golden scenario (`dps_testkit::golden`)
//! as the first release stored it, with the schema name replaced by a placeholder; see that
//! module for how the fixture was written.

mod common;

use common::{DropSchema, raw, unique_schema, url};
use dps_core::access::{AccessToken, IdempotencyClaim, IdempotencyRecord, Role, TokenHash};
use dps_core::{Actor, Change, Changeset, EventKind, Store};
use dps_store_memory::InMemoryStore;
use dps_store_postgres::{PgOptions, PgStore};
use dps_testkit::golden::{self, SCHEMA_PLACEHOLDER};
use dps_testkit::{EPOCH, Fixtures};

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

#[tokio::test]
async fn a_v1_schema_keeps_tokens_and_idempotency_records_after_the_upgrade() {
    let Some(url) = url() else { return };
    let expected = golden::expected(InMemoryStore::new()).await;
    let (guard, store) = load(&url, "v1.sql").await;
    let token = AccessToken::from_parts(
        Actor::new("ci-pipeline").expect("token name"),
        Role::Operator,
        vec![expected.groups[0].id()],
        TokenHash::of("dps_upgrade"),
        EPOCH,
    );
    store.insert_token(&token).await.expect("insert a token");
    let record = IdempotencyRecord {
        key: "ci-pipeline:1".into(),
        fingerprint: [7; 32],
        created_at: EPOCH,
        answer: None,
    };
    let claim = store
        .claim_idempotency(&record, EPOCH)
        .await
        .expect("claim a key");
    assert_eq!(claim, IdempotencyClaim::Claimed);
    store
        .finish_idempotency(&record.key, b"answer")
        .await
        .expect("finish the request");
    // The old records are untouched by the new tables.
    golden::assert_reads_back(&expected, &store).await;
    drop(store);

    // Connected again, the upgraded schema keeps both and is not migrated again.
    let store = PgStore::connect(
        &url,
        PgOptions::default().with_schema(&guard.schema).unwrap(),
    )
    .await
    .expect("reconnect to the upgraded schema");
    let found = store
        .token_by_hash(&TokenHash::of("dps_upgrade"))
        .await
        .expect("look up the token");
    assert_eq!(found, Some(token.clone()));
    assert_eq!(store.tokens().await.expect("list tokens"), [token]);
    let again = store
        .claim_idempotency(&record, EPOCH)
        .await
        .expect("claim again");
    assert_eq!(
        again,
        IdempotencyClaim::Existing(IdempotencyRecord {
            answer: Some(b"answer".to_vec()),
            ..record
        })
    );
}

#[tokio::test]
async fn a_v1_schema_is_sealed_by_a_reseal_and_still_reads_back() {
    let Some(url) = url() else { return };
    let expected = golden::expected(InMemoryStore::new()).await;
    let (_guard, store) = load(&url, "v1.sql").await;
    let dps = dps_core::Provisioner::new(store.clone(), dps_testkit::FakeEnvironment::new())
        .with_keys(dps_testkit::test_keys());
    let counted = dps.secrets_by_key().await.expect("count");
    assert!(
        counted.in_clear > 0 && counted.sealed.is_empty(),
        "{counted:?}"
    );
    let report = dps.reseal(|_| {}).await.expect("reseal");
    assert_eq!((report.secrets(), report.skipped), (counted.in_clear, 0));
    let after = dps.secrets_by_key().await.expect("count again");
    assert_eq!(after.in_clear, 0);
    golden::assert_reads_back(&expected, &store).await;
}
