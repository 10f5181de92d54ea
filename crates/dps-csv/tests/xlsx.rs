//! XLSX export and import: the spreadsheet round trip, the sheet's row numbers, and hostile
//! workbooks refused with a typed one-line error.
#![cfg(feature = "xlsx")]

mod common;

use std::io::{Cursor, Read, Write};

use common::{Dps, dps, group, rt, schema};
use dps_core::{
    Device, NewDevice, Selection, SerialNumber, attribute::AttributeValue, import::ImportAction,
};
use dps_csv::{ExportOptions, ImportError, ImportOptions, xlsx};

fn sn(s: &str) -> SerialNumber {
    s.parse().unwrap()
}

/// Values a spreadsheet would reinterpret, each in the field that takes it.
const TRICKY: [(&str, &str, &str, &str, &str); 8] = [
    // serial, name, batch tag, description, note
    ("000123", "0042", "007", "Küche", "東京"),
    ("1E5", "1E5", "1/2/2024", "=1+2", "2024-01-02"),
    ("00-7", "+49 30 1234", "-5", "@sum", "'quoted"),
    ("SN-4", "-x", "@tag", "line one\nline two", "'=x"),
    ("SN-5", "=HYPERLINK(\"x\")", "+1", "two  spaces", "1/2/2024"),
    ("0", "TRUE", "1.50", "tab\tinside", "0042"),
    ("1e5", "1,5", "0x1F", "+", "-"),
    ("2024-01-02", "Küche 東京", "=", "\"quoted\"", "@"),
];

async fn register_tricky(dps: &Dps) -> dps_core::RegistrationGroup {
    let g = group(dps, "Tricky", schema()).await;
    for (serial, name, batch, description, note) in TRICKY {
        let mut d = NewDevice::new(sn(serial), "1E5".parse().unwrap());
        d.name = Some(name.parse().unwrap());
        d.batch_tag = Some(batch.parse().unwrap());
        d.description = Some(description.parse().unwrap());
        d.timezone = Some("-05:00".parse().unwrap());
        d.attributes
            .insert("note".parse().unwrap(), AttributeValue::String(note.into()));
        dps.register(g.id(), d).await.unwrap();
    }
    g
}

async fn export_book(dps: &Dps, group: &dps_core::RegistrationGroup) -> Vec<u8> {
    let (book, summary) = xlsx::export(
        dps,
        group.id(),
        &Selection::all(),
        Vec::new(),
        &ExportOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(summary.rows, TRICKY.len() as u64);
    book
}

fn editable(d: &Device) -> (String, String, String, String, String, String, String) {
    (
        d.serial().to_string(),
        d.name().map(|n| n.to_string()).unwrap_or_default(),
        d.batch_tag().map(|n| n.to_string()).unwrap_or_default(),
        d.description().map(|n| n.to_string()).unwrap_or_default(),
        d.timezone().map(|n| n.to_string()).unwrap_or_default(),
        d.model_id().to_string(),
        format!("{:?}", d.attributes()),
    )
}

#[test]
fn every_value_survives_the_spreadsheet_round_trip() {
    rt().block_on(async {
        let dps = dps();
        let g = register_tricky(&dps).await;
        let book = export_book(&dps, &g).await;
        assert!(xlsx::is_xlsx(&book));

        // Update mode on the exported group: every row matches its device exactly.
        let options = ImportOptions::default().update();
        let report = xlsx::import(&dps, g.id(), Cursor::new(&book), &options)
            .await
            .unwrap();
        assert_eq!(
            report.errors().count(),
            0,
            "{:?}",
            report.errors().collect::<Vec<_>>()
        );
        assert_eq!(report.summary.unchanged, TRICKY.len() as u64);
        assert!(
            report
                .rows
                .iter()
                .all(|r| r.result == Ok(ImportAction::Unchanged))
        );
        // Rows are numbered as the sheet shows them: row 2 is the first record.
        let lines: Vec<u64> = report.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, (2..2 + TRICKY.len() as u64).collect::<Vec<_>>());

        // Into another group, created from the workbook: field for field the same devices.
        let other = group(&dps, "Copy", schema()).await;
        let report = xlsx::import(
            &dps,
            other.id(),
            Cursor::new(&book),
            &ImportOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(report.summary.created, TRICKY.len() as u64);
        for (serial, ..) in TRICKY {
            let a = dps.device_by_serial(g.id(), &sn(serial)).await.unwrap();
            let b = dps.device_by_serial(other.id(), &sn(serial)).await.unwrap();
            assert_eq!(editable(&a), editable(&b), "serial {serial}");
        }
    });
}

/// A workbook written cell by cell, as a user's spreadsheet would be.
fn sheet(rows: &[(u32, &[&str])]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    for (row, cells) in rows {
        for (col, text) in cells.iter().enumerate() {
            if !text.is_empty() {
                ws.write_string(*row, col as u16, *text).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

#[test]
fn row_errors_name_the_sheets_row_across_line_breaks_and_blank_rows() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Rows", schema()).await;
        let book = sheet(&[
            (0, &["Device Serial No.", "Model ID", "Description"]),
            (1, &["SN-1", "m1", "two\nlines\nhere"]),
            (3, &["SN 2", "m1", ""]),
            (4, &["SN-1", "m1", ""]),
        ]);
        let report = xlsx::import(&dps, g.id(), Cursor::new(book), &ImportOptions::default())
            .await
            .unwrap();
        let got: Vec<(u64, Result<ImportAction, &str>)> = report
            .rows
            .iter()
            .map(|r| (r.line, r.result.as_ref().map(|a| *a).map_err(|e| e.code)))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, Ok(ImportAction::Create)),
                (4, Err("invalid_serial")),
                (5, Err("duplicate_in_file")),
            ]
        );
        let dup = report.errors().nth(1).unwrap();
        assert!(dup.message.contains("line 2"), "{}", dup.message);
        let d = dps.device_by_serial(g.id(), &sn("SN-1")).await.unwrap();
        assert_eq!(
            d.description().map(|d| d.to_string()).as_deref(),
            Some("two\nlines\nhere")
        );
    });
}

#[test]
fn numbers_typed_into_a_sheet_read_as_their_digits() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Numbers", schema()).await;
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        ws.write_string(0, 0, "Device Serial No.").unwrap();
        ws.write_string(0, 1, "Model ID").unwrap();
        ws.write_string(0, 2, "floor").unwrap();
        ws.write_number(1, 0, 123.0).unwrap();
        ws.write_string(1, 1, "m1").unwrap();
        ws.write_number(1, 2, 3.0).unwrap();
        let book = book.save_to_buffer().unwrap();
        let report = xlsx::import(&dps, g.id(), Cursor::new(book), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(report.summary.created, 1);
        let d = dps.device_by_serial(g.id(), &sn("123")).await.unwrap();
        assert_eq!(
            d.attributes()
                .get(&"floor".parse::<dps_core::AttributeId>().unwrap()),
            Some(&AttributeValue::Integer(3))
        );
    });
}

#[test]
fn the_sheet_is_styled_frozen_and_typed_as_text() {
    rt().block_on(async {
        let dps = dps();
        let g = register_tricky(&dps).await;
        let book = export_book(&dps, &g).await;
        let sheet = entry(&book, "xl/worksheets/sheet1.xml");
        assert!(sheet.contains("ySplit=\"1\""), "the header row is frozen");
        assert!(sheet.contains("t=\"inlineStr\"") || sheet.contains("t=\"s\""));
        assert!(!sheet.contains("<v>123</v>"), "no cell is a number");
        let styles = entry(&book, "xl/styles.xml");
        assert!(
            styles.contains("formatCode=\"@\""),
            "columns are formatted as text"
        );
        assert!(styles.contains("<b/>"), "the header is bold");
        let notes = entry(&book, "xl/comments1.xml");
        assert!(notes.contains("Read-only: an import ignores this column."));
        let workbook = entry(&book, "xl/workbook.xml");
        assert!(workbook.contains("name=\"Devices\""));
    });
}

#[test]
fn the_template_is_a_workbook_that_imports_as_empty() {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Template", schema()).await;
        let book = xlsx::write_template(g.attributes(), Vec::new()).unwrap();
        let report = xlsx::import(&dps, g.id(), Cursor::new(book), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(report.summary.rows, 0);
    });
}

fn entry(book: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(book)).unwrap();
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// `book` with the entry `name` replaced by `content` (added when missing).
fn rewrite(book: &[u8], name: &str, content: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(book)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut replaced = false;
    for i in 0..archive.len() {
        let mut e = archive.by_index(i).unwrap();
        let entry_name = e.name().unwrap().to_string();
        out.start_file(entry_name.as_str(), options).unwrap();
        if entry_name == name {
            out.write_all(content).unwrap();
            replaced = true;
        } else {
            std::io::copy(&mut e, &mut out).unwrap();
        }
    }
    if !replaced {
        out.start_file(name, options).unwrap();
        out.write_all(content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

fn template() -> Vec<u8> {
    xlsx::write_template(&schema(), Vec::new()).unwrap()
}

/// The import's error for `book`: its code, and that its message is one line.
fn refused(book: Vec<u8>) -> &'static str {
    rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Hostile", schema()).await;
        let e = xlsx::import(&dps, g.id(), Cursor::new(book), &ImportOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(e, ImportError::Xlsx(_) | ImportError::File(_)),
            "{e:?}"
        );
        let message = e.to_string();
        assert!(!message.contains('\n'), "one line: {message}");
        let query = dps_core::DeviceQuery::new(g.id(), Default::default());
        assert_eq!(dps.count(&query).await.unwrap(), 0, "nothing was created");
        e.code()
    })
}

#[test]
fn a_truncated_workbook_is_invalid() {
    let book = template();
    assert_eq!(refused(book[..book.len() / 2].to_vec()), "xlsx_invalid");
}

#[test]
fn a_csv_file_named_xlsx_is_invalid() {
    assert_eq!(
        refused(b"Device Serial No.,Model ID\nSN-1,m1\n".to_vec()),
        "xlsx_invalid"
    );
}

#[test]
fn a_workbook_without_a_sheet_is_invalid() {
    let book = rewrite(
        &template(),
        "xl/workbook.xml",
        br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets/></workbook>"#,
    );
    assert_eq!(refused(book), "xlsx_invalid");
}

#[test]
fn a_zip_bomb_is_refused_before_it_is_inflated() {
    // 40 MiB of one byte deflates to a few dozen KiB; the bound is 16 × 2 MiB.
    let bomb = vec![b' '; 40 << 20];
    let book = rewrite(&template(), "xl/worksheets/sheet1.xml", &bomb);
    assert!(book.len() < 1 << 20);
    assert_eq!(refused(book), "xlsx_too_large");
}

#[test]
fn huge_shared_strings_are_refused() {
    let mut strings =
        String::from(r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#);
    let si = format!("<si><t>{}</t></si>", "x".repeat(4000));
    while strings.len() < 40 << 20 {
        strings.push_str(&si);
    }
    strings.push_str("</sst>");
    let book = rewrite(&template(), "xl/sharedStrings.xml", strings.as_bytes());
    assert_eq!(refused(book), "xlsx_too_large");
}

/// The column letters of column `n` (from 1).
fn letters(mut n: u64) -> String {
    let mut out = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        out.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_cell_in_column_a_million_is_refused() {
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Device Serial No.</t></is></c><c r="{}1" t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>"#,
        letters(1_000_000)
    );
    let book = rewrite(&template(), "xl/worksheets/sheet1.xml", sheet.as_bytes());
    assert_eq!(refused(book), "xlsx_too_large");
}

#[test]
fn a_workbook_over_the_file_size_limit_stops_at_the_limit() {
    let book = template();
    let e = rt().block_on(async {
        let dps = dps();
        let g = group(&dps, "Small", schema()).await;
        let options = ImportOptions::default()
            .with_limits(dps_csv::Limits::default().with_max_bytes(book.len() as u64 - 1));
        xlsx::import(&dps, g.id(), Cursor::new(&book), &options)
            .await
            .unwrap_err()
    });
    assert_eq!(e.code(), "limit_exceeded");
}
