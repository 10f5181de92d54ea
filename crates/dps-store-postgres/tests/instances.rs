//! Two service instances (two pools, two Provisioners) race on the same 1000 devices.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{DropSchema, unique_schema, url};
use dps_core::{
    Atomicity, Config, DeviceEdit, DeviceId, DeviceQuery, EventCursor, Injected, NewDevice,
    NewGroup, Provisioner, Selection, inject::ManualClock, inject::SeededSecrets,
    inject::SequentialIds, state::AllocationStatus,
};
use dps_store_postgres::{PgOptions, PgStore};
use dps_testkit::{CallKind, EPOCH, FakeEnvironment, Fault, Fixtures};

const N: usize = 1000;

type Instance = Provisioner<PgStore, Arc<FakeEnvironment>>;

async fn instance(
    url: &str,
    schema: &str,
    id_start: u64,
    env: &Arc<FakeEnvironment>,
    clock: &Arc<ManualClock>,
) -> Instance {
    let store = PgStore::connect(url, PgOptions::default().with_schema(schema).unwrap())
        .await
        .unwrap();
    let injected = Injected {
        clock: clock.clone(),
        ids: Arc::new(SequentialIds::new(id_start)),
        secrets: Arc::new(SeededSecrets::new(id_start)),
    };
    Provisioner::with_parts(store, Arc::clone(env), injected, Config::default())
        .with_keys(dps_testkit::test_keys())
}

fn with_status(query: &DeviceQuery, s: AllocationStatus) -> DeviceQuery {
    let mut q = query.clone();
    q.filter.status = Some(s);
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_race_on_the_same_devices_with_one_winner_each_time() {
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let env = Arc::new(FakeEnvironment::with_target(&Fixtures::target(), &["m1"]));
    let clock = Arc::new(ManualClock::new(EPOCH));
    let a = instance(&url, &schema, 1, &env, &clock).await;
    let b = instance(&url, &schema, 1 << 40, &env, &clock).await;

    let mut settings = NewGroup::new("g".parse().unwrap());
    settings.default_target = Some(Fixtures::target());
    let group = a.create_group(settings).await.unwrap();
    let gid = group.id();
    let devices = (0..N)
        .map(|i| NewDevice::new(format!("SN-{i:05}").parse().unwrap(), "m1".parse().unwrap()))
        .collect();
    let registered = a
        .register_many(gid, devices, Atomicity::AllOrNothing)
        .await
        .unwrap();
    assert_eq!(registered.registered(), N);
    let all = DeviceQuery::group(gid);
    let everything = Selection::all();

    // Allocate: both instances, all devices, at once.
    let (ra, rb) = tokio::join!(a.allocate(gid, &everything), b.allocate(gid, &everything));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.succeeded() + rb.succeeded(), N, "one winner per device");
    let onboards = env.calls_of(CallKind::Onboard);
    assert_eq!(onboards.len(), N, "each device onboarded exactly once");
    let allocated = a
        .count(&with_status(&all, AllocationStatus::Allocated))
        .await;
    assert_eq!(allocated.unwrap(), N as u64);

    // Edit: both instances edit every device at once; no update is lost.
    let edits = |name: &'static str| DeviceEdit {
        name: Some(Some(name.parse().unwrap())),
        ..Default::default()
    };
    let serials: Vec<_> = (0..N)
        .map(|i| format!("SN-{i:05}").parse().unwrap())
        .collect();
    let (ea, eb) = tokio::join!(
        async {
            let mut ok = 0;
            for s in &serials {
                ok += usize::from(a.edit_device(gid, s, &edits("from a")).await.is_ok());
            }
            ok
        },
        async {
            let mut ok = 0;
            for s in &serials {
                ok += usize::from(b.edit_device(gid, s, &edits("from b")).await.is_ok());
            }
            ok
        }
    );
    // Every successful edit is one version step; allocation took versions 1 -> 3.
    let mut total_versions = 0u64;
    let mut after = None;
    loop {
        let page = a.devices(&all, after, 500).await.unwrap();
        total_versions += page
            .items
            .iter()
            .map(|d| d.version().get() - 3)
            .sum::<u64>();
        if page.next.is_none() {
            break;
        }
        after = page.next;
    }
    assert_eq!(total_versions, (ea + eb) as u64, "no lost update");
    assert!(ea + eb >= N, "every device was edited at least once");

    // Reset: both at once; each device offboarded exactly once.
    let (ra, rb) = tokio::join!(a.reset(gid, &everything), b.reset(gid, &everything));
    assert_eq!(ra.unwrap().succeeded() + rb.unwrap().succeeded(), N);
    assert_eq!(env.calls_of(CallKind::Offboard).len(), N);

    // Recover: every allocation fails transiently, then both instances recover at once.
    for _ in 0..N {
        env.fail_next(CallKind::Onboard, Fault::Transient);
    }
    env.clear_calls();
    let r = a.allocate(gid, &everything).await.unwrap();
    assert_eq!(r.failed(), N);
    let pending = a.count(&with_status(&all, AllocationStatus::Pending)).await;
    assert_eq!(pending.unwrap(), N as u64);
    env.heal();
    env.clear_calls();
    let (ra, rb) = tokio::join!(a.recover(), b.recover());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.completed.succeeded() + rb.completed.succeeded(),
        N,
        "every pending device recovered once"
    );
    let mut per_op: HashMap<_, usize> = HashMap::new();
    for call in env.calls_of(CallKind::Onboard) {
        *per_op.entry(call.op).or_default() += 1;
    }
    assert_eq!(per_op.len(), N);
    assert!(
        per_op.values().all(|n| *n == 1),
        "no pending device was driven twice"
    );
    let allocated = a
        .count(&with_status(&all, AllocationStatus::Allocated))
        .await;
    assert_eq!(allocated.unwrap(), N as u64);

    // One event per change: each device's events number its versions.
    let events = a.events(EventCursor::START, usize::MAX).await.unwrap();
    let mut per_device: HashMap<DeviceId, u64> = HashMap::new();
    for e in &events {
        if let Some(id) = e.device_id {
            *per_device.entry(id).or_default() += 1;
        }
    }
    let mut after = None;
    loop {
        let page = a.devices(&all, after, 500).await.unwrap();
        for d in &page.items {
            assert_eq!(per_device.get(&d.id()).copied(), Some(d.version().get()));
        }
        if page.next.is_none() {
            break;
        }
        after = page.next;
    }
}
