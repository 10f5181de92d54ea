//! Contracts 1–4 and 7: records are written, read, versioned and kept consistent.

use std::sync::Arc;

use dps_core::{Change, Changeset, Entity, EventKind, GroupEdit, Store, StoreError};

use super::{all_events, commit, device_count, insert_group, must_commit, renamed, update};
use crate::fixtures::{EPOCH, Fixtures};

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

    assert_groups_page_by_id(&*store, &groups).await;

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

/// Two pages of groups visit every group once, by ascending identifier.
async fn assert_groups_page_by_id<S: Store + ?Sized>(
    store: &S,
    groups: &[dps_core::RegistrationGroup],
) {
    let first = store.groups(None, 2).await.unwrap_or_default();
    let rest = store
        .groups(first.last().map(|g| g.id()), 10)
        .await
        .unwrap_or_default();
    let ids: Vec<_> = first.iter().chain(&rest).map(|g| g.id()).collect();
    let mut expected: Vec<_> = groups.iter().map(|g| g.id()).collect();
    expected.sort();
    assert_eq!(ids, expected, "groups page by ascending identifier");
}

/// Contract 1, 2: devices are inserted, read back equal by identifier and by serial (with
/// every field, state data and secrets included), updated and deleted.
pub async fn crud_devices<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    insert_group(&*store, &group).await;
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

    assert_by_serials_skips_unknown(&*store, &allocated).await;
}

/// `devices_by_serials` finds `device` and leaves out a serial nobody has.
async fn assert_by_serials_skips_unknown<S: Store + ?Sized>(store: &S, device: &dps_core::Device) {
    let found = store
        .devices_by_serials(
            device.group_id(),
            &[
                device.serial().clone(),
                "NOPE".parse().unwrap_or_else(|e| panic!("{e}")),
            ],
        )
        .await
        .unwrap_or_default();
    assert_eq!(
        found,
        vec![device.clone()],
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
    let pending = replacing(&fx, &allocated, "SN-A");
    let taken = commit(&*store, vec![update(&allocated, pending)]).await;
    assert!(
        matches!(taken, Err(StoreError::DuplicateSerial { .. })),
        "changing a serial to a taken one is refused, got {taken:?}"
    );
    // And the old serial is free once a device moves off it.
    let moved = replacing(&fx, &allocated, "SN-C");
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

/// `device` pending its replacement by the hardware `serial`.
fn replacing(fx: &Fixtures, device: &dps_core::Device, serial: &str) -> dps_core::Device {
    dps_core::lifecycle::begin_replace(
        device,
        serial.parse().unwrap_or_else(|e| panic!("{e}")),
        "b2".parse().unwrap_or_else(|e| panic!("{e}")),
        None,
        fx.op(),
        EPOCH,
        EPOCH,
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .pending
    .into_device()
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
