//! The label ZIP: names, manifest, stored entries, reproducibility, streaming and bad input.

mod common;

use std::io::{self, Cursor, Write};

use common::{
    check_labels, decode_png, decode_svg, manifest_rows, payload, stream_entries, zip_entries,
};
use dps_qr::{
    ArchiveOptions, FileNames, ImageFormat, LabelArchive, MANIFEST_HEADER, MANIFEST_NAME, Payload,
    RenderOptions, safe_file_stem, write_zip,
};

fn zip_of(payloads: &[Payload], options: ArchiveOptions) -> (Vec<u8>, dps_qr::LabelReport) {
    let mut out = Vec::new();
    let report = write_zip(payloads.iter().cloned(), &mut out, options).unwrap();
    (out, report)
}

#[test]
fn the_zip_holds_exactly_the_expected_entries_and_manifest_rows() {
    let payloads = [
        payload("SN-0002", "thermostat"),
        payload("A", "m1"),
        payload("a", "m1"),
        payload("AA:BB", "m1"),
        payload("AA_BB", "m1"),
        payload("CON", "m1"),
        payload("-x", "m1"),
        payload("manifest", "m1"),
    ];
    let (bytes, report) = zip_of(&payloads, ArchiveOptions::default());
    let expected = [
        "SN-0002.png",
        "A.png",
        "a-2.png",
        "AA_BB.png",
        "AA_BB-2.png",
        "_CON.png",
        "_x.png",
        "manifest.png",
    ];
    let names: Vec<&str> = report
        .outcomes
        .iter()
        .map(|o| o.result.as_deref().unwrap())
        .collect();
    assert_eq!(names, expected);

    let entries = zip_entries(&bytes);
    let entry_names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let mut all = expected.to_vec();
    all.push(MANIFEST_NAME);
    assert_eq!(entry_names, all);

    for ((name, data), p) in entries.iter().zip(&payloads) {
        assert!(data.starts_with(b"\x89PNG"), "{name}");
        assert_eq!(decode_png(data), p.render(), "{name}");
    }

    let rows = manifest_rows(&entries.last().unwrap().1);
    assert_eq!(rows[0].join(","), MANIFEST_HEADER);
    assert_eq!(rows.len(), payloads.len() + 1);
    for ((row, p), file) in rows[1..].iter().zip(&payloads).zip(expected) {
        let serial = if p.serial().as_str().starts_with('-') {
            // A leading "-" would make a spreadsheet run the cell as a formula.
            format!("\"'{}\"", p.serial())
        } else {
            p.serial().to_string()
        };
        assert_eq!(
            row,
            &[
                file.to_owned(),
                p.group().to_string(),
                serial,
                p.model().to_string(),
                p.render()
            ]
        );
    }
}

#[test]
fn svg_archives_hold_svgs_that_decode() {
    let payloads = [payload("SN-1", "m1"), payload("sn-1", "m1")];
    let options = ArchiveOptions::default()
        .with_format(ImageFormat::Svg)
        .with_render(RenderOptions::default().with_caption(true));
    let (bytes, _) = zip_of(&payloads, options);
    let entries = zip_entries(&bytes);
    assert_eq!(entries[0].0, "SN-1.svg");
    assert_eq!(entries[1].0, "sn-1-2.svg");
    for ((_, data), p) in entries.iter().zip(&payloads) {
        let svg = std::str::from_utf8(data).unwrap();
        assert_eq!(decode_svg(svg), p.render());
        assert!(svg.contains(p.serial().as_str()));
    }
}

#[test]
fn the_same_input_gives_byte_identical_archives_whatever_the_threads() {
    let payloads: Vec<Payload> = (0..60)
        .map(|i| payload(&format!("SN-{:03}", i % 40), "thermostat"))
        .collect();
    let (first, _) = zip_of(&payloads, ArchiveOptions::default().with_threads(1));
    check_labels(&zip_entries(&first));
    for threads in [1, 2, 3, 0] {
        let (again, report) = zip_of(&payloads, ArchiveOptions::default().with_threads(threads));
        assert_eq!(again, first, "threads {threads}");
        assert_eq!(report.succeeded(), 60);
    }
}

#[test]
fn entries_are_in_push_order_with_many_threads() {
    let payloads: Vec<Payload> = (0..200)
        .map(|i| payload(&format!("SN-{:04}", 199 - i), "m"))
        .collect();
    let options = ArchiveOptions::default()
        .with_threads(4)
        .with_render(RenderOptions::default().with_module_size(3));
    let (bytes, report) = zip_of(&payloads, options);
    let entries = zip_entries(&bytes);
    check_labels(&entries);
    for (i, p) in payloads.iter().enumerate() {
        assert_eq!(entries[i].0, format!("{}.png", p.serial()));
        assert_eq!(report.outcomes[i].serial, *p.serial());
    }
}

#[test]
fn local_headers_carry_sizes_so_streaming_readers_work() {
    let payloads = [payload("SN-1", "m1"), payload("SN-2", "m1")];
    let (bytes, _) = zip_of(&payloads, ArchiveOptions::default());
    let entries = stream_entries(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["SN-1.png", "SN-2.png", MANIFEST_NAME]);
    check_labels(&entries);
    // General purpose flag bit 3 (data descriptor) is clear in the first local header.
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    assert_eq!(bytes[6] & 0x08, 0);
}

#[test]
fn a_label_that_cannot_be_rendered_is_reported_and_the_archive_stays_valid() {
    let payloads = [
        payload("SN-1", "m1"),
        payload(&"aA".repeat(32), "m1"),
        payload("SN-3", "m1"),
    ];
    for threads in [1, 2] {
        let options = ArchiveOptions::default()
            .with_threads(threads)
            .with_render(RenderOptions::default().with_max_version(3));
        let (bytes, report) = zip_of(&payloads, options);
        assert_eq!(report.succeeded(), 2);
        assert_eq!(report.failed(), 1);
        assert!(!report.all_succeeded());
        let failed = report.outcomes[1].result.as_ref().unwrap_err();
        assert_eq!(failed.code(), "payload_too_long");
        assert_eq!(report.outcomes[1].serial, *payloads[1].serial());
        let entries = zip_entries(&bytes);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["SN-1.png", "SN-3.png", MANIFEST_NAME]);
        check_labels(&entries);
    }
}

#[test]
fn failures_pushed_by_the_caller_keep_their_place() {
    let mut out = Vec::new();
    let mut archive =
        LabelArchive::new(&mut out, ArchiveOptions::default().with_threads(2)).unwrap();
    archive.push(payload("SN-1", "m1")).unwrap();
    let missing = dps_core::Error::NotFound {
        entity: dps_core::Entity::Device,
        key: "SN-2".to_owned(),
    };
    archive
        .push_failure("SN-2".parse().unwrap(), None, missing.into())
        .unwrap();
    archive.push(payload("SN-3", "m1")).unwrap();
    let report = archive.finish().unwrap();
    let serials: Vec<&str> = report.outcomes.iter().map(|o| o.serial.as_str()).collect();
    assert_eq!(serials, ["SN-1", "SN-2", "SN-3"]);
    assert_eq!(
        report.outcomes[1].result.as_ref().unwrap_err().code(),
        "not_found"
    );
    let entries = zip_entries(&out);
    assert_eq!(entries.len(), 3);
    check_labels(&entries);
}

#[test]
fn an_empty_archive_has_just_the_manifest() {
    let (bytes, report) = zip_of(&[], ArchiveOptions::default());
    assert!(report.outcomes.is_empty());
    let entries = zip_entries(&bytes);
    assert_eq!(entries.len(), 1);
    assert_eq!(
        manifest_rows(&entries[0].1),
        [MANIFEST_HEADER.split(',').collect::<Vec<_>>()]
    );
}

/// Keeps what reaches the writer, to see entries leave before the archive is finished.
#[derive(Default)]
struct Counting {
    bytes: Vec<u8>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn entries_stream_to_the_writer_before_the_archive_is_finished() {
    let mut sink = Counting::default();
    let payloads: Vec<Payload> = (0..300)
        .map(|i| payload(&format!("SN-{i:04}"), "m1"))
        .collect();
    let mut archive =
        LabelArchive::new(&mut sink, ArchiveOptions::default().with_threads(2)).unwrap();
    for p in &payloads {
        archive.push(p.clone()).unwrap();
    }
    // Never finished: what the writer holds was written while labels were pushed (plus the
    // write buffer's tail). 300 PNGs of more than 1 KiB each: most are out already.
    drop(archive);
    assert!(
        sink.bytes.len() > 200 * 1024,
        "{} bytes written",
        sink.bytes.len()
    );
    let entries = stream_entries(&sink.bytes);
    assert!(entries.len() > 150, "{} entries readable", entries.len());
    for ((name, data), p) in entries.iter().zip(&payloads) {
        assert_eq!(name, &format!("{}.png", p.serial()));
        assert_eq!(decode_png(data), p.render());
    }
}

#[test]
fn an_unfinished_archive_is_not_a_valid_zip() {
    let mut out = Vec::new();
    let options = ArchiveOptions::default().with_threads(1);
    let mut archive = LabelArchive::new(&mut out, options).unwrap();
    archive.push(payload("SN-1", "m1")).unwrap();
    drop(archive);
    // The entry was written, but no directory follows it.
    assert!(out.len() > 1000);
    assert!(zip::ZipArchive::new(Cursor::new(&out)).is_err());
    let entries = stream_entries(&out);
    assert_eq!(entries.len(), 1);
    assert_eq!(decode_png(&entries[0].1), payload("SN-1", "m1").render());
}

/// Fails every write after `budget` bytes.
struct Failing {
    budget: usize,
    kept: Vec<u8>,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.budget {
            return Err(io::Error::other("disk full"));
        }
        self.budget -= buf.len();
        self.kept.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_stops_the_archive_with_an_io_error() {
    let mut out = Failing {
        budget: 50_000,
        kept: Vec::new(),
    };
    let options = ArchiveOptions::default()
        .with_threads(1)
        .with_render(RenderOptions::default().with_module_size(2));
    let mut archive = LabelArchive::new(&mut out, options).unwrap();
    let mut result = Ok(());
    for i in 0..500 {
        result = archive.push(payload(&format!("SN-{i:04}"), "m1"));
        if result.is_err() {
            break;
        }
    }
    // 500 labels are far more than the budget and the write buffer hold.
    let err = result.unwrap_err();
    assert_eq!(err.code(), "io_error");
    // Nothing more can be written, and what was written is not a valid archive.
    let again = archive.push(payload("SN-X", "m1")).unwrap_err();
    assert_eq!(again.code(), "io_error");
    drop(archive);
    assert!(zip::ZipArchive::new(Cursor::new(&out.kept)).is_err());
    for (name, data) in stream_entries(&out.kept) {
        let serial = name.strip_suffix(".png").unwrap();
        assert_eq!(decode_png(&data), payload(serial, "m1").render());
    }
}

#[test]
fn invalid_options_are_refused_up_front() {
    let options =
        ArchiveOptions::default().with_render(RenderOptions::default().with_module_size(0));
    let err = LabelArchive::new(Vec::new(), options).unwrap_err();
    assert_eq!(err.code(), "invalid_option");
}

#[test]
fn the_sanitiser_defuses_hostile_names() {
    let cases = [
        ("../x", "_._x"),
        ("..", "__"),
        (".", "_"),
        ("...", "_._"),
        ("", "_"),
        ("a/b", "a_b"),
        ("a\\b", "a_b"),
        ("/etc/passwd", "_etc_passwd"),
        ("C:\\Windows", "C__Windows"),
        ("CON", "_CON"),
        ("con", "_con"),
        ("Con.png", "_Con.png"),
        ("nul.tar.gz", "_nul.tar.gz"),
        ("COM1", "_COM1"),
        ("lpt9", "_lpt9"),
        ("CONSOLE", "CONSOLE"),
        ("COM10", "COM10"),
        ("é", "_"),
        ("日本語", "___"),
        ("a b\tc\n", "a_b_c_"),
        ("name.", "name_"),
        ("-rf", "_rf"),
        ("SN-0001_x.y", "SN-0001_x.y"),
    ];
    for (input, expected) in cases {
        let stem = safe_file_stem(input);
        assert_eq!(stem, expected, "{input:?}");
        assert!(
            stem.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        );
    }
    assert_eq!(safe_file_stem(&"x".repeat(500)).len(), dps_qr::MAX_STEM);
}

#[test]
fn names_that_collide_get_deterministic_suffixes_also_ignoring_case() {
    let mut names = FileNames::new();
    assert!(names.reserve("MANIFEST.csv"));
    assert!(!names.reserve("manifest.CSV"), "reserving ignores case");
    let got: Vec<String> = ["A", "a", "A", "../x", "_._x", "", "é", "CON", "_CON"]
        .iter()
        .map(|s| names.assign(s, "png"))
        .collect();
    assert_eq!(
        got,
        [
            "A.png",
            "a-2.png",
            "A-3.png",
            "_._x.png",
            "_._x-2.png",
            "_.png",
            "_-2.png",
            "_CON.png",
            "_CON-2.png"
        ]
    );
}
