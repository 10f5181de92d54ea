//! The event log reads the same from every cursor, however long it grows.

use dps_core::{Change, Changeset, EventCursor, EventKind, Store};
use dps_store_memory::InMemoryStore;
use dps_testkit::Fixtures;

#[tokio::test]
async fn events_read_from_every_cursor_of_a_long_log() {
    const DEVICES: usize = 9_000;
    let store = InMemoryStore::new();
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()))
        .event(Fixtures::group_event(&group, EventKind::GroupCreated));
    for i in 0..DEVICES {
        let d = fx.device(&group, Fixtures::serial(i).as_str());
        cs.push(Change::InsertDevice(d.clone()))
            .event(Fixtures::event(&d, EventKind::Registered));
    }
    store.commit(cs).await.unwrap();
    let total = DEVICES as u64 + 1;
    let around = |n: u64| [n.saturating_sub(1), n, n + 1];
    let mut cursors: Vec<u64> = [0, 1, 4095, 4096, 4097, 8191, 8192, 8193, total - 1, total]
        .into_iter()
        .flat_map(around)
        .collect();
    cursors.push(total + 10);
    for after in cursors {
        for limit in [1, 7, 5_000] {
            let page = store.events(EventCursor::new(after), limit).await.unwrap();
            let expected = (total.saturating_sub(after)).min(limit as u64);
            assert_eq!(page.len() as u64, expected, "after {after}, limit {limit}");
            let got: Vec<u64> = page.iter().map(|e| e.cursor.get()).collect();
            let want: Vec<u64> = (after + 1..=after + expected).collect();
            assert_eq!(got, want, "after {after}, limit {limit}");
            if let Some(first) = page.first() {
                let kind = if after == 0 {
                    EventKind::GroupCreated
                } else {
                    EventKind::Registered
                };
                assert_eq!(first.kind, kind);
            }
        }
    }
}
