//! `dps device qr --format pdf`: the built binary writes a printable label sheet and reports
//! its pages; a sheet without a label is refused and leaves no file.

use std::path::Path;

mod common;

use common::Env;

/// A SQLite database with the group `Lab` of `devices` generated devices.
fn with_devices(devices: usize) -> Env {
    let env = Env::sqlite().with_lab(&[]);
    if devices > 0 {
        let count = devices.to_string();
        let generated = env.ok_json(&[
            "device",
            "generate",
            "--group",
            "Lab",
            "--count",
            &count,
            "--model",
            "thermostat",
        ]);
        assert_eq!(generated["succeeded"], devices);
    }
    env
}

fn sheet_args<'a>(output: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["device", "qr", "--group", "Lab", "--all", "--format", "pdf"];
    args.extend_from_slice(&["-o", output.to_str().unwrap()]);
    args.extend_from_slice(extra);
    args
}

/// The number of page objects in a PDF the CLI wrote.
fn page_objects(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.matches("/Type/Page/").count() + text.matches("/Type/Page>").count()
}

#[test]
fn a_pdf_sheet_is_written_and_its_pages_reported() {
    // 21 labels fill one page of the default grid; one more starts a second.
    let env = with_devices(22);
    let pdf = env.path("labels.pdf");
    let doc = env.ok_json(&sheet_args(&pdf, &[]));
    assert_eq!(doc["pages"], 2);
    assert_eq!(doc["succeeded"], 22);
    assert_eq!(doc["failed"], 0);
    assert_eq!(doc["path"], pdf.display().to_string());
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(bytes.ends_with(b"%%EOF\n"));
    assert_eq!(page_objects(&bytes), 2);
    assert!(String::from_utf8_lossy(&bytes).contains("/MediaBox[0 0 595.276 841.89]"));

    let letter = env.path("letter.pdf");
    let out = env.run(&sheet_args(&letter, &["--paper", "letter"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("wrote 22 labels on 2 pages to"), "{stdout}");
    let bytes = std::fs::read(&letter).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("/MediaBox[0 0 612 792]"));
}

#[test]
fn a_sheet_without_devices_is_refused_and_leaves_no_file() {
    let env = with_devices(0);
    let pdf = env.path("labels.pdf");
    let out = env.run(&sheet_args(&pdf, &[]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("no label to print"), "{stderr}");
    assert!(!pdf.exists(), "no file is left behind");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".dps-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file either");

    let (code, doc) = env.json(&sheet_args(&pdf, &[]));
    assert_eq!(code, 2);
    assert_eq!(doc["error"]["code"], "empty_sheet", "{doc}");
    assert!(!pdf.exists());
}
