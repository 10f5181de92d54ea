//! Decoders for the tests: PNG and SVG back to the text in the QR code, with `rqrr`, a QR
//! decoder this project does not write.
#![allow(dead_code, unreachable_pub)]

use std::io::{Cursor, Read};
use std::sync::Arc;

use dps_core::{
    BatchTag, Config, GroupId, Injected, NewDevice, NewGroup, Provisioner, inject::ManualClock,
    inject::SeededSecrets, inject::SequentialIds,
};
use dps_qr::Payload;
use dps_store_memory::InMemoryStore;
use dps_testkit::{EPOCH, FakeEnvironment, Fixtures};

/// A payload of a fixed group.
pub fn payload(serial: &str, model: &str) -> Payload {
    Payload::new(
        "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse().unwrap(),
        serial.parse().unwrap(),
        model.parse().unwrap(),
    )
}

/// The text of the one QR code in a grayscale image.
pub fn decode_gray(width: usize, height: usize, pixel: impl Fn(usize, usize) -> u8) -> String {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(width, height, pixel);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code is found");
    let (_meta, content) = grids[0].decode().expect("the QR code decodes");
    content
}

/// A decoded PNG: its header facts and 8-bit gray pixels.
pub struct Png {
    pub width: usize,
    pub height: usize,
    pub color: png::ColorType,
    pub depth: png::BitDepth,
    pub gray: Vec<u8>,
}

pub fn read_png(bytes: &[u8]) -> Png {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let (color, depth) = {
        let info = reader.info();
        (info.color_type, info.bit_depth)
    };
    let mut buf = vec![0u8; reader.output_buffer_size().expect("a buffer size")];
    let out = reader.next_frame(&mut buf).expect("a PNG frame");
    let (width, height) = (out.width as usize, out.height as usize);
    // 1-bit rows, most significant bit first; 1 is white.
    let mut gray = vec![0u8; width * height];
    for y in 0..height {
        for x in 0..width {
            let byte = buf[y * out.line_size + x / 8];
            let bit = (byte >> (7 - (x % 8))) & 1;
            gray[y * width + x] = if bit == 1 { 255 } else { 0 };
        }
    }
    Png {
        width,
        height,
        color,
        depth,
        gray,
    }
}

/// The text in a PNG's QR code.
pub fn decode_png(bytes: &[u8]) -> String {
    let png = read_png(bytes);
    assert_eq!(png.color, png::ColorType::Grayscale);
    assert_eq!(png.depth, png::BitDepth::One);
    decode_gray(png.width, png.height, |x, y| png.gray[y * png.width + x])
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = tag.find(&key).unwrap_or_else(|| panic!("attribute {name}")) + key.len();
    let end = tag[start..].find('"').unwrap() + start;
    &tag[start..end]
}

/// Rasterises an SVG written by dps-qr: a `viewBox`, a white `rect` and `path`s of
/// `M x,y h w v 1 h -w z` rectangles, at `scale` pixels per user unit. Text is not drawn.
pub fn rasterize_svg(svg: &str, scale: usize) -> (usize, usize, Vec<u8>) {
    let open = &svg[..svg.find('>').unwrap()];
    let vb: Vec<usize> = attr(open, "viewBox")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let (w, h) = (vb[2] * scale, vb[3] * scale);
    let mut gray = vec![255u8; w * h];
    let mut rest = svg;
    while let Some(i) = rest.find("<path ") {
        let tag = &rest[i..i + rest[i..].find("/>").unwrap()];
        let fill = attr(tag, "fill");
        let value = if fill == "#000" { 0 } else { 255 };
        for rect in attr(tag, "d").split('z').filter(|r| !r.is_empty()) {
            // M{x},{y}h{run}v1h-{run}
            let body = rect.strip_prefix('M').expect("a move");
            let (xy, moves) = body.split_once('h').unwrap();
            let (x, y) = xy.split_once(',').unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            let (run, tail) = moves.split_once('v').unwrap();
            let run: usize = run.parse().unwrap();
            assert_eq!(tail, format!("1h-{run}"), "a one-module-high rectangle");
            for py in y * scale..(y + 1) * scale {
                for px in x * scale..(x + run) * scale {
                    gray[py * w + px] = value;
                }
            }
        }
        rest = &rest[i + 1..];
    }
    (w, h, gray)
}

/// The text in an SVG's QR code.
pub fn decode_svg(svg: &str) -> String {
    let (w, h, gray) = rasterize_svg(svg, 3);
    decode_gray(w, h, |x, y| gray[y * w + x])
}

/// The entries of a ZIP, in order: name and content.
pub fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a readable ZIP");
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        assert_eq!(
            file.compression(),
            zip::CompressionMethod::Stored,
            "entries are stored"
        );
        let name = file.name().unwrap().into_owned();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

/// The manifest's rows, header first, split into cells (no quoting in these tests).
pub fn manifest_rows(manifest: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(manifest).unwrap();
    assert!(text.ends_with("\r\n"));
    text.split_terminator("\r\n")
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}

/// The entries of a ZIP read front to back from their local headers, as a streaming reader
/// does; stops at the end of the entries or where the data ends.
pub fn stream_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut reader = Cursor::new(bytes);
    let mut out = Vec::new();
    while let Ok(Some(mut file)) = zip::read::read_zipfile_from_stream(&mut reader) {
        let name = file.name().unwrap().into_owned();
        let mut data = Vec::new();
        if file.read_to_end(&mut data).is_err() {
            break;
        }
        out.push((name, data));
    }
    out
}

/// The text in a label image, PNG or SVG by its name.
pub fn decode_label(name: &str, data: &[u8]) -> String {
    if name.ends_with(".svg") {
        decode_svg(std::str::from_utf8(data).unwrap())
    } else {
        assert!(name.ends_with(".png"), "{name}");
        decode_png(data)
    }
}

/// Checks a finished archive: the manifest comes last and lists every other entry, in order,
/// and every label decodes to exactly the payload its manifest row names.
pub fn check_labels(entries: &[(String, Vec<u8>)]) {
    let (manifest_name, manifest) = entries.last().expect("a manifest");
    assert_eq!(manifest_name, dps_qr::MANIFEST_NAME);
    let rows = manifest_rows(manifest);
    assert_eq!(
        rows.len(),
        entries.len(),
        "one row per label, plus the header"
    );
    for ((name, data), row) in entries.iter().zip(&rows[1..]) {
        assert_eq!(&row[0], name);
        let text = decode_label(name, data);
        assert_eq!(text, row[4], "{name}");
        let payload: Payload = text.parse().unwrap();
        assert_eq!(payload.group().to_string(), row[1]);
        assert_eq!(payload.model().as_str(), row[3]);
    }
}

pub type Dps = Provisioner<InMemoryStore, FakeEnvironment>;

/// Serials with collisions of their file names, also ignoring case, and a reserved name.
pub const SERIALS: [&str; 8] = ["SN-7", "SN-1", "sn-1", "SN-3", "a:b", "a_b", "SN-5", "CON"];

/// A provisioner with small pages, and a group of devices `serials` (model `m1`; batch tag
/// `odd` or `even` by position).
pub async fn world(serials: &[&str]) -> (Dps, GroupId) {
    let injected = Injected {
        clock: Arc::new(ManualClock::new(EPOCH)),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(42)),
    };
    let env = FakeEnvironment::with_target(&Fixtures::target(), &["m1"]);
    let config = Config::default().with_page_size(3);
    let dps = Provisioner::with_parts(InMemoryStore::new(), env, injected, config)
        .with_keys(dps_testkit::test_keys());
    let mut settings = NewGroup::new("building".parse().unwrap());
    settings.default_target = Some(Fixtures::target());
    let group = dps.create_group(settings).await.unwrap();
    for (i, s) in serials.iter().enumerate() {
        let mut new = NewDevice::new(s.parse().unwrap(), "m1".parse().unwrap());
        new.batch_tag = Some(BatchTag::new(if i % 2 == 0 { "even" } else { "odd" }).unwrap());
        dps.register(group.id(), new).await.unwrap();
    }
    (dps, group.id())
}
