//! Every PNG and SVG drawn here is read back with `rqrr` and must hold exactly its payload.

mod common;

use common::{decode_png, decode_svg, payload, read_png};
use dps_qr::{EcLevel, Error, RenderOptions, Symbol, render_png, render_svg};

const LEVELS: [EcLevel; 4] = [EcLevel::L, EcLevel::M, EcLevel::Q, EcLevel::H];

fn samples() -> Vec<dps_qr::Payload> {
    vec![
        payload("SN-0001", "thermostat"),
        payload("a", "M"),
        payload("Mixed_case.Serial:42-x", "Model_Z.9"),
        payload(&"aA".repeat(32), &"z_".repeat(32)),
    ]
}

#[test]
fn pngs_decode_to_their_payload_at_every_ec_level() {
    for p in samples() {
        for level in LEVELS {
            let options = RenderOptions::default().with_ec_level(level);
            let png = render_png(&p, &options).unwrap();
            assert_eq!(decode_png(&png), p.render(), "{level} {p:?}");
        }
    }
}

#[test]
fn pngs_decode_with_other_module_sizes_and_quiet_zones() {
    let p = payload("SN-0001", "thermostat");
    for (module, quiet) in [(2, 4), (3, 2), (5, 8), (8, 4), (12, 1)] {
        let options = RenderOptions::default()
            .with_module_size(module)
            .with_quiet_zone(quiet);
        let png = render_png(&p, &options).unwrap();
        assert_eq!(
            decode_png(&png),
            p.render(),
            "module {module}, quiet {quiet}"
        );
    }
}

#[test]
fn png_is_one_bit_grayscale_with_the_quiet_zone_around() {
    let p = payload("SN-0001", "thermostat");
    let options = RenderOptions::default().with_caption(false);
    let symbol = Symbol::for_payload(&p, &options).unwrap();
    let bytes = render_png(&p, &options).unwrap();
    assert_eq!(decode_png(&bytes), p.render());
    let png = read_png(&bytes);
    assert_eq!(png.color, png::ColorType::Grayscale);
    assert_eq!(png.depth, png::BitDepth::One);
    let side = (symbol.size() + 8) * 8;
    assert_eq!((png.width, png.height), (side, side));
    // The quiet zone (4 modules of 8 px) is white; the top-left finder pattern starts dark.
    for i in 0..side {
        for j in 0..32 {
            assert_eq!(png.gray[j * side + i], 255, "top margin");
            assert_eq!(png.gray[i * side + j], 255, "left margin");
            assert_eq!(png.gray[(side - 1 - j) * side + i], 255, "bottom margin");
            assert_eq!(png.gray[i * side + side - 1 - j], 255, "right margin");
        }
    }
    assert_eq!(png.gray[32 * side + 32], 0);
    // Each module is an 8×8 block of the symbol's colour.
    for y in 0..symbol.size() {
        for x in 0..symbol.size() {
            let expected = if symbol.is_dark(x, y) { 0 } else { 255 };
            for (dx, dy) in [(0, 0), (7, 0), (0, 7), (7, 7)] {
                let (px, py) = (32 + x * 8 + dx, 32 + y * 8 + dy);
                assert_eq!(png.gray[py * side + px], expected, "module {x},{y}");
            }
        }
    }
}

#[test]
fn svgs_decode_to_their_payload_with_and_without_caption() {
    for p in samples() {
        for level in LEVELS {
            for caption in [false, true] {
                let options = RenderOptions::default()
                    .with_ec_level(level)
                    .with_caption(caption);
                let svg = render_svg(&p, &options).unwrap();
                assert_eq!(decode_svg(&svg), p.render(), "{level} caption {caption}");
                let shown = svg.contains(&format!(">{}</text>", p.serial()));
                assert_eq!(shown, caption, "the caption is the serial, when asked for");
            }
        }
    }
}

#[test]
fn svg_size_follows_module_size_and_quiet_zone() {
    let p = payload("SN-0001", "thermostat");
    let options = RenderOptions::default()
        .with_module_size(2)
        .with_quiet_zone(3)
        .with_caption(false);
    let symbol = Symbol::for_payload(&p, &options).unwrap();
    let svg = render_svg(&p, &options).unwrap();
    let side = symbol.size() + 6;
    assert!(svg.contains(&format!(
        "width=\"{}\" height=\"{}\" viewBox=\"0 0 {side} {side}\"",
        side * 2,
        side * 2
    )));
    assert_eq!(decode_svg(&svg), p.render());
}

#[test]
fn the_smallest_version_is_chosen_and_a_typical_label_is_version_3() {
    let p = payload("SN-00000001", "thermostat");
    assert_eq!(p.render().len(), 56, "as docs/qr-payload.md says");
    let options = RenderOptions::default();
    let symbol = Symbol::for_payload(&p, &options).unwrap();
    assert_eq!(symbol.version(), 3);
    assert_eq!(symbol.size(), 29);
    let smaller = options.with_max_version(2);
    let err = Symbol::for_payload(&p, &smaller).unwrap_err();
    assert_eq!(err.code(), "payload_too_long");
}

#[test]
fn a_payload_too_long_for_the_version_cap_is_a_typed_error() {
    let p = payload(&"aA".repeat(32), &"aA".repeat(32));
    let options = RenderOptions::default()
        .with_ec_level(EcLevel::H)
        .with_max_version(5);
    for result in [
        render_png(&p, &options).map(drop),
        render_svg(&p, &options).map(drop),
    ] {
        match result {
            Err(Error::PayloadTooLong {
                len,
                ec_level,
                max_version,
            }) => {
                assert_eq!(len, p.render().len());
                assert_eq!(ec_level, EcLevel::H);
                assert_eq!(max_version, 5);
            }
            other => panic!("expected payload_too_long, got {other:?}"),
        }
    }
}

#[test]
fn options_out_of_range_are_refused() {
    let p = payload("SN-0001", "thermostat");
    let cases = [
        (RenderOptions::default().with_module_size(0), "module_size"),
        (RenderOptions::default().with_module_size(33), "module_size"),
        (RenderOptions::default().with_quiet_zone(17), "quiet_zone"),
        (RenderOptions::default().with_max_version(0), "max_version"),
        (RenderOptions::default().with_max_version(41), "max_version"),
    ];
    for (options, name) in cases {
        let err = render_png(&p, &options).unwrap_err();
        assert_eq!(err.code(), "invalid_option");
        assert!(matches!(err, Error::InvalidOption { option, .. } if option == name));
        assert!(render_svg(&p, &options).is_err());
    }
}

#[test]
fn quiet_zone_defaults_to_four_and_ec_level_to_m() {
    let options = RenderOptions::default();
    assert_eq!(options.quiet_zone, 4);
    assert_eq!(options.ec_level, EcLevel::M);
    assert!(options.validate().is_ok());
}

#[test]
fn png_labels_show_the_serial_and_model_under_the_code_and_still_decode() {
    for module in [1, 2, 4, 8] {
        for (serial, model) in [("SN-0001", "thermostat"), (&*"S".repeat(64), "m1")] {
            let p = payload(serial, model);
            let options = RenderOptions::default().with_module_size(module);
            assert!(options.caption, "captions are on by default");
            let symbol = Symbol::for_payload(&p, &options).unwrap();
            let bytes = render_png(&p, &options).unwrap();
            assert_eq!(decode_png(&bytes), p.render(), "module {module}, {serial}");
            let png = read_png(&bytes);
            let side = (symbol.size() + 8) * module as usize;
            assert_eq!(png.width, side);
            assert!(png.height > side, "taller than the code: {}", png.height);
            // The quiet zone under the code stays white; the caption below it has ink.
            let quiet = 4 * module as usize;
            let row_dark = |y: usize| (0..png.width).any(|x| png.gray[y * png.width + x] == 0);
            assert!(
                !(side - quiet..side).any(row_dark),
                "the quiet zone is kept"
            );
            assert!(
                (side..png.height).any(row_dark),
                "the caption has dark pixels"
            );
            // Text never runs into the side margins of one module.
            let m = module as usize;
            for y in side..png.height {
                for x in (0..m).chain(png.width - m..png.width) {
                    assert_eq!(png.gray[y * png.width + x], 255, "margin at {x},{y}");
                }
            }
            let plain = render_png(&p, &options.clone().with_caption(false)).unwrap();
            assert_eq!(
                read_png(&plain).height,
                side,
                "without a caption, the code alone"
            );
        }
    }
}

#[test]
fn png_captions_differ_by_serial() {
    let options = RenderOptions::default();
    let caption_rows = |serial: &str| {
        let png = read_png(&render_png(&payload(serial, "m1"), &options).unwrap());
        png.gray[png.width * png.width..].to_vec()
    };
    assert_ne!(caption_rows("SN-0001"), caption_rows("SN-0002"));
    assert_eq!(caption_rows("SN-0001"), caption_rows("SN-0001"));
}
