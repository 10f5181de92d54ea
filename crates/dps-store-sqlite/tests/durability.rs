//! Durability, concurrency and bad-input behaviour of `SqliteStore` on real files.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dps_core::{
    Change, Changeset, DeviceQuery, EventCursor, EventKind, Store, StoreError, Timestamp,
};
use dps_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use dps_testkit::Fixtures;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn insert_group(
    rt: &tokio::runtime::Runtime,
    store: &SqliteStore,
    fx: &Fixtures,
) -> dps_core::RegistrationGroup {
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    rt.block_on(store.commit(cs)).expect("insert group");
    group
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let content = b"these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &content).unwrap();
    let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(err.code(), "storage_corrupt");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        content,
        "the file is unchanged"
    );
    assert!(!dir.path().join("notes.txt-wal").exists());
}

#[test]
fn a_database_of_another_application_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("another application"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dps.sqlite");
    drop(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        c.pragma_update(None, "wal_checkpoint", "TRUNCATE").ok();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 4
            }
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn data_survives_reopening_with_either_durability() {
    let rt = runtime();
    for sync in [Synchronous::Normal, Synchronous::Full] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dps.sqlite");
        let fx = Fixtures::new();
        let options = SqliteOptions::default().with_synchronous(sync);
        let (group, device) = {
            let store = SqliteStore::open(&path, options.clone()).unwrap();
            let group = insert_group(&rt, &store, &fx);
            let device = fx.allocated(&group, &fx.device(&group, "SN-1")).1;
            let mut cs = Changeset::new();
            cs.push(Change::InsertDevice(device.clone()))
                .event(Fixtures::event(&device, EventKind::Registered));
            rt.block_on(store.commit(cs)).unwrap();
            (group, device)
        };
        let store = SqliteStore::open(&path, options).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        let read = rt
            .block_on(store.device_by_serial(group.id(), device.serial()))
            .unwrap();
        assert_eq!(read.as_ref(), Some(&device), "{sync:?}");
        let events = rt.block_on(store.events(EventCursor::START, 10)).unwrap();
        assert_eq!(events.len(), 1);
    }
}

#[test]
fn a_locked_database_waits_for_the_busy_timeout_then_says_so() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dps.sqlite");
    let timeout = Duration::from_millis(300);
    let store =
        SqliteStore::open(&path, SqliteOptions::default().with_busy_timeout(timeout)).unwrap();
    let fx = Fixtures::new();
    let group = insert_group(&rt, &store, &fx);

    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut cs = Changeset::new();
    cs.push(Change::InsertDevice(fx.device(&group, "SN-1")));
    let start = Instant::now();
    let err = rt.block_on(store.commit(cs)).unwrap_err();
    let waited = start.elapsed();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(
        waited >= timeout,
        "waited {waited:?}, less than the busy timeout"
    );
    other.execute_batch("ROLLBACK").unwrap();

    // Once the lock is gone the same commit goes through.
    let mut cs = Changeset::new();
    cs.push(Change::InsertDevice(fx.device(&group, "SN-1")));
    rt.block_on(store.commit(cs)).unwrap();
}

#[test]
fn two_stores_on_one_file_serialise_commits_and_report_conflicts() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dps.sqlite");
    let a = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    let b = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    let fx = Fixtures::new();
    let group = insert_group(&rt, &a, &fx);
    let device = fx.device(&group, "SN-1");
    let mut cs = Changeset::new();
    cs.push(Change::InsertDevice(device.clone()));
    rt.block_on(a.commit(cs)).unwrap();

    // Racing edits of one device from the same version: one winner, the rest Conflict.
    let results: Vec<Result<(), StoreError>> = rt.block_on(async {
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for w in 0..8 {
            let store = if w % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            let barrier = Arc::clone(&barrier);
            let edit = dps_core::DeviceEdit {
                name: Some(Some(format!("writer {w}").parse().unwrap())),
                ..Default::default()
            };
            let next =
                dps_core::lifecycle::edit(&device, &group, &edit, Timestamp::from_unix_millis(1))
                    .unwrap();
            let expected = device.version();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let mut cs = Changeset::new();
                cs.push(Change::UpdateDevice {
                    expected,
                    device: next,
                });
                store.commit(cs).await
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::Conflict { .. })),
        "losers get Conflict, never a lock error: {results:?}"
    );

    // Many inserts from both stores at once all land, with gap-free events.
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..4u64 {
            let store = if w % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            let group = group.clone();
            tasks.push(tokio::spawn(async move {
                let fx = Fixtures::starting_at(1000 * (w + 1));
                for i in 0..50 {
                    let d = fx.device(&group, &format!("W{w}-{i}"));
                    let mut cs = Changeset::new();
                    cs.push(Change::InsertDevice(d.clone()))
                        .event(Fixtures::event(&d, EventKind::Registered));
                    store.commit(cs).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let count = rt
        .block_on(b.count_devices(&DeviceQuery::group(group.id())))
        .unwrap();
    assert_eq!(count, 201);
    let events = rt.block_on(a.events(EventCursor::START, 1000)).unwrap();
    assert_eq!(events.len(), 200);
    assert!(
        events
            .windows(2)
            .all(|w| w[1].cursor.get() == w[0].cursor.get() + 1)
    );
}

const CHILD_ENV: &str = "DPS_SQLITE_CRASH_CHILD";
const CHUNK: usize = 500;

/// The child side: import chunks forever (bounded), reporting each commit on stdout.
fn crash_child(spec: &str) {
    let (path, group_id) = spec.split_once('|').expect("child spec");
    let rt = runtime();
    let store = SqliteStore::open(path, SqliteOptions::default()).expect("child open");
    let group = rt
        .block_on(store.group(group_id.parse().expect("group id")))
        .expect("read group")
        .expect("group exists");
    let fx = Fixtures::starting_at(1_000_000);
    let mut out = std::io::stdout();
    for chunk in 0..10_000 {
        let mut cs = Changeset::with_capacity(CHUNK);
        for i in 0..CHUNK {
            let d = fx.device(&group, &format!("C{chunk:05}-{i:04}"));
            cs.push(Change::InsertDevice(d.clone()))
                .event(Fixtures::event(&d, EventKind::Registered));
        }
        rt.block_on(store.commit(cs)).expect("child commit");
        writeln!(out, "committed {chunk}").expect("report");
        out.flush().expect("flush");
    }
}

#[test]
fn sigkill_mid_import_keeps_only_whole_chunks_with_their_events() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        crash_child(&spec);
        return;
    }
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dps.sqlite");
    let group = {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        insert_group(&rt, &store, &Fixtures::new())
    };

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_mid_import_keeps_only_whole_chunks_with_their_events",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{}", path.display(), group.id()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("committed ") {
            committed += 1;
            if committed == 4 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    assert_eq!(
        committed, 4,
        "the child committed chunks before it was killed"
    );

    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let devices = rt
        .block_on(store.count_devices(&DeviceQuery::group(group.id())))
        .unwrap() as usize;
    assert!(
        devices >= 4 * CHUNK,
        "the reported chunks are there: {devices}"
    );
    assert_eq!(devices % CHUNK, 0, "only whole chunks: {devices}");
    let events = rt
        .block_on(store.events(EventCursor::START, usize::MAX))
        .unwrap();
    assert_eq!(
        events.len(),
        devices,
        "every committed device has its event, no more"
    );
    let mut ids: Vec<_> = events.iter().filter_map(|e| e.device_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), devices);
}

#[test]
fn a_missing_directory_is_a_configuration_error_that_no_retry_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-directory").join("dps.sqlite");
    let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Configuration { .. }), "{err:?}");
    assert_eq!(err.code(), "storage_misconfigured");
    assert_eq!(err.category(), dps_core::Category::Configuration);
    assert!(!err.is_retryable());
    let err = dps_core::Error::from(err);
    assert_eq!(
        (err.code(), err.is_retryable()),
        ("storage_misconfigured", false)
    );
}
