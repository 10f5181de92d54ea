//! Contract 6: the gap-free event log.

use std::collections::HashSet;
use std::sync::Arc;

use dps_core::{Change, Changeset, EventCursor, EventKind, Store};

use super::{all_events, device_count, must_commit};
use crate::fixtures::Fixtures;

/// Contract 6: events get strictly increasing cursors in commit order, page without gaps, and
/// carry what was committed.
pub async fn events_ordered<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()))
        .event(Fixtures::group_event(&group, EventKind::GroupCreated));
    store.commit(cs).await.unwrap_or_else(|e| panic!("{e}"));
    let mut written = vec![EventKind::GroupCreated];
    for i in 0..20 {
        let d = fx.device(&group, Fixtures::serial(i).as_str());
        let mut cs = Changeset::new();
        cs.push(Change::InsertDevice(d.clone()))
            .event(Fixtures::event(&d, EventKind::Registered));
        written.push(EventKind::Registered);
        if i % 4 == 0 {
            cs.event(Fixtures::event(&d, EventKind::Edited));
            written.push(EventKind::Edited);
        }
        store.commit(cs).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let mut all = Vec::new();
    let mut cursor = EventCursor::START;
    loop {
        let page = store
            .events(cursor, 4)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if page.is_empty() {
            break;
        }
        cursor = page.last().map(|e| e.cursor).unwrap_or(cursor);
        all.extend(page);
    }
    assert!(
        all.windows(2).all(|w| w[0].cursor < w[1].cursor),
        "cursors strictly increase"
    );
    assert!(all.iter().all(|e| e.cursor > EventCursor::START));
    let kinds: Vec<_> = all.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, written, "events come back in commit order");
    assert!(
        store
            .events(cursor, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty(),
        "nothing after the last event"
    );
}

/// Contracts 1 and 6: a changeset of events only (an audit record of something that changed
/// no record, such as a refused device request) appends its events at the next cursors and
/// writes nothing else; an empty changeset writes nothing.
pub async fn events_only_changesets<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()))
        .event(Fixtures::group_event(&group, EventKind::GroupCreated));
    store.commit(cs).await.unwrap_or_else(|e| panic!("{e}"));
    let before = all_events(&*store).await;

    store
        .commit(Changeset::new())
        .await
        .unwrap_or_else(|e| panic!("an empty changeset commits: {e}"));
    assert_eq!(
        all_events(&*store).await,
        before,
        "an empty changeset writes no event"
    );

    let ghost = fx.device(&group, "SN-GHOST");
    let mut refused = Fixtures::event(&ghost, EventKind::Edited);
    refused.device_id = None;
    let mut cs = Changeset::new();
    cs.event(refused)
        .event(Fixtures::group_event(&group, EventKind::GroupEdited));
    store
        .commit(cs)
        .await
        .unwrap_or_else(|e| panic!("an events-only changeset commits: {e}"));
    let after = all_events(&*store).await;
    assert_eq!(after.len(), before.len() + 2, "both events were appended");
    assert_eq!(
        after[..before.len()],
        before[..],
        "earlier events are unchanged"
    );
    let added = &after[before.len()..];
    assert_eq!(
        added.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        vec![EventKind::Edited, EventKind::GroupEdited],
        "the events come back in changeset order"
    );
    assert!(
        before.last().map(|e| e.cursor) < Some(added[0].cursor)
            && added[0].cursor < added[1].cursor,
        "the new events follow the earlier ones"
    );
    assert_eq!(added[0].device_id, None);
    assert_eq!(added[0].serial.as_ref(), Some(ghost.serial()));
    assert!(
        store.device(ghost.id()).await.ok().flatten().is_none(),
        "no device was written"
    );
    assert_eq!(
        device_count(&*store, &group).await,
        0,
        "the group has no device"
    );
}

/// Contract 6: a reader tailing the log while several writers commit concurrently sees every
/// committed event exactly once.
pub async fn events_gap_free_under_concurrency<S: Store + ?Sized>(store: Arc<S>) {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 150;
    let fx = Fixtures::new();
    let group = fx.group("g");
    must_commit(
        &*store,
        vec![Change::InsertGroup(group.clone())],
        "insert group",
    )
    .await;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        let group = group.clone();
        tasks.push(tokio::spawn(async move {
            let fx = Fixtures::starting_at(10_000 * (w as u64 + 1));
            for i in 0..PER_WRITER {
                let d = fx.device(&group, &format!("W{w}-{i:04}"));
                let mut cs = Changeset::new();
                cs.push(Change::InsertDevice(d.clone()))
                    .event(Fixtures::event(&d, EventKind::Registered));
                if let Err(e) = store.commit(cs).await {
                    panic!("writer {w}: {e}");
                }
            }
        }));
    }
    let mut seen = Vec::new();
    let mut cursor = EventCursor::START;
    let mut done = false;
    while !done {
        done = tasks.iter().all(|t| t.is_finished());
        // Read until caught up; after the writers finished, one more full pass.
        loop {
            let page = store
                .events(cursor, 64)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if page.is_empty() {
                break;
            }
            cursor = page.last().map(|e| e.cursor).unwrap_or(cursor);
            seen.extend(page.into_iter().map(|e| e.device_id));
        }
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("writer task: {e}"));
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event was seen twice");
    assert_eq!(
        seen.len(),
        WRITERS * PER_WRITER,
        "the tailing reader saw every committed event"
    );
}
