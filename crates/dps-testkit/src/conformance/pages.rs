//! A batch's pages: a page of intents and a page of results commit or fail whole, and a
//! device that changes, vanishes or becomes pending under a page fails alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dps_core::inject::{ManualClock, SeededSecrets, SequentialIds};
use dps_core::state::AllocationStatus;
use dps_core::{
    Change, Changeset, Config, Device, DeviceId, DeviceQuery, Event, EventCursor, EventKind,
    GroupId, Injected, Provisioner, RegistrationGroup, Selection, SerialNumber, Store, StoreError,
};

use super::{insert_group, must_commit, renamed, update};
use crate::fake_env::FakeEnvironment;
use crate::fixtures::{EPOCH, Fixtures};

/// The page size the check works with: the default batch page.
const PAGE: usize = 1000;

/// A page-sized changeset of intents commits whole, a page of results that holds one stale
/// device fails whole (nothing written, no event), and a provisioner's batch over a page in
/// which devices changed, vanished or became pending after it was read reports each of them
/// with its code and allocates every other.
pub async fn page_changesets<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let devices = page_of_devices(&*store, &fx, &group).await;

    // The page's intents: every device pending, one event each, in one commit.
    let settled: Vec<(Device, Device)> = devices.iter().map(|d| fx.allocated(&group, d)).collect();
    let mut intents = Changeset::with_capacity(PAGE);
    for (d, (pending, _)) in devices.iter().zip(&settled) {
        intents
            .push(update(d, pending.clone()))
            .event(Fixtures::event(pending, EventKind::Edited));
    }
    let before = every_event(&*store).await.len();
    if let Err(e) = store.commit(intents).await {
        panic!("a page of intents commits whole: {e}");
    }
    assert_eq!(
        pending_count(&*store).await,
        PAGE,
        "every device of the committed page of intents is pending"
    );
    assert_eq!(
        events_after(&*store, before).await,
        PAGE,
        "the page of intents wrote one event per device"
    );

    // The page's results, one of them against the version from before its intent.
    let stale = PAGE / 2;
    let before = every_event(&*store).await.len();
    let mut results = Changeset::with_capacity(PAGE);
    for (i, (pending, allocated)) in settled.iter().enumerate() {
        let expected = if i == stale { &devices[i] } else { pending };
        results
            .push(update(expected, allocated.clone()))
            .event(Fixtures::event(allocated, EventKind::Edited));
    }
    let result = store.commit(results).await;
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "a page of results with one stale device fails on it, got {result:?}"
    );
    assert_eq!(
        pending_count(&*store).await,
        PAGE,
        "no result of the failed page was written"
    );
    assert_eq!(
        events_after(&*store, before).await,
        0,
        "no event of the failed page was written"
    );

    one_conflict_in_a_batch(store).await;
}

/// A provisioner allocates a page of devices while, between the batch's read and its page
/// commit, one of them is edited, one deleted and one begun by another driver, and one was
/// pending from the start: each of those reports its own code, every other is allocated, and
/// every device has one event per change.
async fn one_conflict_in_a_batch<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::starting_at(1_000_000);
    let group = fx.group("batch");
    let devices = page_of_devices(&*store, &fx, &group).await;
    let (edited, deleted, begun, pending) = (
        devices[PAGE / 3].clone(),
        devices[PAGE / 2].clone(),
        devices[PAGE - 2].clone(),
        devices[7].clone(),
    );
    let already = fx.pending(&group, &pending);
    let mut cs = Changeset::new();
    cs.push(update(&pending, already.clone()))
        .event(Fixtures::event(&already, EventKind::Edited));
    if let Err(e) = store.commit(cs).await {
        panic!("make one device pending: {e}");
    }
    let mut meanwhile = Changeset::new();
    let renamed = renamed(&group, &edited, "edited meanwhile");
    let other_driver = fx.pending(&group, &begun);
    meanwhile
        .push(update(&edited, renamed.clone()))
        .event(Fixtures::event(&renamed, EventKind::Edited))
        .push(Change::DeleteDevice {
            id: deleted.id(),
            expected: deleted.version(),
        })
        .event(Fixtures::event(&deleted, EventKind::Deleted))
        .push(update(&begun, other_driver.clone()))
        .event(Fixtures::event(&other_driver, EventKind::Edited));
    let interfering = Interfering {
        inner: store.clone(),
        meanwhile: std::sync::Mutex::new(Some(meanwhile)),
        done: AtomicBool::new(false),
    };
    let env = FakeEnvironment::with_target(&Fixtures::target(), &["m1"]);
    let injected = Injected {
        clock: Arc::new(ManualClock::new(EPOCH)),
        ids: Arc::new(SequentialIds::new(2_000_000)),
        secrets: Arc::new(SeededSecrets::new(7)),
    };
    let dps = Provisioner::with_parts(interfering, env, injected, Config::default())
        .with_keys(crate::test_keys());
    let report = match dps.allocate(group.id(), &Selection::all()).await {
        Ok(report) => report,
        Err(e) => panic!("allocate a page: {e}"),
    };
    assert_eq!(report.outcomes.len(), PAGE, "one outcome per device");
    let failed: Vec<(&SerialNumber, &str)> = report
        .outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| (&o.serial, e.code())))
        .collect();
    assert_eq!(
        failed,
        vec![
            (pending.serial(), "operation_in_progress"),
            (edited.serial(), "conflict"),
            (deleted.serial(), "not_found"),
            (begun.serial(), "conflict"),
        ],
        "each device that was pending, or changed or vanished meanwhile, fails with its code"
    );
    let allocated = DeviceQuery::new(
        group.id(),
        dps_core::DeviceFilter {
            status: Some(AllocationStatus::Allocated),
            ..Default::default()
        },
    );
    let n = match store.count_devices(&allocated).await {
        Ok(n) => n,
        Err(e) => panic!("count devices: {e}"),
    };
    assert_eq!(n, PAGE as u64 - 4, "every other device is allocated");
    assert_one_event_per_change(&*store, group.id(), &devices, deleted.id()).await;
}

/// Each of `devices` but `deleted` is still stored and has one event per change: the
/// devices were inserted at version 1 without an event.
async fn assert_one_event_per_change<S: Store + ?Sized>(
    store: &S,
    group: GroupId,
    devices: &[Device],
    deleted: DeviceId,
) {
    let events = all_group_events(store, group).await;
    for d in devices {
        let stored = match store.device(d.id()).await {
            Ok(Some(stored)) => stored,
            Ok(None) if d.id() == deleted => continue,
            other => panic!("read {}: {other:?}", d.serial()),
        };
        assert_eq!(
            events_of(&events, d.id()) + 1,
            stored.version().get(),
            "device {} has one event per change",
            d.serial()
        );
    }
}

/// A store that, before the first commit of more than one change, commits `meanwhile` on
/// its own: another writer that changes devices between a batch's read and its page commit.
#[derive(Debug)]
struct Interfering<S: ?Sized> {
    inner: Arc<S>,
    meanwhile: std::sync::Mutex<Option<Changeset>>,
    done: AtomicBool,
}

dps_core::forward_store! {
    impl[S: Store + ?Sized] for Interfering<S> => |this| this.inner;
    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        if changeset.changes().len() > 1 && !self.done.swap(true, Ordering::SeqCst) {
            let meanwhile = self
                .meanwhile
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(meanwhile) = meanwhile {
                self.inner.commit(meanwhile).await?;
            }
        }
        self.inner.commit(changeset).await
    }
}

/// Inserts `group` and a page of its devices, without events; returns the devices.
async fn page_of_devices<S: Store + ?Sized>(
    store: &S,
    fx: &Fixtures,
    group: &RegistrationGroup,
) -> Vec<Device> {
    insert_group(store, group).await;
    let devices: Vec<Device> = (0..PAGE)
        .map(|i| fx.device(group, Fixtures::serial(i).as_str()))
        .collect();
    must_commit(
        store,
        devices.iter().cloned().map(Change::InsertDevice).collect(),
        "insert a page of devices",
    )
    .await;
    devices
}

/// How many devices of every group are pending.
async fn pending_count<S: Store + ?Sized>(store: &S) -> usize {
    let mut n = 0;
    let mut after = None;
    loop {
        let page = match store.pending_devices(after, PAGE).await {
            Ok(page) => page,
            Err(e) => panic!("list pending devices: {e}"),
        };
        n += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some(last.id()),
            _ => return n,
        }
    }
}

/// How many events follow the first `before`.
async fn events_after<S: Store + ?Sized>(store: &S, before: usize) -> usize {
    every_event(store).await.len() - before
}

/// Every event of the store, however many.
async fn every_event<S: Store + ?Sized>(store: &S) -> Vec<Event> {
    let mut events = Vec::new();
    let mut after = EventCursor::START;
    loop {
        let page = match store.events(after, PAGE).await {
            Ok(page) => page,
            Err(e) => panic!("read events: {e}"),
        };
        let Some(last) = page.last() else {
            return events;
        };
        after = last.cursor;
        events.extend(page);
    }
}

/// Every event of `group`.
async fn all_group_events<S: Store + ?Sized>(store: &S, group: GroupId) -> Vec<Event> {
    let mut events = every_event(store).await;
    events.retain(|e| e.group_id == group);
    events
}

/// How many of `events` are about `device`.
fn events_of(events: &[Event], device: DeviceId) -> u64 {
    events
        .iter()
        .filter(|e| e.device_id == Some(device))
        .count() as u64
}
