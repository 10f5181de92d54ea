//! Access tokens and idempotency records: the token and idempotency methods of the `Store`
//! behave as their documentation says, as the in-memory store does.

use std::sync::Arc;

use dps_core::access::{AccessToken, IdempotencyClaim, IdempotencyRecord, Role, TokenHash};
use dps_core::{Actor, Entity, GroupId, Store, StoreError, Timestamp};

use crate::fixtures::{EPOCH, Fixtures};

fn actor(name: &str) -> Actor {
    Actor::new(name).unwrap_or_else(|e| panic!("token name {name}: {e}"))
}

/// A token named `name` whose text is `dps_<name>`.
fn token(name: &str, role: Role, groups: Vec<GroupId>) -> AccessToken {
    AccessToken::from_parts(
        actor(name),
        role,
        groups,
        TokenHash::of(&format!("dps_{name}")),
        EPOCH,
    )
}

async fn must_insert<S: Store + ?Sized>(store: &S, token: &AccessToken) {
    if let Err(e) = store.insert_token(token).await {
        panic!("insert token {}: {e}", token.name());
    }
}

async fn all_tokens<S: Store + ?Sized>(store: &S) -> Vec<AccessToken> {
    store
        .tokens()
        .await
        .unwrap_or_else(|e| panic!("list tokens: {e}"))
}

async fn by_hash<S: Store + ?Sized>(store: &S, hash: &TokenHash) -> Option<AccessToken> {
    store
        .token_by_hash(hash)
        .await
        .unwrap_or_else(|e| panic!("look up token: {e}"))
}

/// Tokens are inserted, listed by name (in byte order), found by the hash of their text and
/// removed: a removed token is not found, and removing it again answers `false`.
pub async fn tokens_crud<S: Store + ?Sized>(store: Arc<S>) {
    assert!(
        all_tokens(&*store).await.is_empty(),
        "a fresh store has no tokens"
    );
    let names = ["ops", "Zulu", "ci_bot", "ci-pipeline", "alpha"];
    let tokens: Vec<_> = names
        .iter()
        .map(|n| token(n, Role::Viewer, vec![]))
        .collect();
    for t in &tokens {
        must_insert(&*store, t).await;
    }
    let listed: Vec<String> = all_tokens(&*store)
        .await
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    assert_eq!(
        listed,
        ["Zulu", "alpha", "ci-pipeline", "ci_bot", "ops"],
        "tokens are listed by name, in byte order"
    );
    for t in &tokens {
        assert_eq!(
            by_hash(&*store, t.hash()).await.as_ref(),
            Some(t),
            "a token is found by the hash of its text"
        );
    }
    assert_eq!(
        by_hash(&*store, &TokenHash::of("dps_unknown")).await,
        None,
        "an unknown hash finds no token"
    );

    let removed = &tokens[0];
    let gone = store
        .remove_token(removed.name())
        .await
        .unwrap_or_else(|e| panic!("remove token: {e}"));
    assert!(gone, "removing a stored token answers true");
    assert_eq!(
        by_hash(&*store, removed.hash()).await,
        None,
        "a removed token is not found by its hash"
    );
    assert!(
        !all_tokens(&*store)
            .await
            .iter()
            .any(|t| t.name() == removed.name()),
        "a removed token is not listed"
    );
    assert_eq!(all_tokens(&*store).await.len(), tokens.len() - 1);
    let again = store
        .remove_token(removed.name())
        .await
        .unwrap_or_else(|e| panic!("remove token again: {e}"));
    assert!(!again, "removing a token that is gone answers false");
}

/// A second token with a stored name, or with a stored hash, is refused with
/// `AlreadyExists` of `Entity::Token`, and the stored token stays as it was.
pub async fn tokens_unique<S: Store + ?Sized>(store: Arc<S>) {
    let first = token("ci", Role::Viewer, vec![]);
    must_insert(&*store, &first).await;

    let same_name = AccessToken::from_parts(
        actor("ci"),
        Role::Admin,
        vec![],
        TokenHash::of("dps_other"),
        EPOCH,
    );
    let r = store.insert_token(&same_name).await;
    assert!(
        matches!(
            &r,
            Err(StoreError::AlreadyExists { entity: Entity::Token, key }) if key == "ci"
        ),
        "a token with a stored name is AlreadyExists of a token named by it, got {r:?}"
    );

    let same_hash =
        AccessToken::from_parts(actor("other"), Role::Admin, vec![], *first.hash(), EPOCH);
    let r = store.insert_token(&same_hash).await;
    assert!(
        matches!(
            &r,
            Err(StoreError::AlreadyExists {
                entity: Entity::Token,
                ..
            })
        ),
        "a token with a stored hash is AlreadyExists of a token, got {r:?}"
    );

    assert_eq!(
        all_tokens(&*store).await,
        std::slice::from_ref(&first),
        "refused tokens leave the stored one alone"
    );
    assert_eq!(by_hash(&*store, first.hash()).await.as_ref(), Some(&first));
    assert_eq!(by_hash(&*store, same_name.hash()).await, None);
}

/// Every role, the groups a token is limited to (in order, without repeats), when it was
/// issued and whether it may import in bulk read back as written, listed and by hash.
pub async fn tokens_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let (a, b) = (fx.group("a").id(), fx.group("b").id());
    let limited = token("limited", Role::Operator, vec![b, a, b]);
    assert_eq!(limited.groups().len(), 2, "the fixture has two groups");
    let written = vec![
        AccessToken::from_parts(
            actor("admin"),
            Role::Admin,
            vec![],
            TokenHash::of("dps_admin"),
            Timestamp::from_unix_millis(EPOCH.unix_millis() + 1234),
        ),
        token("bulk", Role::Operator, vec![]).with_bulk_import(true),
        limited,
        token("viewer", Role::Viewer, vec![a]),
    ];
    for t in &written {
        must_insert(&*store, t).await;
    }
    assert_eq!(
        all_tokens(&*store).await,
        written,
        "tokens read back with their role, groups and issue time"
    );
    for t in &written {
        let got = by_hash(&*store, t.hash()).await;
        assert_eq!(
            got.as_ref(),
            Some(t),
            "a token reads back by hash as written"
        );
        if let Some(got) = got {
            assert_eq!(got.role(), t.role());
            assert_eq!(got.groups(), t.groups());
            assert_eq!(got.bulk_import(), t.bulk_import());
        }
    }
}

/// `ms` milliseconds after [`EPOCH`].
fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(EPOCH.unix_millis() + ms)
}

fn record(key: &str, fingerprint: u8, ms: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.to_owned(),
        fingerprint: [fingerprint; 32],
        created_at: at(ms),
        answer: None,
    }
}

/// A claim that takes no record for lost: every record is created at [`EPOCH`] or later.
async fn claim<S: Store + ?Sized>(store: &S, record: &IdempotencyRecord) -> IdempotencyClaim {
    claim_stale_before(store, record, EPOCH).await
}

async fn claim_stale_before<S: Store + ?Sized>(
    store: &S,
    record: &IdempotencyRecord,
    stale_before: Timestamp,
) -> IdempotencyClaim {
    store
        .claim_idempotency(record, stale_before)
        .await
        .unwrap_or_else(|e| panic!("claim {}: {e}", record.key))
}

/// The first claim of a key is `Claimed`; later claims answer the stored record (the first
/// fingerprint and time, without an answer until the first request finishes, then with it);
/// a released key may be claimed again; finishing a key nobody claimed stores nothing.
pub async fn idempotency_claims<S: Store + ?Sized>(store: Arc<S>) {
    let first = record("token-a:key-1", 1, 0);
    assert_eq!(
        claim(&*store, &first).await,
        IdempotencyClaim::Claimed,
        "the first claim of a key is Claimed"
    );
    let reused = record("token-a:key-1", 2, 5);
    assert_eq!(
        claim(&*store, &reused).await,
        IdempotencyClaim::Existing(first.clone()),
        "a second claim answers the first record, with its fingerprint and no answer yet"
    );

    let answer = b"{\"status\":201}".to_vec();
    store
        .finish_idempotency(&first.key, &answer)
        .await
        .unwrap_or_else(|e| panic!("finish: {e}"));
    let finished = IdempotencyRecord {
        answer: Some(answer),
        ..first.clone()
    };
    assert_eq!(
        claim(&*store, &reused).await,
        IdempotencyClaim::Existing(finished),
        "a claim after the first request finished answers its answer"
    );
    let other = record("token-b:key-1", 3, 0);
    assert_eq!(
        claim(&*store, &other).await,
        IdempotencyClaim::Claimed,
        "keys are independent"
    );

    store
        .release_idempotency(&first.key)
        .await
        .unwrap_or_else(|e| panic!("release: {e}"));
    assert_eq!(
        claim(&*store, &reused).await,
        IdempotencyClaim::Claimed,
        "a released key is claimed again"
    );
    assert_eq!(
        claim(&*store, &first).await,
        IdempotencyClaim::Existing(reused.clone()),
        "the new claim's record is stored"
    );
    store
        .release_idempotency("never-claimed")
        .await
        .unwrap_or_else(|e| panic!("release an unknown key: {e}"));

    store
        .finish_idempotency("never-claimed", b"x")
        .await
        .unwrap_or_else(|e| panic!("finish an unknown key: {e}"));
    assert_eq!(
        claim(&*store, &record("never-claimed", 4, 0)).await,
        IdempotencyClaim::Claimed,
        "finishing a key nobody claimed stores no record"
    );
}

/// A purge removes exactly the records created before the given time, whatever their state,
/// and answers how many.
pub async fn idempotency_purge<S: Store + ?Sized>(store: Arc<S>) {
    let records = [
        record("old-running", 1, 0),
        record("old-finished", 2, 10),
        record("at-the-limit", 3, 20),
        record("new", 4, 30),
    ];
    for r in &records {
        assert_eq!(claim(&*store, r).await, IdempotencyClaim::Claimed);
    }
    store
        .finish_idempotency("old-finished", b"done")
        .await
        .unwrap_or_else(|e| panic!("finish: {e}"));
    let limit = Timestamp::from_unix_millis(EPOCH.unix_millis() + 20);
    let purged = store
        .purge_idempotency(limit)
        .await
        .unwrap_or_else(|e| panic!("purge: {e}"));
    assert_eq!(
        purged, 2,
        "the purge counts the records created before the limit"
    );
    for kept in &records[2..] {
        assert_eq!(
            claim(&*store, &record(&kept.key, 9, 40)).await,
            IdempotencyClaim::Existing(kept.clone()),
            "a record created at or after the limit is kept"
        );
    }
    for gone in &records[..2] {
        assert_eq!(
            claim(&*store, &record(&gone.key, 9, 40)).await,
            IdempotencyClaim::Claimed,
            "a record created before the limit is gone"
        );
    }
    let again = store
        .purge_idempotency(limit)
        .await
        .unwrap_or_else(|e| panic!("purge again: {e}"));
    assert_eq!(again, 0, "a second purge finds nothing before the limit");
}

/// Of two claims of one key at once, exactly one is `Claimed` and the other answers its
/// record.
pub async fn idempotency_concurrent_claims<S: Store + ?Sized>(store: Arc<S>) {
    const ROUNDS: usize = 16;
    for round in 0..ROUNDS {
        let key = format!("race-{round}");
        race(&store, record(&key, 1, 0), record(&key, 2, 0), EPOCH).await;
    }
}

/// A record without an answer created before the claim's `stale_before` is taken for lost:
/// the claim replaces it and is `Claimed`, and of two such claims at once exactly one is. A
/// record with an answer is never taken over, however old.
pub async fn idempotency_stale_claims<S: Store + ?Sized>(store: Arc<S>) {
    let lost = record("lost", 1, 0);
    assert_eq!(claim(&*store, &lost).await, IdempotencyClaim::Claimed);
    let retry = record("lost", 2, 50);
    assert_eq!(
        claim_stale_before(&*store, &retry, at(0)).await,
        IdempotencyClaim::Existing(lost.clone()),
        "a record created at the limit is still running"
    );
    assert_eq!(
        claim_stale_before(&*store, &retry, at(1)).await,
        IdempotencyClaim::Claimed,
        "a record without an answer created before the limit is taken over"
    );
    assert_eq!(
        claim(&*store, &lost).await,
        IdempotencyClaim::Existing(retry.clone()),
        "the taking claim's record replaces the lost one"
    );

    let done = record("done", 3, 0);
    assert_eq!(claim(&*store, &done).await, IdempotencyClaim::Claimed);
    store
        .finish_idempotency(&done.key, b"first answer")
        .await
        .unwrap_or_else(|e| panic!("finish: {e}"));
    assert_eq!(
        claim_stale_before(&*store, &record("done", 4, 50), at(40)).await,
        IdempotencyClaim::Existing(IdempotencyRecord {
            answer: Some(b"first answer".to_vec()),
            ..done
        }),
        "a finished record is never taken over"
    );

    const ROUNDS: usize = 8;
    for round in 0..ROUNDS {
        let key = format!("stale-race-{round}");
        assert_eq!(
            claim(&*store, &record(&key, 0, 0)).await,
            IdempotencyClaim::Claimed
        );
        race(&store, record(&key, 1, 50), record(&key, 2, 50), at(10)).await;
    }
}

/// Claims `one` and `two` (of one key) at once with `stale_before`: exactly one is
/// `Claimed`, and the other answers the winner's record.
async fn race<S: Store + ?Sized>(
    store: &Arc<S>,
    one: IdempotencyRecord,
    two: IdempotencyRecord,
    stale_before: Timestamp,
) {
    let (s1, s2) = (Arc::clone(store), Arc::clone(store));
    let (r1, r2) = tokio::join!(
        tokio::spawn({
            let one = one.clone();
            async move { s1.claim_idempotency(&one, stale_before).await }
        }),
        tokio::spawn({
            let two = two.clone();
            async move { s2.claim_idempotency(&two, stale_before).await }
        }),
    );
    let r1 = r1
        .unwrap_or_else(|e| panic!("claim task: {e}"))
        .unwrap_or_else(|e| panic!("claim: {e}"));
    let r2 = r2
        .unwrap_or_else(|e| panic!("claim task: {e}"))
        .unwrap_or_else(|e| panic!("claim: {e}"));
    match (r1, r2) {
        (IdempotencyClaim::Claimed, IdempotencyClaim::Existing(r)) => {
            assert_eq!(r, one, "the loser answers the winner's record");
        }
        (IdempotencyClaim::Existing(r), IdempotencyClaim::Claimed) => {
            assert_eq!(r, two, "the loser answers the winner's record");
        }
        (r1, r2) => panic!("exactly one of two claims of a key wins, got {r1:?} and {r2:?}"),
    }
}
