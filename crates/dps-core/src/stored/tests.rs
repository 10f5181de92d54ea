use uuid::Uuid;

use super::*;
use crate::attribute::{AttributeDef, AttributeSchema, AttributeType, AttributeValue};
use crate::device::{Device, LastError, Replacement};
use crate::event::{EventKind, NewEvent};
use crate::group::{ModelType, NewGroup, RegistrationGroup, ReprovisionMethod};
use crate::id::{DeviceId, EventCursor, GroupId, OperationId, Version};
use crate::inject::SeededSecrets;
use crate::seal::{Keys, SealedSecret, Sealer, SealingKey, SecretOf};
use crate::secret::Secret;
use crate::state::{Allocated, AllocationState, Pending, PendingAction, SealedCredentials};
use crate::text::SerialNumber;
use crate::time::Timestamp;

fn p<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

fn t(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

/// A sealer with one fixed key, `k1`, and nonces from a seeded source.
fn sealer() -> Sealer {
    let keys = Keys::new(p("k1"), SealingKey::from_bytes([1; 32]));
    Sealer::new(
        std::sync::Arc::new(keys),
        std::sync::Arc::new(SeededSecrets::new(3)),
    )
}

fn clear(text: &str) -> SealedSecret {
    SealedSecret::clear(Secret::new(text).unwrap())
}

fn allocated(device_secret: SealedSecret) -> Allocated {
    Allocated {
        target: p("prod/acme"),
        asset_id: p("asset-1"),
        credentials: SealedCredentials {
            product_key: p("pk"),
            device_key: p("dk"),
            device_secret,
        },
        allocated_at: t(2),
        bootstrapped_at: Some(t(3)),
    }
}

/// A device pending a replacement, with every optional field set, its secret in clear as
/// format version 1 kept it.
fn device() -> Device {
    device_with(clear("s3cret"))
}

/// [`device`] with its secret sealed.
fn sealed_device() -> Device {
    let id = DeviceId::from_uuid(Uuid::from_u128(2));
    let secret = Secret::new("s3cret").unwrap();
    device_with(sealer().seal(&secret, SecretOf::Device(id)).unwrap())
}

fn device_with(device_secret: SealedSecret) -> Device {
    Device {
        id: DeviceId::from_uuid(Uuid::from_u128(2)),
        group_id: GroupId::from_uuid(Uuid::from_u128(1)),
        serial: p("SN-2"),
        model_id: p("m1"),
        name: Some(p("Boiler")),
        timezone: Some(p("+01:00")),
        batch_tag: Some(p("b1")),
        description: Some(p("Basement")),
        target: Some(p("prod/acme")),
        attributes: [
            (p("floor"), AttributeValue::Integer(3)),
            (p("installed"), AttributeValue::Date(p("2026-01-15"))),
        ]
        .into(),
        state: AllocationState::Pending(Pending {
            operation: OperationId::from_uuid(Uuid::from_u128(9)),
            action: Box::new(PendingAction::Replace {
                from: allocated(device_secret),
                old_serial: p("SN-1"),
                batch_tag: p("rma"),
                description: None,
            }),
            started_at: t(4),
            lease_until: None,
            attempts: 2,
        }),
        first_target: Some(p("prod/acme")),
        last_error: Some(Box::new(LastError {
            code: "environment_unavailable".into(),
            message: "try later".into(),
            at: t(5),
        })),
        replacements: vec![Replacement {
            old_serial: p("SN-0"),
            new_serial: p("SN-1"),
            batch_tag: p("rma-0"),
            at: t(1),
        }],
        version: Version::INITIAL.next(),
        created_at: t(0),
        updated_at: t(5),
    }
}

const DEVICE_JSON: &str = concat!(
    r#"{"format":1,"id":"00000000-0000-0000-0000-000000000002","#,
    r#""group_id":"00000000-0000-0000-0000-000000000001","serial":"SN-2","model_id":"m1","#,
    r#""name":"Boiler","timezone":"+01:00","batch_tag":"b1","description":"Basement","#,
    r#""target":{"environment":"prod","ou":"acme"},"#,
    r#""attributes":{"floor":{"type":"integer","value":3},"#,
    r#""installed":{"type":"date","value":"2026-01-15"}},"#,
    r#""state":{"status":"pending","operation":"00000000-0000-0000-0000-000000000009","#,
    r#""action":{"action":"replace","from":{"target":{"environment":"prod","ou":"acme"},"#,
    r#""asset_id":"asset-1","credentials":{"product_key":"pk","device_key":"dk","#,
    r#""device_secret":"s3cret"},"allocated_at":2,"bootstrapped_at":3},"#,
    r#""old_serial":"SN-1","batch_tag":"rma","description":null},"#,
    r#""started_at":4,"lease_until":null,"attempts":2},"#,
    r#""first_target":{"environment":"prod","ou":"acme"},"#,
    r#""last_error":{"code":"environment_unavailable","message":"try later","at":5},"#,
    r#""replacements":[{"old_serial":"SN-0","new_serial":"SN-1","batch_tag":"rma-0","at":1}],"#,
    r#""version":2,"created_at":0,"updated_at":5}"#
);

/// A group with every setting, its secrets in clear as format version 1 kept them.
fn group() -> RegistrationGroup {
    group_with(clear("old"), clear("new"))
}

/// [`group`] with its secrets sealed.
fn sealed_group() -> RegistrationGroup {
    let of = SecretOf::Group(GroupId::from_uuid(Uuid::from_u128(1)));
    let s = sealer();
    let old = s.seal(&Secret::new("old").unwrap(), of).unwrap();
    group_with(old, s.seal(&Secret::new("new").unwrap(), of).unwrap())
}

fn group_with(old: SealedSecret, new_secret: SealedSecret) -> RegistrationGroup {
    let mut new = NewGroup::new(p("Building 7"));
    new.default_target = Some(p("prod/acme"));
    new.model_type = ModelType::Private;
    new.reprovision = ReprovisionMethod::Disabled;
    new.attributes = AttributeSchema::new(vec![
        AttributeDef::new(p("floor"), AttributeType::Integer).required(),
        AttributeDef::new(
            p("color"),
            AttributeType::Enum {
                items: vec!["red".into()],
            },
        )
        .with_default(AttributeValue::Enum("red".into())),
    ])
    .unwrap();
    let g = RegistrationGroup::new(GroupId::from_uuid(Uuid::from_u128(1)), new, old, t(0));
    g.with_rotated_secret(new_secret, true, t(1))
}

const GROUP_JSON: &str = concat!(
    r#"{"format":1,"id":"00000000-0000-0000-0000-000000000001","name":"Building 7","#,
    r#""description":null,"default_target":{"environment":"prod","ou":"acme"},"#,
    r#""model_type":"private","reprovision":"disabled","auto_activation":false,"#,
    r#""secret":"new","previous_secret":"old","secret_rotated_at":1,"attributes":["#,
    r#"{"id":"floor","name":"floor","type":"integer","required":true,"default":null},"#,
    r#"{"id":"color","name":"color","type":"enum","items":["red"],"required":false,"#,
    r#""default":{"type":"enum","value":"red"}}],"#,
    r#""version":2,"created_at":0,"updated_at":1}"#
);

fn event() -> NewEvent {
    NewEvent {
        at: t(7),
        actor: None,
        group_id: GroupId::from_uuid(Uuid::from_u128(1)),
        device_id: None,
        serial: Some(p("SN-9")),
        kind: EventKind::BootstrapRefused {
            reason: crate::bootstrap::BootstrapRefusal::StaleTimestamp { skew_seconds: -400 },
            suppressed: 3,
        },
    }
}

const EVENT_JSON: &str = concat!(
    r#"{"format":1,"at":7,"group_id":"00000000-0000-0000-0000-000000000001","#,
    r#""device_id":null,"serial":"SN-9","kind":{"kind":"bootstrap_refused","#,
    r#""reason":{"code":"stale_timestamp","skew_seconds":-400},"suppressed":3}}"#
);

/// `json` (of format version 1) as version 2 writes it, its secrets sealed as `sealed` are.
fn as_version_2(json: &str, secrets: &[(&str, &SealedSecret)]) -> String {
    let mut json = json.replacen(r#""format":1"#, r#""format":2"#, 1);
    for (text, sealed) in secrets {
        let stored = serde_json::to_string(&super::secret::StoredSecret((*sealed).clone()));
        json = json.replacen(&format!("{text:?}"), &stored.unwrap(), 1);
    }
    json
}

fn device_secret(d: &Device) -> &SealedSecret {
    let Some(PendingAction::Replace { from, .. }) = d.state().pending().map(|p| p.action()) else {
        panic!("the pinned device is pending a replacement");
    };
    &from.credentials.device_secret
}

#[test]
fn the_stored_json_of_known_records_is_pinned() {
    let d = sealed_device();
    let json = StoredDevice::from(&d).to_json().unwrap();
    assert_eq!(
        json,
        as_version_2(DEVICE_JSON, &[("s3cret", device_secret(&d))])
    );
    assert!(
        json.contains(r#""device_secret":{"key":"k1","nonce":""#),
        "{json}"
    );
    assert!(!json.contains("s3cret"), "{json}");
    let g = sealed_group();
    let previous = g.previous_secret().unwrap();
    assert_eq!(
        StoredGroup::from(&g).to_json().unwrap(),
        as_version_2(GROUP_JSON, &[("new", g.secret()), ("old", previous)])
    );
    assert_eq!(
        StoredEvent::from(&event()).to_json().unwrap(),
        as_version_2(EVENT_JSON, &[])
    );
}

#[test]
fn stored_records_read_back_as_the_domain_records() {
    let d = sealed_device();
    let json = StoredDevice::from(&d).to_json().unwrap();
    assert_eq!(decode_device(&json).unwrap(), d);
    let g = sealed_group();
    assert_eq!(
        decode_group(&StoredGroup::from(&g).to_json().unwrap()).unwrap(),
        g
    );
    let e = decode_event(EventCursor::new(4), EVENT_JSON).unwrap();
    assert_eq!(e, crate::Event::from_new(EventCursor::new(4), event()));
}

#[test]
fn version_1_records_read_back_with_their_secrets_in_clear() {
    let d = decode_device(DEVICE_JSON).unwrap();
    assert_eq!(d, device());
    assert!(!device_secret(&d).is_sealed());
    let g = decode_group(GROUP_JSON).unwrap();
    assert_eq!(g, group());
    assert!(!g.secret().is_sealed());
    // A secret in clear is not used; a reseal seals it.
    let of = SecretOf::Group(g.id());
    let s = sealer();
    assert!(matches!(
        s.open(g.secret(), of),
        Err(crate::seal::KeyError::InClear { .. })
    ));
    let sealed = s.reseal(g.secret(), of).unwrap().unwrap();
    assert_eq!(s.open(&sealed, of).unwrap().expose(), "new");
    // Until then a record with a secret in clear is written back in format version 1.
    assert_eq!(StoredGroup::from(&g).to_json().unwrap(), GROUP_JSON);
    assert_eq!(StoredDevice::from(&d).to_json().unwrap(), DEVICE_JSON);
}

#[test]
fn a_version_2_record_with_a_secret_in_clear_is_corrupt() {
    let e = decode_group(&as_version_2(GROUP_JSON, &[])).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("holds a secret in clear"), "{e}");
    let e = decode_device(&as_version_2(DEVICE_JSON, &[])).unwrap_err();
    assert!(e.to_string().contains("holds a secret in clear"), "{e}");
}

#[test]
fn a_damaged_sealed_secret_is_corrupt() {
    let d = sealed_device();
    let json = StoredDevice::from(&d).to_json().unwrap();
    let short_nonce = json.replacen(r#""nonce":""#, r#""nonce":"AAAA"#, 1);
    let e = decode_device(&short_nonce).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    let not_base64 = json.replacen(r#""sealed":""#, r#""sealed":"!"#, 1);
    assert!(matches!(
        decode_device(&not_base64),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn an_event_keeps_its_actor_and_one_without_reads_as_nobody() {
    let mut named = event();
    named.actor = Some(p("ops-team"));
    let json = StoredEvent::from(&named).to_json().unwrap();
    assert!(json.contains(r#""actor":"ops-team""#), "{json}");
    assert_eq!(
        NewEvent::from(StoredEvent::from_json(&json).unwrap()),
        named
    );
    // The pinned event was written before events named their actor.
    assert!(!EVENT_JSON.contains("actor"));
    assert_eq!(
        NewEvent::from(StoredEvent::from_json(EVENT_JSON).unwrap()).actor,
        None
    );
}

#[test]
fn records_without_a_format_version_are_version_1() {
    let legacy = DEVICE_JSON.replacen(r#""format":1,"#, "", 1);
    let stored = StoredDevice::from_json(&legacy).unwrap();
    assert_eq!(stored.format_version(), 1);
    assert_eq!(Device::from(stored), device());
    let legacy = GROUP_JSON.replacen(r#""format":1,"#, "", 1);
    assert_eq!(decode_group(&legacy).unwrap(), group());
    let legacy = EVENT_JSON.replacen(r#""format":1,"#, "", 1);
    assert_eq!(StoredEvent::from_json(&legacy).unwrap().format_version(), 1);
}

fn unsupported(e: &StoreError) -> &UnsupportedFormat {
    let StoreError::Corrupt {
        source: Some(source),
        ..
    } = e
    else {
        panic!("expected a corrupt-record error, got {e:?}");
    };
    source
        .downcast_ref::<UnsupportedFormat>()
        .unwrap_or_else(|| panic!("expected UnsupportedFormat, got {source:?}"))
}

#[test]
fn a_newer_format_version_is_refused_naming_both_versions() {
    let newer = DEVICE_JSON.replacen(r#""format":1"#, r#""format":3"#, 1);
    let e = StoredDevice::from_json(&newer).unwrap_err();
    assert_eq!(e.code(), "storage_corrupt");
    assert!(!e.is_retryable());
    assert_eq!(
        unsupported(&e),
        &UnsupportedFormat {
            record: Record::Device,
            found: 3,
            supported: FORMAT_VERSION,
        }
    );
    let text = e.to_string();
    assert!(text.contains("version 3"), "{text}");
    assert!(text.contains("versions 1 to 2"), "{text}");
    assert!(text.contains("newer version of dps"), "{text}");
}

#[test]
fn a_newer_format_that_does_not_decode_is_refused_by_its_version() {
    let e = decode_group(r#"{"format":7,"entirely":"different"}"#).unwrap_err();
    assert_eq!(unsupported(&e).found, 7);
    assert_eq!(unsupported(&e).record, Record::Group);
    let e = decode_event(EventCursor::new(1), r#"{"kind":"x","format":3}"#).unwrap_err();
    assert_eq!(unsupported(&e).record, Record::Event);
}

#[test]
fn format_version_0_and_damaged_records_are_corrupt() {
    let zero = EVENT_JSON.replacen(r#""format":1"#, r#""format":0"#, 1);
    let e = StoredEvent::from_json(&zero).unwrap_err();
    assert_eq!(unsupported(&e).found, 0);
    let e = decode_device(r#"{"format":1,"id":"nope"}"#).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    assert!(
        e.to_string().contains("device record does not decode"),
        "{e}"
    );
    let e = decode_device("not json").unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
}

#[test]
fn an_invalid_stored_schema_is_corrupt() {
    let bad = GROUP_JSON.replace(r#""items":["red"]"#, r#""items":[]"#);
    let e = decode_group(&bad).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
}

#[test]
fn rows_carry_the_indexed_columns() {
    let row = DeviceColumns::of(&device()).unwrap();
    assert_eq!(row.id, Uuid::from_u128(2));
    assert_eq!(row.serial, "SN-2");
    assert_eq!(row.status, 1);
    assert_eq!(row.version, 2);
    assert_eq!(row.batch_tag.as_deref(), Some("b1"));
    assert_eq!(row.target.as_deref(), Some("prod/acme"));
    assert_eq!(row.allocated_to, None);
    // Its secret is in clear, so the record stays in format version 1.
    assert_eq!(row.data, DEVICE_JSON);
    let row = GroupColumns::of(&group()).unwrap();
    assert_eq!((row.version, row.data.as_str()), (2, GROUP_JSON));
}

#[test]
fn queries_become_conditions_on_the_columns() {
    let mut query = crate::DeviceQuery::group(GroupId::from_uuid(Uuid::from_u128(1)));
    query.filter.serial_prefix = Some(p("SN-"));
    query.filter.status = Some(crate::state::AllocationStatus::Allocated);
    let after: SerialNumber = p("SN-5");
    let c = device_conditions(&query, Some(&after));
    let shown: Vec<String> = c
        .iter()
        .map(|c| format!("{} {} {:?}", c.column, c.comparison.as_sql(), c.value))
        .collect();
    assert_eq!(
        shown,
        [
            "group_id = Id(00000000-0000-0000-0000-000000000001)",
            "serial > Text(\"SN-5\")",
            "serial >= Text(\"SN-\")",
            "serial < Text(\"SN-\\u{7f}\")",
            "status = Status(2)",
        ]
    );
}

fn token() -> crate::access::AccessToken {
    crate::access::AccessToken::from_parts(
        p("ci-pipeline"),
        crate::access::Role::Operator,
        vec![
            GroupId::from_uuid(Uuid::from_u128(2)),
            GroupId::from_uuid(Uuid::from_u128(1)),
        ],
        crate::access::TokenHash::of("dps_text"),
        t(8),
    )
}

fn token_json() -> String {
    format!(
        concat!(
            r#"{{"format":2,"name":"ci-pipeline","role":"operator","#,
            r#""groups":["00000000-0000-0000-0000-000000000001","#,
            r#""00000000-0000-0000-0000-000000000002"],"hash":"{}","created_at":8}}"#
        ),
        crate::access::TokenHash::of("dps_text").to_hex()
    )
}

#[test]
fn a_stored_token_is_pinned_and_reads_back_by_its_hash() {
    let json = StoredToken::from(&token()).to_json().unwrap();
    assert_eq!(json, token_json());
    assert!(!json.contains("dps_text"), "{json}");
    assert_eq!(decode_token(&json).unwrap(), token());
    let legacy = json.replacen(r#""format":2,"#, "", 1);
    assert_eq!(StoredToken::from_json(&legacy).unwrap().format_version(), 1);
    assert_eq!(decode_token(&legacy).unwrap(), token());
}

#[test]
fn a_stored_bulk_import_token_says_so_and_others_are_written_as_before() {
    let bulk = token().with_bulk_import(true);
    let json = StoredToken::from(&bulk).to_json().unwrap();
    assert_eq!(
        json,
        token_json().replacen("}", r#","bulk_import":true}"#, 1)
    );
    assert_eq!(decode_token(&json).unwrap(), bulk);
    assert!(!decode_token(&token_json()).unwrap().bulk_import());
}

#[test]
fn a_stored_token_of_a_newer_format_or_a_bad_hash_is_corrupt() {
    let newer = token_json().replacen(r#""format":2"#, r#""format":3"#, 1);
    let e = decode_token(&newer).unwrap_err();
    assert_eq!(unsupported(&e).record, Record::Token);
    let bad = token_json().replace(&crate::access::TokenHash::of("dps_text").to_hex(), "abc");
    let e = decode_token(&bad).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("token record"), "{e}");
    let e = decode_token(&token_json().replace("operator", "root")).unwrap_err();
    assert!(
        e.to_string().contains("token record does not decode"),
        "{e}"
    );
}
