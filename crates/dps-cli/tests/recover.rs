//! `dps recover` after a crash: a device whose driver died while its lease still runs is
//! reported with the lease's expiry, and `--wait` completes it once the lease has run out.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dps_core::{
    AssetId, Config, Credentials, Endpoints, Environment, EnvironmentError, ModelId,
    OnboardRequest, Onboarded, OperationId, Provisioner, Selection, SerialNumber, Target,
};
use dps_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::Value;
use tokio::sync::Notify;

/// Runs `dps --json ARGS` on the database in `dir`; the exit code and the JSON document.
fn dps(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_dps"))
        .current_dir(dir)
        .env_remove("DPS_DATABASE_URL")
        .env_remove("DPS_TARGETS")
        .args(["--json", "--db", "dps.sqlite", "--targets", "targets.toml"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let doc = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not one JSON document ({e}): {stdout:?}; stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// An environment whose driver dies inside `onboard`: it says so, then never answers.
#[derive(Debug, Default)]
struct DiesInOnboard {
    entered: Notify,
}

#[async_trait]
impl Environment for DiesInOnboard {
    async fn model_exists(&self, _: &Target, _: &ModelId) -> Result<bool, EnvironmentError> {
        Ok(true)
    }

    async fn onboard(
        &self,
        _: OperationId,
        _: &Target,
        _: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        self.entered.notify_one();
        std::future::pending().await
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
        Err(EnvironmentError::rejected("not in this test"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_reports_a_held_lease_and_wait_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(dps(d, &["targets", "init"]).0, 0);
    let (code, group) = dps(
        d,
        &[
            "group",
            "create",
            "--name",
            "Lab",
            "--environment",
            "prod-eu",
            "--ou",
            "acme",
        ],
    );
    assert_eq!(code, 0, "{group}");
    std::fs::write(
        d.join("devices.csv"),
        "Device Serial No.,Model ID\nSN-1,thermostat\n",
    )
    .unwrap();
    let (code, import) = dps(d, &["device", "import", "--group", "Lab", "devices.csv"]);
    assert_eq!(code, 0, "{import}");

    // A driver that commits the allocation's intent, then dies with 3 s of lease left.
    let store = SqliteStore::open(d.join("dps.sqlite"), SqliteOptions::default()).unwrap();
    let env = Arc::new(DiesInOnboard::default());
    let keys = dps_keys_file::KeyFile::open(d.join("dps.sqlite.keys")).unwrap();
    let driver = Provisioner::builder(store, Arc::clone(&env))
        .config(Config::default().with_lease(Duration::from_secs(3)))
        .keys(keys)
        .build();
    let gid = group["id"].as_str().unwrap().parse().unwrap();
    let serial = SerialNumber::new("SN-1").unwrap();
    let allocation = tokio::spawn(async move {
        let _ = driver
            .allocate(gid, &Selection::Serials(vec![serial]))
            .await;
    });
    env.entered.notified().await;
    allocation.abort();
    assert!(allocation.await.unwrap_err().is_cancelled());

    let (code, shown) = dps(d, &["device", "show", "--group", "Lab", "SN-1"]);
    assert_eq!(
        (code, shown["status"].as_str()),
        (0, Some("pending")),
        "{shown}"
    );
    let (code, report) = dps(d, &["recover"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["succeeded"], 0, "the lease still runs: {report}");
    assert_eq!(report["leased"]["count"], 1, "{report}");
    let expiry = report["leased"]["earliest_expiry"].as_str().unwrap();
    assert!(
        expiry.ends_with('Z') && expiry.contains('T'),
        "RFC 3339: {expiry}"
    );

    let (code, report) = dps(d, &["recover", "--wait"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["succeeded"], 1, "{report}");
    assert_eq!(report["results"][0]["serial"], "SN-1");
    assert_eq!(report["results"][0]["status"], "allocated");
    assert_eq!(report["leased"]["count"], 0);
    assert!(report["leased"]["earliest_expiry"].is_null());
    let (_, shown) = dps(d, &["device", "show", "--group", "Lab", "SN-1"]);
    assert_eq!(shown["status"], "allocated", "{shown}");
}

#[test]
fn recover_without_pending_devices_reports_no_lease() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(dps(dir.path(), &["targets", "init"]).0, 0);
    let (code, report) = dps(dir.path(), &["recover", "--wait"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["succeeded"], 0);
    assert_eq!(report["leased"]["count"], 0);
}
