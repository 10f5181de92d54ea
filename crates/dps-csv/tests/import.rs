//! Importing and exporting through the Provisioner.

mod common;

use common::{dps, dps_with, group, rt, schema};
use dps_core::{
    Config, DeviceEdit, DeviceQuery, EventCursor, EventKind, Selection, SerialNumber,
    attribute::AttributeValue, import::ImportAction,
};
use dps_csv::{
    Column, Delimiter, ExportOptions, ImportOptions, Limits, RowOutcome, export, import,
    import_with, write_error_report, write_template,
};

fn sn(s: &str) -> SerialNumber {
    s.parse().unwrap()
}

fn actions(rows: &[RowOutcome]) -> Vec<Result<ImportAction, &'static str>> {
    rows.iter()
        .map(|r| r.result.as_ref().map(|a| *a).map_err(|e| e.code))
        .collect()
}

const FILE: &str =
    "Device Serial No.,Model ID,Device Name,floor\nSN-1,m1,One,1\nSN-2,m1,Two,2\nSN-3,m2,,\n";

#[test]
fn the_template_has_the_fixed_columns_and_one_per_attribute() {
    let out = write_template(&schema(), Vec::new(), &ExportOptions::default()).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\u{feff}Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,Description,Environment,OU,floor,note,color,installed\r\n",
        "the default template starts with a byte order mark"
    );
    let out = write_template(
        &schema(),
        Vec::new(),
        &ExportOptions::default().without_bom(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,Description,Environment,OU,floor,note,color,installed\r\n"
    );
    let out = write_template(
        &schema(),
        Vec::new(),
        &ExportOptions::default()
            .with_bom()
            .with_delimiter(Delimiter::Semicolon),
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("\u{feff}Device Serial No.;Device Name;"));
    // The template reads back as a file without rows.
    let rows = dps_csv::DeviceReader::new(text.as_bytes(), &schema(), Limits::default()).unwrap();
    assert_eq!(rows.headers().len(), 12);
    assert_eq!(rows.count(), 0);
}

#[test]
fn running_the_same_file_twice_in_create_mode_adds_nothing_the_second_time() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "twice", schema()).await;
        let first = import(&dps, g.id(), FILE.as_bytes(), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(first.summary.created, 3);
        assert!(first.summary.committed);
        let d = dps.device_by_serial(g.id(), &sn("SN-1")).await.unwrap();
        assert_eq!(d.name().unwrap(), "One");
        assert_eq!(d.attributes()["color"], AttributeValue::Enum("red".into()));

        let events_before = dps.events(EventCursor::START, 1000).await.unwrap().len();
        let second = import(&dps, g.id(), FILE.as_bytes(), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(second.summary.created, 0);
        assert_eq!(second.summary.failed, 3);
        for e in second.errors() {
            assert_eq!(e.code, "already_registered");
            assert_eq!(e.column.as_deref(), Some("Device Serial No."));
        }
        assert_eq!(dps.count(&DeviceQuery::group(g.id())).await.unwrap(), 3);
        assert_eq!(
            dps.events(EventCursor::START, 1000).await.unwrap().len(),
            events_before
        );
    });
}

#[test]
fn every_created_device_gets_one_registered_event() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "events", schema()).await;
        import(&dps, g.id(), FILE.as_bytes(), &ImportOptions::default())
            .await
            .unwrap();
        let events = dps.events(EventCursor::START, 1000).await.unwrap();
        let registered = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Registered))
            .count();
        assert_eq!(registered, 3);
        for s in ["SN-1", "SN-2", "SN-3"] {
            let d = dps.device_by_serial(g.id(), &sn(s)).await.unwrap();
            assert_eq!(d.version().get(), 1);
        }
    });
}

#[test]
fn a_dry_run_plans_every_row_and_writes_nothing() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "dry", schema()).await;
        import(
            &dps,
            g.id(),
            "sn,model\nSN-1,m1\n".as_bytes(),
            &ImportOptions::default(),
        )
        .await
        .unwrap();
        let file = "sn,model,Device Name\nSN-1,m1,\nSN-2,m1,x\nSN 3,m1,\nSN-1,m2,\n";
        let report = import(
            &dps,
            g.id(),
            file.as_bytes(),
            &ImportOptions::default().upsert().dry_run(),
        )
        .await
        .unwrap();
        assert_eq!(
            actions(&report.rows),
            vec![
                Ok(ImportAction::Unchanged),
                Ok(ImportAction::Create),
                Err("invalid_serial"),
                Err("duplicate_in_file"),
            ]
        );
        assert!(!report.summary.committed);
        assert_eq!(dps.count(&DeviceQuery::group(g.id())).await.unwrap(), 1);

        let report = import(
            &dps,
            g.id(),
            "sn,model\nSN-1,m2\n".as_bytes(),
            &ImportOptions::default().upsert().dry_run(),
        )
        .await
        .unwrap();
        assert_eq!(actions(&report.rows), vec![Ok(ImportAction::Update)]);
        let d = dps.device_by_serial(g.id(), &sn("SN-1")).await.unwrap();
        assert_eq!(d.model_id(), "m1", "a dry run changes nothing");
    });
}

#[test]
fn upsert_updates_only_the_columns_the_file_has() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "upsert", schema()).await;
        import(
            &dps,
            g.id(),
            "sn,model,Device Name,Batch Tag,floor,note\nSN-1,m1,One,b1,1,keep\n".as_bytes(),
            &ImportOptions::default(),
        )
        .await
        .unwrap();
        // No Batch Tag and no note column: both stay. Device Name is empty: cleared.
        let report = import(
            &dps,
            g.id(),
            "sn,model,Device Name,floor\nSN-1,m2,,5\nSN-2,m1,New,\n".as_bytes(),
            &ImportOptions::default().upsert(),
        )
        .await
        .unwrap();
        assert_eq!(
            actions(&report.rows),
            vec![Ok(ImportAction::Update), Ok(ImportAction::Create)]
        );
        let d = dps.device_by_serial(g.id(), &sn("SN-1")).await.unwrap();
        assert_eq!(d.model_id(), "m2");
        assert_eq!(d.name(), None);
        assert_eq!(d.batch_tag().unwrap(), "b1");
        assert_eq!(d.attributes()["floor"], AttributeValue::Integer(5));
        assert_eq!(
            d.attributes()["note"],
            AttributeValue::String("keep".into())
        );
        assert_eq!(d.version().get(), 2);
        let edited = dps
            .events(EventCursor::START, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| matches!(e.kind, EventKind::Edited))
            .count();
        assert_eq!(edited, 1, "one event per changed device");
    });
}

#[test]
fn upsert_checks_the_version_column() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "versions", schema()).await;
        import(
            &dps,
            g.id(),
            "sn,model\nSN-1,m1\nSN-2,m1\n".as_bytes(),
            &ImportOptions::default(),
        )
        .await
        .unwrap();
        dps.edit_device(
            g.id(),
            &sn("SN-2"),
            &DeviceEdit {
                batch_tag: Some(Some("moved".parse().unwrap())),
                ..DeviceEdit::default()
            },
        )
        .await
        .unwrap();
        let file = "sn,model,Batch Tag,Version\nSN-1,m1,b,1\nSN-2,m1,b,1\n";
        let report = import(
            &dps,
            g.id(),
            file.as_bytes(),
            &ImportOptions::default().upsert(),
        )
        .await
        .unwrap();
        assert_eq!(
            actions(&report.rows),
            vec![Ok(ImportAction::Update), Err("version_conflict")]
        );
        let err = report.errors().next().unwrap();
        assert_eq!(
            (err.line, err.column.as_deref(), err.value.as_str()),
            (3, Some("Version"), "1")
        );
        let d = dps.device_by_serial(g.id(), &sn("SN-2")).await.unwrap();
        assert_eq!(d.batch_tag().unwrap(), "moved");
    });
}

#[test]
fn all_or_nothing_writes_nothing_when_one_row_is_bad() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "aon", schema()).await;
        let file = "sn,model,floor\nSN-1,m1,1\nSN-2,m1,2\nSN-3,m1,three\n";
        let options = ImportOptions::default().all_or_nothing().with_chunk_size(1);
        let report = import(&dps, g.id(), file.as_bytes(), &options)
            .await
            .unwrap();
        assert!(!report.summary.committed);
        assert_eq!(
            actions(&report.rows),
            vec![
                Ok(ImportAction::Create),
                Ok(ImportAction::Create),
                Err("invalid_attribute")
            ]
        );
        assert_eq!(dps.count(&DeviceQuery::group(g.id())).await.unwrap(), 0);
        assert!(dps.events(EventCursor::START, 100).await.unwrap().len() == 1);

        let good = "sn,model,floor\nSN-1,m1,1\nSN-2,m1,2\nSN-3,m1,3\n";
        let report = import(&dps, g.id(), good.as_bytes(), &options)
            .await
            .unwrap();
        assert!(report.summary.committed);
        assert_eq!(dps.count(&DeviceQuery::group(g.id())).await.unwrap(), 3);
    });
}

#[test]
fn best_effort_lands_good_rows_in_chunks() {
    rt().block_on(async {
        let dps = dps_with(Config::default().with_chunk_size(3));
        let g = group(&dps, "chunks", schema()).await;
        let mut file = String::from("sn,model,floor\n");
        for i in 0..25 {
            let floor = if i % 10 == 7 {
                "x".to_owned()
            } else {
                i.to_string()
            };
            file.push_str(&format!("SN-{i:03},m1,{floor}\n"));
        }
        let mut seen = Vec::new();
        let summary = import_with(
            &dps,
            g.id(),
            file.as_bytes(),
            &ImportOptions::default().with_chunk_size(4),
            |o| seen.push(o.line),
        )
        .await
        .unwrap();
        assert_eq!((summary.rows, summary.created, summary.failed), (25, 23, 2));
        assert_eq!(
            seen,
            (2..27).collect::<Vec<u64>>(),
            "outcomes arrive in file order"
        );
        assert_eq!(dps.count(&DeviceQuery::group(g.id())).await.unwrap(), 23);
    });
}

#[test]
fn a_limit_crossed_after_a_chunk_landed_reports_what_was_written() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "interrupted", schema()).await;
        let mut file = String::from("sn,model\n");
        for i in 0..10 {
            file.push_str(&format!("SN-{i},m1\n"));
        }
        let options = ImportOptions::default()
            .with_chunk_size(2)
            .with_limits(Limits::default().with_max_records(5));
        let err = import(&dps, g.id(), file.as_bytes(), &options)
            .await
            .unwrap_err();
        match err {
            dps_csv::ImportError::Interrupted { cause, report } => {
                assert_eq!(cause.code(), "limit_exceeded");
                assert_eq!(report.summary.created, 4);
                assert_eq!(report.rows.len(), 4);
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(dps.count(&DeviceQuery::group(g.id())).await.unwrap(), 4);
    });
}

#[test]
fn an_unknown_group_is_an_error() {
    rt().block_on(async {
        let dps = dps();
        let missing = dps_core::GroupId::from_uuid(dps_core::Uuid::from_u128(7));
        let err = import(&dps, missing, FILE.as_bytes(), &ImportOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_found");
    });
}

#[test]
fn the_error_report_lists_line_column_value_code_and_message() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "report", schema()).await;
        let file = "sn,model,Timezone,note\nSN-1,m1,+01:00,ok\nSN-2,m1,=cmd|' /C calc'!A0,ok\nSN-3,m1,,\"a, b\"\nSN-1,m1,,\n";
        let report = import(&dps, g.id(), file.as_bytes(), &ImportOptions::default())
            .await
            .unwrap();
        let out = write_error_report(Vec::new(), report.errors()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "Line,Column,Value,Code,Message");
        assert!(
            lines[1].starts_with("3,Timezone,'=cmd|' /C calc'!A0,invalid_timezone,"),
            "the formula is guarded: {}",
            lines[1]
        );
        assert!(lines[2].starts_with("5,sn,SN-1,duplicate_in_file,serial SN-1 already appears on line 2"));
        assert_eq!(lines.len(), 4);
    });
}

#[test]
fn export_streams_a_selection_and_keeps_secrets_out_unless_asked() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "export", schema()).await;
        let mut file = String::from("sn,model\n");
        for i in 0..25 {
            file.push_str(&format!("SN-{i:03},m1\n"));
        }
        import(&dps, g.id(), file.as_bytes(), &ImportOptions::default())
            .await
            .unwrap();
        dps.allocate(g.id(), &Selection::Serials(vec![sn("SN-001")]))
            .await
            .unwrap();

        let options = ExportOptions::default().with_page_size(4);
        let (out, summary) = export(&dps, g.id(), &Selection::all(), Vec::new(), &options)
            .await
            .unwrap();
        assert_eq!(summary.rows, 25);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("Device Secret"));
        assert!(!text.contains("secret-"), "no secret without opt-in");
        let header = text.lines().next().unwrap();
        for c in Column::READ_ONLY {
            assert!(header.contains(c.header()), "{c} is exported");
        }
        let row = text.lines().find(|l| l.starts_with("SN-001,")).unwrap();
        assert!(row.contains(",allocated,prod,acme,asset-"), "{row}");

        let (out, _) = export(
            &dps,
            g.id(),
            &Selection::Serials(vec![sn("SN-001"), sn("NOPE"), sn("SN-002"), sn("SN-001")]),
            Vec::new(),
            &ExportOptions::default().with_secrets(),
        )
        .await
        .map(|(o, s)| {
            assert_eq!(s.not_found, vec![sn("NOPE")]);
            assert_eq!(s.rows, 2);
            (o, s)
        })
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines()
                .next()
                .unwrap()
                .contains(",Device Key,Device Secret,")
        );
        assert!(
            text.contains("secret-"),
            "the secret is exported on request"
        );
        assert_eq!(
            text.lines().nth(1).unwrap().split(',').next(),
            Some("SN-001")
        );
    });
}

#[test]
fn an_export_reimports_as_it_is() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "source", schema()).await;
        let file = "sn,model,Device Name,Timezone,Description,Environment,OU,floor,note,color,installed\n\
                    SN-1,m1,\"=HYPERLINK(\"\"x\"\")\",-03:00,\"multi\nline, \"\"quoted\"\"\",prod,acme,-7,\" padded \",-low,2024-02-29\n\
                    SN-2,m1,@name,+14:00,,,,,+1,blue sky,\n";
        let first = import(&dps, g.id(), file.as_bytes(), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(first.summary.created, 2, "{:?}", first.rows);
        dps.allocate(g.id(), &Selection::all()).await.unwrap();
        let (csv, _) = export(&dps, g.id(), &Selection::all(), Vec::new(), &ExportOptions::default().with_secrets())
            .await
            .unwrap();
        let text = String::from_utf8(csv.clone()).unwrap();
        assert!(text.contains(",\"'=HYPERLINK(\"\"x\"\")\",m1,'-03:00,"), "{text}");
        assert!(text.contains(",'@name,m1,'+14:00,"), "{text}");

        let again = import(&dps, g.id(), csv.as_slice(), &ImportOptions::default().upsert().dry_run())
            .await
            .unwrap();
        assert_eq!(again.summary.unchanged, 2, "{:?}", again.rows);

        let copy = group(&dps, "copy", schema()).await;
        let report = import(&dps, copy.id(), csv.as_slice(), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(report.summary.created, 2);
        for s in ["SN-1", "SN-2"] {
            let a = dps.device_by_serial(g.id(), &sn(s)).await.unwrap();
            let b = dps.device_by_serial(copy.id(), &sn(s)).await.unwrap();
            assert_eq!(a.name(), b.name());
            assert_eq!(a.timezone(), b.timezone());
            assert_eq!(a.description(), b.description());
            assert_eq!(a.target(), b.target());
            assert_eq!(a.attributes(), b.attributes());
        }
    });
}

#[test]
fn a_limit_crossed_before_anything_landed_is_a_plain_file_error() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "nothing-landed", schema()).await;
        let mut file = String::from("sn,model\n");
        for i in 0..10 {
            file.push_str(&format!("SN {i},m1\n"));
        }
        let options = ImportOptions::default()
            .with_chunk_size(2)
            .with_limits(Limits::default().with_max_records(5));
        let err = import(&dps, g.id(), file.as_bytes(), &options)
            .await
            .unwrap_err();
        assert!(matches!(err, dps_csv::ImportError::File(_)), "{err:?}");
        assert_eq!(dps.count(&DeviceQuery::group(g.id())).await.unwrap(), 0);
    });
}

#[test]
fn a_csv_export_starts_with_a_byte_order_mark_unless_asked_not_to() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Bom", schema()).await;
        import(&dps, g.id(), FILE.as_bytes(), &ImportOptions::default())
            .await
            .unwrap();
        let all = Selection::all();
        let (csv, _) = export(&dps, g.id(), &all, Vec::new(), &ExportOptions::default())
            .await
            .unwrap();
        assert!(csv.starts_with("\u{feff}Device Serial No.,".as_bytes()));
        let again = import(
            &dps,
            g.id(),
            csv.as_slice(),
            &ImportOptions::default().upsert(),
        )
        .await
        .unwrap();
        assert_eq!(again.summary.unchanged, 3, "an import reads the mark");
        let options = ExportOptions::default().without_bom();
        let (csv, _) = export(&dps, g.id(), &all, Vec::new(), &options)
            .await
            .unwrap();
        assert!(csv.starts_with(b"Device Serial No.,"));
    });
}
