//! The payload's text form: round trips, typed errors, and that no single-character change
//! of a rendered payload reads back as the same payload.

mod common;

use common::payload;
use dps_core::{GroupId, ModelId, SerialNumber, Uuid};
use dps_qr::{Payload, PayloadError};
use proptest::prelude::*;

/// The check character that makes `body` (a payload without its last character) pass the
/// check, found by trying them all.
fn with_check(body: &str) -> String {
    const CHECK: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:*+$%";
    CHECK
        .chars()
        .map(|c| format!("{body}{c}"))
        .find(|t| !matches!(Payload::parse(t), Err(PayloadError::CheckMismatch { .. })))
        .expect("one check character passes")
}

#[test]
fn rendered_payloads_use_only_qr_alphanumeric_characters() {
    let p = payload("Mixed_case.Serial:42-x", "thermostat");
    let text = p.render();
    assert!(
        text.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || " $%*+-./:".contains(c)),
        "{text}"
    );
    assert_eq!(
        text,
        "DPS1/03C2SUDZ4YUYDV0KU4F7Q8FDJ/M*IXED+CASE.*S*ERIAL:42-X/*THERMOSTAT/N"
    );
    assert_eq!(Payload::parse(&text).unwrap(), p);
}

#[test]
fn round_trips_cover_the_extremes() {
    let groups = [Uuid::nil(), Uuid::max(), Uuid::from_u128(36u128.pow(24))];
    let fields = [
        "a",
        "Z",
        "0",
        "_",
        ".",
        ":",
        "-",
        "aA_:.-zZ09",
        &"x".repeat(64),
    ];
    for g in groups {
        for s in fields {
            for m in fields {
                let p = Payload::new(
                    GroupId::from_uuid(g),
                    SerialNumber::new(s).unwrap(),
                    ModelId::new(m).unwrap(),
                );
                assert_eq!(p.render().parse::<Payload>().unwrap(), p);
                assert_eq!(p.to_string(), p.render());
            }
        }
    }
}

#[test]
fn foreign_texts_are_unknown_formats() {
    for text in [
        "",
        "D",
        "DPS",
        "dps1/...",
        "https://example.com",
        "DPSX/1",
        "DPS/1",
    ] {
        let err = Payload::parse(text).unwrap_err();
        assert_eq!(err, PayloadError::UnknownFormat, "{text:?}");
        assert_eq!(err.code(), "invalid_payload");
    }
}

#[test]
fn other_versions_are_named() {
    let err = Payload::parse("DPS2/ANYTHING").unwrap_err();
    assert_eq!(
        err,
        PayloadError::UnsupportedVersion {
            version: "2".to_owned()
        }
    );
    assert_eq!(err.code(), "unsupported_payload_version");
    assert_eq!(
        err.to_string(),
        "unsupported label payload version 2; this library reads version 1"
    );
}

#[test]
fn a_wrong_check_character_is_a_check_mismatch() {
    let text = payload("SN-0001", "thermostat").render();
    let (body, check) = text.split_at(text.len() - 1);
    let other = if check == "0" { "1" } else { "0" };
    let err = Payload::parse(&format!("{body}{other}")).unwrap_err();
    assert!(matches!(err, PayloadError::CheckMismatch { .. }), "{err:?}");
    assert_eq!(err.code(), "payload_check_mismatch");
}

#[test]
fn malformed_texts_with_a_valid_check_are_still_refused() {
    let g = "03C2SUDZ4YUYDV0KU4F7Q8FDJ";
    let cases = [
        // A case toggle not followed by a letter, or doubled.
        (format!("DPS1/{g}/SN*1/M/"), "invalid_payload"),
        (format!("DPS1/{g}/**SN/M/"), "invalid_payload"),
        (format!("DPS1/{g}/SN*/M/"), "invalid_payload"),
        // Missing and extra fields.
        (format!("DPS1/{g}/SN/"), "invalid_payload"),
        (format!("DPS1/{g}/SN/M/X/"), "invalid_payload"),
        // A short, long or out-of-range group ID.
        (format!("DPS1/{}/SN/M/", &g[1..]), "invalid_payload"),
        (format!("DPS1/{g}0/SN/M/"), "invalid_payload"),
        (
            "DPS1/ZZZZZZZZZZZZZZZZZZZZZZZZZ/SN/M/".to_owned(),
            "invalid_payload",
        ),
        // Fields that decode but break their rules.
        (format!("DPS1/{g}//M/"), "invalid_serial"),
        (format!("DPS1/{g}/SN//"), "invalid_model_id"),
        (format!("DPS1/{g}/{}/M/", "X".repeat(65)), "too_long"),
    ];
    for (body, code) in cases {
        let text = with_check(&body);
        let err = Payload::parse(&text).unwrap_err();
        assert_eq!(err.code(), code, "{text}: {err}");
    }
}

#[test]
fn lower_case_and_foreign_characters_are_refused_where_they_are() {
    let text = payload("SN-0001", "thermostat").render();
    for (i, c) in [(6, 'a'), (31, ' '), (32, 'é'), (8, '_')] {
        let mut chars: Vec<char> = text.chars().collect();
        chars[i] = c;
        let changed: String = chars.into_iter().collect();
        match Payload::parse(&changed).unwrap_err() {
            PayloadError::Malformed { position, .. } => assert_eq!(position, i, "{changed}"),
            other => panic!("{changed}: {other:?}"),
        }
    }
}

#[test]
fn an_overlong_text_is_refused_without_reading_it_all() {
    let text = format!("DPS1/{}", "A".repeat(100_000));
    assert_eq!(Payload::parse(&text).unwrap_err().code(), "invalid_payload");
}

fn any_payload() -> impl Strategy<Value = Payload> {
    let field = "[A-Za-z0-9_.:-]{1,64}";
    (any::<u128>(), field, field).prop_map(|(g, s, m)| {
        Payload::new(
            GroupId::from_uuid(Uuid::from_u128(g)),
            SerialNumber::new(s).unwrap(),
            ModelId::new(m).unwrap(),
        )
    })
}

/// One character changed, deleted or inserted.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Delete(usize),
    Insert(usize, char),
}

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::sample::select(
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz $%*+-./:_"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

fn any_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any_char()).prop_map(|(i, c)| Edit::Replace(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), any_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
    ]
}

fn apply(text: &str, edit: &Edit) -> Option<String> {
    let mut chars: Vec<char> = text.chars().collect();
    match *edit {
        Edit::Replace(i, c) => {
            let i = i % chars.len();
            if chars[i] == c {
                return None;
            }
            chars[i] = c;
        }
        Edit::Delete(i) => {
            let i = i % chars.len();
            chars.remove(i);
        }
        Edit::Insert(i, c) => {
            let i = i % (chars.len() + 1);
            chars.insert(i, c);
        }
    }
    Some(chars.into_iter().collect())
}

/// The properties of the fuzz target `qr_payload` for one input: the parser never panics, it
/// accepts only canonical texts, every payload it accepts survives a round trip and refuses
/// a changed check character, every refusal has a code and a message, and a payload built
/// from whatever parts the input spells (`serial\0model`) round-trips.
fn check_text(data: &[u8]) -> Result<(), TestCaseError> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    match Payload::parse(text) {
        Ok(payload) => {
            let rendered = payload.render();
            prop_assert_eq!(&rendered, text, "an accepted text is canonical");
            prop_assert_eq!(Payload::parse(&rendered), Ok(payload.clone()));
            let body = &rendered[..rendered.len() - 1];
            for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:*+$%".chars() {
                let other = format!("{body}{c}");
                if other != rendered {
                    prop_assert!(Payload::parse(&other).is_err(), "{} parses", other);
                }
            }
        }
        Err(e) => {
            prop_assert!(!e.code().is_empty());
            prop_assert!(!e.to_string().is_empty());
        }
    }
    if let Some((serial, model)) = text.split_once('\u{0}')
        && let (Ok(serial), Ok(model)) = (serial.parse(), model.parse())
    {
        let group = GroupId::from_uuid(Uuid::from_u128(
            data.iter()
                .fold(0u128, |acc, b| acc.rotate_left(8) ^ u128::from(*b)),
        ));
        let payload = Payload::new(group, serial, model);
        prop_assert_eq!(Payload::parse(&payload.render()), Ok(payload));
    }
    Ok(())
}

#[test]
fn every_file_of_the_fuzz_corpus_keeps_the_properties() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/qr_payload");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "only {} files in {}",
        files.len(),
        dir.display()
    );
    let mut accepted = 0;
    for path in &files {
        let data = std::fs::read(path).unwrap();
        if let Err(e) = check_text(&data) {
            panic!("{}: {e}", path.display());
        }
        accepted +=
            usize::from(std::str::from_utf8(&data).is_ok_and(|t| Payload::parse(t).is_ok()));
    }
    // The corpus reaches the accepted path, not only the refusals.
    assert!(accepted >= 5, "only {accepted} files parse");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_inverts_render(p in any_payload()) {
        let text = p.render();
        prop_assert_eq!(Payload::parse(&text), Ok(p));
    }

    #[test]
    fn a_single_character_change_never_reads_as_the_same_payload(
        p in any_payload(),
        edit in any_edit(),
    ) {
        let text = p.render();
        let Some(changed) = apply(&text, &edit) else { return Ok(()) };
        match Payload::parse(&changed) {
            Err(_) => {}
            Ok(q) => prop_assert_ne!(q, p, "{} became {}", text, changed),
        }
        // A substitution is always caught, by the check character or the format.
        if let Edit::Replace(..) = edit {
            prop_assert!(Payload::parse(&changed).is_err(), "{} became {}", text, changed);
        }
    }

    #[test]
    fn neighbours_swapped_are_caught(p in any_payload(), i in any::<usize>()) {
        let text = p.render();
        let mut bytes = text.clone().into_bytes();
        let i = i % (bytes.len() - 1);
        prop_assume!(bytes[i] != bytes[i + 1]);
        bytes.swap(i, i + 1);
        let swapped = String::from_utf8(bytes).unwrap();
        prop_assert!(Payload::parse(&swapped).is_err(), "{} became {}", text, swapped);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        check_text(text.as_bytes())?;
    }
}
