//! Arbitrary bytes into the device-file reader. Properties:
//!
//! - it never panics, and every error is either a whole-file error or a row error with a
//!   line, a snake_case code and a value of at most 64 characters;
//! - every row it accepts validates again on its own: its values pass their newtypes' rules,
//!   the group's schema, and `Device::register`;
//! - every accepted row survives its own export: written with `DeviceWriter` and read back,
//!   it gives the same device.
//!
//! The first byte of the input picks the limits. `crates/dps-csv/tests/properties.rs` checks
//! the same properties on stable, over generated files and over every file of
//! `fuzz/corpus/csv_import`. Run it with nightly:
//! `cargo +nightly fuzz run csv_import fuzz/corpus/csv_import`. The other targets are
//! `qr_payload`, `http_bootstrap` and `http_import`.
#![no_main]

use dps_core::{
    BatchTag, Description, Device, DeviceId, DeviceName, GroupId, ModelId, NewGroup,
    RegistrationGroup, Secret, SerialNumber, Timestamp, Uuid, attribute::AttributeDef,
    attribute::AttributeSchema, attribute::AttributeType, attribute::AttributeValue,
};
use dps_csv::{DeviceReader, DeviceWriter, ExportOptions, Limits, MAX_VALUE_CHARS};
use libfuzzer_sys::fuzz_target;

fn group() -> RegistrationGroup {
    let mut new = NewGroup::new("fuzz".parse().expect("group name"));
    new.attributes = AttributeSchema::new(vec![
        AttributeDef::new("floor".parse().expect("id"), AttributeType::Integer),
        AttributeDef::new(
            "note".parse().expect("id"),
            AttributeType::String { max_len: 40 },
        ),
        AttributeDef::new(
            "color".parse().expect("id"),
            AttributeType::Enum {
                items: vec!["red".into(), "-blue".into()],
            },
        )
        .with_default(AttributeValue::Enum("red".into())),
        AttributeDef::new("installed".parse().expect("id"), AttributeType::Date).required(),
    ])
    .expect("schema");
    RegistrationGroup::new(
        GroupId::from_uuid(Uuid::nil()),
        new,
        dps_testkit::sealed(
            &Secret::from_bytes_hex(&[1; 8]),
            dps_core::seal::SecretOf::Group(GroupId::from_uuid(Uuid::nil())),
        ),
        Timestamp::from_unix_millis(0),
    )
}

fn is_code(code: &str) -> bool {
    !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fuzz_target!(|data: &[u8]| {
    let group = group();
    let schema = group.attributes();
    // The first byte picks the limits, so that the limit paths are fuzzed too.
    let (limits, data) = match data.split_first() {
        Some((b, rest)) if b % 4 == 0 => (
            Limits::default()
                .with_max_field_bytes(16)
                .with_max_records(8),
            rest,
        ),
        Some((b, rest)) if b % 4 == 1 => (Limits::default().with_max_bytes(256), rest),
        Some((_, rest)) => (Limits::default(), rest),
        None => (Limits::default(), data),
    };
    let reader = match DeviceReader::new(data, schema, limits) {
        Ok(r) => r,
        Err(e) => {
            assert!(is_code(e.code()));
            return;
        }
    };
    for item in reader {
        let row = match item {
            Ok(Ok(row)) => row,
            Ok(Err(e)) => {
                assert!(e.line >= 1);
                assert!(is_code(e.code), "{}", e.code);
                assert!(e.value.chars().count() <= MAX_VALUE_CHARS);
                continue;
            }
            Err(e) => {
                assert!(is_code(e.code()));
                break;
            }
        };
        let d = &row.device;
        SerialNumber::new(d.serial.as_str()).expect("serial validates again");
        ModelId::new(d.model_id.as_str()).expect("model validates again");
        if let Some(v) = &d.name {
            DeviceName::new(v.as_str()).expect("name validates again");
        }
        if let Some(v) = &d.batch_tag {
            BatchTag::new(v.as_str()).expect("batch tag validates again");
        }
        if let Some(v) = &d.description {
            Description::new(v.as_str()).expect("description validates again");
        }
        schema
            .resolve(d.attributes.clone())
            .expect("attributes fit the schema");
        let device = Device::register(
            DeviceId::from_uuid(Uuid::nil()),
            &group,
            d.clone(),
            Timestamp::from_unix_millis(0),
        )
        .expect("an accepted row registers");

        let mut out =
            DeviceWriter::new(Vec::new(), schema, &ExportOptions::default()).expect("header");
        out.write(&device).expect("row");
        let bytes = out.finish().expect("flush");
        let again: Vec<_> = DeviceReader::new(bytes.as_slice(), schema, Limits::unbounded())
            .expect("an export's header reads")
            .collect::<Result<_, _>>()
            .expect("an export reads");
        assert_eq!(again.len(), 1);
        let back = again[0].as_ref().expect("an exported row is accepted");
        assert_eq!(back.device.serial, d.serial);
        assert_eq!(back.device.model_id, d.model_id);
        assert_eq!(back.device.name, d.name);
        assert_eq!(back.device.timezone, d.timezone);
        assert_eq!(back.device.batch_tag, d.batch_tag);
        assert_eq!(back.device.description, d.description);
        assert_eq!(back.device.target, d.target);
        assert_eq!(&back.device.attributes, device.attributes());
    }
});
