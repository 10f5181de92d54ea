//! PDF label sheets: the file's structure, the page count for a number of labels, every
//! label's code decodes to its device's payload, and the serials are text on the page.
#![cfg(feature = "pdf")]

mod common;

use common::{decode_gray, payload, world};
use dps_core::Selection;
use dps_qr::{LabelSheet, Paper, Payload, SheetOptions, export_pdf, export_pdf_async};

/// One indirect object of a PDF: its number, its dictionary text and its stream, if any.
struct Object {
    number: usize,
    dict: String,
    stream: Vec<u8>,
}

/// Reads a PDF by its cross-reference table, checking the header, the table, every offset
/// and the trailer on the way; returns the objects in number order.
fn read_pdf(pdf: &[u8]) -> Vec<Object> {
    assert!(pdf.starts_with(b"%PDF-1."), "the header");
    assert!(pdf.ends_with(b"%%EOF\n"), "the end marker");
    let tail = String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(64)..]).into_owned();
    let at = tail.rfind("startxref\n").expect("startxref");
    let xref: usize = tail[at + 10..].lines().next().unwrap().parse().unwrap();
    let table = String::from_utf8_lossy(&pdf[xref..]).into_owned();
    let header = table.lines().nth(1).unwrap();
    assert!(
        table.starts_with(&format!("xref\n{header}\n")),
        "the table's header"
    );
    let size: usize = header.strip_prefix("0 ").unwrap().parse().unwrap();
    // Entries of exactly 20 bytes, the first for the free object 0.
    let entries = &table[6 + header.len()..];
    assert!(entries.starts_with("0000000000 65535 f\r\n"));
    let mut objects = Vec::new();
    for number in 1..size {
        let entry = &entries[number * 20..(number + 1) * 20];
        assert!(entry.ends_with(" 00000 n\r\n"), "{entry:?}");
        let offset: usize = entry[..10].parse().unwrap();
        objects.push(object_at(pdf, offset, number));
    }
    let mut lines = entries[size * 20..].lines();
    assert_eq!(lines.next(), Some("trailer"));
    let trailer = lines.next().unwrap();
    assert!(trailer.contains(&format!("/Size {size}")), "{trailer}");
    assert!(trailer.contains("/Root 1 0 R"), "{trailer}");
    objects
}

fn object_at(pdf: &[u8], offset: usize, number: usize) -> Object {
    let head = format!("{number} 0 obj");
    assert!(
        pdf[offset..].starts_with(head.as_bytes()),
        "object {number} at {offset}"
    );
    let body = &pdf[offset + head.len()..];
    let end = find(body, b"endobj").expect("endobj");
    let body = &body[..end];
    match find(body, b"stream\n") {
        Some(s) => {
            let dict = String::from_utf8_lossy(&body[..s]).into_owned();
            let len = int_after(&dict, "/Length");
            Object {
                number,
                stream: body[s + 7..s + 7 + len].to_vec(),
                dict,
            }
        }
        None => Object {
            number,
            dict: String::from_utf8_lossy(body).into_owned(),
            stream: Vec::new(),
        },
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn int_after(dict: &str, key: &str) -> usize {
    let at = dict.find(key).unwrap_or_else(|| panic!("{key} in {dict}")) + key.len();
    let digits: String = dict[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// The strings a content stream shows with `Tj`, as literal `(…)` or hex `<…>` strings.
fn shown_strings(stream: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(stream).into_owned();
    text.lines()
        .filter_map(|line| line.strip_suffix(" Tj"))
        .map(|s| {
            if let Some(hex) = s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect()
            } else {
                let literal = s
                    .strip_prefix('(')
                    .and_then(|s| s.strip_suffix(')'))
                    .unwrap();
                assert!(
                    !literal.contains('\\'),
                    "no escapes in these tests: {literal}"
                );
                literal.as_bytes().to_vec()
            }
        })
        .collect()
}

fn is_type(o: &Object, ty: &str) -> bool {
    let compact = o.dict.replace(' ', "");
    compact.contains(&format!("/Type/{ty}/")) || compact.contains(&format!("/Type/{ty}>"))
}

/// The text of each label's code, in object order (the order of the labels).
fn decode_images(objects: &[Object]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| o.dict.replace(' ', "").contains("/Subtype/Image"))
        .map(|o| {
            let (w, h) = (int_after(&o.dict, "/Width"), int_after(&o.dict, "/Height"));
            let row_bytes = w.div_ceil(8);
            assert_eq!(o.stream.len(), row_bytes * h, "object {}", o.number);
            // Four pixels a module, as a scanner would see a printed label.
            decode_gray(w * 4, h * 4, |x, y| {
                let (x, y) = (x / 4, y / 4);
                let bit = o.stream[y * row_bytes + x / 8] >> (7 - x % 8) & 1;
                if bit == 1 { 255 } else { 0 }
            })
        })
        .collect()
}

fn sheet_of(payloads: &[Payload], options: SheetOptions) -> dps_qr::Result<(Vec<u8>, usize)> {
    let mut pdf = Vec::new();
    let mut sheet = LabelSheet::new(&mut pdf, options)?;
    for p in payloads {
        sheet.push(p.clone())?;
    }
    let report = sheet.finish()?;
    assert!(report.labels.all_succeeded());
    Ok((pdf, report.pages))
}

fn payloads(n: usize) -> Vec<Payload> {
    (1..=n)
        .map(|i| payload(&format!("SN-{i:04}"), "thermostat"))
        .collect()
}

#[test]
fn the_page_count_follows_the_grid_and_an_empty_sheet_is_refused() {
    let options = SheetOptions::default().with_grid(2, 3);
    let mut out = Vec::new();
    let empty = LabelSheet::new(&mut out, options.clone()).unwrap().finish();
    let error = empty.expect_err("an empty sheet is an error");
    assert_eq!(error.code(), "empty_sheet");
    assert_eq!(
        error.to_string(),
        "no label to print: 0 devices selected, none with a label"
    );
    assert!(out.is_empty(), "nothing is written for an empty sheet");

    for (labels, pages) in [(1, 1), (6, 1), (7, 2), (13, 3)] {
        let (pdf, count) = sheet_of(&payloads(labels), options.clone()).unwrap();
        assert_eq!(count, pages, "{labels} labels");
        let objects = read_pdf(&pdf);
        let page_objects = objects.iter().filter(|o| is_type(o, "Page")).count();
        assert_eq!(page_objects, pages, "{labels} labels");
        let tree = objects.iter().find(|o| is_type(o, "Pages")).unwrap();
        assert_eq!(int_after(&tree.dict, "/Count"), pages);
        assert!(is_type(&objects[0], "Catalog"));
    }
}

#[test]
fn every_label_decodes_to_its_payload_and_shows_its_serial_and_model() {
    let labels = payloads(23);
    for paper in [Paper::A4, Paper::Letter] {
        let (pdf, pages) = sheet_of(&labels, SheetOptions::default().with_paper(paper)).unwrap();
        assert_eq!(pages, 2, "21 labels a page by default");
        let objects = read_pdf(&pdf);
        let decoded = decode_images(&objects);
        let expected: Vec<String> = labels.iter().map(Payload::render).collect();
        assert_eq!(decoded, expected, "{paper:?}");
        let shown: Vec<Vec<u8>> = objects
            .iter()
            .flat_map(|o| shown_strings(&o.stream))
            .collect();
        let expected: Vec<&[u8]> = labels
            .iter()
            .flat_map(|p| [p.serial().as_str().as_bytes(), b"thermostat"])
            .collect();
        assert_eq!(shown, expected, "each label's serial, then its model");
        let page = objects.iter().find(|o| is_type(o, "Page")).unwrap();
        let media = if paper == Paper::A4 {
            "595.276 841.89"
        } else {
            "612 792"
        };
        assert!(page.dict.contains(media), "{paper:?}: {}", page.dict);
    }
}

#[test]
fn text_too_wide_for_its_label_is_cut_with_an_ellipsis() {
    let long = "S".repeat(64);
    let labels = [payload(&long, "thermostat")];
    let (pdf, _) = sheet_of(&labels, SheetOptions::default().with_grid(8, 12)).unwrap();
    let objects = read_pdf(&pdf);
    let content = objects
        .iter()
        .find(|o| find(&o.stream, b"Tj").is_some())
        .unwrap();
    let shown = shown_strings(&content.stream);
    let serial = &shown[0];
    assert_eq!(
        serial.last(),
        Some(&0x85),
        "ends in the ellipsis: {serial:?}"
    );
    assert!(serial.len() > 4 && serial.len() < long.len());
    assert!(serial[..serial.len() - 1].iter().all(|b| *b == b'S'));
    assert_eq!(shown[1], b"thermostat");
    assert_eq!(
        decode_images(&objects),
        [labels[0].render()],
        "the code is whole"
    );
}

#[test]
fn options_out_of_range_are_refused() {
    for (columns, rows) in [(0, 1), (9, 1), (1, 0), (1, 13)] {
        let options = SheetOptions::default().with_grid(columns, rows);
        let error = LabelSheet::new(Vec::new(), options).err().unwrap();
        assert_eq!(error.code(), "invalid_option", "{columns}×{rows}");
    }
}

#[tokio::test]
async fn export_pdf_sync_and_async_write_the_same_sheet_of_the_group() {
    let serials = ["SN-3", "SN-1", "SN-2"];
    let (dps, group) = world(&serials).await;
    let selection = Selection::Serials(vec!["SN-2".parse().unwrap(), "SN-404".parse().unwrap()]);
    let options = SheetOptions::default().with_grid(1, 1);
    let mut pdf = Vec::new();
    let report = export_pdf(&dps, group, &selection, &mut pdf, options.clone())
        .await
        .unwrap();
    assert_eq!(report.pages, 1);
    assert_eq!(report.labels.succeeded(), 1);
    let missing = report.labels.outcomes[1].result.as_ref().err().unwrap();
    assert_eq!(missing.code(), "not_found");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["pages"], 1);
    assert_eq!(json["outcomes"][0]["label"], "page 1, label 1");
    assert_eq!(json["outcomes"][1]["error"]["code"], "not_found");

    let mut async_pdf = Vec::new();
    let all = export_pdf_async(
        &dps,
        group,
        &Selection::all(),
        &mut async_pdf,
        options.clone(),
    )
    .await
    .unwrap();
    assert_eq!(all.pages, 3, "one label a page");
    let device = dps
        .device_by_serial(group, &"SN-1".parse().unwrap())
        .await
        .unwrap();
    let decoded = decode_images(&read_pdf(&async_pdf));
    assert_eq!(decoded[0], Payload::of(&device).render(), "serial order");

    let mut again = Vec::new();
    export_pdf_async(&dps, group, &selection, &mut again, options.clone())
        .await
        .unwrap();
    assert_eq!(again, pdf, "the async form writes the same bytes");

    let none = Selection::Serials(vec!["SN-404".parse().unwrap()]);
    let mut out = Vec::new();
    let error = export_pdf(&dps, group, &none, &mut out, options)
        .await
        .err()
        .unwrap();
    assert_eq!(error.code(), "empty_sheet");
    assert!(out.is_empty());
}
