//! The golden scenario covers every record shape and is deterministic.

use dps_store_memory::InMemoryStore;
use dps_testkit::golden;

#[tokio::test]
async fn the_golden_scenario_leaves_every_record_shape() {
    let snapshot = golden::expected(InMemoryStore::new()).await;
    golden::assert_covers_every_shape(&snapshot);
}

#[tokio::test]
async fn the_golden_scenario_is_deterministic() {
    let first = golden::expected(InMemoryStore::new()).await;
    let second = golden::expected(InMemoryStore::new()).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn a_store_reads_back_the_records_it_was_given() {
    let expected = golden::expected(InMemoryStore::new()).await;
    let store = std::sync::Arc::new(InMemoryStore::new());
    golden::scenario(std::sync::Arc::clone(&store)).await;
    golden::assert_reads_back(&expected, &*store).await;
}
