//! `SqliteStore` passes the whole Store conformance suite, on a temporary file and in memory,
//! directly and through `Arc<dyn Store>`.

use dps_store_sqlite::{SqliteOptions, SqliteStore};
use dps_testkit::Guarded;

mod file {
    use super::*;

    /// A store on a file in a temporary directory that lives as long as the store.
    async fn fresh() -> Guarded<SqliteStore, tempfile::TempDir> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(dir.path().join("dps.sqlite"), SqliteOptions::default())
            .expect("open a fresh database");
        Guarded::new(store, dir)
    }

    dps_testkit::store_conformance_tests!(fresh);
}

mod memory {
    use super::*;

    async fn fresh() -> SqliteStore {
        SqliteStore::open_in_memory().expect("open an in-memory database")
    }

    dps_testkit::store_conformance_tests!(fresh);
}
