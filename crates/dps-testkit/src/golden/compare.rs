//! Reading a store whole and comparing it with the reference, record by record.

use std::collections::BTreeSet;
use std::sync::Arc;

use dps_core::seal::{SealedSecret, Sealer, SecretOf};
use dps_core::state::PendingAction;
use dps_core::stored::{StoredDevice, StoredGroup};
use dps_core::{
    Device, DeviceQuery, Event, EventCursor, GroupId, RegistrationGroup, ReprovisionMethod, Secret,
    SerialNumber, Store, StoreError, state::AllocationState,
};

use super::scenario;

/// Everything a store holds, read through the [`Store`] trait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Every group, by identifier.
    pub groups: Vec<RegistrationGroup>,
    /// Every device, by group and then by serial.
    pub devices: Vec<Device>,
    /// The pending devices, by identifier.
    pub pending: Vec<Device>,
    /// The event log.
    pub events: Vec<Event>,
}

/// A small page, so that reading a snapshot follows the keyset cursors.
const PAGE: usize = 7;

/// Reads everything `store` holds.
///
/// # Errors
///
/// The store's errors.
pub async fn snapshot<S: Store + ?Sized>(store: &S) -> Result<Snapshot, StoreError> {
    let mut groups = Vec::new();
    loop {
        let page = store
            .groups(groups.last().map(RegistrationGroup::id), PAGE)
            .await?;
        let done = page.len() < PAGE;
        groups.extend(page);
        if done {
            break;
        }
    }
    let mut devices = Vec::new();
    for g in &groups {
        devices.extend(group_devices(store, g.id()).await?);
    }
    let mut pending: Vec<Device> = Vec::new();
    loop {
        let page = store
            .pending_devices(pending.last().map(Device::id), PAGE)
            .await?;
        let done = page.len() < PAGE;
        pending.extend(page);
        if done {
            break;
        }
    }
    let mut events: Vec<Event> = Vec::new();
    loop {
        let after = events.last().map_or(EventCursor::new(0), |e| e.cursor);
        let page = store.events(after, PAGE).await?;
        let done = page.len() < PAGE;
        events.extend(page);
        if done {
            break;
        }
    }
    Ok(Snapshot {
        groups,
        devices,
        pending,
        events,
    })
}

async fn group_devices<S: Store + ?Sized>(
    store: &S,
    group: GroupId,
) -> Result<Vec<Device>, StoreError> {
    let query = DeviceQuery::group(group);
    let mut out: Vec<Device> = Vec::new();
    loop {
        let after = out.last().map(|d| d.serial().clone());
        let page = store.devices(&query, after, PAGE).await?;
        let done = page.len() < PAGE;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// The golden scenario's records, as the reference `store` (an empty `InMemoryStore`) keeps
/// them.
///
/// # Panics
///
/// When the scenario does not run as scripted or the store fails.
pub async fn expected<S: Store>(store: S) -> Snapshot {
    let store = Arc::new(store);
    scenario(Arc::clone(&store)).await;
    snapshot(&*store)
        .await
        .unwrap_or_else(|e| panic!("read the reference store: {e}"))
}

/// A record as the comparison sees it: its stored JSON with each secret replaced by a mark,
/// and its secrets opened. A secret sealed with another nonce, or kept in clear by an earlier
/// release, compares equal when it opens to the same text.
#[derive(Debug, PartialEq)]
struct Opened {
    json: serde_json::Value,
    secrets: Vec<Result<Secret, String>>,
}

fn opened(json: Result<String, StoreError>, of: SecretOf, sealed: Vec<&SealedSecret>) -> Opened {
    let sealer: Sealer = crate::test_sealer();
    let mut json: serde_json::Value = json
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(serde_json::Value::Null);
    mask_secrets(&mut json);
    // The format version says whether the secrets are sealed, which the comparison opens.
    if let Some(map) = json.as_object_mut() {
        map.remove("format");
    }
    // A secret in clear (an earlier release's) is read by sealing it first, in memory.
    let secrets = sealed
        .into_iter()
        .map(|s| match sealer.reseal(s, of) {
            Ok(Some(resealed)) if !s.is_sealed() => sealer.open(&resealed, of),
            Ok(_) => sealer.open(s, of),
            Err(e) => Err(e),
        })
        .map(|opened| opened.map_err(|e| e.to_string()))
        .collect();
    Opened { json, secrets }
}

/// Replaces the value of every secret field with a mark.
fn mask_secrets(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if matches!(k.as_str(), "secret" | "previous_secret" | "device_secret") {
                    *v = serde_json::Value::from("<secret>");
                } else {
                    mask_secrets(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

fn opened_group(g: &RegistrationGroup) -> Opened {
    let sealed = std::iter::once(g.secret()).chain(g.previous_secret());
    let json = StoredGroup::from(g).to_json();
    opened(json, SecretOf::Group(g.id()), sealed.collect())
}

fn opened_device(d: &Device) -> Opened {
    let sealed = d
        .state()
        .kept_allocation()
        .map(|a| &a.credentials().device_secret);
    let json = StoredDevice::from(d).to_json();
    opened(json, SecretOf::Device(d.id()), sealed.into_iter().collect())
}

fn group_key(g: &RegistrationGroup) -> String {
    format!("group {} ({})", g.id(), g.name())
}

fn device_key(d: &Device) -> String {
    format!("device {} ({})", d.id(), d.serial())
}

/// Asserts that `store` holds exactly the records of `expected`, record by record: each group
/// by identifier and in the listing, each device by identifier, by serial, among its group's
/// serials and in its group's listing, the pending devices and each event of the log.
///
/// # Panics
///
/// On the first record that differs or is missing, naming it.
pub async fn assert_reads_back<S: Store + ?Sized>(expected: &Snapshot, store: &S) {
    let fail = |what: String, e: StoreError| -> ! { panic!("reading {what} failed: {e}") };
    for g in &expected.groups {
        let got = store
            .group(g.id())
            .await
            .unwrap_or_else(|e| fail(group_key(g), e));
        let got = got.unwrap_or_else(|| panic!("{} is missing", group_key(g)));
        assert_eq!(
            opened_group(&got),
            opened_group(g),
            "{} reads back differently",
            group_key(g)
        );
    }
    let actual = snapshot(store)
        .await
        .unwrap_or_else(|e| fail("the listings".into(), e));
    assert_same_list(
        "groups",
        &expected.groups,
        &actual.groups,
        group_key,
        opened_group,
    );
    for d in &expected.devices {
        let by_id = store
            .device(d.id())
            .await
            .unwrap_or_else(|e| fail(device_key(d), e));
        assert_eq!(
            by_id.as_ref().map(opened_device),
            Some(opened_device(d)),
            "{} by id",
            device_key(d)
        );
        let by_serial = store
            .device_by_serial(d.group_id(), d.serial())
            .await
            .unwrap_or_else(|e| fail(device_key(d), e));
        assert_eq!(
            by_serial.as_ref().map(opened_device),
            Some(opened_device(d)),
            "{} by serial",
            device_key(d)
        );
    }
    assert_same_list(
        "devices",
        &expected.devices,
        &actual.devices,
        device_key,
        opened_device,
    );
    assert_each_groups_devices(expected, store).await;
    assert_same_list(
        "pending devices",
        &expected.pending,
        &actual.pending,
        device_key,
        opened_device,
    );
    assert_same_list(
        "events",
        &expected.events,
        &actual.events,
        |e| format!("event {} ({})", e.cursor.get(), e.kind.name()),
        Event::clone,
    );
}

/// Asserts that each group's devices read back by their serials and are counted.
async fn assert_each_groups_devices<S: Store + ?Sized>(expected: &Snapshot, store: &S) {
    let fail = |what: String, e: StoreError| -> ! { panic!("reading {what} failed: {e}") };
    for g in &expected.groups {
        let mine: Vec<&Device> = expected
            .devices
            .iter()
            .filter(|d| d.group_id() == g.id())
            .collect();
        let serials: Vec<SerialNumber> = mine.iter().map(|d| d.serial().clone()).collect();
        let mut got = store
            .devices_by_serials(g.id(), &serials)
            .await
            .unwrap_or_else(|e| fail(group_key(g), e));
        got.sort_by(|a, b| a.serial().cmp(b.serial()));
        let got: Vec<Opened> = got.iter().map(opened_device).collect();
        let mine_opened: Vec<Opened> = mine.iter().map(|d| opened_device(d)).collect();
        assert_eq!(got, mine_opened, "devices of {} by serials", group_key(g));
        let count = store
            .count_devices(&DeviceQuery::group(g.id()))
            .await
            .unwrap_or_else(|e| fail(group_key(g), e));
        assert_eq!(count, mine.len() as u64, "device count of {}", group_key(g));
    }
}

fn assert_same_list<T, V: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: &[T],
    actual: &[T],
    key: impl Fn(&T) -> String,
    view: impl Fn(&T) -> V,
) {
    for (i, e) in expected.iter().enumerate() {
        match actual.get(i) {
            Some(a) => assert_eq!(
                view(a),
                view(e),
                "{what}: {} reads back differently",
                key(e)
            ),
            None => panic!("{what}: {} is missing", key(e)),
        }
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {} more than expected",
        actual.len().saturating_sub(expected.len())
    );
}

/// Asserts that `snapshot` holds every record shape the golden scenario promises, so that a
/// change to the scenario cannot silently drop one.
///
/// # Panics
///
/// Naming the first shape that is missing.
pub fn assert_covers_every_shape(snapshot: &Snapshot) {
    let kinds: BTreeSet<&str> = snapshot.events.iter().map(|e| e.kind.name()).collect();
    for kind in EVENT_KINDS {
        assert!(kinds.contains(kind), "no {kind} event");
    }
    assert_covers_every_device_shape(snapshot);
    assert_covers_every_group_shape(snapshot);
}

fn assert_covers_every_device_shape(snapshot: &Snapshot) {
    let has = |what: &str, f: &dyn Fn(&Device) -> bool| {
        assert!(snapshot.devices.iter().any(f), "no device {what}");
    };
    let pending = |d: &Device| d.state().pending().map(|p| p.action().clone());
    has(
        "not allocated, fresh",
        &|d| matches!(d.state(), AllocationState::NotAllocated(n) if !n.reprovisioned()),
    );
    has(
        "reprovisioned",
        &|d| matches!(d.state(), AllocationState::NotAllocated(n) if n.reprovisioned()),
    );
    has("bootstrapped", &|d| {
        d.state()
            .allocated()
            .is_some_and(|a| a.bootstrapped_at().is_some())
    });
    has("allocated, not bootstrapped", &|d| {
        d.state()
            .allocated()
            .is_some_and(|a| a.bootstrapped_at().is_none())
    });
    has("pending allocate", &|d| {
        matches!(pending(d), Some(PendingAction::Allocate { .. }))
    });
    has("pending reset", &|d| {
        matches!(pending(d), Some(PendingAction::Reset { .. }))
    });
    has("pending replace", &|d| {
        matches!(pending(d), Some(PendingAction::Replace { .. }))
    });
    has("pending delete", &|d| {
        matches!(pending(d), Some(PendingAction::Delete { .. }))
    });
    has("pending with a lease", &|d| {
        d.state()
            .pending()
            .is_some_and(|p| p.lease_until().is_some())
    });
    has("pending, attempted twice", &|d| {
        d.state().pending().is_some_and(|p| p.attempts() > 1)
    });
    has("with a last error", &|d| d.last_error().is_some());
    has("with replacements", &|d| d.replacements().len() > 1);
    has("with every optional field", &|d| {
        d.name().is_some()
            && d.timezone().is_some()
            && d.batch_tag().is_some()
            && d.description().is_some()
            && d.target().is_some()
            && d.first_target().is_some()
            && d.attributes().len() == 5
    });
    has("with no optional field", &|d| {
        d.name().is_none()
            && d.timezone().is_none()
            && d.batch_tag().is_none()
            && d.description().is_none()
            && d.target().is_none()
            && d.attributes().is_empty()
    });
}

fn assert_covers_every_group_shape(snapshot: &Snapshot) {
    let group = |what: &str, f: &dyn Fn(&RegistrationGroup) -> bool| {
        assert!(snapshot.groups.iter().any(f), "no group {what}");
    };
    group("with a kept previous secret", &|g| {
        g.previous_secret().is_some()
    });
    group("rotated without a kept secret", &|g| {
        g.secret_rotated_at().is_some() && g.previous_secret().is_none()
    });
    group("with every attribute type", &|g| {
        g.attributes().attributes().len() == 5
    });
    group("reprovision disabled", &|g| {
        g.reprovision() == ReprovisionMethod::Disabled
    });
}

/// The name of every [`EventKind`].
const EVENT_KINDS: [&str; 20] = [
    "group_created",
    "group_edited",
    "group_deleted",
    "registered",
    "edited",
    "allocation_started",
    "allocated",
    "allocation_failed",
    "reset_started",
    "reset",
    "replace_started",
    "replaced",
    "delete_started",
    "deleted",
    "operation_failed",
    "operation_deferred",
    "operation_resumed",
    "bootstrapped",
    "bootstrap_refused",
    "group_secret_rotated",
];
