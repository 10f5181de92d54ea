//! Faults of a platform that takes batch calls: a fault hits a whole batch call, an item's
//! refusal only its own device; each test ends with every device settled and no asset
//! created twice.

mod common;

use common::{Running, applied_once, count, devices, provisioner, serials};
use dps_core::state::AllocationStatus;
use std::sync::Arc;

use dps_core::{NewSerial, Provisioner, ReplaceRequest};
use webhook_platform::Fault;

const DEVICES: usize = 10;

/// A platform, and a provisioner that reaches it in batch calls of up to `DEVICES`.
async fn batching() -> (Running, common::Dps, dps_core::GroupId) {
    let platform = Running::start().await;
    let webhook = platform.webhook().with_batch_size(DEVICES);
    let (dps, group) = provisioner(platform.environment(webhook), DEVICES).await;
    (platform, dps, group)
}

/// Each device's operation was requested `times` times and applied once.
fn requested(platform: &Running, times: u64) {
    let snapshot = platform.snapshot();
    assert_eq!(
        snapshot.requested.len(),
        DEVICES,
        "{:?}",
        snapshot.requested
    );
    assert!(
        snapshot.requested.values().all(|&n| n == times),
        "{:?}",
        snapshot.requested
    );
    assert_eq!(snapshot.applied.len(), DEVICES);
    applied_once(&snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answer_lost_after_it_was_applied_is_answered_again_to_the_retry() {
    let (platform, dps, group) = batching().await;
    let before = platform.snapshot().requests;
    platform.faults.push(Fault::ApplyThenDrop);
    let report = dps.allocate(group, &serials(0..DEVICES)).await.unwrap();
    assert!(report.all_succeeded(), "{:?}", report.outcomes);
    assert_eq!(
        platform.snapshot().requests - before,
        2,
        "one batch call, tried twice"
    );
    requested(&platform, 2);
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.assets.len(), DEVICES);
    for device in devices(&dps, group).await {
        let asset = device.state().allocated().unwrap().asset_id();
        assert_eq!(
            snapshot.assets[asset.as_str()].serial,
            device.serial().as_str(),
            "each device has the asset of the first answer"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_call_answered_500_then_200_succeeds_for_every_device() {
    let (platform, dps, group) = batching().await;
    platform.faults.push(Fault::Status(500));
    let report = dps.allocate(group, &serials(0..DEVICES)).await.unwrap();
    assert!(report.all_succeeded(), "{:?}", report.outcomes);
    requested(&platform, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_of_a_batch_call_to_a_platform_that_is_down_are_recovered_once_it_is_back() {
    let (platform, dps, group) = batching().await;
    platform.faults.set_down(true);
    let report = dps.allocate(group, &serials(0..DEVICES)).await.unwrap();
    assert_eq!(report.failed(), DEVICES);
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| o.result.as_ref().unwrap_err().code() == "environment_unavailable")
    );
    let all = devices(&dps, group).await;
    assert_eq!(count(&all, AllocationStatus::Pending), DEVICES);

    platform.faults.set_down(false);
    let recovered = dps.recover().await.unwrap();
    assert_eq!(recovered.completed.succeeded(), DEVICES);
    let all = devices(&dps, group).await;
    assert_eq!(count(&all, AllocationStatus::Allocated), DEVICES);
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.assets.len(), DEVICES);
    applied_once(&snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_batch_answer_leaves_every_device_pending_with_a_clear_message() {
    let (platform, dps, group) = batching().await;
    platform.faults.push(Fault::Malformed);
    let report = dps.allocate(group, &serials(0..DEVICES)).await.unwrap();
    for outcome in &report.outcomes {
        let e = outcome.result.as_ref().unwrap_err();
        assert_eq!(e.code(), "environment_unavailable");
        assert!(
            e.to_string().contains("malformed answer to onboard_many"),
            "{e}"
        );
    }
    assert_eq!(
        count(&devices(&dps, group).await, AllocationStatus::Pending),
        DEVICES
    );
    // The platform applied them; the repeat gets the first answers.
    assert_eq!(dps.recover().await.unwrap().completed.succeeded(), DEVICES);
    assert_eq!(platform.snapshot().assets.len(), DEVICES);
    requested(&platform, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_call_rolls_back_every_device_with_the_reason() {
    let (platform, dps, group) = batching().await;
    platform.faults.push(Fault::Reject {
        status: 403,
        reason: "this client may not onboard in bulk".into(),
    });
    let report = dps.allocate(group, &serials(0..DEVICES)).await.unwrap();
    assert_eq!(report.failed(), DEVICES);
    for device in devices(&dps, group).await {
        assert_eq!(device.status(), AllocationStatus::NotAllocated);
        let last = device.last_error().unwrap();
        assert!(last.message.contains("may not onboard in bulk"), "{last:?}");
    }
    let snapshot = platform.snapshot();
    assert!(snapshot.assets.is_empty());
    assert!(snapshot.applied.is_empty(), "a refusal applies nothing");
    assert_eq!(snapshot.requested.len(), DEVICES);
    assert!(snapshot.requested.values().all(|&n| n == 1), "not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_refused_in_a_batch_call_rolls_back_alone_with_its_reason() {
    // Half of the devices are allocated on one platform, half on another behind the same
    // target; the second then gets every replacement, and knows only its own assets.
    let first = Running::start().await;
    let (dps, group) = provisioner(
        first.environment(first.webhook().with_batch_size(DEVICES)),
        DEVICES,
    )
    .await;
    let half = DEVICES / 2;
    assert!(
        dps.allocate(group, &serials(0..half))
            .await
            .unwrap()
            .all_succeeded()
    );
    let second = Running::start().await;
    let env = second.environment(second.webhook().with_batch_size(DEVICES));
    let dps = Provisioner::builder(Arc::clone(dps.store()), Arc::new(env))
        .config(dps.config().clone())
        .build()
        .with_sealer(dps.sealer().clone());
    assert!(
        dps.allocate(group, &serials(half..DEVICES))
            .await
            .unwrap()
            .all_succeeded()
    );

    let replacements = (0..DEVICES)
        .map(|i| {
            let request = ReplaceRequest {
                new_serial: NewSerial::Given(format!("NEW-{i:03}").parse().unwrap()),
                batch_tag: "swap".parse().unwrap(),
                description: None,
            };
            (common::serial(i), request)
        })
        .collect();
    let before = second.snapshot().requests;
    let report = dps.replace_many(group, replacements).await.unwrap();
    assert_eq!(second.snapshot().requests - before, 1, "one reissue_many");
    assert_eq!((report.succeeded(), report.failed()), (half, half));
    for (i, outcome) in report.outcomes.iter().enumerate() {
        if i < half {
            let e = outcome.result.as_ref().unwrap_err();
            assert_eq!(e.code(), "environment_rejected", "{e}");
            assert!(e.to_string().contains("does not exist"), "{e}");
        } else {
            assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        }
    }
    for device in devices(&dps, group).await {
        assert_eq!(device.status(), AllocationStatus::Allocated);
        let replaced = device.serial().as_str().starts_with("NEW-");
        assert_eq!(replaced, device.last_error().is_none(), "{device:?}");
    }
    applied_once(&second.snapshot());
}
