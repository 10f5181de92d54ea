//! A batch of 1000 devices through every operation, against the reference platform on a
//! loopback socket, in single calls and in batch calls: each operation ID reaches the
//! platform once per distinct effect.

mod common;

use common::{Running, applied_once, count, devices, provisioner, serial};
use dps_core::state::AllocationStatus;
use dps_core::{Environment, NewSerial, ReplaceRequest, Selection};

const DEVICES: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_1000_devices_is_allocated_reset_replaced_and_deleted_once_each() {
    let requests = lifecycle(1).await;
    // One call per device and operation.
    assert_eq!(requests, [DEVICES as u64; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_batch_calls_of_100_each_page_of_1000_devices_is_ten_requests() {
    let requests = lifecycle(100).await;
    assert_eq!(requests, [10; 5]);
}

/// Allocates, replaces, resets, allocates again and deletes `DEVICES` devices through a
/// webhook that takes `batch_size` calls at once, checking the devices and the platform
/// after each; the webhook requests each operation took.
async fn lifecycle(batch_size: usize) -> [u64; 5] {
    let platform = Running::start().await;
    let webhook = platform.webhook().with_batch_size(batch_size);
    let (dps, group) = provisioner(platform.environment(webhook), DEVICES).await;
    let mut requests = [0; 5];
    let mut seen = platform.snapshot().requests;
    let mut took = |step: usize| {
        let now = platform.snapshot().requests;
        requests[step] = now - seen;
        seen = now;
    };

    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert!(
        report.all_succeeded(),
        "{:?}",
        report.outcomes.iter().find(|o| o.result.is_err())
    );
    took(0);
    let allocated = devices(&dps, group).await;
    assert_eq!(count(&allocated, AllocationStatus::Allocated), DEVICES);
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.assets.len(), DEVICES, "one asset per device");
    assert_eq!(snapshot.applied.len(), DEVICES, "one onboard per device");
    for device in &allocated {
        let asset = device.state().allocated().unwrap().asset_id();
        let held = &snapshot.assets[asset.as_str()];
        assert_eq!(held.serial, device.serial().as_str());
    }

    // Replacement keeps each asset and reissues its credentials.
    let replacements = (0..DEVICES)
        .map(|i| {
            let request = ReplaceRequest {
                new_serial: NewSerial::Given(format!("NEW-{i:05}").parse().unwrap()),
                batch_tag: "swap".parse().unwrap(),
                description: None,
            };
            (serial(i), request)
        })
        .collect();
    let report = dps.replace_many(group, replacements).await.unwrap();
    assert!(report.all_succeeded());
    took(1);
    let replaced = devices(&dps, group).await;
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.assets.len(), DEVICES, "the assets stay");
    for device in &replaced {
        let allocation = device.state().allocated().unwrap();
        assert_eq!(
            snapshot.assets[allocation.asset_id().as_str()].serial,
            device.serial().as_str()
        );
    }

    let report = dps.reset(group, &Selection::all()).await.unwrap();
    assert!(report.all_succeeded());
    took(2);
    assert_eq!(
        count(&devices(&dps, group).await, AllocationStatus::NotAllocated),
        DEVICES
    );
    assert!(platform.snapshot().assets.is_empty(), "reset offboards");

    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert!(report.all_succeeded());
    took(3);
    let report = dps.delete(group, &Selection::all()).await.unwrap();
    assert!(report.all_succeeded());
    took(4);
    assert!(devices(&dps, group).await.is_empty());

    let snapshot = platform.snapshot();
    assert!(snapshot.assets.is_empty(), "delete offboards");
    // Onboard, reissue, offboard, onboard, offboard: five distinct effects per device, each
    // applied once, and no key requested twice.
    assert_eq!(snapshot.applied.len(), 5 * DEVICES);
    applied_once(&snapshot);
    assert!(snapshot.requested.values().all(|&n| n == 1));

    let endpoints = dps
        .environment()
        .endpoints(&common::target())
        .await
        .unwrap();
    assert_eq!(
        endpoints.mqtt.unwrap().as_str(),
        "mqtts://mqtt.partner.example.com:8883"
    );
    requests
}
