//! A new database, its WAL and its shared-memory file are readable and writable by their
//! owner only (0600), under the common umask 022 that would make other files 0644.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use dps_core::{Change, Changeset, Store};
use dps_store_sqlite::{SqliteOptions, SqliteStore};
use dps_testkit::Fixtures;

const TEST: &str = "a_new_database_its_wal_and_shm_are_the_owners_only_under_umask_022";
const CHILD: &str = "DPS_FILE_MODES_CHILD";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_new_database_its_wal_and_shm_are_the_owners_only_under_umask_022() {
    if std::env::var_os(CHILD).is_none() {
        // Runs this test again in a process whose umask is 022.
        let status = Command::new("sh")
            .arg("-c")
            .arg("umask 022 && exec \"$0\" \"$@\"")
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--test-threads=1"])
            .env(CHILD, "1")
            .status()
            .unwrap();
        assert!(status.success(), "the test under umask 022 passed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, "not a secret").unwrap();
    assert_eq!(mode(&plain), 0o644, "the umask is 022");

    let path = dir.path().join("dps.sqlite");
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(Fixtures::new().group("g")));
    rt.block_on(store.commit(cs)).unwrap();
    let file = |suffix: &str| {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    // While the store is open, its WAL and shared-memory files exist beside the database.
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(mode(&file(suffix)), 0o600, "dps.sqlite{suffix}");
    }
    drop(store);

    // A database that already exists keeps its mode.
    let shared = dir.path().join("shared.sqlite");
    drop(SqliteStore::open(&shared, SqliteOptions::default()).unwrap());
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    drop(SqliteStore::open(&shared, SqliteOptions::default()).unwrap());
    assert_eq!(mode(&shared), 0o640);
}
