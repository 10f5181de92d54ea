//! Recovery when another driver gets to a pending device first, pinned with a mocked store.

use std::sync::Arc;
use std::time::Duration;

use dps_core::{
    Config, Device, Entity, Error, Injected, MockEnvironment, MockStore, Provisioner,
    RegistrationGroup, StoreError, inject::ManualClock, inject::SeededSecrets,
    inject::SequentialIds,
};
use dps_testkit::{EPOCH, Fixtures};

/// A group and one of its devices whose allocation is pending with an expired lease.
fn stale_pending() -> (RegistrationGroup, Device) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let device = fx.device(&group, "SN-1");
    let pending = fx.pending(&group, &device);
    (group, pending)
}

/// A provisioner over `store` whose environment must not be called, an hour after the
/// fixtures' leases ran out.
fn provisioner(store: MockStore) -> Provisioner<MockStore, MockEnvironment> {
    let injected = Injected {
        clock: Arc::new(ManualClock::new(
            EPOCH.saturating_add(Duration::from_secs(3600)),
        )),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(1)),
    };
    Provisioner::with_parts(store, MockEnvironment::new(), injected, Config::default())
        .with_keys(dps_testkit::test_keys())
}

/// A store listing one stale pending device whose claim commit fails with `claim`.
fn store_whose_claim_fails(claim: StoreError) -> MockStore {
    let (group, pending) = stale_pending();
    let mut store = MockStore::new();
    let listed = pending.clone();
    store
        .expect_pending_devices()
        .times(1)
        .returning(move |_, _| Ok(vec![listed.clone()]));
    store
        .expect_group()
        .returning(move |_| Ok(Some(group.clone())));
    store
        .expect_commit()
        .times(1)
        .return_once(move |_| Err(claim));
    store
}

#[tokio::test]
async fn recover_leaves_out_a_device_another_instance_claimed_first() {
    let dps = provisioner(store_whose_claim_fails(StoreError::Conflict {
        entity: Entity::Device,
        key: "SN-1".to_owned(),
    }));
    let report = dps.recover().await.unwrap();
    assert!(
        report.completed.outcomes.is_empty(),
        "the other instance drives it: {:?}",
        report.completed.outcomes
    );
}

#[tokio::test]
async fn recover_leaves_out_a_device_deleted_since_it_was_listed() {
    let dps = provisioner(store_whose_claim_fails(StoreError::NotFound {
        entity: Entity::Device,
        key: "SN-1".to_owned(),
    }));
    let report = dps.recover().await.unwrap();
    assert!(
        report.completed.outcomes.is_empty(),
        "{:?}",
        report.completed.outcomes
    );
}

#[tokio::test]
async fn recover_reports_a_store_failure_while_claiming() {
    let dps = provisioner(store_whose_claim_fails(StoreError::Unavailable {
        message: "connection reset".to_owned(),
        source: None,
    }));
    let report = dps.recover().await.unwrap();
    assert_eq!(report.completed.outcomes.len(), 1);
    let outcome = &report.completed.outcomes[0];
    assert_eq!(outcome.serial, "SN-1");
    assert!(
        matches!(
            outcome.result,
            Err(Error::Store(StoreError::Unavailable { .. }))
        ),
        "{:?}",
        outcome.result
    );
}
