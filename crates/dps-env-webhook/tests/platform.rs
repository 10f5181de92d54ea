//! A batch of 1000 devices through every operation, against the reference platform on a
//! loopback socket: each operation ID reaches the platform once per distinct effect.

mod common;

use common::{Running, applied_once, count, devices, provisioner, serial};
use dps_core::state::AllocationStatus;
use dps_core::{Environment, NewSerial, ReplaceRequest, Selection};

const DEVICES: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_1000_devices_is_allocated_reset_replaced_and_deleted_once_each() {
    let platform = Running::start().await;
    let (dps, group) = provisioner(platform.environment(platform.webhook()), DEVICES).await;

    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert!(
        report.all_succeeded(),
        "{:?}",
        report.outcomes.iter().find(|o| o.result.is_err())
    );
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
    assert_eq!(
        count(&devices(&dps, group).await, AllocationStatus::NotAllocated),
        DEVICES
    );
    assert!(platform.snapshot().assets.is_empty(), "reset offboards");

    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert!(report.all_succeeded());
    let report = dps.delete(group, &Selection::all()).await.unwrap();
    assert!(report.all_succeeded());
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
}
