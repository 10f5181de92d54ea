//! A database written by an earlier release reads back record by record as the records that
//! the same history produces today, and takes what later releases store beside them (access
//! tokens and idempotency records).
//!
//! `fixtures/v1.sqlite` holds the golden scenario (`dps_testkit::golden`) as the first
//! release stored it; see that module for how the fixture was written.

use std::path::Path;

use dps_core::access::{AccessToken, IdempotencyClaim, IdempotencyRecord, Role, TokenHash};
use dps_core::{Actor, Change, Changeset, EventKind, Store};
use dps_store_memory::InMemoryStore;
use dps_store_sqlite::{SqliteOptions, SqliteStore};
use dps_testkit::{EPOCH, Fixtures, golden};

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

#[tokio::test]
async fn a_v1_database_keeps_tokens_and_idempotency_records_after_the_upgrade() {
    let expected = golden::expected(InMemoryStore::new()).await;
    let (dir, store) = open_copy("v1.sqlite");
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

    // Reopened, the upgraded file keeps both and is not migrated again.
    let store = SqliteStore::open(dir.path().join("v1.sqlite"), SqliteOptions::default())
        .expect("reopen the upgraded fixture");
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
    assert_eq!(store.integrity_check().expect("integrity check"), "ok");
}

#[tokio::test]
async fn a_v1_database_is_sealed_by_a_reseal_and_still_reads_back() {
    let expected = golden::expected(InMemoryStore::new()).await;
    let (dir, store) = open_copy("v1.sqlite");
    let dps = dps_core::Provisioner::new(store.clone(), dps_testkit::FakeEnvironment::new())
        .with_keys(dps_testkit::test_keys());
    let counted = dps.secrets_by_key().await.expect("count");
    assert!(
        counted.in_clear > 0 && counted.sealed.is_empty(),
        "{counted:?}"
    );
    let report = dps.reseal(|_| {}).await.expect("reseal");
    assert_eq!(report.secrets(), counted.in_clear);
    assert_eq!(report.skipped, 0);
    let after = dps.secrets_by_key().await.expect("count again");
    assert_eq!(after.in_clear, 0);
    assert_eq!(after.sealed.values().sum::<u64>(), counted.in_clear);
    // Every record reads back as before, its secrets opening to what they were.
    golden::assert_reads_back(&expected, &store).await;
    // Compacted, the file keeps no copy of a secret in clear.
    store.compact().await.expect("compact");
    let bytes = std::fs::read(dir.path().join("v1.sqlite")).expect("read the file");
    for g in &expected.groups {
        let secret = dps_testkit::group_secret(g);
        let text = secret.expose().as_bytes();
        assert!(!bytes.windows(text.len()).any(|w| w == text), "{}", g.id());
    }
    assert_eq!(store.integrity_check().expect("integrity check"), "ok");
}
