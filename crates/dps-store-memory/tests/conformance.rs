//! The in-memory store passes the whole Store conformance suite.

use dps_store_memory::InMemoryStore;

async fn fresh() -> InMemoryStore {
    InMemoryStore::new()
}

dps_testkit::store_conformance_tests!(fresh);
