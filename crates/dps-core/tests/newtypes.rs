//! Boundary tests for every validated newtype, and arbitrary input to every text field.

use dps_core::{
    AssetId, AttributeId, AttributeName, BatchTag, Date, Description, DeviceName, Endpoint,
    EnvironmentId, Field, GroupName, Key, ModelId, OuId, Rule, Secret, SerialNumber, Target,
    Timezone, ValidationError,
};
use proptest::prelude::*;

type Check = fn(&str) -> Result<(), ValidationError>;

fn check<T: std::str::FromStr<Err = ValidationError>>(s: &str) -> Result<(), ValidationError> {
    s.parse::<T>().map(|_| ())
}

/// Identifier types: 1–64 of ASCII letters, digits and `- _ . :`.
const IDENTS: &[(&str, Field, Check)] = &[
    ("serial", Field::Serial, check::<SerialNumber>),
    ("model", Field::ModelId, check::<ModelId>),
    ("environment", Field::Environment, check::<EnvironmentId>),
    ("ou", Field::Ou, check::<OuId>),
];

/// Free-text types: 1–64 printable characters.
const NAMES: &[(&str, Field, Check)] = &[
    ("group name", Field::GroupName, check::<GroupName>),
    ("device name", Field::DeviceName, check::<DeviceName>),
    ("batch tag", Field::BatchTag, check::<BatchTag>),
    (
        "attribute name",
        Field::AttributeName,
        check::<AttributeName>,
    ),
];

fn rule(r: Result<(), ValidationError>) -> Option<Rule> {
    r.err().map(|e| e.rule)
}

#[test]
fn identifiers_take_1_to_64_allowed_ascii_characters() {
    for (name, field, f) in IDENTS {
        assert_eq!(rule(f("")), Some(Rule::Empty), "{name}: empty");
        assert!(f("a").is_ok(), "{name}: one character");
        assert!(f(&"a".repeat(64)).is_ok(), "{name}: 64 characters");
        assert!(f("Az09-_.:").is_ok(), "{name}: every allowed kind");
        let e = f(&"a".repeat(65)).unwrap_err();
        assert_eq!(e.rule, Rule::TooLong { max: 64 }, "{name}: 65 characters");
        assert_eq!(e.code(), "too_long");
        assert_eq!(e.field, *field);
        for bad in " !\"#$%&'()*+,/;<=>?@[\\]^`{|}~\t\n\u{0}\u{7f}".chars() {
            let value = format!("a{bad}b");
            let e = f(&value).unwrap_err();
            assert!(
                matches!(e.rule, Rule::ForbiddenChar { ch, .. } if ch == bad),
                "{name}: {bad:?} is forbidden, got {e}"
            );
            assert_eq!(e.field, *field);
            assert_eq!(e.code(), field.invalid_code());
        }
        for non_ascii in ["é", "ａ", "日本", "a\u{200b}"] {
            assert!(
                matches!(rule(f(non_ascii)), Some(Rule::ForbiddenChar { .. })),
                "{name}: {non_ascii:?} is not ASCII"
            );
        }
        for padded in [" a", "a ", "\ta", "a\n"] {
            assert_eq!(
                rule(f(padded)),
                Some(Rule::SurroundingWhitespace),
                "{name}: {padded:?}"
            );
        }
    }
}

#[test]
fn names_take_1_to_64_printable_characters() {
    for (name, field, f) in NAMES {
        assert_eq!(rule(f("")), Some(Rule::Empty), "{name}: empty");
        assert!(f("a").is_ok(), "{name}: one character");
        assert!(f(&"a".repeat(64)).is_ok(), "{name}: 64 characters");
        assert!(
            f(&"é".repeat(64)).is_ok(),
            "{name}: 64 non-ASCII characters"
        );
        assert!(
            f("Hall 7, floor 3 / 東").is_ok(),
            "{name}: spaces and symbols inside"
        );
        let e = f(&"é".repeat(65)).unwrap_err();
        assert_eq!(e.rule, Rule::TooLong { max: 64 }, "{name}: 65 characters");
        assert_eq!(e.field, *field);
        for bad in ['\u{0}', '\n', '\r', '\t', '\u{7f}', '\u{9b}'] {
            let e = f(&format!("a{bad}b")).unwrap_err();
            assert!(
                matches!(e.rule, Rule::ForbiddenChar { ch, .. } if ch == bad),
                "{name}: {bad:?} is forbidden"
            );
        }
        for padded in [" a", "a ", "\u{3000}a"] {
            assert_eq!(
                rule(f(padded)),
                Some(Rule::SurroundingWhitespace),
                "{name}: {padded:?}"
            );
        }
    }
}

#[test]
fn ascii_edge_characters_get_the_same_rules_as_any_other_text() {
    for (name, _, f) in NAMES {
        // Vertical tab and form feed are white space at the ends, forbidden inside.
        for ws in ['\u{b}', '\u{c}'] {
            for padded in [format!("{ws}a"), format!("a{ws}")] {
                assert_eq!(
                    rule(f(&padded)),
                    Some(Rule::SurroundingWhitespace),
                    "{name}: {padded:?}"
                );
            }
            let inside = format!("a{ws}b");
            assert!(
                matches!(rule(f(&inside)), Some(Rule::ForbiddenChar { ch, .. }) if ch == ws),
                "{name}: {inside:?}"
            );
        }
        // Control characters that are not white space are forbidden anywhere.
        for ctl in ['\u{1}', '\u{1f}', '\u{7f}'] {
            for text in [format!("{ctl}a"), format!("a{ctl}"), format!("a{ctl}b")] {
                assert!(
                    matches!(rule(f(&text)), Some(Rule::ForbiddenChar { ch, .. }) if ch == ctl),
                    "{name}: {text:?}"
                );
            }
        }
        // Length counts characters, whatever their width; too long is checked last.
        assert!(
            f(&format!("{}é", "a".repeat(63))).is_ok(),
            "{name}: 64 mixed"
        );
        assert_eq!(
            rule(f(&format!("{}é", "a".repeat(64)))),
            Some(Rule::TooLong { max: 64 }),
            "{name}: 65 mixed"
        );
        assert!(
            matches!(
                rule(f(&format!("{}\u{1}", "a".repeat(70)))),
                Some(Rule::ForbiddenChar { .. })
            ),
            "{name}: a forbidden character outranks the length"
        );
    }
    for (name, _, f) in IDENTS {
        assert!(f(&"a".repeat(64)).is_ok(), "{name}: 64 ASCII");
        assert_eq!(rule(f(&"a".repeat(65))), Some(Rule::TooLong { max: 64 }));
        assert_eq!(
            rule(f("\u{b}a")),
            Some(Rule::SurroundingWhitespace),
            "{name}"
        );
        for text in ["é", "aé", "a\u{7f}", "a\u{b}b"] {
            assert!(
                matches!(rule(f(text)), Some(Rule::ForbiddenChar { .. })),
                "{name}: {text:?}"
            );
        }
        assert!(
            matches!(
                rule(f(&format!("{}é", "a".repeat(70)))),
                Some(Rule::ForbiddenChar { .. })
            ),
            "{name}: a forbidden character outranks the length"
        );
    }
}

#[test]
fn descriptions_take_up_to_512_characters_with_line_breaks() {
    assert!(Description::new("").is_ok());
    assert!(Description::new("x").is_ok());
    assert!(Description::new("ü".repeat(512)).is_ok());
    assert!(Description::new("line one\nline two\ttabbed").is_ok());
    let e = Description::new("ü".repeat(513)).unwrap_err();
    assert_eq!((e.field, e.code()), (Field::Description, "too_long"));
    assert_eq!(
        Description::new(" x").unwrap_err().rule,
        Rule::SurroundingWhitespace
    );
    assert!(matches!(
        Description::new("a\u{0}b").unwrap_err().rule,
        Rule::ForbiddenChar { ch: '\u{0}', .. }
    ));
}

#[test]
fn attribute_ids_start_with_a_letter() {
    assert_eq!(AttributeId::new("").unwrap_err().rule, Rule::Empty);
    assert!(AttributeId::new("a").is_ok());
    assert!(AttributeId::new("a".repeat(64)).is_ok());
    assert_eq!(
        AttributeId::new("a".repeat(65)).unwrap_err().code(),
        "too_long"
    );
    for bad in ["1a", "_a", "a-b", "a.b", "a b", "é", "a:b"] {
        let e = AttributeId::new(bad).unwrap_err();
        assert_eq!(e.field, Field::AttributeId, "{bad}");
        assert_eq!(e.code(), "invalid_attribute_id", "{bad}");
    }
    assert_eq!(
        AttributeId::new(" a").unwrap_err().rule,
        Rule::SurroundingWhitespace
    );
}

#[test]
fn timezones_are_utc_offsets_from_minus_12_to_plus_14() {
    for ok in ["+00:00", "-00:00", "-12:00", "+14:00", "+05:30", "-09:45"] {
        assert!(Timezone::new(ok).is_ok(), "{ok}");
    }
    let cases = [
        ("", Rule::Empty),
        (" +01:00", Rule::SurroundingWhitespace),
        ("+01:00 ", Rule::SurroundingWhitespace),
        (
            "-12:01",
            Rule::OutOfRange {
                range: "between -12:00 and +14:00",
            },
        ),
        (
            "+14:01",
            Rule::OutOfRange {
                range: "between -12:00 and +14:00",
            },
        ),
        (
            "+05:60",
            Rule::OutOfRange {
                range: "between -12:00 and +14:00",
            },
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            Timezone::new(input).unwrap_err().rule,
            expected,
            "{input:?}"
        );
    }
    for bad in [
        "+5:30",
        "05:30",
        "+0530",
        "UTC",
        "+05:3a",
        "+０5:30",
        "+05:30:00",
    ] {
        let e = Timezone::new(bad).unwrap_err();
        assert_eq!(e.code(), "invalid_timezone", "{bad:?}");
        assert!(matches!(e.rule, Rule::Format { .. }), "{bad:?}: {e}");
    }
}

#[test]
fn issued_values_and_targets_are_checked_too() {
    assert!(AssetId::new("a".repeat(128)).is_ok());
    assert_eq!(
        AssetId::new("a".repeat(129)).unwrap_err().code(),
        "too_long"
    );
    assert_eq!(Key::new("").unwrap_err().code(), "invalid_key");
    assert_eq!(
        Secret::new("has space").unwrap_err().code(),
        "invalid_secret"
    );
    assert_eq!(Endpoint::new("").unwrap_err().code(), "invalid_endpoint");
    assert_eq!(
        "prod".parse::<Target>().unwrap_err().code(),
        "invalid_environment"
    );
    assert_eq!("prod/".parse::<Target>().unwrap_err().code(), "invalid_ou");
    assert_eq!(
        "prod/acme".parse::<Target>().unwrap().to_string(),
        "prod/acme"
    );
}

#[test]
fn serde_goes_through_the_same_checks() {
    let ok: SerialNumber = serde_json::from_str("\"SN-1\"").unwrap();
    assert_eq!(ok.as_str(), "SN-1");
    let err = serde_json::from_str::<SerialNumber>("\"SN 1\"").unwrap_err();
    assert!(err.to_string().contains("invalid serial"), "{err}");
    assert!(serde_json::from_str::<Timezone>("\"+15:00\"").is_err());
    assert!(serde_json::from_str::<Date>("\"2023-02-29\"").is_err());
    assert!(serde_json::from_str::<GroupName>("\"\"").is_err());
    // Escaped text is decoded before the check; a value that is not a string is refused.
    let name: GroupName = serde_json::from_str("\"Caf\\u00e9 \\\"north\\\"\"").unwrap();
    assert_eq!(name.as_str(), "Café \"north\"");
    let err = serde_json::from_str::<SerialNumber>("42").unwrap_err();
    assert!(err.to_string().contains("a serial string"), "{err}");
    // Long values (kept out of line) and short ones (kept inline) behave alike.
    for len in [1, 23, 24, 25, 64] {
        let text = "s".repeat(len);
        let serial = SerialNumber::new(&text).unwrap();
        assert_eq!(serial.as_str(), text);
        assert_eq!(
            serde_json::to_string(&serial).unwrap(),
            format!("\"{text}\"")
        );
        assert_eq!(serial.clone().into_string(), text);
        assert_eq!(SerialNumber::try_from(text.clone()).unwrap(), serial);
    }
}

#[test]
fn errors_name_the_field_and_the_rule() {
    let e = SerialNumber::new("a/b").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid serial: contains '/'; allowed are ASCII letters, digits and - _ . :"
    );
    let e = BatchTag::new("x".repeat(65)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid batch_tag: must be at most 64 characters"
    );
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_and_accepted_values_round_trip(s in any::<String>()) {
        for (_, _, f) in IDENTS.iter().chain(NAMES) {
            let _ = f(&s);
        }
        if let Ok(v) = SerialNumber::new(s.clone()) {
            prop_assert_eq!(v.as_str(), s.as_str());
            let json = serde_json::to_string(&v).unwrap();
            prop_assert_eq!(serde_json::from_str::<SerialNumber>(&json).unwrap(), v);
        }
        if let Ok(v) = DeviceName::new(s.clone()) {
            prop_assert_eq!(v.as_str(), s.as_str());
        }
        let _ = Description::new(s.clone());
        let _ = AttributeId::new(s.clone());
        let _ = Timezone::new(&s);
        let _ = s.parse::<Date>();
        let _ = s.parse::<Target>();
        let _ = Secret::new(s.clone());
    }

    #[test]
    fn near_miss_timezones_never_panic(sign in "[+-]?", h in "[0-9]{0,3}", m in "[0-9]{0,3}") {
        let text = format!("{sign}{h}:{m}");
        if let Ok(tz) = Timezone::new(&text) {
            prop_assert_eq!(tz.to_string(), text);
        }
    }
}

proptest! {
    /// Record identifiers sort as their UUIDs' bytes do, so that time-ordered identifiers
    /// keep their creation order as map keys.
    #[test]
    fn record_ids_sort_as_their_bytes(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), common in 0usize..16) {
        // A shared prefix of some length, so that later bytes decide too.
        let mut b = b;
        b[..common].copy_from_slice(&a[..common]);
        let (ua, ub) = (uuid::Uuid::from_bytes(a), uuid::Uuid::from_bytes(b));
        let expected = a.cmp(&b);
        prop_assert_eq!(dps_core::DeviceId::from_uuid(ua).cmp(&dps_core::DeviceId::from_uuid(ub)), expected);
        prop_assert_eq!(dps_core::GroupId::from_uuid(ua).cmp(&dps_core::GroupId::from_uuid(ub)), expected);
        prop_assert_eq!(
            dps_core::OperationId::from_uuid(ua).partial_cmp(&dps_core::OperationId::from_uuid(ub)),
            Some(expected)
        );
    }
}
