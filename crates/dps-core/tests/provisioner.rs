//! Scenario tests of the Provisioner over the in-memory store and the fake environment.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use dps_core::{
    AssetId, Credentials, Endpoints, Environment, EnvironmentError, ModelId, OnboardRequest,
    Onboarded, OperationId, SerialNumber, Target,
};
use dps_core::{
    Atomicity, DeviceEdit, DeviceFilter, DeviceQuery, Error, EventCursor, EventKind, GenerateSpec,
    ModelType, NewDevice, NewSerial, ReplaceRequest, ReprovisionMethod, Selection, Store,
    attribute::AttributeDef, attribute::AttributeSchema, attribute::AttributeType,
    attribute::AttributeValue, lifecycle::Outcome, state::AllocationStatus,
};
use dps_testkit::{CallKind, FakeEnvironment, Fault, Fixtures};

/// A replacement by hardware with serial `new`, batch tag `b`, no description.
fn replacement(new: &str) -> ReplaceRequest {
    ReplaceRequest {
        new_serial: NewSerial::Given(sn(new)),
        batch_tag: "b".parse().unwrap(),
        description: None,
    }
}

fn serials(list: &[&str]) -> Selection {
    Selection::Serials(list.iter().map(|s| sn(s)).collect())
}

#[tokio::test]
async fn allocate_onboards_and_records_one_event_per_commit() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A", "B"]).await;
    let report = w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    assert_eq!(report.succeeded(), 2);
    for o in &report.outcomes {
        assert!(matches!(
            o.result,
            Ok(Outcome::Settled {
                status: AllocationStatus::Allocated,
                ..
            })
        ));
    }
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    let alloc = a.state().allocated().unwrap();
    assert_eq!(alloc.target(), &Fixtures::target());
    assert_eq!(a.first_target(), Some(&Fixtures::target()));
    // Registered, AllocationStarted, Allocated: the version counts the commits.
    let events = w.dps.events(EventCursor::START, 100).await.unwrap();
    let of_a: Vec<_> = events
        .iter()
        .filter(|e| e.device_id == Some(a.id()))
        .map(|e| &e.kind)
        .collect();
    assert_eq!(of_a.len() as u64, a.version().get());
    assert!(matches!(of_a[0], EventKind::Registered));
    assert!(matches!(of_a[1], EventKind::AllocationStarted { .. }));
    assert!(matches!(of_a[2], EventKind::Allocated { .. }));
}

#[tokio::test]
async fn allocation_without_target_is_refused_without_writing() {
    let w = world();
    let mut settings = group_settings();
    settings.default_target = None;
    let group = group_with(&w, settings, &["A"]).await;
    let report = w.dps.allocate(group.id(), &serials(&["A"])).await.unwrap();
    let err = report.outcomes[0].result.as_ref().unwrap_err();
    assert_eq!(err.code(), "no_target");
    assert!(w.env.calls().is_empty(), "the environment was not asked");
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.version().get(), 1);
}

#[tokio::test]
async fn the_device_target_wins_over_the_group_default() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    let edit = DeviceEdit {
        target: Some(Some(Fixtures::other_target())),
        ..Default::default()
    };
    w.dps
        .edit_device(group.id(), &sn("A"), &edit)
        .await
        .unwrap();
    w.dps.allocate(group.id(), &serials(&["A"])).await.unwrap();
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(
        a.state().allocated().unwrap().target(),
        &Fixtures::other_target()
    );
}

#[tokio::test]
async fn a_missing_model_records_the_error_and_never_onboards() {
    let w = world();
    let group = w.dps.create_group(group_settings()).await.unwrap();
    w.dps
        .register(group.id(), NewDevice::new(sn("A"), "nope".parse().unwrap()))
        .await
        .unwrap();
    let report = w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    assert_eq!(
        report.outcomes[0].result.as_ref().unwrap_err().code(),
        "model_missing"
    );
    assert!(w.env.calls_of(CallKind::Onboard).is_empty());
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.status(), AllocationStatus::NotAllocated);
    assert_eq!(a.last_error().unwrap().code, "model_missing");
    let last = w.dps.events(EventCursor::START, 100).await.unwrap();
    assert!(matches!(
        last.last().unwrap().kind,
        EventKind::AllocationFailed {
            operation: None,
            ..
        }
    ));
}

#[tokio::test]
async fn a_rejected_onboard_leaves_the_device_not_allocated_with_its_error() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    w.env.fail_next(CallKind::Onboard, Fault::Rejected);
    let report = w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    assert_eq!(
        report.outcomes[0].result.as_ref().unwrap_err().code(),
        "environment_rejected"
    );
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.status(), AllocationStatus::NotAllocated);
    assert_eq!(a.last_error().unwrap().code, "environment_rejected");
    // The next allocation succeeds and clears the error.
    w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.status(), AllocationStatus::Allocated);
    assert!(a.last_error().is_none());
}

#[tokio::test]
async fn a_transient_failure_stays_pending_until_recover_completes_it_with_the_same_operation() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    w.env
        .fail_next(CallKind::Onboard, Fault::TransientAfterApply);
    let report = w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    assert_eq!(
        report.outcomes[0].result.as_ref().unwrap_err().code(),
        "environment_unavailable"
    );
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.status(), AllocationStatus::Pending);
    let op = a.state().pending().unwrap().operation();

    // Other operations are refused meanwhile.
    let r = w.dps.reset(group.id(), &Selection::all()).await.unwrap();
    assert_eq!(
        r.outcomes[0].result.as_ref().unwrap_err().code(),
        "operation_in_progress"
    );

    let recovered = w.dps.recover().await.unwrap();
    assert_eq!(recovered.completed.succeeded(), 1);
    let onboards = w.env.calls_of(CallKind::Onboard);
    assert_eq!(onboards.len(), 2);
    assert!(
        onboards.iter().all(|c| c.op == Some(op)),
        "same operation id"
    );
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.status(), AllocationStatus::Allocated);
    assert_eq!(w.env.assets().len(), 1, "no orphaned asset");
}

#[tokio::test]
async fn recover_leaves_operations_whose_lease_still_runs() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    // A driver that crashed after committing its intent: simulate with a pending fixture.
    let device = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    let op = dps_core::OperationId::from_uuid(dps_core::Uuid::from_u128(99));
    let now = dps_testkit::EPOCH;
    let lease = now.saturating_add(Duration::from_secs(60));
    let pending = dps_core::lifecycle::begin_allocate(&device, &group, op, now, lease)
        .unwrap()
        .pending
        .into_device();
    let mut cs = dps_core::Changeset::new();
    cs.push(dps_core::Change::UpdateDevice {
        expected: device.version(),
        device: pending,
    });
    w.store.commit(cs).await.unwrap();

    let report = w.dps.recover().await.unwrap();
    assert!(
        report.completed.outcomes.is_empty(),
        "the lease is still held"
    );
    assert_eq!(
        report.leased,
        dps_core::Leased {
            count: 1,
            earliest_expiry: Some(lease)
        },
        "the held lease is reported with its expiry"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["leased"]["count"], 1);
    assert_eq!(json["leased"]["earliest_expiry"], lease.unix_millis());
    assert_eq!(json["succeeded"], 0);
    assert!(w.env.calls_of(CallKind::Onboard).is_empty());

    w.clock.advance(Duration::from_secs(61));
    let report = w.dps.recover().await.unwrap();
    assert_eq!(report.completed.succeeded(), 1);
    assert_eq!(
        report.leased,
        dps_core::Leased::default(),
        "no lease is left"
    );
    let onboards = w.env.calls_of(CallKind::Onboard);
    assert_eq!(onboards.len(), 1);
    assert_eq!(onboards[0].op, Some(op));
}

#[tokio::test]
async fn reset_follows_the_reprovision_method() {
    let w = world();
    let schema = AttributeSchema::new(vec![
        AttributeDef::new("floor".parse().unwrap(), AttributeType::Integer)
            .with_default(AttributeValue::Integer(0)),
    ])
    .unwrap();
    for (method, expect_floor) in [
        (ReprovisionMethod::Migrate, Some(5)),
        (ReprovisionMethod::Initialize, Some(0)),
    ] {
        let mut settings = group_settings();
        settings.reprovision = method;
        settings.attributes = schema.clone();
        let group = w.dps.create_group(settings).await.unwrap();
        let mut new = NewDevice::new(sn("A"), "m1".parse().unwrap());
        new.attributes
            .insert("floor".parse().unwrap(), AttributeValue::Integer(5));
        w.dps.register(group.id(), new).await.unwrap();
        w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
        let r = w.dps.reset(group.id(), &Selection::all()).await.unwrap();
        assert!(r.all_succeeded(), "{method}: {r:?}");
        let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
        assert_eq!(a.status(), AllocationStatus::NotAllocated);
        let dps_core::state::AllocationState::NotAllocated(na) = a.state() else {
            panic!("not reset");
        };
        assert!(na.reprovisioned());
        assert_eq!(
            a.attributes().get("floor").cloned(),
            expect_floor.map(AttributeValue::Integer),
            "{method}"
        );
    }

    let mut settings = group_settings();
    settings.reprovision = ReprovisionMethod::Disabled;
    let group = group_with(&w, settings, &["A"]).await;
    w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    let r = w.dps.reset(group.id(), &Selection::all()).await.unwrap();
    assert_eq!(
        r.outcomes[0].result.as_ref().unwrap_err().code(),
        "reprovision_disabled"
    );
}

#[tokio::test]
async fn a_private_model_device_is_only_reallocated_to_its_first_target() {
    let w = world();
    let mut settings = group_settings();
    settings.model_type = ModelType::Private;
    let group = group_with(&w, settings, &["A"]).await;
    w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    w.dps.reset(group.id(), &Selection::all()).await.unwrap();
    let edit = DeviceEdit {
        target: Some(Some(Fixtures::other_target())),
        ..Default::default()
    };
    w.dps
        .edit_device(group.id(), &sn("A"), &edit)
        .await
        .unwrap();
    let r = w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    assert_eq!(
        r.outcomes[0].result.as_ref().unwrap_err().code(),
        "private_model_target"
    );
    let edit = DeviceEdit {
        target: Some(None),
        ..Default::default()
    };
    w.dps
        .edit_device(group.id(), &sn("A"), &edit)
        .await
        .unwrap();
    let r = w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    assert!(r.all_succeeded());
}

#[tokio::test]
async fn reallocation_to_another_target_gives_new_identity_and_credentials() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    let first = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    w.dps.reset(group.id(), &Selection::all()).await.unwrap();
    let edit = DeviceEdit {
        target: Some(Some(Fixtures::other_target())),
        ..Default::default()
    };
    w.dps
        .edit_device(group.id(), &sn("A"), &edit)
        .await
        .unwrap();
    w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    let second = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    let (a, b) = (
        first.state().allocated().unwrap(),
        second.state().allocated().unwrap(),
    );
    assert_ne!(a.asset_id(), b.asset_id());
    assert_ne!(a.credentials().product_key, b.credentials().product_key);
    assert_ne!(a.credentials().device_secret, b.credentials().device_secret);
}

#[tokio::test]
async fn replace_keeps_the_asset_and_reissues_key_and_secret() {
    let w = world();
    let group = group_with(&w, group_settings(), &["OLD", "TAKEN"]).await;
    w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    let before = w
        .dps
        .device_by_serial(group.id(), &sn("OLD"))
        .await
        .unwrap();

    let taken = w
        .dps
        .replace(
            group.id(),
            &sn("OLD"),
            ReplaceRequest {
                new_serial: NewSerial::Given(sn("TAKEN")),
                batch_tag: "b9".parse().unwrap(),
                description: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(taken.code(), "already_registered");

    let after = w
        .dps
        .replace(
            group.id(),
            &sn("OLD"),
            ReplaceRequest {
                new_serial: NewSerial::Given(sn("NEW")),
                batch_tag: "b9".parse().unwrap(),
                description: Some("swapped".parse().unwrap()),
            },
        )
        .await
        .unwrap();
    assert_eq!(after.id(), before.id());
    assert_eq!(after.serial(), &sn("NEW"));
    assert_eq!(after.batch_tag().unwrap().as_str(), "b9");
    let (a, b) = (
        before.state().allocated().unwrap(),
        after.state().allocated().unwrap(),
    );
    assert_eq!(a.asset_id(), b.asset_id());
    assert_ne!(a.credentials().device_key, b.credentials().device_key);
    assert_ne!(a.credentials().device_secret, b.credentials().device_secret);
    assert_eq!(after.replacements().len(), 1);
    assert_eq!(after.replacements()[0].old_serial, sn("OLD"));
    let reissues = w.env.calls_of(CallKind::Reissue);
    assert_eq!(reissues.len(), 1);
    assert_eq!(reissues[0].asset.as_ref(), Some(a.asset_id()));
    // The old serial is free again.
    w.dps
        .register(group.id(), NewDevice::new(sn("OLD"), "m1".parse().unwrap()))
        .await
        .unwrap();

    // A generated serial works too.
    let generated = w
        .dps
        .replace(
            group.id(),
            &sn("NEW"),
            ReplaceRequest {
                new_serial: NewSerial::Generated,
                batch_tag: "b10".parse().unwrap(),
                description: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(generated.serial().as_str().len(), 16);
}

/// An environment that, while a replacement is pending, registers another device under the
/// replaced hardware's serial, then refuses the replacement.
#[derive(Debug)]
struct ReRegistersTheOldSerial {
    inner: Arc<FakeEnvironment>,
    other: Dps,
    group: std::sync::OnceLock<dps_core::GroupId>,
}

#[async_trait::async_trait]
impl Environment for ReRegistersTheOldSerial {
    async fn model_exists(&self, t: &Target, m: &ModelId) -> Result<bool, EnvironmentError> {
        self.inner.model_exists(t, m).await
    }
    async fn onboard(
        &self,
        op: OperationId,
        t: &Target,
        d: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        self.inner.onboard(op, t, d).await
    }
    async fn offboard(
        &self,
        op: OperationId,
        t: &Target,
        a: &AssetId,
    ) -> Result<(), EnvironmentError> {
        self.inner.offboard(op, t, a).await
    }
    async fn reissue(
        &self,
        _op: OperationId,
        _t: &Target,
        _a: &AssetId,
        _new: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        let group = *self.group.get().expect("the test sets the group first");
        self.other
            .register(group, NewDevice::new(sn("OLD"), "m1".parse().unwrap()))
            .await
            .expect("the old serial is free while the replacement is pending");
        Err(EnvironmentError::rejected(
            "no credentials for this hardware",
        ))
    }
    async fn endpoints(&self, t: &Target) -> Result<Endpoints, EnvironmentError> {
        self.inner.endpoints(t).await
    }
}

#[tokio::test]
async fn a_rejected_replacement_whose_old_serial_was_taken_settles_under_the_new_serial() {
    let w = world();
    // Two provisioners over one store, as two instances of a service: the environment of
    // the first registers through the second.
    let injected = |first_id| dps_core::Injected {
        clock: w.clock.clone(),
        ids: Arc::new(dps_core::inject::SequentialIds::new(first_id)),
        secrets: Arc::new(dps_core::inject::SeededSecrets::new(first_id)),
    };
    let other = dps_core::Provisioner::with_parts(
        Arc::clone(&w.store),
        Arc::clone(&w.env),
        injected(1_000),
        dps_core::Config::default(),
    )
    .with_keys(dps_testkit::test_keys());
    let env = ReRegistersTheOldSerial {
        inner: Arc::clone(&w.env),
        other,
        group: std::sync::OnceLock::new(),
    };
    let dps = dps_core::Provisioner::with_parts(
        Arc::clone(&w.store),
        env,
        injected(2_000),
        dps_core::Config::default(),
    )
    .with_keys(dps_testkit::test_keys());
    let group = group_with(&w, group_settings(), &["OLD"]).await;
    dps.environment().group.set(group.id()).unwrap();
    dps.allocate(group.id(), &Selection::all()).await.unwrap();
    let before = dps.device_by_serial(group.id(), &sn("OLD")).await.unwrap();

    let err = dps
        .replace(group.id(), &sn("OLD"), replacement("NEW"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "environment_rejected");

    // The device is settled, not pending: back to its allocation and credentials, under the
    // serial it reserved, with the refusal recorded.
    let d = dps.device(before.id()).await.unwrap();
    assert_eq!(d.serial(), &sn("NEW"));
    assert_eq!(d.status(), AllocationStatus::Allocated);
    assert_eq!(d.state().allocated(), before.state().allocated());
    assert_eq!(
        d.last_error().map(|e| e.code.as_str()),
        Some("environment_rejected")
    );
    assert!(d.replacements().is_empty(), "no replacement happened");
    // The other device holds the old serial.
    let other = dps.device_by_serial(group.id(), &sn("OLD")).await.unwrap();
    assert_ne!(other.id(), d.id());
    // Nothing is left for recovery, and each commit has its event.
    assert!(dps.recover().await.unwrap().completed.outcomes.is_empty());
    let events = dps.events(EventCursor::START, 100).await.unwrap();
    let of_d = events
        .iter()
        .filter(|e| e.device_id == Some(d.id()))
        .count();
    assert_eq!(of_d as u64, d.version().get());
}

#[tokio::test]
async fn a_rejected_replacement_restores_the_old_serial() {
    let w = world();
    let group = group_with(&w, group_settings(), &["OLD"]).await;
    w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    w.env.fail_next(CallKind::Reissue, Fault::Rejected);
    let err = w
        .dps
        .replace(group.id(), &sn("OLD"), replacement("NEW"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "environment_rejected");
    let d = w
        .dps
        .device_by_serial(group.id(), &sn("OLD"))
        .await
        .unwrap();
    assert_eq!(d.status(), AllocationStatus::Allocated);
    assert!(d.replacements().is_empty());
}

#[tokio::test]
async fn delete_offboards_allocated_devices_and_reports_unknown_ones() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A", "B"]).await;
    w.dps.allocate(group.id(), &serials(&["A"])).await.unwrap();
    let r = w
        .dps
        .delete(group.id(), &serials(&["A", "B", "GHOST"]))
        .await
        .unwrap();
    assert!(matches!(r.outcomes[0].result, Ok(Outcome::Deleted)));
    assert!(matches!(r.outcomes[1].result, Ok(Outcome::Deleted)));
    assert_eq!(
        r.outcomes[2].result.as_ref().unwrap_err().code(),
        "not_found"
    );
    assert_eq!(w.env.calls_of(CallKind::Offboard).len(), 1);
    assert!(w.env.assets().is_empty());
    assert_eq!(
        w.dps.count(&DeviceQuery::group(group.id())).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn a_group_with_devices_is_deleted_only_with_cascade() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A", "B"]).await;
    w.dps.allocate(group.id(), &serials(&["A"])).await.unwrap();
    let err = w.dps.delete_group(group.id(), false).await.unwrap_err();
    assert_eq!(err.code(), "group_not_empty");
    let report = w.dps.delete_group(group.id(), true).await.unwrap();
    assert_eq!(report.succeeded(), 2);
    assert_eq!(
        w.dps.group(group.id()).await.unwrap_err().code(),
        "not_found"
    );
}

#[tokio::test]
async fn register_many_reports_per_device_and_honours_all_or_nothing() {
    let w = world();
    let group = group_with(&w, group_settings(), &["EXISTS"]).await;
    let batch = |list: &[&str]| -> Vec<NewDevice> {
        list.iter()
            .map(|s| NewDevice::new(sn(s), "m1".parse().unwrap()))
            .collect()
    };
    let report = w
        .dps
        .register_many(
            group.id(),
            batch(&["A", "EXISTS", "B", "A"]),
            Atomicity::AllOrNothing,
        )
        .await
        .unwrap();
    assert!(!report.committed);
    assert_eq!(report.rejected(), 2);
    assert_eq!(report.registered(), 0);
    assert_eq!(
        w.dps.count(&DeviceQuery::group(group.id())).await.unwrap(),
        1
    );

    let report = w
        .dps
        .register_many(
            group.id(),
            batch(&["A", "EXISTS", "B", "A"]),
            Atomicity::BestEffort,
        )
        .await
        .unwrap();
    assert!(report.committed);
    assert_eq!(report.registered(), 2);
    let codes: Vec<_> = report
        .outcomes
        .iter()
        .map(|o| o.as_ref().err().map(Error::code))
        .collect();
    assert_eq!(
        codes,
        vec![
            None,
            Some("already_registered"),
            None,
            Some("already_registered")
        ]
    );
    assert_eq!(
        w.dps.count(&DeviceQuery::group(group.id())).await.unwrap(),
        3
    );
}

#[tokio::test]
async fn register_checks_the_attribute_schema() {
    let w = world();
    let mut settings = group_settings();
    settings.attributes = AttributeSchema::new(vec![
        AttributeDef::new("floor".parse().unwrap(), AttributeType::Integer).required(),
    ])
    .unwrap();
    let group = w.dps.create_group(settings).await.unwrap();
    let err = w
        .dps
        .register(group.id(), NewDevice::new(sn("A"), "m1".parse().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "missing_required");
    let mut new = NewDevice::new(sn("A"), "m1".parse().unwrap());
    new.attributes
        .insert("floor".parse().unwrap(), AttributeValue::String("x".into()));
    let err = w.dps.register(group.id(), new).await.unwrap_err();
    assert_eq!(err.code(), "invalid_attribute");
}

#[tokio::test]
async fn generate_registers_devices_with_system_serials() {
    let w = world();
    let group = w.dps.create_group(group_settings()).await.unwrap();
    let report = w
        .dps
        .generate(
            group.id(),
            50,
            GenerateSpec {
                model_id: "m1".parse().unwrap(),
                batch_tag: Some("gen".parse().unwrap()),
            },
        )
        .await
        .unwrap();
    assert_eq!(report.registered(), 50);
    let query = DeviceQuery::new(
        group.id(),
        DeviceFilter {
            batch_tag: Some("gen".parse().unwrap()),
            ..Default::default()
        },
    );
    assert_eq!(w.dps.count(&query).await.unwrap(), 50);
}

#[tokio::test]
async fn edits_check_versions_and_pending_states() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    let stale = DeviceEdit {
        name: Some(Some("x".parse().unwrap())),
        expected_version: Some(dps_core::Version::new(7)),
        ..Default::default()
    };
    assert_eq!(
        w.dps
            .edit_device(group.id(), &sn("A"), &stale)
            .await
            .unwrap_err()
            .code(),
        "conflict"
    );
    let ok = DeviceEdit {
        name: Some(Some("x".parse().unwrap())),
        expected_version: Some(dps_core::Version::new(1)),
        ..Default::default()
    };
    let d = w.dps.edit_device(group.id(), &sn("A"), &ok).await.unwrap();
    assert_eq!(d.name().unwrap().as_str(), "x");
    assert_eq!(d.version().get(), 2);
}

#[tokio::test]
async fn listing_pages_by_serial_with_a_cursor() {
    let w = world();
    let group = group_with(&w, group_settings(), &["C", "A", "B", "D", "E"]).await;
    let query = DeviceQuery::group(group.id());
    let first = w.dps.devices(&query, None, 2).await.unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|d| d.serial().as_str())
            .collect::<Vec<_>>(),
        ["A", "B"]
    );
    let second = w.dps.devices(&query, first.next, 2).await.unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|d| d.serial().as_str())
            .collect::<Vec<_>>(),
        ["C", "D"]
    );
    let third = w.dps.devices(&query, second.next, 2).await.unwrap();
    assert_eq!(third.items.len(), 1);
    assert_eq!(third.next, None);
}

#[tokio::test]
async fn batch_filters_select_devices() {
    let w = world();
    let group = group_with(&w, group_settings(), &["X-1", "X-2", "Y-1"]).await;
    let filter = DeviceFilter {
        serial_prefix: Some(sn("X-")),
        ..Default::default()
    };
    let r = w
        .dps
        .allocate(group.id(), &Selection::Filter(filter))
        .await
        .unwrap();
    assert_eq!(r.succeeded(), 2);
    let allocated = DeviceQuery::new(
        group.id(),
        DeviceFilter {
            status: Some(AllocationStatus::Allocated),
            ..Default::default()
        },
    );
    assert_eq!(w.dps.count(&allocated).await.unwrap(), 2);
}

#[test]
fn provisioner_futures_are_send_so_multi_threaded_servers_can_spawn_them() {
    fn assert_send<T: Send>(_: &T) {}
    let w = world();
    let group = Fixtures::new().group("g");
    let id = group.id();
    let all = Selection::all();
    let some = serials(&["A", "B"]);
    assert_send(&w.dps.allocate(id, &all));
    assert_send(&w.dps.allocate(id, &some));
    assert_send(&w.dps.reset(id, &all));
    assert_send(&w.dps.reset(id, &some));
    assert_send(&w.dps.delete(id, &all));
    assert_send(&w.dps.delete(id, &some));
    assert_send(&w.dps.delete_group(id, true));
    assert_send(&w.dps.register_many(id, Vec::new(), Atomicity::BestEffort));
    assert_send(&w.dps.replace(id, &sn("A"), replacement("B")));
    assert_send(&w.dps.recover());
}

#[tokio::test]
async fn replace_many_replaces_a_page_and_reports_each_refusal() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A", "B", "C", "D", "FREE"]).await;
    w.dps
        .allocate(group.id(), &serials(&["A", "B", "C", "D"]))
        .await
        .unwrap();
    let before = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    let report = w
        .dps
        .replace_many(
            group.id(),
            vec![
                (sn("A"), replacement("A2")),
                (sn("GHOST"), replacement("G2")),
                (sn("B"), replacement("FREE")),
                (sn("C"), replacement("SAME")),
                (sn("D"), replacement("SAME")),
                (sn("FREE"), replacement("F2")),
            ],
        )
        .await
        .unwrap();
    let codes: Vec<(&str, Option<&str>)> = report
        .outcomes
        .iter()
        .map(|o| (o.serial.as_str(), o.result.as_ref().err().map(|e| e.code())))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("A", None),
            ("GHOST", Some("not_found")),
            ("B", Some("already_registered")),
            ("C", None),
            ("D", Some("already_registered")),
            ("FREE", Some("invalid_state")),
        ],
        "each device is reported by its current serial, in order"
    );
    let after = w.dps.device(before.id()).await.unwrap();
    assert_eq!(after.serial(), &sn("A2"));
    assert_eq!(
        after.state().allocated().unwrap().asset_id(),
        before.state().allocated().unwrap().asset_id(),
        "the asset stays"
    );
    assert_eq!(
        w.dps
            .device_by_serial(group.id(), &sn("SAME"))
            .await
            .unwrap()
            .id(),
        report.outcomes[3].device_id.unwrap(),
        "the first replacement to a serial takes it"
    );
    assert_eq!(
        w.env.calls_of(CallKind::Reissue).len(),
        2,
        "only the replaced were reissued"
    );
    let d = w.dps.device_by_serial(group.id(), &sn("D")).await.unwrap();
    assert_eq!(
        d.status(),
        AllocationStatus::Allocated,
        "a refused replacement changes nothing"
    );
}
