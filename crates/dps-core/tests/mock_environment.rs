//! The conversation with the Environment, pinned with mockall.

use std::sync::{Arc, Mutex};

use dps_core::{
    AssetId, Config, Credentials, EnvironmentError, EventCursor, EventKind, Injected, Key,
    MockEnvironment, NewDevice, NewGroup, NewSerial, Onboarded, OperationId, Provisioner,
    ReplaceRequest, Secret, Selection, SerialNumber, Target, inject::ManualClock,
    inject::SeededSecrets, inject::SequentialIds, state::AllocationStatus,
};
use dps_store_memory::InMemoryStore;
use dps_testkit::EPOCH;
use mockall::Sequence;
use mockall::predicate::eq;

fn target() -> Target {
    "prod/acme".parse().unwrap()
}

fn sn(s: &str) -> SerialNumber {
    s.parse().unwrap()
}

fn onboarded(n: u32) -> Onboarded {
    Onboarded {
        asset_id: AssetId::new("asset-1").unwrap(),
        credentials: credentials(n),
    }
}

fn credentials(n: u32) -> Credentials {
    Credentials {
        product_key: Key::new("pk").unwrap(),
        device_key: Key::new(format!("dk-{n}")).unwrap(),
        device_secret: Secret::new(format!("secret-{n}")).unwrap(),
    }
}

async fn setup(
    env: MockEnvironment,
) -> (
    Provisioner<Arc<InMemoryStore>, MockEnvironment>,
    dps_core::GroupId,
) {
    let injected = Injected {
        clock: Arc::new(ManualClock::new(EPOCH)),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(1)),
    };
    let dps = Provisioner::with_parts(
        Arc::new(InMemoryStore::new()),
        env,
        injected,
        Config::default(),
    )
    .with_keys(dps_testkit::test_keys());
    let mut settings = NewGroup::new("g".parse().unwrap());
    settings.default_target = Some(target());
    let group = dps.create_group(settings).await.unwrap();
    dps.register(group.id(), NewDevice::new(sn("A"), "m1".parse().unwrap()))
        .await
        .unwrap();
    (dps, group.id())
}

/// The operation ids that the event log records for the device's started operations.
async fn started_ops(dps: &Provisioner<Arc<InMemoryStore>, MockEnvironment>) -> Vec<OperationId> {
    dps.events(EventCursor::START, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::AllocationStarted { operation, .. }
            | EventKind::ResetStarted { operation }
            | EventKind::ReplaceStarted { operation, .. }
            | EventKind::DeleteStarted { operation } => Some(operation),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn allocate_asks_model_exists_then_onboards_with_the_pending_operation() {
    let mut env = MockEnvironment::new();
    let mut seq = Sequence::new();
    let seen = Arc::new(Mutex::new(None));
    env.expect_model_exists()
        .with(eq(target()), eq("m1".parse::<dps_core::ModelId>().unwrap()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(true));
    let seen_in = Arc::clone(&seen);
    env.expect_onboard()
        .withf(|_, t, d| t == &target() && d.serial.as_str() == "A")
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |op, _, _| {
            *seen_in.lock().unwrap() = Some(op);
            Ok(onboarded(1))
        });
    let (dps, group) = setup(env).await;
    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert!(report.all_succeeded());
    let op = seen.lock().unwrap().expect("onboard was called");
    assert_eq!(
        started_ops(&dps).await,
        vec![op],
        "onboard got the committed operation id"
    );
    let d = dps.device_by_serial(group, &sn("A")).await.unwrap();
    assert_eq!(d.status(), AllocationStatus::Allocated);
}

#[tokio::test]
async fn a_missing_model_never_calls_onboard() {
    let mut env = MockEnvironment::new();
    env.expect_model_exists()
        .times(1)
        .returning(|_, _| Ok(false));
    env.expect_onboard().never();
    let (dps, group) = setup(env).await;
    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert_eq!(
        report.outcomes[0].result.as_ref().unwrap_err().code(),
        "model_missing"
    );
}

#[tokio::test]
async fn reset_calls_offboard_with_the_asset() {
    let mut env = MockEnvironment::new();
    env.expect_model_exists().returning(|_, _| Ok(true));
    env.expect_onboard()
        .times(1)
        .returning(|_, _, _| Ok(onboarded(1)));
    let seen = Arc::new(Mutex::new(None));
    let seen_in = Arc::clone(&seen);
    env.expect_offboard()
        .withf(|_, t, a| t == &target() && a.as_str() == "asset-1")
        .times(1)
        .returning(move |op, _, _| {
            *seen_in.lock().unwrap() = Some(op);
            Ok(())
        });
    let (dps, group) = setup(env).await;
    dps.allocate(group, &Selection::all()).await.unwrap();
    let report = dps.reset(group, &Selection::all()).await.unwrap();
    assert!(report.all_succeeded());
    let ops = started_ops(&dps).await;
    assert_eq!(Some(ops[1]), *seen.lock().unwrap());
}

#[tokio::test]
async fn replace_calls_reissue_and_keeps_the_asset() {
    let mut env = MockEnvironment::new();
    env.expect_model_exists().returning(|_, _| Ok(true));
    env.expect_onboard()
        .times(1)
        .returning(|_, _, _| Ok(onboarded(1)));
    env.expect_reissue()
        .withf(|_, t, a, s| t == &target() && a.as_str() == "asset-1" && s.as_str() == "B")
        .times(1)
        .returning(|_, _, _, _| Ok(credentials(2)));
    env.expect_offboard().never();
    let (dps, group) = setup(env).await;
    dps.allocate(group, &Selection::all()).await.unwrap();
    let d = dps
        .replace(
            group,
            &sn("A"),
            ReplaceRequest {
                new_serial: NewSerial::Given(sn("B")),
                batch_tag: "t".parse().unwrap(),
                description: None,
            },
        )
        .await
        .unwrap();
    let a = d.state().allocated().unwrap();
    assert_eq!(a.asset_id().as_str(), "asset-1");
    assert_eq!(dps.credentials(&d).unwrap(), Some(credentials(2)));
    assert!(a.credentials().device_secret.is_sealed());
}

#[tokio::test]
async fn a_transient_failure_stays_pending_and_recover_reuses_the_operation() {
    let mut env = MockEnvironment::new();
    env.expect_model_exists().returning(|_, _| Ok(true));
    let ops = Arc::new(Mutex::new(Vec::new()));
    let ops_in = Arc::clone(&ops);
    let mut calls = 0;
    env.expect_onboard().times(2).returning(move |op, _, _| {
        ops_in.lock().unwrap().push(op);
        calls += 1;
        if calls == 1 {
            Err(EnvironmentError::transient("timeout"))
        } else {
            Ok(onboarded(1))
        }
    });
    let (dps, group) = setup(env).await;
    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert_eq!(
        report.outcomes[0].result.as_ref().unwrap_err().code(),
        "environment_unavailable"
    );
    let d = dps.device_by_serial(group, &sn("A")).await.unwrap();
    assert_eq!(d.status(), AllocationStatus::Pending);
    let recovered = dps.recover().await.unwrap();
    assert!(recovered.completed.all_succeeded());
    let ops = ops.lock().unwrap().clone();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0], ops[1], "recover re-drove the same operation id");
    let d = dps.device_by_serial(group, &sn("A")).await.unwrap();
    assert_eq!(d.status(), AllocationStatus::Allocated);
}
