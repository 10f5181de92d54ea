//! Batch allocation across processes, on SQLite and (when `DPS_TEST_POSTGRES_URL` is set)
//! PostgreSQL: a process killed between a page's intent and settle commits leaves pending
//! devices that `recover` completes with their operation IDs, and two processes allocating
//! the same devices at once allocate each exactly once.
//!
//! Each scenario runs its driver in a child process: this test binary started again with
//! `DPS_CRASH_CHILD` naming the role, the store and the onboard log.
#![allow(clippy::print_stderr)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dps_core::inject::{Clock, ManualClock, OsSecrets, SystemClock, SystemIds};
use dps_core::state::AllocationStatus;
use dps_core::{
    AssetId, Atomicity, Config, Credentials, DeviceFilter, DeviceQuery, Endpoints, Environment,
    EnvironmentError, EventCursor, GroupId, Injected, ModelId, NewDevice, NewGroup, OnboardRequest,
    Onboarded, OperationId, Provisioner, Secret, Selection, SerialNumber, Store, Target,
};
use dps_store_postgres::{PgOptions, PgStore};
use dps_store_sqlite::{SqliteOptions, SqliteStore};

/// How many devices the crash scenario allocates.
const CRASH_DEVICES: usize = 10_000;
/// The onboard call during which the crashing driver dies: in its third page of 1000.
const DIE_AT: usize = 2_500;
/// How many devices two drivers allocate at once.
const RACE_DEVICES: usize = 3_000;

/// Where a scenario keeps its devices.
#[derive(Debug, Clone)]
enum Db {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

impl Db {
    fn encode(&self) -> String {
        match self {
            Db::Sqlite(path) => format!("sqlite\t{}", path.display()),
            Db::Postgres { url, schema } => format!("postgres\t{url}\t{schema}"),
        }
    }

    fn decode(s: &str) -> Self {
        let parts: Vec<&str> = s.split('\t').collect();
        match parts.as_slice() {
            ["sqlite", path] => Db::Sqlite(PathBuf::from(path)),
            ["postgres", url, schema] => Db::Postgres {
                url: (*url).to_owned(),
                schema: (*schema).to_owned(),
            },
            _ => panic!("bad store description {s:?}"),
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Db::Sqlite(path) => {
                Arc::new(SqliteStore::open(path, SqliteOptions::default()).unwrap())
            }
            Db::Postgres { url, schema } => Arc::new(
                PgStore::connect(
                    url,
                    PgOptions::default()
                        .with_schema(schema)
                        .unwrap()
                        .with_pool_size(16),
                )
                .await
                .unwrap(),
            ),
        }
    }
}

/// A PostgreSQL schema of its own, dropped afterwards.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.url)
            .arg("-qAtc")
            .arg(format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name))
            .output();
    }
}

fn postgres(tag: &str) -> Option<(Db, Schema)> {
    let Ok(url) = std::env::var("DPS_TEST_POSTGRES_URL") else {
        eprintln!("DPS_TEST_POSTGRES_URL is not set: the PostgreSQL case is skipped");
        return None;
    };
    let name = format!("dps_crash_{tag}_{}", std::process::id());
    let guard = Schema {
        url: url.clone(),
        name: name.clone(),
    };
    Some((Db::Postgres { url, schema: name }, guard))
}

/// An environment that logs every onboard as `operation device` to a file shared by every
/// process of a scenario, answers a repeated operation as it did the first time, and can
/// make its process die at the `die_at`-th onboard.
#[derive(Debug)]
struct LoggingEnv {
    log: PathBuf,
    calls: AtomicUsize,
    die_at: Option<usize>,
}

impl LoggingEnv {
    fn new(log: &Path, die_at: Option<usize>) -> Self {
        Self {
            log: log.to_owned(),
            calls: AtomicUsize::new(0),
            die_at,
        }
    }
}

#[async_trait]
impl Environment for LoggingEnv {
    async fn model_exists(&self, _: &Target, _: &ModelId) -> Result<bool, EnvironmentError> {
        Ok(true)
    }

    async fn onboard(
        &self,
        op: OperationId,
        _: &Target,
        request: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.die_at == Some(n) {
            // The driver dies with the page's intents committed and its results not.
            std::process::abort();
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(EnvironmentError::transient)?;
        log.write_all(format!("{op} {}\n", request.device_id).as_bytes())
            .map_err(EnvironmentError::transient)?;
        // The answer depends on the operation only: a repeat gets the first answer.
        Ok(Onboarded {
            asset_id: format!("asset-{}", request.device_id).parse().unwrap(),
            credentials: Credentials {
                product_key: "pk".parse().unwrap(),
                device_key: format!("dk-{op}").parse().unwrap(),
                device_secret: Secret::new(format!("secret-{op}")).unwrap(),
            },
        })
    }

    async fn offboard(
        &self,
        _: OperationId,
        _: &Target,
        _: &AssetId,
    ) -> Result<(), EnvironmentError> {
        Err(EnvironmentError::rejected("not in this test"))
    }

    async fn reissue(
        &self,
        _: OperationId,
        _: &Target,
        _: &AssetId,
        _: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        Err(EnvironmentError::rejected("not in this test"))
    }

    async fn endpoints(&self, _: &Target) -> Result<Endpoints, EnvironmentError> {
        Ok(Endpoints::default())
    }
}

fn provisioner(
    store: Arc<dyn Store>,
    env: LoggingEnv,
    clock: Arc<dyn Clock>,
) -> Provisioner<Arc<dyn Store>, LoggingEnv> {
    let injected = Injected {
        clock,
        ids: Arc::new(SystemIds),
        secrets: Arc::new(OsSecrets),
    };
    Provisioner::with_parts(store, env, injected, Config::default()).with_keys(
        dps_core::seal::Keys::new(
            "test-1".parse().unwrap(),
            dps_core::seal::SealingKey::from_bytes([0x5e; 32]),
        ),
    )
}

/// A group with a default target and `n` registered devices.
async fn seed(db: &Db, n: usize) -> GroupId {
    let dps = provisioner(
        db.open().await,
        LoggingEnv::new(Path::new("/dev/null"), None),
        Arc::new(SystemClock),
    );
    let mut settings = NewGroup::new("crash".parse().unwrap());
    settings.default_target = Some("prod/acme".parse().unwrap());
    let group = dps.create_group(settings).await.unwrap();
    let devices = (0..n)
        .map(|i| NewDevice::new(format!("SN-{i:06}").parse().unwrap(), "m1".parse().unwrap()))
        .collect();
    let report = dps
        .register_many(group.id(), devices, Atomicity::AllOrNothing)
        .await
        .unwrap();
    assert_eq!(report.registered(), n);
    group.id()
}

/// Runs this test binary's `test` again as a child driver in `role`.
fn child(test: &str, role: &str, db: &Db, group: GroupId, log: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(
            "DPS_CRASH_CHILD",
            format!("{role}\n{}\n{group}\n{}", db.encode(), log.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// In a child: runs the role `DPS_CRASH_CHILD` names and returns true; in the parent, false.
fn run_child() -> bool {
    let Ok(spec) = std::env::var("DPS_CRASH_CHILD") else {
        return false;
    };
    let lines: Vec<&str> = spec.lines().collect();
    let [role, db, group, log] = lines.as_slice() else {
        panic!("bad child spec {spec:?}");
    };
    let db = Db::decode(db);
    let group: GroupId = group.parse().unwrap();
    let die_at = (*role == "crash").then_some(DIE_AT);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dps = provisioner(
            db.open().await,
            LoggingEnv::new(Path::new(log), die_at),
            Arc::new(SystemClock),
        );
        let report = dps.allocate(group, &Selection::all()).await.unwrap();
        // A racing driver's refusals are conflicts or an already-pending or allocated device.
        for o in &report.outcomes {
            if let Err(e) = &o.result {
                assert!(
                    matches!(
                        e.code(),
                        "conflict" | "operation_in_progress" | "invalid_state"
                    ),
                    "{}: {e}",
                    o.serial
                );
            }
        }
    });
    true
}

/// Every onboard of the log: device → the distinct operations it was onboarded with, and
/// how many calls there were.
fn onboards(log: &Path) -> (HashMap<String, HashSet<String>>, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut by_device: HashMap<String, HashSet<String>> = HashMap::new();
    let mut calls = 0;
    for line in text.lines() {
        let (op, device) = line.split_once(' ').unwrap();
        by_device
            .entry(device.to_owned())
            .or_default()
            .insert(op.to_owned());
        calls += 1;
    }
    (by_device, calls)
}

async fn count(store: &dyn Store, group: GroupId, status: AllocationStatus) -> u64 {
    let query = DeviceQuery::new(
        group,
        DeviceFilter {
            status: Some(status),
            ..Default::default()
        },
    );
    store.count_devices(&query).await.unwrap()
}

/// Every device of `group` has as many events as its version.
async fn assert_events_equal_versions(store: &dyn Store, group: GroupId) {
    let mut per_device: HashMap<dps_core::DeviceId, u64> = HashMap::new();
    let mut after = EventCursor::START;
    loop {
        let page = store.events(after, 5_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.cursor;
        for e in page {
            if let Some(id) = e.device_id {
                *per_device.entry(id).or_default() += 1;
            }
        }
    }
    let mut seen = 0;
    let mut next = None;
    loop {
        let page = store
            .devices(&DeviceQuery::group(group), next.take(), 1_000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        next = Some(last.serial().clone());
        for d in &page {
            assert_eq!(
                per_device.get(&d.id()).copied().unwrap_or(0),
                d.version().get(),
                "{}: one event per version",
                d.serial()
            );
        }
        seen += page.len();
    }
    assert!(seen > 0, "the group has devices");
}

async fn crash_then_recover(test: &str, db: Db, dir: &Path) {
    let group = seed(&db, CRASH_DEVICES).await;
    let log = dir.join("onboards.log");
    let status = child(test, "crash", &db, group, &log).wait().unwrap();
    assert!(!status.success(), "the driver died");

    let store = db.open().await;
    let pending = count(&*store, group, AllocationStatus::Pending).await;
    assert_eq!(
        pending, 1_000,
        "the page the driver died in is left pending"
    );
    assert_eq!(
        count(&*store, group, AllocationStatus::Allocated).await,
        2_000,
        "the pages before it are settled"
    );

    // Later than every lease the driver took.
    let later = SystemClock.now().saturating_add(Duration::from_secs(3_600));
    let dps = provisioner(
        Arc::clone(&store),
        LoggingEnv::new(&log, None),
        Arc::new(ManualClock::new(later)),
    );
    let report = dps.recover().await.unwrap();
    assert_eq!(
        report.completed.succeeded(),
        1_000,
        "recover settles the page"
    );
    assert_eq!(report.completed.failed(), 0);
    assert_eq!(count(&*store, group, AllocationStatus::Pending).await, 0);
    assert_eq!(
        count(&*store, group, AllocationStatus::Allocated).await,
        3_000
    );

    // The operator allocates what the dead driver never reached.
    let rest = Selection::Filter(DeviceFilter {
        status: Some(AllocationStatus::NotAllocated),
        ..Default::default()
    });
    let report = dps.allocate(group, &rest).await.unwrap();
    assert_eq!(report.succeeded(), CRASH_DEVICES - 3_000);
    assert_eq!(
        count(&*store, group, AllocationStatus::Allocated).await,
        CRASH_DEVICES as u64
    );

    let (by_device, calls) = onboards(&log);
    assert_eq!(by_device.len(), CRASH_DEVICES, "every device was onboarded");
    for (device, ops) in &by_device {
        assert_eq!(
            ops.len(),
            1,
            "{device} was onboarded under one operation only"
        );
    }
    assert!(
        calls > CRASH_DEVICES,
        "the devices onboarded before the crash were onboarded again with their operation"
    );
    assert_events_equal_versions(&*store, group).await;
}

async fn race(test: &str, db: Db, dir: &Path) {
    let group = seed(&db, RACE_DEVICES).await;
    let log = dir.join("onboards.log");
    let mut a = child(test, "race", &db, group, &log);
    let mut b = child(test, "race", &db, group, &log);
    assert!(a.wait().unwrap().success(), "the first driver finished");
    assert!(b.wait().unwrap().success(), "the second driver finished");

    let store = db.open().await;
    assert_eq!(
        count(&*store, group, AllocationStatus::Allocated).await,
        RACE_DEVICES as u64,
        "every device is allocated"
    );
    let (by_device, calls) = onboards(&log);
    assert_eq!(by_device.len(), RACE_DEVICES);
    assert_eq!(
        calls, RACE_DEVICES,
        "each device was onboarded exactly once"
    );
    assert_events_equal_versions(&*store, group).await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn sqlite_a_driver_killed_between_a_pages_commits_is_recovered() {
    if run_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(dir.path().join("dps.sqlite"));
    runtime().block_on(crash_then_recover(
        "sqlite_a_driver_killed_between_a_pages_commits_is_recovered",
        db,
        dir.path(),
    ));
}

#[test]
fn postgres_a_driver_killed_between_a_pages_commits_is_recovered() {
    if run_child() {
        return;
    }
    let Some((db, _schema)) = postgres("crash") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(crash_then_recover(
        "postgres_a_driver_killed_between_a_pages_commits_is_recovered",
        db,
        dir.path(),
    ));
}

#[test]
fn sqlite_two_drivers_allocate_each_device_once() {
    if run_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(dir.path().join("dps.sqlite"));
    runtime().block_on(race(
        "sqlite_two_drivers_allocate_each_device_once",
        db,
        dir.path(),
    ));
}

#[test]
fn postgres_two_drivers_allocate_each_device_once() {
    if run_child() {
        return;
    }
    let Some((db, _schema)) = postgres("race") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(race(
        "postgres_two_drivers_allocate_each_device_once",
        db,
        dir.path(),
    ));
}
