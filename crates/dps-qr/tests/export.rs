//! `export_zip` over a `Provisioner`: selections, paging, one outcome per device.

mod common;

use common::{SERIALS, check_labels, decode_png, manifest_rows, world, zip_entries};
use dps_core::{BatchTag, DeviceFilter, GroupId, Selection};
use dps_qr::{ArchiveOptions, MANIFEST_NAME, Payload, RenderOptions, export_zip};

#[tokio::test]
async fn all_devices_page_through_in_serial_order() {
    let (dps, group) = world(&SERIALS).await;
    let mut zip = Vec::new();
    let report = export_zip(
        &dps,
        group,
        &Selection::all(),
        &mut zip,
        ArchiveOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.all_succeeded());
    let expected = [
        ("CON", "_CON.png"),
        ("SN-1", "SN-1.png"),
        ("SN-3", "SN-3.png"),
        ("SN-5", "SN-5.png"),
        ("SN-7", "SN-7.png"),
        ("a:b", "a_b.png"),
        ("a_b", "a_b-2.png"),
        ("sn-1", "sn-1-2.png"),
    ];
    let got: Vec<(&str, &str)> = report
        .outcomes
        .iter()
        .map(|o| (o.serial.as_str(), o.result.as_deref().unwrap()))
        .collect();
    assert_eq!(got, expected);

    let entries = zip_entries(&zip);
    assert_eq!(entries.len(), expected.len() + 1);
    assert_eq!(entries.last().unwrap().0, MANIFEST_NAME);
    let rows = manifest_rows(&entries.last().unwrap().1);
    for (i, (serial, file)) in expected.iter().enumerate() {
        let device = dps
            .device_by_serial(group, &serial.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(report.outcomes[i].device_id, Some(device.id()));
        let payload = Payload::of(&device);
        assert_eq!(entries[i].0, *file);
        assert_eq!(decode_png(&entries[i].1), payload.render());
        assert_eq!(
            rows[i + 1],
            [
                file.to_string(),
                group.to_string(),
                serial.to_string(),
                "m1".to_owned(),
                payload.render()
            ]
        );
    }
}

#[tokio::test]
async fn explicit_serials_keep_their_order_and_unknown_ones_are_not_found() {
    let (dps, group) = world(&SERIALS).await;
    let wanted = ["SN-5", "nope", "SN-1", "sn-1", "SN-9", "CON"];
    let selection = Selection::Serials(wanted.iter().map(|s| s.parse().unwrap()).collect());
    let mut zip = Vec::new();
    let report = export_zip(&dps, group, &selection, &mut zip, ArchiveOptions::default())
        .await
        .unwrap();
    let got: Vec<(&str, Result<&str, &str>)> = report
        .outcomes
        .iter()
        .map(|o| (o.serial.as_str(), o.result.as_deref().map_err(|e| e.code())))
        .collect();
    assert_eq!(
        got,
        [
            ("SN-5", Ok("SN-5.png")),
            ("nope", Err("not_found")),
            ("SN-1", Ok("SN-1.png")),
            ("sn-1", Ok("sn-1-2.png")),
            ("SN-9", Err("not_found")),
            ("CON", Ok("_CON.png")),
        ]
    );
    assert_eq!(report.outcomes[1].device_id, None);
    let entries = zip_entries(&zip);
    check_labels(&entries);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "SN-5.png",
            "SN-1.png",
            "sn-1-2.png",
            "_CON.png",
            MANIFEST_NAME
        ]
    );
}

#[tokio::test]
async fn a_filter_selects_devices() {
    let (dps, group) = world(&SERIALS).await;
    let filter = DeviceFilter {
        batch_tag: Some(BatchTag::new("odd").unwrap()),
        ..DeviceFilter::default()
    };
    let mut zip = Vec::new();
    let report = export_zip(
        &dps,
        group,
        &Selection::Filter(filter),
        &mut zip,
        ArchiveOptions::default().with_threads(1),
    )
    .await
    .unwrap();
    let serials: Vec<&str> = report.outcomes.iter().map(|o| o.serial.as_str()).collect();
    assert_eq!(serials, ["CON", "SN-1", "SN-3", "a_b"]);
    let entries = zip_entries(&zip);
    assert_eq!(entries.len(), 5);
    check_labels(&entries);
}

#[tokio::test]
async fn a_device_whose_label_is_too_long_fails_alone() {
    let long = "aA".repeat(32);
    let (dps, group) = world(&["SN-1", &long, "SN-2"]).await;
    let options =
        ArchiveOptions::default().with_render(RenderOptions::default().with_max_version(3));
    let mut zip = Vec::new();
    let report = export_zip(&dps, group, &Selection::all(), &mut zip, options)
        .await
        .unwrap();
    let codes: Vec<Result<&str, &str>> = report
        .outcomes
        .iter()
        .map(|o| o.result.as_deref().map_err(|e| e.code()))
        .collect();
    assert_eq!(
        codes,
        [Ok("SN-1.png"), Ok("SN-2.png"), Err("payload_too_long")]
    );
    let entries = zip_entries(&zip);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["SN-1.png", "SN-2.png", MANIFEST_NAME]);
    check_labels(&entries);
}

#[tokio::test]
async fn an_unknown_group_is_not_found() {
    let (dps, _) = world(&[]).await;
    let missing = GroupId::from_uuid(dps_core::Uuid::from_u128(99));
    let mut zip = Vec::new();
    let err = export_zip(
        &dps,
        missing,
        &Selection::all(),
        &mut zip,
        ArchiveOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "not_found");
    assert!(zip.is_empty(), "nothing is written for a missing group");
}

#[tokio::test]
async fn an_empty_group_gives_a_manifest_only() {
    let (dps, group) = world(&[]).await;
    let mut zip = Vec::new();
    let report = export_zip(
        &dps,
        group,
        &Selection::all(),
        &mut zip,
        ArchiveOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.outcomes.is_empty());
    assert_eq!(zip_entries(&zip).len(), 1);
}
