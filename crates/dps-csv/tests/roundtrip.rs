//! Property: any valid device set survives export → import exactly, and an export planned
//! as an upsert changes nothing.

mod common;

use std::collections::BTreeMap;

use common::{dps, group, rt, schema};
use dps_core::{
    Atomicity, BatchTag, Date, Description, DeviceName, EnvironmentId, ModelId, NewDevice, OuId,
    Selection, SerialNumber, Target, Timezone, attribute::AttributeValue,
};
use dps_csv::{Delimiter, ExportOptions, ImportAction, ImportOptions, Limits, export, import};
use proptest::prelude::*;

/// Characters that make CSV and spreadsheets interesting.
const TRICKY: &[char] = &[
    'a', 'B', '7', ' ', ',', ';', '"', '\'', '=', '+', '-', '@', 'é', '漢', 'ß', '🙂', '\u{a0}',
    '.', ':', '|',
];
const LINE_BREAKS: &[char] = &['\n', '\r', '\t'];
const IDENT: &[char] = &['a', 'Z', '0', '9', '-', '_', '.', ':'];

fn text(max: usize, multiline: bool) -> impl Strategy<Value = String> {
    let mut chars = TRICKY.to_vec();
    if multiline {
        chars.extend_from_slice(LINE_BREAKS);
    }
    prop::collection::vec(prop::sample::select(chars), 0..max).prop_map(String::from_iter)
}

fn ident() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(IDENT.to_vec()), 1..12).prop_map(String::from_iter)
}

#[derive(Debug, Clone)]
struct Spec {
    serial: String,
    model: String,
    name: Option<String>,
    timezone: Option<i16>,
    batch_tag: Option<String>,
    description: Option<String>,
    target: Option<(String, String)>,
    floor: Option<i64>,
    note: Option<String>,
    color: Option<usize>,
    installed: Option<(u16, u8, u8)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (ident(), ident(), prop::option::of(text(20, false))),
        (
            prop::option::of(-720i16..=840),
            prop::option::of(text(20, false)),
            prop::option::of(text(40, true)),
            prop::option::of((ident(), ident())),
        ),
        (
            prop::option::of(any::<i64>()),
            prop::option::of(text(40, true)),
            prop::option::of(0usize..3),
            prop::option::of((1u16..=9999, 1u8..=12, 1u8..=28)),
        ),
    )
        .prop_map(
            |(
                (serial, model, name),
                (timezone, batch_tag, description, target),
                (floor, note, color, installed),
            )| Spec {
                serial,
                model,
                name,
                timezone,
                batch_tag,
                description,
                target,
                floor,
                note,
                color,
                installed,
            },
        )
}

/// The device a spec describes, when every value is valid (invalid ones are dropped).
fn device(s: Spec) -> Option<NewDevice> {
    let mut d = NewDevice::new(
        SerialNumber::new(s.serial).ok()?,
        ModelId::new(s.model).ok()?,
    );
    d.name = s.name.and_then(|v| DeviceName::new(v).ok());
    d.timezone = s.timezone.and_then(Timezone::from_offset_minutes);
    d.batch_tag = s.batch_tag.and_then(|v| BatchTag::new(v).ok());
    d.description = s.description.and_then(|v| Description::new(v).ok());
    d.target = s
        .target
        .and_then(|(e, o)| Some(Target::new(EnvironmentId::new(e).ok()?, OuId::new(o).ok()?)));
    let schema = schema();
    let mut put = |id: &str, v: AttributeValue| {
        if schema.get(id).is_some_and(|def| def.check(&v).is_ok()) {
            d.attributes.insert(id.parse().unwrap(), v);
        }
    };
    if let Some(f) = s.floor {
        put("floor", AttributeValue::Integer(f));
    }
    if let Some(n) = s.note {
        put("note", AttributeValue::String(n));
    }
    if let Some(c) = s.color {
        put(
            "color",
            AttributeValue::Enum(["red", "blue sky", "-low"][c].into()),
        );
    }
    if let Some((y, m, day)) = s.installed {
        put(
            "installed",
            AttributeValue::Date(Date::from_ymd(y, m, day)?),
        );
    }
    Some(d)
}

fn devices() -> impl Strategy<Value = Vec<NewDevice>> {
    prop::collection::vec(spec(), 1..12).prop_map(|specs| {
        let mut by_serial = BTreeMap::new();
        for d in specs.into_iter().filter_map(device) {
            by_serial.entry(d.serial.clone()).or_insert(d);
        }
        by_serial.into_values().collect()
    })
}

fn options() -> impl Strategy<Value = ExportOptions> {
    (any::<bool>(), any::<bool>()).prop_map(|(bom, semicolon)| {
        let o = ExportOptions::default().with_page_size(3);
        let o = if bom { o.with_bom() } else { o.without_bom() };
        if semicolon {
            o.with_delimiter(Delimiter::Semicolon)
        } else {
            o
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn export_then_import_reproduces_every_editable_field(devices in devices(), options in options()) {
        rt().block_on(async {
            let dps = dps();
            let source = group(&dps, "source", schema()).await;
            let registered = dps
                .register_many(source.id(), devices.clone(), Atomicity::AllOrNothing)
                .await
                .unwrap();
            assert!(registered.committed, "{:?}", registered.outcomes);

            let (csv, summary) = export(&dps, source.id(), &Selection::all(), Vec::new(), &options)
                .await
                .unwrap();
            assert_eq!(summary.rows, devices.len() as u64);

            let copy = group(&dps, "copy", schema()).await;
            let imported = import(
                &dps,
                copy.id(),
                csv.as_slice(),
                &ImportOptions::default().with_limits(Limits::unbounded()),
            )
            .await
            .unwrap();
            assert_eq!(
                imported.summary.created,
                devices.len() as u64,
                "{:?}\n{}",
                imported.rows,
                String::from_utf8_lossy(&csv)
            );
            for d in &devices {
                let a = dps.device_by_serial(source.id(), &d.serial).await.unwrap();
                let b = dps.device_by_serial(copy.id(), &d.serial).await.unwrap();
                assert_eq!(b.model_id(), &d.model_id);
                assert_eq!(b.name(), d.name.as_ref());
                assert_eq!(b.timezone(), d.timezone);
                assert_eq!(b.batch_tag(), d.batch_tag.as_ref());
                assert_eq!(b.description(), d.description.as_ref());
                assert_eq!(b.target(), d.target.as_ref());
                assert_eq!(b.attributes(), a.attributes());
                for (id, v) in &d.attributes {
                    assert_eq!(b.attributes().get(id), Some(v));
                }
            }

            let plan = import(
                &dps,
                source.id(),
                csv.as_slice(),
                &ImportOptions::default().upsert().dry_run().with_limits(Limits::unbounded()),
            )
            .await
            .unwrap();
            assert_eq!(plan.rows.len(), devices.len());
            for row in &plan.rows {
                assert_eq!(row.result, Ok(ImportAction::Unchanged), "line {}", row.line);
            }
        });
    }
}
