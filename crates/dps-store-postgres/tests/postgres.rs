//! PostgreSQL-specific behaviour: event numbering in commit order, migrations, faults.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_numbering_events_first_commits_first_so_readers_see_both() {
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let app = format!("inverted-{schema}");
    let store = store_on(&url, &schema, &app).await;
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    store.commit(cs).await.unwrap();

    // T1 takes an event number and stays open, as a slow commit would.
    let mut t1_client = raw(&url).await;
    let t1 = t1_client.transaction().await.unwrap();
    let seq: i64 = t1
        .query_one(
            &format!("UPDATE \"{schema}\".dps_event_counter SET last = last + 1 WHERE id = 1 RETURNING last"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let d1 = fx.device(&group, "SN-T1");
    let event = serde_json::to_string(&Fixtures::event(&d1, EventKind::Registered)).unwrap();
    t1.execute(
        &format!("INSERT INTO \"{schema}\".dps_events (seq, data) VALUES ($1, $2)"),
        &[&seq, &event],
    )
    .await
    .unwrap();

    // T2 starts later and would commit first with a naive sequence.
    let d2 = fx.device(&group, "SN-T2");
    let t2_store = store.clone();
    let t2 = tokio::spawn(async move {
        let mut cs = Changeset::new();
        cs.push(Change::InsertDevice(d2.clone()))
            .event(Fixtures::event(&d2, EventKind::Registered));
        t2_store.commit(cs).await
    });
    let observer = raw(&url).await;
    lock_waiter(&observer, &app).await;
    assert!(
        store
            .events(EventCursor::START, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is visible while both are open"
    );

    t1.commit().await.unwrap();
    t2.await.unwrap().unwrap();
    let events = store.events(EventCursor::START, 10).await.unwrap();
    assert_eq!(events.len(), 2, "a reader sees both events");
    assert_eq!(events[0].serial.as_ref().unwrap().as_str(), "SN-T1");
    assert_eq!(events[1].serial.as_ref().unwrap().as_str(), "SN-T2");
    assert!(events[0].cursor < events[1].cursor);
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
                supported: 1
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

    // Hold the event counter so that the commit stops after writing its devices.
    let mut holder = raw(&url).await;
    let hold = holder.transaction().await.unwrap();
    hold.execute(
        &format!("SELECT last FROM \"{schema}\".dps_event_counter WHERE id = 1 FOR UPDATE"),
        &[],
    )
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
