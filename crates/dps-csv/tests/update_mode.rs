//! Update mode: an edited export updates its devices and can never create one.

mod common;

use common::{dps, group, rt, schema};
use dps_core::{DeviceQuery, NewDevice, SerialNumber, import::ImportAction, import::ImportMode};
use dps_csv::{ImportOptions, import};

fn sn(s: &str) -> SerialNumber {
    s.parse().unwrap()
}

const FILE: &str = "Device Serial No.,Model ID,Device Name\n000123,m1,Renamed\n123,m1,Mangled\n";

#[test]
fn update_options_select_update_mode() {
    assert_eq!(ImportOptions::default().update().mode, ImportMode::Update);
}

#[test]
fn an_unknown_serial_is_refused_and_nothing_is_created() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Update", schema()).await;
        dps.register(g.id(), NewDevice::new(sn("000123"), "m1".parse().unwrap()))
            .await
            .unwrap();
        let report = import(
            &dps,
            g.id(),
            FILE.as_bytes(),
            &ImportOptions::default().update(),
        )
        .await
        .unwrap();
        let got: Vec<_> = report
            .rows
            .iter()
            .map(|r| (r.line, r.result.as_ref().map(|a| *a).map_err(|e| e.code)))
            .collect();
        assert_eq!(
            got,
            vec![(2, Ok(ImportAction::Update)), (3, Err("unknown_serial"))]
        );
        let e = report.errors().next().unwrap();
        assert_eq!(e.column.as_deref(), Some("Device Serial No."));
        assert_eq!(e.value, "123");
        assert!(e.message.contains("not registered"), "{}", e.message);
        assert_eq!(
            dps.count(&DeviceQuery::new(g.id(), Default::default()))
                .await
                .unwrap(),
            1,
            "no device was created"
        );
        let d = dps.device_by_serial(g.id(), &sn("000123")).await.unwrap();
        assert_eq!(d.name().map(|n| n.to_string()).as_deref(), Some("Renamed"));
        assert!(dps.device_by_serial(g.id(), &sn("123")).await.is_err());
    });
}

#[test]
fn an_all_or_nothing_update_with_an_unknown_serial_writes_nothing() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Update", schema()).await;
        dps.register(g.id(), NewDevice::new(sn("000123"), "m1".parse().unwrap()))
            .await
            .unwrap();
        let options = ImportOptions::default().update().all_or_nothing();
        let report = import(&dps, g.id(), FILE.as_bytes(), &options)
            .await
            .unwrap();
        assert!(!report.summary.committed);
        assert_eq!((report.summary.updated, report.summary.failed), (1, 1));
        let d = dps.device_by_serial(g.id(), &sn("000123")).await.unwrap();
        assert_eq!(d.name(), None, "the update did not land");
    });
}

#[test]
fn the_core_planner_refuses_unknown_serials_in_update_mode() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Core", schema()).await;
        let record = dps_core::import::ImportRecord {
            device: NewDevice::new(sn("SN-9"), "m1".parse().unwrap()),
            expected_version: None,
        };
        let plan = dps
            .plan_import(&g, vec![record], ImportMode::Update, &Default::default())
            .await
            .unwrap();
        let codes: Vec<_> = plan
            .outcomes()
            .iter()
            .map(|o| o.as_ref().map_err(|e| e.code()).copied())
            .collect();
        assert_eq!(codes, vec![Err("unknown_serial")]);
    });
}
