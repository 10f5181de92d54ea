//! The fixture files of the issue, read at reader level and imported through the
//! Provisioner.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Counting, Repeat, dps, group, rt, schema};
use dps_core::{DeviceQuery, SerialNumber, Timezone, attribute::AttributeValue};
use dps_csv::{
    CsvError, DeviceReader, ImportError, ImportOptions, Limit, Limits, Row, RowError, import,
};

fn sn(s: &str) -> SerialNumber {
    s.parse().unwrap()
}

/// Reads a whole file at reader level: the rows and the errors, in order.
fn read(bytes: &[u8]) -> Vec<Result<Row, RowError>> {
    DeviceReader::new(bytes, &schema(), Limits::default())
        .unwrap()
        .collect::<Result<Vec<_>, CsvError>>()
        .unwrap()
}

fn ok(rows: &[Result<Row, RowError>]) -> Vec<&Row> {
    rows.iter().filter_map(|r| r.as_ref().ok()).collect()
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let rows = read(include_bytes!("fixtures/bom.csv"));
    let rows = ok(&rows);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].device.serial, "SN-1");
    assert_eq!(rows[0].device.name.as_ref().unwrap(), "Lobby");
    assert_eq!(rows[1].line, 3);
}

#[test]
fn semicolons_are_detected_from_the_header_line() {
    let bytes = include_bytes!("fixtures/semicolon.csv");
    let reader = DeviceReader::new(&bytes[..], &schema(), Limits::default()).unwrap();
    assert_eq!(reader.delimiter(), b';');
    let rows = read(bytes);
    let rows = ok(&rows);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].device.description.as_ref().unwrap(),
        "one, two; three"
    );
    assert_eq!(
        rows[1].device.attributes["floor"],
        AttributeValue::Integer(-2)
    );
}

#[test]
fn crlf_line_ends_and_blank_lines_count_lines_right() {
    let rows = read(include_bytes!("fixtures/crlf.csv"));
    let lines: Vec<(u64, &str)> = ok(&rows)
        .iter()
        .map(|r| (r.line, r.device.batch_tag.as_ref().unwrap().as_str()))
        .collect();
    assert_eq!(lines, vec![(2, "b1"), (3, "b2"), (5, "b3")]);
}

#[test]
fn quoted_newlines_and_quotes_as_a_spreadsheet_writes_them() {
    let rows = read(include_bytes!("fixtures/spreadsheet_newlines.csv"));
    let rows = ok(&rows);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].device.description.as_ref().unwrap(),
        "first line\nsecond line"
    );
    assert_eq!(
        rows[0].device.attributes["note"],
        AttributeValue::String("say \"hi\"\nbye".into())
    );
    // The second record starts after the two embedded line breaks.
    assert_eq!(rows[1].line, 5);
    assert_eq!(
        rows[1].device.description.as_ref().unwrap(),
        "a \"quoted\" word"
    );
}

#[test]
fn header_aliases_match_in_any_case() {
    let rows = read(include_bytes!("fixtures/aliases.csv"));
    let rows = ok(&rows);
    assert_eq!(rows.len(), 1);
    let d = &rows[0].device;
    assert_eq!(d.serial, "SN-1");
    assert_eq!(d.model_id, "m1");
    assert_eq!(d.name.as_ref().unwrap(), "Lobby");
    assert_eq!(d.timezone, Some(Timezone::new("+01:00").unwrap()));
    assert_eq!(d.batch_tag.as_ref().unwrap(), "b1");
    assert_eq!(d.target.as_ref().unwrap().to_string(), "prod/acme");
    assert_eq!(d.attributes["floor"], AttributeValue::Integer(3));
    for header in [
        "sn",
        "Device_SN",
        "serial number",
        "SERIAL-NO",
        "device serial no",
    ] {
        let file = format!("{header},Model ID\nSN-9,m1\n");
        let rows = read(file.as_bytes());
        assert_eq!(ok(&rows).len(), 1, "{header} names the serial column");
    }
}

#[test]
fn a_missing_required_column_is_a_whole_file_error_naming_it() {
    let err = DeviceReader::new(
        &b"Device Serial No.,Device Name\nSN-1,x\n"[..],
        &schema(),
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, CsvError::MissingColumn { column } if column == "Model ID"),
        "{err}"
    );
    assert_eq!(err.code(), "missing_column");
    let err = DeviceReader::new(
        &b"Model ID,Environment\nm1,prod\n"[..],
        &schema(),
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(&err, CsvError::MissingColumn { column } if column == "Device Serial No."));
    let err = DeviceReader::new(
        &b"sn,model,Environment\nx,m1,prod\n"[..],
        &schema(),
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(&err, CsvError::MissingColumn { column } if column == "OU"));
}

#[test]
fn unknown_and_repeated_columns_are_whole_file_errors() {
    let err = DeviceReader::new(
        &b"sn,model,colour\nx,m1,red\n"[..],
        &schema(),
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(&err, CsvError::UnknownColumn { column, index: 3 } if column == "colour"));
    assert_eq!(err.code(), "unknown_column");
    let err = DeviceReader::new(
        &b"sn,model,Serial Number\nx,m1,y\n"[..],
        &schema(),
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        CsvError::DuplicateColumn {
            first: 1,
            second: 3,
            ..
        }
    ));
    assert!(matches!(
        DeviceReader::new(&b""[..], &schema(), Limits::default()),
        Err(CsvError::Empty)
    ));
}

#[test]
fn export_read_only_columns_are_recognised_and_ignored() {
    let file = "Device Serial No.,Model ID,Allocation Status,Asset ID,Device Secret,Created At,Version\n\
                SN-1,m1,allocated,not an asset!,s3cret,yesterday,7\n";
    let rows = read(file.as_bytes());
    let rows = ok(&rows);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].version, Some(dps_core::Version::new(7)));
}

#[test]
fn a_duplicate_serial_within_the_file_names_the_first_line() {
    let rows = read(b"sn,model\nSN-1,m1\nSN-2,m1\nSN-1,m2\n");
    assert_eq!(ok(&rows).len(), 2);
    let err = rows[2].as_ref().unwrap_err();
    assert_eq!((err.line, err.code), (4, "duplicate_in_file"));
    assert_eq!(err.column.as_deref(), Some("sn"));
    assert_eq!(err.value, "SN-1");
    assert!(err.message.contains("line 2"), "{}", err.message);
}

#[test]
fn duplicates_are_found_in_sorted_and_unsorted_files() {
    let rows = read(b"sn,model\nA1,m1\nA2,m1\nA3,m1\nA3,m1\nA0,m1\nA2,m1\nA0,m1\nB1,m1\n");
    let dups: Vec<(u64, String)> = rows
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.line, e.message.clone()))
        .collect();
    assert_eq!(
        dups,
        vec![
            (5, "serial A3 already appears on line 4".to_owned()),
            (7, "serial A2 already appears on line 3".to_owned()),
            (8, "serial A0 already appears on line 6".to_owned()),
        ]
    );
    assert_eq!(ok(&rows).len(), 5);
}

fn records(n: usize) -> String {
    let mut file = String::from("Device Serial No.,Model ID\n");
    for i in 0..n {
        file.push_str(&format!("SN-{i:05},m1\n"));
    }
    file
}

#[test]
fn the_1001st_record_crosses_the_default_limit() {
    let file = records(1000);
    let n = DeviceReader::new(file.as_bytes(), &schema(), Limits::default())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .len();
    assert_eq!(n, 1000, "1000 records are within the limit");

    let file = records(1001);
    let mut reader = DeviceReader::new(file.as_bytes(), &schema(), Limits::default()).unwrap();
    let mut read = 0;
    let err = loop {
        match reader.next_row() {
            Ok(Some(_)) => read += 1,
            Ok(None) => panic!("the 1001st record was accepted"),
            Err(e) => break e,
        }
    };
    assert_eq!(read, 1000);
    match err {
        CsvError::LimitExceeded {
            limit: Limit::Records,
            max: 1000,
            position,
        } => {
            assert_eq!(position.line, 1002);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        reader.next().is_none(),
        "the reader stops after a file error"
    );

    // Through the Provisioner: nothing is written.
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "limits", schema()).await;
        let err = import(&dps, g.id(), file.as_bytes(), &ImportOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "limit_exceeded");
        assert!(matches!(err, ImportError::File(_)));
        assert_eq!(dps.count(&DeviceQuery::group(g.id())).await.unwrap(), 0);
    });
}

#[test]
fn a_file_over_the_byte_limit_stops_before_it_is_read_to_the_end() {
    let served = Arc::new(AtomicU64::new(0));
    let head = &b"Device Serial No.,Model ID,Description\nSN-1,m1,"[..];
    let body = Repeat {
        byte: b'x',
        left: 100 << 20,
    };
    let source = Counting {
        inner: std::io::Read::chain(head, body),
        served: served.clone(),
    };
    let limits = Limits::default().with_max_field_bytes(usize::MAX);
    let err = DeviceReader::new(source, &schema(), limits)
        .unwrap()
        .find_map(Result::err)
        .unwrap();
    assert!(
        matches!(err, CsvError::LimitExceeded { limit: Limit::Bytes, max, .. } if max == 2 << 20)
    );
    assert!(served.load(Ordering::SeqCst) <= (2 << 20) + 1);
}

#[test]
fn a_10_mb_field_is_refused_at_the_field_cap_without_reading_the_rest() {
    for (limits, quoted) in [
        (Limits::default(), true),
        (Limits::unbounded(), true),
        (Limits::unbounded(), false),
    ] {
        let served = Arc::new(AtomicU64::new(0));
        let head: &[u8] = if quoted {
            b"Device Serial No.,Model ID,Description\nSN-1,m1,\""
        } else {
            b"Device Serial No.,Model ID,Description\nSN-1,m1,"
        };
        let body = Repeat {
            byte: b'a',
            left: 10 << 20,
        };
        let source = Counting {
            inner: std::io::Read::chain(head, body),
            served: served.clone(),
        };
        let mut reader = DeviceReader::new(source, &schema(), limits).unwrap();
        let err = reader.next_row().unwrap_err();
        match err {
            CsvError::LimitExceeded {
                limit: Limit::FieldBytes,
                max: 4096,
                position,
            } => {
                assert_eq!(position.line, 2);
                assert_eq!(position.record, 0);
            }
            other => panic!("unexpected {other}"),
        }
        let served = served.load(Ordering::SeqCst);
        assert!(served < 128 * 1024, "read {served} bytes of a 10 MB field");
    }
}

#[test]
fn invalid_utf8_in_one_cell_refuses_that_row_only() {
    let rows = read(include_bytes!("fixtures/invalid_utf8.csv"));
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0].as_ref().unwrap().device.name.as_ref().unwrap(),
        "Café"
    );
    let err = rows[1].as_ref().unwrap_err();
    assert_eq!((err.line, err.code), (3, "invalid_utf8"));
    assert_eq!(err.column.as_deref(), Some("Device Name"));
    assert_eq!(err.value, "Caf\u{fffd}");
    assert!(rows[2].is_ok());

    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "utf8", schema()).await;
        let report = import(
            &dps,
            g.id(),
            &include_bytes!("fixtures/invalid_utf8.csv")[..],
            &ImportOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!((report.summary.created, report.summary.failed), (2, 1));
        assert!(dps.device_by_serial(g.id(), &sn("SN-3")).await.is_ok());
        assert!(dps.device_by_serial(g.id(), &sn("SN-2")).await.is_err());
    });
}

#[test]
fn a_ragged_row_is_refused_and_trailing_empty_cells_are_tolerated() {
    let rows = read(include_bytes!("fixtures/ragged.csv"));
    assert_eq!(rows.len(), 4);
    assert!(rows[0].is_ok());
    let short = rows[1].as_ref().unwrap_err();
    assert_eq!(
        (short.line, short.code, short.column.as_deref()),
        (3, "wrong_field_count", None)
    );
    assert!(short.message.contains("2 cells"), "{}", short.message);
    let long = rows[2].as_ref().unwrap_err();
    assert_eq!((long.line, long.code), (4, "wrong_field_count"));
    assert_eq!(rows[3].as_ref().unwrap().device.serial, "SN-4");
}

#[test]
fn cells_are_trimmed_unless_quoted_and_empty_optional_cells_are_absent() {
    let rows = read(b"sn,model,Device Name,Description,note,floor\n  SN-1 ,\tm1, Lobby ,,,\nSN-2,m1,\" Hall\",\"\",\"\",\n");
    let first = rows[0].as_ref().unwrap();
    assert_eq!(first.device.serial, "SN-1");
    assert_eq!(first.device.model_id, "m1");
    assert_eq!(first.device.name.as_ref().unwrap(), "Lobby");
    assert_eq!(first.device.description, None);
    assert!(first.device.attributes.is_empty());
    // A quoted cell keeps its spaces, which a device name does not allow.
    let err = rows[1].as_ref().unwrap_err();
    assert_eq!(
        (err.code, err.value.as_str()),
        ("invalid_device_name", " Hall")
    );
    let rows = read(b"sn,model,Description,note\nSN-2,m1,\"\",\"\"\n");
    let row = rows[0].as_ref().unwrap();
    assert_eq!(row.device.description.as_ref().unwrap(), "");
    assert_eq!(
        row.device.attributes["note"],
        AttributeValue::String(String::new())
    );
}

#[test]
fn each_bad_cell_gets_its_code_column_and_value() {
    let long = "x".repeat(100);
    let file = format!(
        "sn,model,Timezone,Batch Tag,floor,color,installed,Environment,OU,Version\n\
         SN 1,m1,,,,,,,,\n\
         ,m1,,,,,,,,\n\
         SN-3,,,,,,,,,\n\
         SN-4,m1,+25:00,,,,,,,\n\
         SN-5,m1,,{long},,,,,,\n\
         SN-6,m1,,,two,,,,,\n\
         SN-7,m1,,,,green,,,,\n\
         SN-8,m1,,,,,2023-02-29,,,\n\
         SN-9,m1,,,,,,prod,,\n\
         SN-10,m1,,,,,,,,v1\n\
         SN-11,m1,'+01:00,,'-3,-low,,prod,acme,2\n"
    );
    let rows = read(file.as_bytes());
    let codes: Vec<(u64, &str, Option<&str>)> = rows
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.line, e.code, e.column.as_deref()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (2, "invalid_serial", Some("sn")),
            (3, "missing_required", Some("sn")),
            (4, "missing_required", Some("model")),
            (5, "invalid_timezone", Some("Timezone")),
            (6, "too_long", Some("Batch Tag")),
            (7, "invalid_attribute", Some("floor")),
            (8, "invalid_attribute", Some("color")),
            (9, "invalid_attribute", Some("installed")),
            (10, "missing_required", Some("OU")),
            (11, "invalid_version", Some("Version")),
        ]
    );
    let too_long = rows[4].as_ref().unwrap_err();
    assert_eq!(
        too_long.value.chars().count(),
        64,
        "values are cut to 64 characters"
    );
    let last = rows[10].as_ref().unwrap();
    assert_eq!(last.device.timezone.unwrap().to_string(), "+01:00");
    assert_eq!(last.device.attributes["floor"], AttributeValue::Integer(-3));
    assert_eq!(
        last.device.attributes["color"],
        AttributeValue::Enum("-low".into())
    );
}

#[test]
fn runs_of_repeated_cells_are_read_like_any_other_cells() {
    // Runs of equal cells, valid and invalid, broken up and resumed: each row gets the
    // value (or the error) its own cells give.
    let file = "sn,model,Timezone,floor\n\
                SN-1,m1,+01:00,3\n\
                SN-2,m1,+01:00,3\n\
                SN-3,m1,+01:00,3\n\
                SN-4,bad model,+01:00,x\n\
                SN-5,bad model,+01:00,x\n\
                SN-6,m1,+25:00,3\n\
                SN-7,m2,+25:00,3\n\
                SN-8,m1,-02:00,4\n\
                SN-9,m1,-02:00,\n";
    let rows = read(file.as_bytes());
    type Read = Result<(String, String, Option<AttributeValue>), &'static str>;
    let seen: Vec<Read> = rows
        .iter()
        .map(|r| match r {
            Ok(row) => Ok((
                row.device.model_id.to_string(),
                row.device
                    .timezone
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                row.device.attributes.get("floor").cloned(),
            )),
            Err(e) => Err(e.code),
        })
        .collect();
    let ok = |m: &str, tz: &str, floor: Option<i64>| {
        Ok((
            m.to_owned(),
            tz.to_owned(),
            floor.map(AttributeValue::Integer),
        ))
    };
    assert_eq!(
        seen,
        vec![
            ok("m1", "+01:00", Some(3)),
            ok("m1", "+01:00", Some(3)),
            ok("m1", "+01:00", Some(3)),
            Err("invalid_model_id"),
            Err("invalid_model_id"),
            Err("invalid_timezone"),
            Err("invalid_timezone"),
            ok("m1", "-02:00", Some(4)),
            ok("m1", "-02:00", None),
        ]
    );
}

#[test]
fn a_required_attribute_without_default_needs_its_column_and_a_value() {
    use dps_core::{attribute::AttributeDef, attribute::AttributeSchema, attribute::AttributeType};
    let schema = AttributeSchema::new(vec![
        AttributeDef::new("floor".parse().unwrap(), AttributeType::Integer).required(),
    ])
    .unwrap();
    let err = DeviceReader::new(&b"sn,model\nx,m1\n"[..], &schema, Limits::default()).unwrap_err();
    assert!(matches!(&err, CsvError::MissingColumn { column } if column == "floor"));
    let rows: Vec<_> = DeviceReader::new(
        &b"sn,model,floor\nx,m1,\ny,m1,2\n"[..],
        &schema,
        Limits::default(),
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap();
    let err = rows[0].as_ref().unwrap_err();
    assert_eq!(
        (err.code, err.column.as_deref()),
        ("missing_required", Some("floor"))
    );
    assert!(rows[1].is_ok());
}

#[test]
fn an_unclosed_quote_at_the_end_is_a_row_error() {
    let rows = read(b"sn,model,Description\nSN-1,m1,ok\nSN-2,m1,\"never closed\nSN-3,m1,x\n");
    assert!(rows[0].is_ok());
    let err = rows[1].as_ref().unwrap_err();
    assert_eq!((err.line, err.code), (3, "unterminated_quote"));
    assert_eq!(rows.len(), 2);
}

#[test]
fn utf16_files_are_refused_with_a_hint() {
    let err = DeviceReader::new(&b"\xff\xfeD\x00"[..], &schema(), Limits::default()).unwrap_err();
    assert_eq!(err.code(), "invalid_utf8");
}

#[test]
fn rows_of_empty_cells_are_skipped() {
    let rows = read(b"sn,model\n,\n  ,  \nSN-1,m1\n,,,\n");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].as_ref().unwrap().line, 4);
}
