//! Spreadsheet-safe files from the `dps` binary: a CSV export with a byte order mark, XLSX
//! export and import, update mode, and hostile workbooks refused with a one-line error.
#![allow(clippy::print_stderr)]

mod common;

use common::Env;

/// A database with targets and the group `Lab` holding devices whose values a spreadsheet
/// would reinterpret.
fn seeded() -> Env {
    let env = Env::sqlite().with_lab(&["--attribute", "note:string"]);
    let file = env.path("seed.csv");
    std::fs::write(
        &file,
        "Device Serial No.,Model ID,Device Name,Batch Tag,Description,note\n\
         000123,thermostat,0042,007,Küche,東京\n\
         1E5,thermostat,=1+2,+49,@sum,2024-01-02\n\
         00-7,thermostat,-x,1/2/2024,'quoted,'=x\n",
    )
    .unwrap();
    env.ok_json(&["device", "import", "--group", "Lab", file.to_str().unwrap()]);
    env
}

fn device_count(env: &Env) -> usize {
    let list = env.ok_json(&["device", "list", "--group", "Lab"]);
    list["items"].as_array().unwrap().len()
}

#[test]
fn a_csv_export_starts_with_a_byte_order_mark_unless_no_bom() {
    let env = seeded();
    let out = env.path("out.csv");
    let out = out.to_str().unwrap();
    env.ok_json(&["device", "export", "--group", "Lab", "--all", "-o", out]);
    let bytes = std::fs::read(out).unwrap();
    assert!(bytes.starts_with("\u{feff}Device Serial No.,".as_bytes()));
    env.ok_json(&[
        "device", "export", "--group", "Lab", "--all", "-o", out, "--no-bom",
    ]);
    let bytes = std::fs::read(out).unwrap();
    assert!(bytes.starts_with(b"Device Serial No.,"));
}

#[test]
fn an_xlsx_export_imports_back_in_update_mode_unchanged() {
    let env = seeded();
    let book = env.path("devices.xlsx");
    let book = book.to_str().unwrap();
    let exported = env.ok_json(&["device", "export", "--group", "Lab", "--all", "-o", book]);
    assert_eq!(exported["rows"], 3, "{exported}");
    assert!(std::fs::read(book).unwrap().starts_with(b"PK\x03\x04"));
    let report = env.ok_json(&[
        "device", "import", "--group", "Lab", book, "--mode", "update",
    ]);
    assert_eq!(report["unchanged"], 3, "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    // Detected from the bytes too, whatever the name.
    let renamed = env.path("devices.bin");
    std::fs::copy(book, &renamed).unwrap();
    let report = env.ok_json(&[
        "device",
        "import",
        "--group",
        "Lab",
        renamed.to_str().unwrap(),
        "--mode",
        "update",
    ]);
    assert_eq!(report["unchanged"], 3, "{report}");
    let shown = env.ok_json(&["device", "show", "--group", "Lab", "000123"]);
    assert_eq!(shown["name"], "0042", "{shown}");
    assert_eq!(shown["batch_tag"], "007", "{shown}");
    assert_eq!(shown["description"], "Küche", "{shown}");
}

#[test]
fn the_template_is_available_as_xlsx() {
    let env = seeded();
    let book = env.path("template.xlsx");
    env.ok_json(&[
        "device",
        "template",
        "--group",
        "Lab",
        "-o",
        book.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&book).unwrap().starts_with(b"PK\x03\x04"));
    let report = env.ok_json(&["device", "import", "--group", "Lab", book.to_str().unwrap()]);
    assert_eq!(report["accepted"], 0, "{report}");
}

#[test]
fn update_mode_refuses_an_unknown_serial_and_creates_nothing() {
    let env = seeded();
    let file = env.path("edited.csv");
    std::fs::write(
        &file,
        "Device Serial No.,Model ID,Device Name\n000123,thermostat,Lobby\n123,thermostat,Mangled\n",
    )
    .unwrap();
    let (code, report) = env.json(&[
        "device",
        "import",
        "--group",
        "Lab",
        file.to_str().unwrap(),
        "--mode",
        "update",
    ]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(report["rows"][0]["code"], "unknown_serial", "{report}");
    assert_eq!(report["rows"][0]["line"], 3, "{report}");
    assert_eq!(device_count(&env), 3, "no device was created");
}

/// A ZIP archive of stored entries; `declared` overrides the uncompressed size an entry
/// claims.
fn zip(entries: &[(&str, &[u8], Option<u32>)]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, declared) in entries {
        let offset = out.len() as u32;
        let (crc, len) = (crc32(data), data.len() as u32);
        let size = declared.unwrap_or(len);
        let fields = |v: &mut Vec<u8>| {
            v.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&[0, 0]);
        };
        out.extend_from_slice(b"PK\x03\x04");
        fields(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x14\x00");
        fields(&mut central);
        // Comment length, disk, internal and external attributes.
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_size) = (out.len() as u32, central.len() as u32);
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    let n = (entries.len() as u16).to_le_bytes();
    out.extend_from_slice(&n);
    out.extend_from_slice(&n);
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// A workbook of one sheet with `sheet_data` inside `<sheetData>`, and `extra` entries.
fn workbook(sheet_data: &str, extra: &[(&str, &[u8], Option<u32>)]) -> Vec<u8> {
    let types = r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    let rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
    );
    let book = format!(
        r#"<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets><sheet name="Devices" sheetId="1" r:id="rId1"/></sheets></workbook>"#
    );
    let book_rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#
    );
    let sheet = format!(
        r#"<?xml version="1.0"?><worksheet xmlns="{MAIN}"><sheetData>{sheet_data}</sheetData></worksheet>"#
    );
    let mut entries: Vec<(&str, &[u8], Option<u32>)> = vec![
        ("[Content_Types].xml", types.as_bytes(), None),
        ("_rels/.rels", rels.as_bytes(), None),
        ("xl/workbook.xml", book.as_bytes(), None),
        ("xl/_rels/workbook.xml.rels", book_rels.as_bytes(), None),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes(), None),
    ];
    entries.extend_from_slice(extra);
    zip(&entries)
}

fn cell(r: &str, text: &str) -> String {
    format!(r#"<c r="{r}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

/// Imports `bytes` from `name` with an error report; asserts the import fails with exit 2 or
/// 3, a one-line message naming `code`, no error report file and no new device.
fn refused(env: &Env, name: &str, bytes: &[u8], code: &str) {
    let file = env.path(name);
    std::fs::write(&file, bytes).unwrap();
    let errors = env.path("errors.csv");
    let out = env.run(&[
        "device",
        "import",
        "--group",
        "Lab",
        file.to_str().unwrap(),
        "--errors",
        errors.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let exit = out.status.code().unwrap_or(-1);
    assert!(exit == 2 || exit == 3, "{name}: exit {exit}, {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{name}: one line: {stderr:?}"
    );
    let (_, doc) = env.json(&[
        "device",
        "import",
        "--group",
        "Lab",
        file.to_str().unwrap(),
        "--errors",
        errors.to_str().unwrap(),
    ]);
    assert_eq!(doc["error"]["code"], code, "{name}: {doc}");
    assert!(!errors.exists(), "{name}: no partial error report");
    assert_eq!(device_count(env), 3, "{name}: nothing was created");
}

#[test]
fn the_hand_made_workbook_imports() {
    let env = seeded();
    let rows = format!(
        r#"<row r="1">{}{}</row><row r="2">{}{}</row>"#,
        cell("A1", "Device Serial No."),
        cell("B1", "Model ID"),
        cell("A2", "SN-9"),
        cell("B2", "thermostat"),
    );
    let file = env.path("hand.xlsx");
    std::fs::write(&file, workbook(&rows, &[])).unwrap();
    let report = env.ok_json(&["device", "import", "--group", "Lab", file.to_str().unwrap()]);
    assert_eq!(report["created"], 1, "{report}");
}

#[test]
fn hostile_workbooks_are_refused_with_one_line_and_no_output() {
    let env = seeded();
    let header = format!(
        r#"<row r="1">{}{}</row>"#,
        cell("A1", "Device Serial No."),
        cell("B1", "Model ID")
    );
    let good = workbook(&header, &[]);
    refused(
        &env,
        "truncated.xlsx",
        &good[..good.len() / 2],
        "xlsx_invalid",
    );
    refused(
        &env,
        "renamed.xlsx",
        b"Device Serial No.,Model ID\nSN-1,thermostat\n",
        "xlsx_invalid",
    );
    // An entry that claims to inflate to 1 GiB: refused before anything is inflated.
    let bomb = workbook(&header, &[("xl/media/bomb.bin", b"0", Some(1 << 30))]);
    refused(&env, "bomb.xlsx", &bomb, "xlsx_too_large");
    let strings = workbook(
        &header,
        &[("xl/sharedStrings.xml", b"<sst/>", Some(100 << 20))],
    );
    refused(&env, "strings.xlsx", &strings, "xlsx_too_large");
    // A cell in column 1 000 000 (BDWGN).
    let wide = format!(
        r#"<row r="1">{}{}</row>"#,
        cell("A1", "Device Serial No."),
        cell("BDWGN1", "x")
    );
    refused(&env, "wide.xlsx", &workbook(&wide, &[]), "xlsx_too_large");
}

#[test]
fn an_xlsx_export_that_fails_leaves_no_file() {
    let env = seeded();
    let book = env.path("missing.xlsx");
    let out = env.run(&[
        "device",
        "export",
        "--group",
        "Nope",
        "--all",
        "-o",
        book.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!book.exists());
}
