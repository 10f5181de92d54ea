//! The whole lifecycle through the Provisioner on a SQLite file, and again after reopening.

use std::sync::Arc;

use dps_core::{
    Config, EventCursor, Injected, NewDevice, NewGroup, NewSerial, Provisioner, ReplaceRequest,
    Selection, inject::ManualClock, inject::SeededSecrets, inject::SequentialIds,
    state::AllocationStatus,
};
use dps_store_sqlite::{SqliteOptions, SqliteStore};
use dps_testkit::{EPOCH, FakeEnvironment, Fixtures};

#[tokio::test]
async fn the_lifecycle_runs_on_sqlite_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dps.sqlite");
    let env = Arc::new(FakeEnvironment::with_target(&Fixtures::target(), &["m1"]));
    let injected = Injected {
        clock: Arc::new(ManualClock::new(EPOCH)),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(7)),
    };
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let dps = Provisioner::with_parts(store, Arc::clone(&env), injected, Config::default())
        .with_keys(dps_testkit::test_keys());
    let mut settings = NewGroup::new("g".parse().unwrap());
    settings.default_target = Some(Fixtures::target());
    let group = dps.create_group(settings).await.unwrap();
    for i in 0..300 {
        dps.register(
            group.id(),
            NewDevice::new(format!("SN-{i:04}").parse().unwrap(), "m1".parse().unwrap()),
        )
        .await
        .unwrap();
    }
    let report = dps.allocate(group.id(), &Selection::all()).await.unwrap();
    assert_eq!(report.succeeded(), 300);
    let replaced = dps
        .replace(
            group.id(),
            &"SN-0000".parse().unwrap(),
            ReplaceRequest {
                new_serial: NewSerial::Given("SN-NEW".parse().unwrap()),
                batch_tag: "rma".parse().unwrap(),
                description: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(replaced.status(), AllocationStatus::Allocated);
    let deleted = dps
        .delete(
            group.id(),
            &Selection::Serials(vec!["SN-0001".parse().unwrap()]),
        )
        .await
        .unwrap();
    assert_eq!(deleted.succeeded(), 1);
    drop(dps);

    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let dps = Provisioner::new(store, env).with_keys(dps_testkit::test_keys());
    let d = dps
        .device_by_serial(group.id(), &"SN-NEW".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(d.replacements().len(), 1);
    assert_eq!(
        dps.count(&dps_core::DeviceQuery::group(group.id()))
            .await
            .unwrap(),
        299
    );
    // group + 300 registered + 600 allocation + 2 replace + 2 delete
    let events = dps.events(EventCursor::START, usize::MAX).await.unwrap();
    assert_eq!(events.len(), 1 + 300 + 600 + 2 + 2);
}
