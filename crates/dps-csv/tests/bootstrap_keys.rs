//! The opt-in `Device Bootstrap Key` export column for factories.

use dps_core::{NewDevice, NewGroup, Provisioner, Selection};
use dps_csv::{ExportOptions, ImportOptions, export, import};
use dps_store_memory::InMemoryStore;
use dps_testkit::FakeEnvironment;

#[tokio::test]
async fn bootstrap_keys_are_exported_only_on_request_and_reimport_as_is() {
    let dps = Provisioner::new(InMemoryStore::new(), FakeEnvironment::new())
        .with_keys(dps_testkit::test_keys());
    let group = dps
        .create_group(NewGroup::new("factory".parse().unwrap()))
        .await
        .unwrap();
    for s in ["SN-1", "SN-2"] {
        dps.register(
            group.id(),
            NewDevice::new(s.parse().unwrap(), "m1".parse().unwrap()),
        )
        .await
        .unwrap();
    }

    let (plain, _) = export(
        &dps,
        group.id(),
        &Selection::all(),
        Vec::new(),
        &ExportOptions::default(),
    )
    .await
    .unwrap();
    let plain = String::from_utf8(plain).unwrap();
    assert!(!plain.contains("Device Bootstrap Key"));

    let options = ExportOptions::default().with_bootstrap_keys();
    let (keyed, summary) = export(&dps, group.id(), &Selection::all(), Vec::new(), &options)
        .await
        .unwrap();
    assert_eq!(summary.rows, 2);
    let keyed = String::from_utf8(keyed).unwrap();
    let mut lines = keyed.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "Device Bootstrap Key")
        .expect("the column is there");
    assert_eq!(header[col - 1], "Device Key", "right after the device key");
    let group = dps.group(group.id()).await.unwrap();
    for (line, serial) in lines.zip(["SN-1", "SN-2"]) {
        let cells: Vec<&str> = line.split(',').collect();
        let expected = dps_testkit::bootstrap_key(&group, &serial.parse().unwrap());
        // A key that starts with `+` is guarded against formula injection, as every cell is;
        // a reader takes it back with `unguard`.
        assert_eq!(
            dps_csv::formula::unguard(cells[col]),
            expected.expose_base64()
        );
    }

    // The column is read-only: the export re-imports with nothing to change.
    let again = import(
        &dps,
        group.id(),
        keyed.as_bytes(),
        &ImportOptions::default().upsert().dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(again.summary.unchanged, 2);
    assert_eq!(again.summary.failed, 0);
}

#[test]
fn a_device_writer_without_the_group_refuses_secrets_and_bootstrap_keys() {
    for options in [
        ExportOptions::default().with_bootstrap_keys(),
        ExportOptions::default().with_secrets(),
    ] {
        let err = dps_csv::DeviceWriter::new(
            Vec::new(),
            &dps_core::attribute::AttributeSchema::default(),
            &options,
        )
        .unwrap_err();
        let dps_csv::ExportError::Io(err) = err else {
            panic!("expected an I/O error, got {err:?}");
        };
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
