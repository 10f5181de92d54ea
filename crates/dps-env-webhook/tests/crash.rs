//! The dps process is killed (SIGKILL) mid-batch while the platform keeps running: after a
//! restart, `recover` completes every pending device with its original operation ID, and
//! the platform holds one asset per device.
//!
//! The driver runs in a child process: this test binary started again with
//! `DPS_WEBHOOK_CHILD` naming the database and the platform's URL.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Running, SECRET, fast, target};
use dps_core::inject::{Clock, ManualClock, OsSecrets, SystemClock, SystemIds};
use dps_core::state::AllocationStatus;
use dps_core::{
    Atomicity, Config, DeviceQuery, GroupId, Injected, NewDevice, NewGroup, OperationId,
    Provisioner, Secret, Selection, Store,
};
use dps_env_webhook::{WebhookEnvironment, WebhookTarget};
use dps_store_sqlite::{SqliteOptions, SqliteStore};

const DEVICES: usize = 600;
/// The child is killed once the platform has applied this many onboards.
const KILL_AFTER: usize = 150;

fn open(db: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(db, SqliteOptions::default()).unwrap())
}

fn provisioner(
    store: Arc<dyn Store>,
    url: &str,
    batch_size: usize,
    clock: Arc<dyn Clock>,
) -> Provisioner<Arc<dyn Store>, Arc<WebhookEnvironment>> {
    let webhook = fast(WebhookTarget::new(url, Secret::new(SECRET).unwrap()).unwrap())
        .with_batch_size(batch_size);
    let env = WebhookEnvironment::new([(target(), webhook)]).unwrap();
    let injected = Injected {
        clock,
        ids: Arc::new(SystemIds),
        secrets: Arc::new(OsSecrets),
    };
    // Small pages: the kill finds some devices settled, some pending, some not begun.
    let config = Config::default().with_page_size(100).with_concurrency(8);
    Provisioner::with_parts(store, Arc::new(env), injected, config).with_keys(
        dps_core::seal::Keys::new(
            "test-1".parse().unwrap(),
            dps_core::seal::SealingKey::from_bytes([0x5e; 32]),
        ),
    )
}

/// In a child: allocates every device of the group and returns true; in the parent, false.
fn run_child() -> bool {
    let Ok(spec) = std::env::var("DPS_WEBHOOK_CHILD") else {
        return false;
    };
    let lines: Vec<&str> = spec.lines().collect();
    let [db, url, batch_size, group] = lines.as_slice() else {
        panic!("bad child spec {spec:?}");
    };
    let group: GroupId = group.parse().unwrap();
    let batch_size: usize = batch_size.parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dps = provisioner(open(Path::new(db)), url, batch_size, Arc::new(SystemClock));
        let report = dps.allocate(group, &Selection::all()).await.unwrap();
        assert!(
            report.all_succeeded(),
            "the child finished before it was killed"
        );
    });
    true
}

#[test]
fn a_driver_killed_mid_batch_is_recovered_with_its_operation_ids() {
    if run_child() {
        return;
    }
    killed_and_recovered(
        "a_driver_killed_mid_batch_is_recovered_with_its_operation_ids",
        1,
    );
}

#[test]
fn a_driver_killed_mid_batch_of_batch_calls_is_recovered_with_its_operation_ids() {
    if run_child() {
        return;
    }
    killed_and_recovered(
        "a_driver_killed_mid_batch_of_batch_calls_is_recovered_with_its_operation_ids",
        10,
    );
}

/// Runs the test `name` in a child that allocates every device through a webhook taking
/// `batch_size` calls at once, kills it mid-batch, and recovers.
fn killed_and_recovered(name: &str, batch_size: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dps.sqlite");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let platform = Running::start().await;
        let group = {
            let dps = provisioner(open(&db), &platform.url, batch_size, Arc::new(SystemClock));
            let mut settings = NewGroup::new("crash".parse().unwrap());
            settings.default_target = Some(target());
            let group = dps.create_group(settings).await.unwrap().id();
            let devices = (0..DEVICES)
                .map(|i| NewDevice::new(common::serial(i), "m1".parse().unwrap()))
                .collect();
            dps.register_many(group, devices, Atomicity::AllOrNothing)
                .await
                .unwrap();
            group
        };

        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(
                "DPS_WEBHOOK_CHILD",
                format!("{}\n{}\n{batch_size}\n{group}", db.display(), platform.url),
            )
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Waits on the platform's record, not on time: the kill lands mid-batch.
        let deadline = Instant::now() + Duration::from_secs(120);
        while platform.snapshot().applied.len() < KILL_AFTER {
            assert!(
                Instant::now() < deadline,
                "the child never reached the platform"
            );
            assert!(child.try_wait().unwrap().is_none(), "the child ended early");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let applied_at_kill = platform.snapshot().applied.len();
        assert!(
            applied_at_kill < DEVICES,
            "killed mid-batch: {applied_at_kill} applied"
        );

        // The restarted process, later than every lease the child took.
        let store = open(&db);
        let pending: Vec<OperationId> = store_devices(&store, group)
            .await
            .iter()
            .filter_map(|d| d.state().pending().map(|p| p.operation()))
            .collect();
        assert!(!pending.is_empty(), "the kill left pending devices");
        let later = SystemClock.now().saturating_add(Duration::from_secs(3600));
        let dps = provisioner(
            Arc::clone(&store),
            &platform.url,
            batch_size,
            Arc::new(ManualClock::new(later)),
        );
        let recovered = dps.recover().await.unwrap();
        assert_eq!(recovered.completed.failed(), 0);
        assert_eq!(recovered.completed.succeeded(), pending.len());
        let report = dps.allocate(group, &Selection::all()).await.unwrap();
        // The devices the child never began are allocated now; the others are refused as
        // allocated already.
        for o in &report.outcomes {
            if let Err(e) = &o.result {
                assert_eq!(e.code(), "invalid_state", "{}: {e}", o.serial);
            }
        }

        let devices = store_devices(&store, group).await;
        assert!(
            devices
                .iter()
                .all(|d| d.status() == AllocationStatus::Allocated)
        );
        let snapshot = platform.snapshot();
        assert_eq!(snapshot.assets.len(), DEVICES, "one asset per device");
        common::applied_once(&snapshot);
        for op in &pending {
            assert_eq!(
                snapshot.applied.get(&op.to_string()),
                Some(&1),
                "a pending device was completed with its original operation ID"
            );
        }
        for device in &devices {
            let asset = device.state().allocated().unwrap().asset_id();
            assert_eq!(
                snapshot.assets[asset.as_str()].serial,
                device.serial().as_str()
            );
        }
    });
}

async fn store_devices(store: &Arc<dyn Store>, group: GroupId) -> Vec<dps_core::Device> {
    let dps = Provisioner::new(
        Arc::clone(store),
        Arc::new(dps_core::RoutingEnvironment::new()),
    )
    .with_keys(dps_core::seal::Keys::new(
        "test-1".parse().unwrap(),
        dps_core::seal::SealingKey::from_bytes([0x5e; 32]),
    ));
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = dps
            .devices(&DeviceQuery::group(group), after, 1000)
            .await
            .unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}
