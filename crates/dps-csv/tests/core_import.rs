//! The bulk import API of dps-core (`Provisioner::plan_import` and `apply_import`) that
//! the CSV importer runs on, including races with other writers between plan and apply.

use std::sync::Arc;

use dps_store_memory::InMemoryStore;
use dps_testkit::{EPOCH, FakeEnvironment};

use dps_core::{
    Atomicity, Config, DeviceEdit, DeviceQuery, Error, Injected, NewDevice, NewGroup, Provisioner,
    Result, import::ImportAction, import::ImportFields, import::ImportMode, import::ImportRecord,
    inject::ManualClock, inject::SeededSecrets, inject::SequentialIds,
};

type Dps = Provisioner<Arc<InMemoryStore>, FakeEnvironment>;

fn dps() -> Dps {
    let injected = Injected {
        clock: Arc::new(ManualClock::new(EPOCH)),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(1)),
    };
    Provisioner::with_parts(
        Arc::new(InMemoryStore::new()),
        FakeEnvironment::new(),
        injected,
        Config::default().with_chunk_size(10),
    )
    .with_keys(dps_testkit::test_keys())
}

fn record(serial: &str, model: &str) -> ImportRecord {
    ImportRecord::new(NewDevice::new(
        serial.parse().unwrap(),
        model.parse().unwrap(),
    ))
}

fn codes(outcomes: &[Result<ImportAction>]) -> Vec<std::result::Result<ImportAction, &str>> {
    outcomes
        .iter()
        .map(|o| o.as_ref().map(|a| *a).map_err(Error::code))
        .collect()
}

#[tokio::test]
async fn a_plan_raced_by_other_writers_gives_each_change_its_own_outcome() {
    let dps = dps();
    let group = dps
        .create_group(NewGroup::new("g".parse().unwrap()))
        .await
        .unwrap();
    dps.register(group.id(), record("A", "m1").device)
        .await
        .unwrap();
    dps.register(group.id(), record("B", "m1").device)
        .await
        .unwrap();
    let fields = ImportFields::all(group.attributes());
    let records = vec![record("A", "m2"), record("B", "m2"), record("C", "m1")];
    let plan = dps
        .plan_import(&group, records.clone(), ImportMode::Upsert, &fields)
        .await
        .unwrap();
    assert_eq!(
        codes(plan.outcomes()),
        vec![
            Ok(ImportAction::Update),
            Ok(ImportAction::Update),
            Ok(ImportAction::Create)
        ]
    );
    // Another writer edits A and registers C after the plan was made.
    let edit = DeviceEdit {
        batch_tag: Some(Some("other".parse().unwrap())),
        ..DeviceEdit::default()
    };
    dps.edit_device(group.id(), &"A".parse().unwrap(), &edit)
        .await
        .unwrap();
    dps.register(group.id(), record("C", "m1").device)
        .await
        .unwrap();

    // All or nothing: the commit fails and nothing of the plan lands.
    let again = dps
        .plan_import(&group, records.clone(), ImportMode::Upsert, &fields)
        .await
        .unwrap();
    assert_eq!(again.refused(), 0);
    dps.edit_device(group.id(), &"B".parse().unwrap(), &edit)
        .await
        .unwrap();
    let err = dps
        .apply_import(again, Atomicity::AllOrNothing)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict");
    let b = dps
        .device_by_serial(group.id(), &"B".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(b.model_id(), "m1");

    // Best effort: each change is retried alone and gets its own outcome.
    let applied = dps.apply_import(plan, Atomicity::BestEffort).await.unwrap();
    assert_eq!(
        codes(&applied.outcomes),
        vec![Err("conflict"), Err("conflict"), Err("already_registered")]
    );
    assert_eq!(dps.count(&DeviceQuery::group(group.id())).await.unwrap(), 3);
}

#[tokio::test]
async fn create_mode_refuses_existing_and_repeated_serials() {
    let dps = dps();
    let group = dps
        .create_group(NewGroup::new("g".parse().unwrap()))
        .await
        .unwrap();
    dps.register(group.id(), record("A", "m1").device)
        .await
        .unwrap();
    let plan = dps
        .plan_import(
            &group,
            vec![record("A", "m1"), record("B", "m1"), record("B", "m2")],
            ImportMode::Create,
            &ImportFields::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(plan.outcomes()),
        vec![
            Err("already_registered"),
            Ok(ImportAction::Create),
            Err("already_registered")
        ]
    );
    let applied = dps
        .apply_import(plan, Atomicity::AllOrNothing)
        .await
        .unwrap();
    assert!(!applied.committed);
    assert_eq!(dps.count(&DeviceQuery::group(group.id())).await.unwrap(), 1);
}
