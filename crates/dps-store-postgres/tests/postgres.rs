//! PostgreSQL-specific behaviour: event numbering without skips, migrations, faults.

mod common;

use std::time::Duration;

use common::{DropSchema, raw, unique_schema, url};
use dps_core::{Change, Changeset, DeviceQuery, EventCursor, EventKind, Store, StoreError};
use dps_store_postgres::{PgOptions, PgStore};
use dps_testkit::Fixtures;

async fn store_on(url: &str, schema: &str, app: &str) -> PgStore {
    PgStore::connect(
        url,
        PgOptions::default()
            .with_schema(schema)
            .unwrap()
            .with_application_name(app)
            .with_pool_size(2),
    )
    .await
    .unwrap()
}

/// Waits until a backend of `app` waits on a lock; returns its pid.
async fn lock_waiter(client: &tokio_postgres::Client, app: &str) -> i32 {
    for _ in 0..2000 {
        let row = client
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&app],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no backend of {app} started waiting for a lock");
}

/// How long a step that must not wait on another transaction may take before the test fails
/// instead of hanging.
const NO_WAIT: Duration = Duration::from_secs(30);

/// Opens a raw transaction on `client` that writes one unnumbered batch holding an event of
/// `device`, as a commit does, and leaves it open.
async fn open_batch<'a>(
    client: &'a mut tokio_postgres::Client,
    schema: &str,
    device: &dps_core::Device,
) -> tokio_postgres::Transaction<'a> {
    let tx = client.transaction().await.unwrap();
    let batch: i64 = tx
        .query_one(
            &format!("INSERT INTO \"{schema}\".dps_event_batches (n) VALUES (1) RETURNING id"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let event = serde_json::to_string(&Fixtures::event(device, EventKind::Registered)).unwrap();
    tx.execute(
        &format!("INSERT INTO \"{schema}\".dps_events (batch, idx, data) VALUES ($1, 0, $2)"),
        &[&batch, &event],
    )
    .await
    .unwrap();
    tx
}

/// A changeset that registers `device` with its event.
fn registration(device: &dps_core::Device) -> Changeset {
    let mut cs = Changeset::new();
    cs.push(Change::InsertDevice(device.clone()))
        .event(Fixtures::event(device, EventKind::Registered));
    cs
}

fn serial(event: &dps_core::Event) -> &str {
    event.serial.as_ref().map(|s| s.as_str()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_writing_events_early_and_committing_late_is_never_skipped() {
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = store_on(&url, &schema, "late").await;
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    store.commit(cs).await.unwrap();

    // T1 writes its batch of events first and stays open, as a slow commit would.
    let mut t1_client = raw(&url).await;
    let t1 = open_batch(&mut t1_client, &schema, &fx.device(&group, "SN-T1")).await;

    // T2 writes later and commits first, without waiting for T1.
    let d2 = fx.device(&group, "SN-T2");
    tokio::time::timeout(NO_WAIT, store.commit(registration(&d2)))
        .await
        .expect("a commit does not wait for an open transaction's events")
        .unwrap();
    let seen = store.events(EventCursor::START, 10).await.unwrap();
    assert_eq!(seen.len(), 1, "only the committed transaction is visible");
    assert_eq!(serial(&seen[0]), "SN-T2");

    // A reader following its cursor sees T1 once it commits, above the cursor it holds.
    t1.commit().await.unwrap();
    let next = store.events(seen[0].cursor, 10).await.unwrap();
    assert_eq!(next.len(), 1, "the late commit is not skipped");
    assert_eq!(serial(&next[0]), "SN-T1");
    assert!(next[0].cursor > seen[0].cursor);
    let all = store.events(EventCursor::START, 10).await.unwrap();
    let order: Vec<&str> = all.iter().map(serial).collect();
    assert_eq!(
        order,
        ["SN-T2", "SN-T1"],
        "events are numbered as they become visible"
    );
    assert!(store.events(next[0].cursor, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_and_reads_do_not_wait_for_an_open_transaction_with_events() {
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = store_on(&url, &schema, "open").await;
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    store.commit(cs).await.unwrap();

    let mut open_client = raw(&url).await;
    let open = open_batch(&mut open_client, &schema, &fx.device(&group, "SN-OPEN")).await;
    let mut cursor = EventCursor::START;
    for i in 0..5 {
        let d = fx.device(&group, &format!("SN-{i}"));
        tokio::time::timeout(NO_WAIT, store.commit(registration(&d)))
            .await
            .expect("the commit completes while the other transaction is open")
            .unwrap();
        // The commit's events are visible as soon as it returns.
        let seen = tokio::time::timeout(NO_WAIT, store.events(cursor, 10))
            .await
            .expect("reading events does not wait for the open transaction")
            .unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(serial(&seen[0]), format!("SN-{i}"));
        assert!(seen[0].cursor > cursor);
        cursor = seen[0].cursor;
    }
    // The open transaction was not disturbed: it commits, and its event follows.
    open.commit().await.unwrap();
    let seen = store.events(cursor, 10).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(serial(&seen[0]), "SN-OPEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_following_concurrent_writers_see_every_event_once_in_cursor_order() {
    const WRITERS: usize = 8;
    const COMMITS: usize = 40;
    const READERS: usize = 2;
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = PgStore::connect(
        &url,
        PgOptions::default()
            .with_schema(&schema)
            .unwrap()
            .with_pool_size(WRITERS + READERS),
    )
    .await
    .unwrap();
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    store.commit(cs).await.unwrap();

    // Writer w commits COMMITS changesets; changeset i registers devices W{w}-{i}-{j} for
    // j below 1 + i % 3, each with its event.
    let expected: usize = (0..COMMITS).map(|i| 1 + i % 3).sum::<usize>() * WRITERS;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let (store, done) = (store.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut cursor = EventCursor::START;
            let mut seen = Vec::new();
            loop {
                // Read once more after the writers are done, to see their last commits.
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.events(cursor, 7).await.unwrap();
                for e in &page {
                    assert!(e.cursor > cursor, "cursors increase strictly");
                    cursor = e.cursor;
                    seen.push(serial(e).to_owned());
                }
                if finished && page.is_empty() {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let changesets: Vec<Changeset> = (0..COMMITS)
            .map(|i| {
                let mut cs = Changeset::new();
                for j in 0..1 + i % 3 {
                    let d = fx.device(&group, &format!("W{w}-{i:02}-{j}"));
                    cs.push(Change::InsertDevice(d.clone()))
                        .event(Fixtures::event(&d, EventKind::Registered));
                }
                cs
            })
            .collect();
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for cs in changesets {
                store.commit(cs).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        let seen = r.await.unwrap();
        assert_eq!(seen.len(), expected, "every event is seen");
        let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
        assert_eq!(distinct.len(), expected, "no event is seen twice");
        // Each writer's events come in the order it committed them.
        for w in 0..WRITERS {
            let prefix = format!("W{w}-");
            let mine: Vec<&String> = seen.iter().filter(|s| s.starts_with(&prefix)).collect();
            assert!(mine.windows(2).all(|p| p[0] < p[1]), "writer {w} in order");
        }
    }
    let all = store
        .events(EventCursor::START, expected + 1)
        .await
        .unwrap();
    assert_eq!(all.len(), expected);
    assert!(all.windows(2).all(|p| p[0].cursor < p[1].cursor));
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    drop(store_on(&url, &schema, "newer").await);
    let client = raw(&url).await;
    client
        .execute(
            &format!("UPDATE \"{schema}\".dps_schema_version SET version = 99"),
            &[],
        )
        .await
        .unwrap();
    let err = PgStore::connect(&url, PgOptions::default().with_schema(&schema).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 5
            }
        ),
        "{err:?}"
    );
    let v: i32 = client
        .query_one(
            &format!("SELECT version FROM \"{schema}\".dps_schema_version"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (url, schema) = (url.clone(), schema.clone());
        tasks.push(tokio::spawn(async move {
            PgStore::connect(
                &url,
                PgOptions::default()
                    .with_schema(&schema)
                    .unwrap()
                    .with_application_name(&format!("start-{i}")),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let client = raw(&url).await;
    let rows = client
        .query(
            &format!("SELECT version FROM \"{schema}\".dps_schema_version"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one version row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_commit_writes_nothing_and_is_retryable() {
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let app = format!("drop-{schema}");
    let store = store_on(&url, &schema, &app).await;
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    store.commit(cs).await.unwrap();

    // Hold back writes of event batches so that the commit stops after writing its devices.
    let mut holder = raw(&url).await;
    let hold = holder.transaction().await.unwrap();
    hold.batch_execute(&format!(
        "LOCK TABLE \"{schema}\".dps_event_batches IN SHARE MODE"
    ))
    .await
    .unwrap();

    let devices: Vec<_> = (0..100)
        .map(|i| fx.device(&group, &format!("SN-{i:03}")))
        .collect();
    let changeset = || {
        let mut cs = Changeset::new();
        for d in &devices {
            cs.push(Change::InsertDevice(d.clone()))
                .event(Fixtures::event(d, EventKind::Registered));
        }
        cs
    };
    let committing = store.clone();
    let first = changeset();
    let task = tokio::spawn(async move { committing.commit(first).await });
    let observer = raw(&url).await;
    let pid = lock_waiter(&observer, &app).await;
    observer
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(
        err.is_retryable(),
        "a dropped connection is retryable: {err:?}"
    );
    hold.rollback().await.unwrap();

    assert_eq!(
        store
            .count_devices(&DeviceQuery::group(group.id()))
            .await
            .unwrap(),
        0,
        "nothing was half-written"
    );
    assert!(
        store
            .events(EventCursor::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The retry lands whole.
    store.commit(changeset()).await.unwrap();
    assert_eq!(
        store
            .count_devices(&DeviceQuery::group(group.id()))
            .await
            .unwrap(),
        100
    );
    assert_eq!(
        store.events(EventCursor::START, 1000).await.unwrap().len(),
        100
    );
}

#[tokio::test]
async fn a_malformed_url_and_an_unreachable_server_are_clear_errors() {
    let err = PgStore::connect("postgres://[::1", PgOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("connection string"), "{err}");
    assert_eq!(err.code(), "storage_misconfigured");
    assert!(!err.is_retryable());
    let err = PgStore::connect(
        "postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
        PgOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_database_that_does_not_exist_is_a_configuration_error() {
    let Some(url) = url() else { return };
    let missing = if url.contains('?') {
        let (base, query) = url.split_once('?').unwrap();
        let base = &base[..base.rfind('/').unwrap()];
        format!("{base}/dps_no_such_database?{query}")
    } else {
        let base = &url[..url.rfind('/').unwrap()];
        format!("{base}/dps_no_such_database")
    };
    let err = PgStore::connect(&missing, PgOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Configuration { .. }), "{err:?}");
    assert_eq!(err.code(), "storage_misconfigured");
    assert!(!err.is_retryable());
}
