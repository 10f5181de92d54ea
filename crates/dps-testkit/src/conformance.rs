//! The [`Store`] conformance suite.
//!
//! Each function checks one point of the [`Store` contract](dps_core::Store#contract) against a
//! fresh, empty store and panics with a message naming the point when the store breaks it.
//! Backends run all of them with [`store_conformance_tests!`](crate::store_conformance_tests),
//! once on the store itself and once through `Arc<dyn Store>`.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;

use dps_core::{
    AllocationStatus, Change, Changeset, Device, DeviceFilter, DeviceQuery, Entity, EventCursor,
    EventKind, GroupEdit, SerialNumber, Store, StoreError, Timestamp,
};

use crate::fixtures::{EPOCH, Fixtures};

/// Runs a conformance future on a fresh two-worker Tokio runtime.
///
/// # Panics
///
/// When the runtime cannot be built.
pub fn run<F: Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build a Tokio runtime: {e}"));
    rt.block_on(f);
}

async fn commit<S: Store + ?Sized>(store: &S, changes: Vec<Change>) -> Result<(), StoreError> {
    let mut cs = Changeset::new();
    for c in changes {
        cs.push(c);
    }
    store.commit(cs).await
}

async fn must_commit<S: Store + ?Sized>(store: &S, changes: Vec<Change>, what: &str) {
    if let Err(e) = commit(store, changes).await {
        panic!("{what}: commit failed: {e}");
    }
}

/// Every event in the store (the suite writes far fewer than a thousand).
async fn all_events<S: Store + ?Sized>(store: &S) -> Vec<dps_core::Event> {
    store
        .events(EventCursor::START, 1000)
        .await
        .unwrap_or_else(|e| panic!("read events: {e}"))
}

/// How many devices `group` has.
async fn device_count<S: Store + ?Sized>(store: &S, group: &dps_core::RegistrationGroup) -> u64 {
    store
        .count_devices(&DeviceQuery::group(group.id()))
        .await
        .unwrap_or_else(|e| panic!("count devices: {e}"))
}

fn update(old: &Device, new: Device) -> Change {
    Change::UpdateDevice {
        expected: old.version(),
        device: new,
    }
}

fn renamed(group: &dps_core::RegistrationGroup, d: &Device, name: &str) -> Device {
    let edit = dps_core::DeviceEdit {
        name: Some(Some(name.parse().unwrap_or_else(|e| panic!("name: {e}")))),
        ..Default::default()
    };
    d.edited(
        group,
        &edit,
        Timestamp::from_unix_millis(EPOCH.unix_millis() + 1),
    )
    .unwrap_or_else(|e| panic!("edit: {e}"))
}

/// Contract 1, 2, 4: groups are inserted, read back equal, listed by identifier with keyset
/// paging, updated at the expected version and deleted.
pub async fn crud_groups<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let groups: Vec<_> = (0..5).map(|i| fx.group(&format!("group {i}"))).collect();
    for g in &groups {
        must_commit(
            &*store,
            vec![Change::InsertGroup(g.clone())],
            "insert group",
        )
        .await;
    }
    let got = store.group(groups[2].id()).await.ok().flatten();
    assert_eq!(
        got.as_ref(),
        Some(&groups[2]),
        "a group reads back as written"
    );

    let first = store.groups(None, 2).await.unwrap_or_default();
    let rest = store
        .groups(first.last().map(|g| g.id()), 10)
        .await
        .unwrap_or_default();
    let ids: Vec<_> = first.iter().chain(&rest).map(|g| g.id()).collect();
    let mut expected: Vec<_> = groups.iter().map(|g| g.id()).collect();
    expected.sort();
    assert_eq!(ids, expected, "groups page by ascending identifier");

    let edited = groups[0].edited(
        GroupEdit {
            name: Some("renamed".parse().unwrap_or_else(|e| panic!("{e}"))),
            ..GroupEdit::default()
        },
        EPOCH,
    );
    must_commit(
        &*store,
        vec![Change::UpdateGroup {
            expected: groups[0].version(),
            group: edited.clone(),
        }],
        "update group",
    )
    .await;
    assert_eq!(
        store.group(edited.id()).await.ok().flatten().as_ref(),
        Some(&edited),
        "an updated group reads back as written"
    );
    let stale = commit(
        &*store,
        vec![Change::UpdateGroup {
            expected: groups[0].version(),
            group: edited.clone(),
        }],
    )
    .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "a stale group update is a conflict, got {stale:?}"
    );

    must_commit(
        &*store,
        vec![Change::DeleteGroup {
            id: edited.id(),
            expected: edited.version(),
        }],
        "delete group",
    )
    .await;
    assert!(
        store.group(edited.id()).await.ok().flatten().is_none(),
        "a deleted group is gone"
    );
    let again = commit(&*store, vec![Change::InsertGroup(groups[1].clone())]).await;
    assert!(
        matches!(
            again,
            Err(StoreError::AlreadyExists {
                entity: Entity::Group,
                ..
            })
        ),
        "inserting an existing group identifier fails, got {again:?}"
    );
}

/// Contract 1, 2: devices are inserted, read back equal by identifier and by serial (with
/// every field, state data and secrets included), updated and deleted.
pub async fn crud_devices<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    must_commit(
        &*store,
        vec![Change::InsertGroup(group.clone())],
        "insert group",
    )
    .await;
    let device = fx.device(&group, "SN-1");
    let (_, allocated) = fx.allocated(&group, &fx.device(&group, "SN-2"));
    must_commit(
        &*store,
        vec![
            Change::InsertDevice(device.clone()),
            Change::InsertDevice(allocated.clone()),
        ],
        "insert devices",
    )
    .await;

    let by_id = store.device(device.id()).await.ok().flatten();
    assert_eq!(by_id.as_ref(), Some(&device), "a device reads back by id");
    let by_serial = store
        .device_by_serial(group.id(), allocated.serial())
        .await
        .ok()
        .flatten();
    assert_eq!(
        by_serial.as_ref(),
        Some(&allocated),
        "an allocated device reads back by serial with its credentials"
    );

    let edited = renamed(&group, &device, "kitchen");
    must_commit(
        &*store,
        vec![update(&device, edited.clone())],
        "update device",
    )
    .await;
    assert_eq!(
        store.device(device.id()).await.ok().flatten().as_ref(),
        Some(&edited),
        "an updated device reads back as written"
    );

    must_commit(
        &*store,
        vec![Change::DeleteDevice {
            id: edited.id(),
            expected: edited.version(),
        }],
        "delete device",
    )
    .await;
    assert!(
        store.device(edited.id()).await.ok().flatten().is_none(),
        "a deleted device is gone by id"
    );
    assert!(
        store
            .device_by_serial(group.id(), edited.serial())
            .await
            .ok()
            .flatten()
            .is_none(),
        "a deleted device is gone by serial"
    );
    let missing = commit(
        &*store,
        vec![update(&edited, renamed(&group, &edited, "x"))],
    )
    .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "updating a deleted device is not found, got {missing:?}"
    );

    let found = store
        .devices_by_serials(
            group.id(),
            &[
                allocated.serial().clone(),
                "NOPE".parse().unwrap_or_else(|e| panic!("{e}")),
            ],
        )
        .await
        .unwrap_or_default();
    assert_eq!(
        found,
        vec![allocated],
        "devices_by_serials skips unknown serials"
    );
}

/// Contract 3: a serial is unique within its group, on insert and on update; the same serial
/// in another group is fine.
pub async fn serial_unique_per_group<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let (g1, g2) = (fx.group("one"), fx.group("two"));
    must_commit(
        &*store,
        vec![
            Change::InsertGroup(g1.clone()),
            Change::InsertGroup(g2.clone()),
        ],
        "insert groups",
    )
    .await;
    let a = fx.device(&g1, "SN-A");
    must_commit(&*store, vec![Change::InsertDevice(a.clone())], "insert").await;
    let dup = commit(&*store, vec![Change::InsertDevice(fx.device(&g1, "SN-A"))]).await;
    assert!(
        matches!(dup, Err(StoreError::DuplicateSerial { .. })),
        "a second device with the same serial in one group is refused, got {dup:?}"
    );
    must_commit(
        &*store,
        vec![Change::InsertDevice(fx.device(&g2, "SN-A"))],
        "the same serial in another group is fine",
    )
    .await;

    // Renaming a serial (a replacement) onto a taken one is refused too.
    let (_, allocated) = fx.allocated(&g1, &fx.device(&g1, "SN-B"));
    must_commit(
        &*store,
        vec![Change::InsertDevice(allocated.clone())],
        "insert",
    )
    .await;
    let pending = allocated
        .begin_replace(
            "SN-A".parse().unwrap_or_else(|e| panic!("{e}")),
            "b2".parse().unwrap_or_else(|e| panic!("{e}")),
            None,
            fx.op(),
            EPOCH,
            EPOCH,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .pending
        .into_device();
    let taken = commit(&*store, vec![update(&allocated, pending)]).await;
    assert!(
        matches!(taken, Err(StoreError::DuplicateSerial { .. })),
        "changing a serial to a taken one is refused, got {taken:?}"
    );
    // And the old serial is free once a device moves off it.
    let moved = allocated
        .begin_replace(
            "SN-C".parse().unwrap_or_else(|e| panic!("{e}")),
            "b2".parse().unwrap_or_else(|e| panic!("{e}")),
            None,
            fx.op(),
            EPOCH,
            EPOCH,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .pending
        .into_device();
    must_commit(&*store, vec![update(&allocated, moved)], "move serial").await;
    must_commit(
        &*store,
        vec![Change::InsertDevice(fx.device(&g1, "SN-B"))],
        "a serial freed by a replacement can be registered again",
    )
    .await;
    assert!(
        store
            .device_by_serial(g1.id(), &"SN-C".parse().unwrap_or_else(|e| panic!("{e}")))
            .await
            .ok()
            .flatten()
            .is_some(),
        "a device is found by its new serial"
    );
}

/// Contract 2: updates and deletes at a stale version fail with `Conflict` and change nothing.
pub async fn version_conflicts<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let d = fx.device(&group, "SN-1");
    must_commit(
        &*store,
        vec![
            Change::InsertGroup(group.clone()),
            Change::InsertDevice(d.clone()),
        ],
        "insert",
    )
    .await;
    let v2 = renamed(&group, &d, "first");
    must_commit(&*store, vec![update(&d, v2.clone())], "first update").await;
    let stale = commit(&*store, vec![update(&d, renamed(&group, &d, "second"))]).await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "an update from a stale version is a conflict, got {stale:?}"
    );
    let stale_delete = commit(
        &*store,
        vec![Change::DeleteDevice {
            id: d.id(),
            expected: d.version(),
        }],
    )
    .await;
    assert!(
        matches!(stale_delete, Err(StoreError::Conflict { .. })),
        "a delete at a stale version is a conflict, got {stale_delete:?}"
    );
    assert_eq!(
        store.device(d.id()).await.ok().flatten().as_ref(),
        Some(&v2),
        "conflicting writes changed nothing"
    );
}

/// Contract 1: a changeset with one failing change writes none of its changes and none of its
/// events.
pub async fn atomic_changesets<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let taken = fx.device(&group, "SN-TAKEN");
    must_commit(
        &*store,
        vec![
            Change::InsertGroup(group.clone()),
            Change::InsertDevice(taken.clone()),
        ],
        "insert",
    )
    .await;
    let before = all_events(&*store).await;

    let fresh = fx.device(&group, "SN-NEW");
    let edited = renamed(&group, &taken, "changed");
    let mut cs = Changeset::new();
    cs.push(Change::InsertDevice(fresh.clone()))
        .event(Fixtures::event(&fresh, EventKind::Registered))
        .push(update(&taken, edited))
        .event(Fixtures::event(&taken, EventKind::Edited))
        .push(Change::InsertDevice(fx.device(&group, "SN-TAKEN")))
        .event(Fixtures::event(&taken, EventKind::Registered));
    let result = store.commit(cs).await;
    assert!(
        matches!(result, Err(StoreError::DuplicateSerial { .. })),
        "the changeset fails on its duplicate, got {result:?}"
    );
    assert!(
        store.device(fresh.id()).await.ok().flatten().is_none(),
        "the insert before the failing change was not written"
    );
    assert_eq!(
        store.device(taken.id()).await.ok().flatten().as_ref(),
        Some(&taken),
        "the update before the failing change was not written"
    );
    assert_eq!(
        before,
        all_events(&*store).await,
        "no event of the failed changeset was written"
    );
    assert_eq!(
        device_count(&*store, &group).await,
        1,
        "the count did not change"
    );
}

/// Contract 4: devices need an existing group, and a group with devices cannot be deleted.
pub async fn referential_integrity<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let orphan = fx.device(&group, "SN-1");
    let r = commit(&*store, vec![Change::InsertDevice(orphan.clone())]).await;
    assert!(
        matches!(
            r,
            Err(StoreError::NotFound {
                entity: Entity::Group,
                ..
            })
        ),
        "a device needs its group, got {r:?}"
    );
    must_commit(
        &*store,
        vec![
            Change::InsertGroup(group.clone()),
            Change::InsertDevice(orphan.clone()),
        ],
        "insert",
    )
    .await;
    let r = commit(
        &*store,
        vec![Change::DeleteGroup {
            id: group.id(),
            expected: group.version(),
        }],
    )
    .await;
    assert!(
        matches!(r, Err(StoreError::Conflict { .. })),
        "a group with devices cannot be deleted, got {r:?}"
    );
    let r = commit(&*store, vec![Change::InsertDevice(orphan.clone())]).await;
    assert!(
        matches!(
            r,
            Err(StoreError::AlreadyExists { .. } | StoreError::DuplicateSerial { .. })
        ),
        "inserting an existing device fails, got {r:?}"
    );
    must_commit(
        &*store,
        vec![
            Change::DeleteDevice {
                id: orphan.id(),
                expected: orphan.version(),
            },
            Change::DeleteGroup {
                id: group.id(),
                expected: group.version(),
            },
        ],
        "delete the device, then its group, in one changeset",
    )
    .await;
    assert!(store.group(group.id()).await.ok().flatten().is_none());
}

/// Contract 5: keyset paging over 10 500 devices visits each exactly once, in serial order,
/// while another task inserts devices into the same group.
pub async fn keyset_paging_under_inserts<S: Store + ?Sized>(store: Arc<S>) {
    const N: usize = 10_500;
    let fx = Fixtures::new();
    let group = fx.group("g");
    must_commit(
        &*store,
        vec![Change::InsertGroup(group.clone())],
        "insert group",
    )
    .await;
    let mut expected = BTreeSet::new();
    for chunk in (0..N).collect::<Vec<_>>().chunks(2000) {
        let mut changes = Vec::with_capacity(chunk.len());
        for &i in chunk {
            // Even serials now; odd ones are inserted while paging.
            let d = fx.device(&group, Fixtures::serial(i * 2).as_str());
            expected.insert(d.serial().clone());
            changes.push(Change::InsertDevice(d));
        }
        must_commit(&*store, changes, "bulk insert").await;
    }

    let writer_store = Arc::clone(&store);
    let writer_group = group.clone();
    let writer = tokio::spawn(async move {
        let fx = Fixtures::starting_at(1_000_000);
        for i in (0..N).step_by(7) {
            let d = fx.device(&writer_group, Fixtures::serial(i * 2 + 1).as_str());
            if let Err(e) = commit(&*writer_store, vec![Change::InsertDevice(d)]).await {
                panic!("concurrent insert failed: {e}");
            }
            tokio::task::yield_now().await;
        }
    });

    let query = DeviceQuery::group(group.id());
    let mut seen: Vec<SerialNumber> = Vec::new();
    let mut after: Option<SerialNumber> = None;
    loop {
        let page = store
            .devices(&query, after.clone(), 500)
            .await
            .unwrap_or_else(|e| panic!("paging failed: {e}"));
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 500, "a page holds at most the limit");
        after = page.last().map(|d| d.serial().clone());
        seen.extend(page.into_iter().map(|d| d.serial().clone()));
        tokio::task::yield_now().await;
    }
    writer.await.unwrap_or_else(|e| panic!("writer task: {e}"));

    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "pages come in strictly ascending serial order, without duplicates"
    );
    let seen_set: HashSet<&SerialNumber> = seen.iter().collect();
    let missing: Vec<_> = expected.iter().filter(|s| !seen_set.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "every device that existed throughout was visited; missing {} such as {:?}",
        missing.len(),
        missing.first()
    );
}

/// Contract 5: every filter, alone and combined, in `devices` and `count_devices`.
pub async fn filters<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let other = fx.group("other");
    must_commit(
        &*store,
        vec![
            Change::InsertGroup(group.clone()),
            Change::InsertGroup(other.clone()),
        ],
        "insert groups",
    )
    .await;
    let mut all = Vec::new();
    for i in 0..60 {
        let mut d = fx.device(
            &group,
            &format!("{}-{i:03}", if i % 2 == 0 { "AB" } else { "CD" }),
        );
        let mut edit = dps_core::DeviceEdit::default();
        if i % 3 == 0 {
            edit.batch_tag = Some(Some("b2".parse().unwrap_or_else(|e| panic!("{e}"))));
        }
        if i % 4 == 0 {
            edit.model_id = Some("m2".parse().unwrap_or_else(|e| panic!("{e}")));
        }
        if i % 5 == 0 {
            edit.target = Some(Some(Fixtures::other_target()));
        }
        if !edit.is_empty() {
            d = d
                .edited(&group, &edit, EPOCH)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let d = match i % 6 {
            0 => fx.allocated(&group, &d).1,
            1 => fx.pending(&group, &d),
            _ => d,
        };
        all.push(d);
    }
    // Noise in another group that every query must ignore.
    let noise = fx.device(&other, "AB-000");
    let mut changes: Vec<Change> = all.iter().cloned().map(Change::InsertDevice).collect();
    changes.push(Change::InsertDevice(noise));
    must_commit(&*store, changes, "insert devices").await;

    let p = |s: &str| -> SerialNumber { s.parse().unwrap_or_else(|e| panic!("{e}")) };
    let filters = vec![
        DeviceFilter::default(),
        DeviceFilter {
            status: Some(AllocationStatus::NotAllocated),
            ..Default::default()
        },
        DeviceFilter {
            status: Some(AllocationStatus::Pending),
            ..Default::default()
        },
        DeviceFilter {
            status: Some(AllocationStatus::Allocated),
            ..Default::default()
        },
        DeviceFilter {
            batch_tag: Some("b2".parse().unwrap_or_else(|e| panic!("{e}"))),
            ..Default::default()
        },
        DeviceFilter {
            model_id: Some("m2".parse().unwrap_or_else(|e| panic!("{e}"))),
            ..Default::default()
        },
        DeviceFilter {
            target: Some(Fixtures::other_target()),
            ..Default::default()
        },
        DeviceFilter {
            allocated_to: Some(Fixtures::target()),
            ..Default::default()
        },
        DeviceFilter {
            allocated_to: Some(Fixtures::other_target()),
            ..Default::default()
        },
        DeviceFilter {
            serial_prefix: Some(p("AB")),
            ..Default::default()
        },
        DeviceFilter {
            serial_prefix: Some(p("CD-00")),
            ..Default::default()
        },
        DeviceFilter {
            serial_prefix: Some(p("ZZ")),
            ..Default::default()
        },
        DeviceFilter {
            status: Some(AllocationStatus::NotAllocated),
            batch_tag: Some("b2".parse().unwrap_or_else(|e| panic!("{e}"))),
            serial_prefix: Some(p("CD")),
            ..Default::default()
        },
    ];
    for filter in filters {
        let query = DeviceQuery::new(group.id(), filter.clone());
        let mut expected: Vec<SerialNumber> = all
            .iter()
            .filter(|d| query.matches(d))
            .map(|d| d.serial().clone())
            .collect();
        expected.sort();
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .devices(&query, after.take(), 7)
                .await
                .unwrap_or_else(|e| panic!("query failed: {e}"));
            if page.is_empty() {
                break;
            }
            after = page.last().map(|d| d.serial().clone());
            got.extend(page.into_iter().map(|d| d.serial().clone()));
        }
        assert_eq!(got, expected, "devices() for {filter:?}");
        let count = store.count_devices(&query).await.ok();
        assert_eq!(
            count,
            Some(expected.len() as u64),
            "count_devices() for {filter:?}"
        );
    }
}

/// Contract 5: `pending_devices` lists exactly the pending devices of every group, by
/// identifier, with keyset paging.
pub async fn pending_listing<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let (g1, g2) = (fx.group("one"), fx.group("two"));
    let mut changes = vec![
        Change::InsertGroup(g1.clone()),
        Change::InsertGroup(g2.clone()),
    ];
    let mut expected = Vec::new();
    for i in 0..25 {
        let g = if i % 2 == 0 { &g1 } else { &g2 };
        let d = fx.device(g, Fixtures::serial(i).as_str());
        let d = if i % 3 == 0 {
            let p = fx.pending(g, &d);
            expected.push(p.id());
            p
        } else {
            d
        };
        changes.push(Change::InsertDevice(d));
    }
    must_commit(&*store, changes, "insert").await;
    expected.sort();
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .pending_devices(after, 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if page.is_empty() {
            break;
        }
        assert!(
            page.iter().all(|d| d.status() == AllocationStatus::Pending),
            "only pending devices are listed"
        );
        after = page.last().map(|d| d.id());
        got.extend(page.iter().map(|d| d.id()));
    }
    assert_eq!(got, expected, "every pending device once, by identifier");
}

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

/// Contract 7: of many concurrent writers updating one device from the same version, exactly
/// one wins and every other gets `Conflict`.
pub async fn concurrent_writers_one_device<S: Store + ?Sized>(store: Arc<S>) {
    const WRITERS: usize = 8;
    let fx = Fixtures::new();
    let group = fx.group("g");
    let d = fx.device(&group, "SN-1");
    must_commit(
        &*store,
        vec![
            Change::InsertGroup(group.clone()),
            Change::InsertDevice(d.clone()),
        ],
        "insert",
    )
    .await;
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        let barrier = Arc::clone(&barrier);
        let next = renamed(&group, &d, &format!("writer {w}"));
        let old = d.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut cs = Changeset::new();
            cs.push(update(&old, next.clone()))
                .event(Fixtures::event(&next, EventKind::Edited));
            (next, store.commit(cs).await)
        }));
    }
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let (next, result) = t.await.unwrap_or_else(|e| panic!("writer task: {e}"));
        match result {
            Ok(()) => winners.push(next),
            Err(StoreError::Conflict { .. }) => conflicts += 1,
            Err(e) => panic!("a losing writer must get Conflict, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    assert_eq!(conflicts, WRITERS - 1, "every other writer gets Conflict");
    assert_eq!(
        store.device(d.id()).await.ok().flatten().as_ref(),
        winners.first(),
        "the winner's write is stored"
    );
    assert_eq!(
        all_events(&*store).await.len(),
        1,
        "only the winner's event was appended"
    );
}

/// The names of every conformance check, for reports.
pub const ALL: &[&str] = &[
    "crud_groups",
    "crud_devices",
    "serial_unique_per_group",
    "version_conflicts",
    "atomic_changesets",
    "referential_integrity",
    "keyset_paging_under_inserts",
    "filters",
    "pending_listing",
    "events_ordered",
    "events_gap_free_under_concurrency",
    "concurrent_writers_one_device",
];

/// Generates one `#[test]` per conformance check for a store, twice: in a module `direct` on
/// the store type itself and in a module `dyn_store` through `Arc<dyn Store>`.
///
/// The argument is an async function (or closure) that returns a fresh, empty store; it is
/// resolved from inside the generated modules, which `use super::*`. For a backend that needs
/// a server, write `maybe fresh` with a `fresh` that returns `Option<Store>`: `None` makes
/// each test print that it was skipped (say why in `fresh`) and pass.
///
/// ```
/// use dps_store_memory::InMemoryStore;
///
/// async fn fresh() -> InMemoryStore {
///     InMemoryStore::new()
/// }
///
/// dps_testkit::store_conformance_tests!(fresh);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@each $make;
            crud_groups, crud_devices, serial_unique_per_group, version_conflicts,
            atomic_changesets, referential_integrity, keyset_paging_under_inserts, filters,
            pending_listing, events_ordered, events_only_changesets,
            events_gap_free_under_concurrency, concurrent_writers_one_device
        );
    };
    (maybe $make:expr) => {
        $crate::store_conformance_tests!(@each_maybe $make;
            crud_groups, crud_devices, serial_unique_per_group, version_conflicts,
            atomic_changesets, referential_integrity, keyset_paging_under_inserts, filters,
            pending_listing, events_ordered, events_only_changesets,
            events_gap_free_under_concurrency, concurrent_writers_one_device
        );
    };
    (@each_maybe $make:expr; $($name:ident),+ $(,)?) => {
        mod direct {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::conformance::run(async {
                        let Some(store) = ($make)().await else { return };
                        $crate::conformance::$name(::std::sync::Arc::new(store)).await;
                    });
                }
            )+
        }
        mod dyn_store {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::conformance::run(async {
                        let Some(store) = ($make)().await else { return };
                        let store: ::std::sync::Arc<dyn $crate::__private::Store> =
                            ::std::sync::Arc::new(store);
                        $crate::conformance::$name(store).await;
                    });
                }
            )+
        }
    };
    (@each $make:expr; $($name:ident),+ $(,)?) => {
        mod direct {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::conformance::run(async {
                        let store = ::std::sync::Arc::new(($make)().await);
                        $crate::conformance::$name(store).await;
                    });
                }
            )+
        }
        mod dyn_store {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::conformance::run(async {
                        let store: ::std::sync::Arc<dyn $crate::__private::Store> =
                            ::std::sync::Arc::new(($make)().await);
                        $crate::conformance::$name(store).await;
                    });
                }
            )+
        }
    };
}
