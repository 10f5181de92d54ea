//! Device bootstrap: the documented test vectors, signature tampering, the timestamp window,
//! group secret rotation, the answers for each allocation state and concurrent bootstraps.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use dps_core::seal::SecretOf;
use dps_core::{
    AssetId, Config, Credentials, DeviceEdit, DeviceName, Endpoints, Environment, EnvironmentError,
    Error, Event, EventCursor, EventKind, GroupId, Injected, ModelId, NewDevice, OnboardRequest,
    Onboarded, OperationId, Provisioner, RegistrationGroup, Secret, SerialNumber, Target,
    Timestamp, Timezone, bootstrap::BootstrapAnswer, bootstrap::BootstrapClaims,
    bootstrap::BootstrapConfig, bootstrap::BootstrapRefusal, bootstrap::BootstrapRequest,
    bootstrap::DeviceBootstrapKey, bootstrap::SecretRotation, inject::ManualClock,
    inject::SeededSecrets, inject::SequentialIds, state::AllocationStatus,
};
use dps_store_memory::InMemoryStore;
use dps_testkit::{CallKind, EPOCH, FakeEnvironment, Fault, Fixtures};
use proptest::prelude::*;
use tokio::sync::{Barrier, Notify};

const DOC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/bootstrap.md"
));

// ----- helpers ---------------------------------------------------------------------------

fn epoch_seconds() -> i64 {
    EPOCH.unix_seconds()
}

/// The request the device `serial` of `group` sends at `timestamp`.
fn request(group: &RegistrationGroup, serial: &str, timestamp: i64) -> BootstrapRequest {
    let key = dps_testkit::bootstrap_key(group, &sn(serial));
    BootstrapClaims::new(group.id(), sn(serial), timestamp).sign(&key)
}

fn auto_settings() -> dps_core::NewGroup {
    let mut settings = group_settings();
    settings.auto_activation = true;
    settings
}

async fn all_events(dps: &Dps) -> Vec<Event> {
    dps.events(EventCursor::START, 10_000).await.unwrap()
}

fn refusals(events: &[Event]) -> Vec<(GroupId, Option<SerialNumber>, BootstrapRefusal)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BootstrapRefused { reason, .. } => {
                assert_eq!(e.device_id, None, "a refusal changes no device");
                Some((e.group_id, e.serial.clone(), *reason))
            }
            _ => None,
        })
        .collect()
}

/// Every device's version equals the number of its events.
async fn assert_versions_count_events(w: &World, group: &RegistrationGroup) {
    let events = all_events(&w.dps).await;
    let page = w
        .dps
        .devices(&dps_core::DeviceQuery::group(group.id()), None, 1000)
        .await
        .unwrap();
    for d in page.items {
        let n = events
            .iter()
            .filter(|e| e.device_id == Some(d.id()))
            .count() as u64;
        assert_eq!(n, d.version().get(), "events of {}", d.serial());
    }
}

fn assert_unauthorized<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(e @ Error::Unauthorized) => {
            assert_eq!(e.code(), "unauthorized");
            assert_eq!(e.to_string(), "unauthorized");
            assert!(!e.is_retryable());
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
}

// ----- test vectors ----------------------------------------------------------------------

struct Vector {
    secret: &'static str,
    serial: &'static str,
    group: &'static str,
    timestamp: i64,
    name: Option<&'static str>,
    timezone: Option<&'static str>,
    device_key: &'static str,
    canonical: &'static str,
    signature: &'static str,
}

const VECTORS: [Vector; 3] = [
    Vector {
        secret: "3b9f6c0e5a1d4f7b8c2e9a0d6f1b4c7e5a8d2f0b3e6c9a1d4f7b0c3e6a9d2f5b",
        serial: "SN-0001",
        group: "0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b",
        timestamp: 1_700_000_000,
        name: None,
        timezone: None,
        device_key: "ucFGutrQ0cEjR8jOFle/+lFd7kmtZejW4CQPx1VLjxs=",
        canonical: "dps-bootstrap-v1\n0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b\nSN-0001\n1700000000\n\n",
        signature: "O2sX77TzkU65PR80c92BbS8gnAO5YXwBgtiSScXS+U4=",
    },
    Vector {
        secret: "factory-line-7/secret",
        serial: "TH.2024:000042",
        group: "01936f4e-1b2c-7a3d-9e4f-5a6b7c8d9e0f",
        timestamp: 1_735_689_600,
        name: None,
        timezone: Some("+05:30"),
        device_key: "LM52W6DWWFciY4XWtUA7Z6st/dff5DnLRSyoWVxOvKc=",
        canonical: "dps-bootstrap-v1\n01936f4e-1b2c-7a3d-9e4f-5a6b7c8d9e0f\nTH.2024:000042\n1735689600\n\n+05:30",
        signature: "fHuKtl/zjRpCWwBP5D2+r0lEaIlEGHk1rApAY7FNgYg=",
    },
    Vector {
        secret: "9d2e4b7a1c6f0e3d8b5a2c9f6e1d4a7b0c3f8e5d2a9b6c1f4e7d0a3b8c5f2e9d",
        serial: "a_b-C.9",
        group: "019b7a10-0f00-7c00-8000-00000000beef",
        timestamp: 1_767_225_599,
        name: Some("Küche 2"),
        timezone: Some("-03:30"),
        device_key: "fpl3prFA1kO5+o1lMBEi0wBhhAE5QLHvgzwhkv3xPUs=",
        canonical: "dps-bootstrap-v1\n019b7a10-0f00-7c00-8000-00000000beef\na_b-C.9\n1767225599\nKüche 2\n-03:30",
        signature: "Y1fTYxVXVdM3xzydNCIZ479qt+Wy5u5yLlJTmbuPfQI=",
    },
];

impl Vector {
    fn claims(&self) -> BootstrapClaims {
        let mut claims =
            BootstrapClaims::new(self.group.parse().unwrap(), sn(self.serial), self.timestamp);
        if let Some(name) = self.name {
            claims = claims.with_name(name.parse().unwrap());
        }
        if let Some(tz) = self.timezone {
            claims = claims.with_timezone(tz.parse().unwrap());
        }
        claims
    }

    /// The lines of this vector as `docs/bootstrap.md` writes them.
    fn doc_lines(&self) -> Vec<String> {
        vec![
            format!("group secret     : {}", self.secret),
            format!("serial           : {}", self.serial),
            format!("group id         : {}", self.group),
            format!("timestamp        : {}", self.timestamp),
            format!("name             : {}", self.name.unwrap_or("(none)")),
            format!("timezone         : {}", self.timezone.unwrap_or("(none)")),
            format!("device key       : {}", self.device_key),
            format!(
                "canonical string : \"{}\"",
                self.canonical.replace('\n', "\\n")
            ),
            format!("signature        : {}", self.signature),
        ]
    }
}

#[test]
fn the_documented_test_vectors_hold() {
    for (i, v) in VECTORS.iter().enumerate() {
        let key = DeviceBootstrapKey::derive(&Secret::new(v.secret).unwrap(), &sn(v.serial));
        assert_eq!(key.expose_base64(), v.device_key, "vector {}", i + 1);
        assert_eq!(DeviceBootstrapKey::from_base64(v.device_key).unwrap(), key);
        let claims = v.claims();
        assert_eq!(claims.canonical_string(), v.canonical, "vector {}", i + 1);
        let request = claims.sign(&key);
        assert_eq!(request.signature, v.signature, "vector {}", i + 1);
        assert!(key.verify(&request));
    }
}

#[test]
fn the_doc_states_every_vector_verbatim() {
    for (i, v) in VECTORS.iter().enumerate() {
        let heading = format!("### Vector {}", i + 1);
        let start = DOC
            .find(&heading)
            .unwrap_or_else(|| panic!("{heading} missing"));
        let section = &DOC[start..];
        let section = &section[..section[3..].find("### ").map_or(section.len(), |e| e + 3)];
        for line in v.doc_lines() {
            assert!(
                section.lines().any(|l| l == line),
                "{heading}: docs/bootstrap.md lacks the line {line:?}"
            );
        }
    }
}

#[test]
fn a_group_id_is_signed_in_its_canonical_lowercase_form() {
    let upper: GroupId = "0190A5B2-7C3E-7D4F-8A1B-2C3D4E5F6A7B".parse().unwrap();
    let claims = BootstrapClaims::new(upper, sn("SN-0001"), 1_700_000_000);
    assert_eq!(claims.canonical_string(), VECTORS[0].canonical);
}

#[test]
fn device_keys_read_only_their_exact_text_form() {
    let key = DeviceBootstrapKey::from_base64(VECTORS[0].device_key).unwrap();
    assert_eq!(key.expose_base64(), VECTORS[0].device_key);
    for bad in [
        "",
        "ucFGutrQ0cEjR8jOFle/+lFd7kmtZejW4CQPx1VLjxs", // no padding
        "ucFGutrQ0cEjR8jOFle_-lFd7kmtZejW4CQPx1VLjxs=", // URL-safe alphabet
        "ucFGutrQ0cEjR8jOFle/+lFd7kmtZejW4CQPx1VLjxs=AA", // too long
        "ucFGutrQ0cEjR8jOFle/+lFd7kmtZejW4CQPx1VLjxt=", // non-canonical trailing bits
    ] {
        let err = DeviceBootstrapKey::from_base64(bad).unwrap_err();
        assert_eq!(err.code(), "invalid_secret", "{bad:?}");
    }
}

#[test]
fn keys_and_signatures_never_show_in_debug_or_display() {
    let v = &VECTORS[0];
    let key = DeviceBootstrapKey::from_base64(v.device_key).unwrap();
    assert_eq!(format!("{key:?} {key}"), "DeviceBootstrapKey(****) ****");
    let request = v.claims().sign(&key);
    let debug = format!("{request:?}");
    assert!(!debug.contains(v.signature), "{debug}");
    assert!(debug.contains("SN-0001"), "{debug}");
}

#[test]
fn requests_read_and_write_flat_json() {
    let v = &VECTORS[2];
    let key = DeviceBootstrapKey::from_base64(v.device_key).unwrap();
    let request = v.claims().sign(&key);
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "group_id": v.group,
            "serial": v.serial,
            "timestamp": v.timestamp,
            "name": "Küche 2",
            "timezone": "-03:30",
            "signature": v.signature,
        })
    );
    let back: BootstrapRequest = serde_json::from_value(json).unwrap();
    assert_eq!(back, request);
    // Optional fields are left out when absent, and may be missing on input.
    let plain = VECTORS[0].claims().sign(&key);
    let json = serde_json::to_value(&plain).unwrap();
    assert!(json.get("name").is_none() && json.get("timezone").is_none());
    assert_eq!(
        serde_json::from_value::<BootstrapRequest>(json).unwrap(),
        plain
    );
}

// ----- tampering (proptest) --------------------------------------------------------------

#[derive(Debug, Clone)]
enum Tamper {
    Group(u128),
    Serial(String),
    Timestamp(i64),
    Name(Option<String>),
    Timezone(Option<i16>),
    /// Flip one bit of the signature's bytes.
    SignatureBit(usize),
    /// Replace one character of the signature's text.
    SignatureChar(usize, char),
}

fn serial_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,64}"
}

fn name_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9äöüß][A-Za-z0-9 äöüß._-]{0,30}[A-Za-z0-9äöüß]"
}

fn tz_minutes() -> impl Strategy<Value = i16> {
    -720i16..=840
}

fn claims_strategy() -> impl Strategy<Value = BootstrapClaims> {
    (
        any::<u128>(),
        serial_text(),
        any::<i64>(),
        proptest::option::of(name_text()),
        proptest::option::of(tz_minutes()),
    )
        .prop_map(|(g, serial, ts, name, tz)| BootstrapClaims {
            group_id: GroupId::from_uuid(dps_core::Uuid::from_u128(g)),
            serial: serial.parse().unwrap(),
            timestamp: ts,
            name: name.map(|n| n.parse().unwrap()),
            timezone: tz.and_then(Timezone::from_offset_minutes),
        })
}

fn tamper_strategy() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<u128>().prop_map(Tamper::Group),
        serial_text().prop_map(Tamper::Serial),
        any::<i64>().prop_map(Tamper::Timestamp),
        proptest::option::of(name_text()).prop_map(Tamper::Name),
        proptest::option::of(tz_minutes()).prop_map(Tamper::Timezone),
        (0usize..256).prop_map(Tamper::SignatureBit),
        (0usize..44, proptest::char::any()).prop_map(|(i, c)| Tamper::SignatureChar(i, c)),
    ]
}

/// Applies `tamper`; `None` when it would leave the request as it was.
fn tampered(request: &BootstrapRequest, tamper: &Tamper) -> Option<BootstrapRequest> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut r = request.clone();
    match tamper {
        Tamper::Group(g) => r.claims.group_id = GroupId::from_uuid(dps_core::Uuid::from_u128(*g)),
        Tamper::Serial(s) => r.claims.serial = s.parse().unwrap(),
        Tamper::Timestamp(t) => r.claims.timestamp = *t,
        Tamper::Name(n) => r.claims.name = n.as_ref().map(|n| n.parse().unwrap()),
        Tamper::Timezone(t) => r.claims.timezone = t.and_then(Timezone::from_offset_minutes),
        Tamper::SignatureBit(bit) => {
            let mut bytes = b64.decode(&r.signature).unwrap();
            bytes[bit / 8] ^= 1 << (bit % 8);
            r.signature = b64.encode(bytes);
        }
        Tamper::SignatureChar(i, c) => {
            let mut chars: Vec<char> = r.signature.chars().collect();
            chars[*i] = *c;
            r.signature = chars.into_iter().collect();
        }
    }
    (r != *request).then_some(r)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn changing_any_field_or_the_signature_fails_verification(
        secret in "[!-~]{1,80}",
        claims in claims_strategy(),
        tamper in tamper_strategy(),
    ) {
        let key = DeviceBootstrapKey::derive(&Secret::new(secret).unwrap(), &claims.serial);
        let request = claims.sign(&key);
        prop_assert!(key.verify(&request));
        if let Some(changed) = tampered(&request, &tamper) {
            prop_assert!(!key.verify(&changed), "{:?} still verifies", tamper);
        }
    }

    #[test]
    fn a_key_from_another_secret_or_serial_never_verifies(
        secret in "[!-~]{1,80}",
        other in "[!-~]{1,80}",
        claims in claims_strategy(),
        other_serial in serial_text(),
    ) {
        let key = DeviceBootstrapKey::derive(&Secret::new(secret.clone()).unwrap(), &claims.serial);
        let request = claims.clone().sign(&key);
        if other != secret {
            let wrong = DeviceBootstrapKey::derive(&Secret::new(other).unwrap(), &claims.serial);
            prop_assert!(!wrong.verify(&request));
        }
        if other_serial != claims.serial.as_str() {
            let wrong = DeviceBootstrapKey::derive(
                &Secret::new(secret).unwrap(), &other_serial.parse().unwrap());
            prop_assert!(!wrong.verify(&request));
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_service_refuses_every_tampered_field() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A", "B"]).await;
    w.dps
        .allocate(group.id(), &dps_core::Selection::all())
        .await
        .unwrap();
    let good = request(&group, "A", epoch_seconds());
    w.dps.bootstrap(&good).await.unwrap();

    let mut cases: Vec<(&str, BootstrapRequest)> = Vec::new();
    let mut r = good.clone();
    r.claims.group_id = GroupId::from_uuid(dps_core::Uuid::from_u128(7));
    cases.push(("group", r));
    let mut r = good.clone();
    r.claims.serial = sn("B");
    cases.push(("serial", r));
    let mut r = good.clone();
    r.claims.timestamp += 1;
    cases.push(("timestamp", r));
    let mut r = good.clone();
    r.claims.name = Some("x".parse().unwrap());
    cases.push(("name", r));
    let mut r = good.clone();
    r.claims.timezone = Some(Timezone::UTC);
    cases.push(("timezone", r));
    let mut r = good.clone();
    r.signature = request(&group, "B", epoch_seconds()).signature;
    cases.push(("signature", r));
    let mut r = good.clone();
    r.signature.clear();
    cases.push(("empty signature", r));

    for (what, r) in &cases {
        let result = w.dps.bootstrap(r).await;
        assert!(
            matches!(result, Err(Error::Unauthorized)),
            "{what}: {result:?}"
        );
    }
    let reasons: Vec<BootstrapRefusal> = refusals(&all_events(&w.dps).await)
        .into_iter()
        .map(|(_, _, r)| r)
        .collect();
    assert_eq!(reasons[0], BootstrapRefusal::UnknownGroup);
    assert!(
        reasons[1..]
            .iter()
            .all(|r| *r == BootstrapRefusal::BadSignature),
        "{reasons:?}"
    );
    assert_eq!(reasons.len(), cases.len());
}

// ----- verification: refusals ------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn unknown_group_unknown_serial_and_bad_signature_look_the_same_but_are_logged_apart() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    let now = epoch_seconds();

    // An unknown group: a group that was never created, signed with a key of the right shape.
    let ghost = GroupId::from_uuid(dps_core::Uuid::from_u128(0xdead_beef));
    let key = dps_testkit::bootstrap_key(&group, &sn("A"));
    let unknown_group = BootstrapClaims::new(ghost, sn("A"), now).sign(&key);
    // An unknown serial, correctly signed with the key the group secret gives it.
    let unknown_serial = request(&group, "NOPE", now);
    // A bad signature: the key of another serial.
    let mut bad_signature = request(&group, "A", now);
    bad_signature.signature = request(&group, "B", now).signature;

    let results = [
        w.dps.bootstrap(&unknown_group).await,
        w.dps.bootstrap(&unknown_serial).await,
        w.dps.bootstrap(&bad_signature).await,
    ];
    let shown: Vec<(String, String)> = results
        .iter()
        .map(|r| {
            let e = r.as_ref().unwrap_err();
            (e.code().to_owned(), e.to_string())
        })
        .collect();
    assert!(shown.iter().all(|s| *s == shown[0]), "{shown:?}");
    for r in results {
        assert_unauthorized(r);
    }

    let logged = refusals(&all_events(&w.dps).await);
    assert_eq!(
        logged,
        vec![
            (ghost, Some(sn("A")), BootstrapRefusal::UnknownGroup),
            (
                group.id(),
                Some(sn("NOPE")),
                BootstrapRefusal::UnknownSerial
            ),
            (group.id(), Some(sn("A")), BootstrapRefusal::BadSignature),
        ]
    );
    // Nothing else changed: the device has only its registration.
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.version().get(), 1);
    assert_versions_count_events(&w, &group).await;
}

#[test]
fn refusal_events_round_trip_through_json() {
    for reason in [
        BootstrapRefusal::UnknownGroup,
        BootstrapRefusal::UnknownSerial,
        BootstrapRefusal::BadSignature,
        BootstrapRefusal::StaleTimestamp { skew_seconds: -301 },
    ] {
        let kind = EventKind::BootstrapRefused {
            reason,
            suppressed: 0,
        };
        let json = serde_json::to_value(&kind).unwrap();
        assert_eq!(json["kind"], "bootstrap_refused");
        assert_eq!(json["reason"]["code"], reason.code());
        assert!(
            json.get("suppressed").is_none(),
            "a zero count is not written"
        );
        assert_eq!(serde_json::from_value::<EventKind>(json).unwrap(), kind);
        let counted = EventKind::BootstrapRefused {
            reason,
            suppressed: 7,
        };
        let json = serde_json::to_value(&counted).unwrap();
        assert_eq!(json["suppressed"], 7);
        assert_eq!(serde_json::from_value::<EventKind>(json).unwrap(), counted);
    }
    assert_eq!(
        BootstrapRefusal::StaleTimestamp { skew_seconds: 400 }.to_string(),
        "stale_timestamp (skew 400 s)"
    );
}

// ----- verification: the timestamp window ------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn clock_skew_at_the_window_edges() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    w.dps
        .allocate(group.id(), &dps_core::Selection::all())
        .await
        .unwrap();
    let now = epoch_seconds();
    // Inside the default window of 300 s, on both sides and at the very edge.
    for skew in [0, 299, -299, 300, -300] {
        let answer = w.dps.bootstrap(&request(&group, "A", now + skew)).await;
        assert!(answer.is_ok(), "skew {skew}: {answer:?}");
    }
    // One second outside.
    for skew in [301, -301] {
        assert_unauthorized(w.dps.bootstrap(&request(&group, "A", now + skew)).await);
    }
    // The whole second counts: 999 ms later, the device's second is still the same.
    w.clock
        .set(Timestamp::from_unix_millis(EPOCH.unix_millis() + 999));
    assert!(
        w.dps
            .bootstrap(&request(&group, "A", now - 300))
            .await
            .is_ok()
    );
    w.clock
        .set(Timestamp::from_unix_millis(EPOCH.unix_millis() + 1000));
    assert_unauthorized(w.dps.bootstrap(&request(&group, "A", now - 300)).await);

    let logged: Vec<BootstrapRefusal> = refusals(&all_events(&w.dps).await)
        .into_iter()
        .map(|(_, _, r)| r)
        .collect();
    assert_eq!(
        logged,
        vec![
            BootstrapRefusal::StaleTimestamp { skew_seconds: 301 },
            BootstrapRefusal::StaleTimestamp { skew_seconds: -301 },
            BootstrapRefusal::StaleTimestamp { skew_seconds: -301 },
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_window_is_configurable() {
    let config = Config::default()
        .with_bootstrap(BootstrapConfig::default().with_window(Duration::from_secs(10)));
    let w = world_with(Arc::new(FakeEnvironment::new()), config);
    w.env.add_target(&Fixtures::target(), &["m1"]);
    let group = w.dps.create_group(group_settings()).await.unwrap();
    register(&w.dps, &group, "A").await;
    w.dps
        .allocate(group.id(), &dps_core::Selection::all())
        .await
        .unwrap();
    let now = epoch_seconds();
    assert!(
        w.dps
            .bootstrap(&request(&group, "A", now - 10))
            .await
            .is_ok()
    );
    assert!(
        w.dps
            .bootstrap(&request(&group, "A", now + 10))
            .await
            .is_ok()
    );
    assert_unauthorized(w.dps.bootstrap(&request(&group, "A", now + 11)).await);
    assert_unauthorized(w.dps.bootstrap(&request(&group, "A", now - 11)).await);
}

#[tokio::test(flavor = "current_thread")]
async fn refusal_events_can_be_limited_per_minute_and_count_what_they_left_out() {
    let config = Config::default()
        .with_bootstrap(BootstrapConfig::default().with_refusal_events_per_minute(2));
    let w = world_with(Arc::new(FakeEnvironment::new()), config);
    let group = w.dps.create_group(group_settings()).await.unwrap();
    let unknown = |serial: &str| request(&group, serial, epoch_seconds());
    let suppressed_counts = |events: &[Event]| -> Vec<u64> {
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::BootstrapRefused { suppressed, .. } => Some(*suppressed),
                _ => None,
            })
            .collect()
    };
    // Five refusals in one minute: every request is refused alike, two are recorded.
    for i in 0..5 {
        assert_unauthorized(w.dps.bootstrap(&unknown(&format!("X{i}"))).await);
    }
    let events = all_events(&w.dps).await;
    assert_eq!(suppressed_counts(&events), vec![0, 0]);
    let recorded: Vec<_> = refusals(&events).into_iter().map(|r| r.1).collect();
    assert_eq!(recorded, vec![Some(sn("X0")), Some(sn("X1"))]);
    // A minute later the next refusal is recorded with the count of those left out.
    w.clock.advance(Duration::from_secs(60));
    assert_unauthorized(
        w.dps
            .bootstrap(&request(&group, "Y", epoch_seconds() + 60))
            .await,
    );
    assert_unauthorized(
        w.dps
            .bootstrap(&request(&group, "Z", epoch_seconds() + 60))
            .await,
    );
    assert_eq!(
        suppressed_counts(&all_events(&w.dps).await),
        vec![0, 0, 3, 0]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_signature_is_logged_as_such_even_with_a_stale_timestamp() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    let mut r = request(&group, "A", epoch_seconds() - 10_000);
    r.signature = request(&group, "B", epoch_seconds() - 10_000).signature;
    assert_unauthorized(w.dps.bootstrap(&r).await);
    let logged = refusals(&all_events(&w.dps).await);
    assert_eq!(logged[0].2, BootstrapRefusal::BadSignature);
}

#[tokio::test(flavor = "current_thread")]
async fn extreme_timestamps_are_refused_without_overflow() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    for ts in [i64::MIN, i64::MAX] {
        assert_unauthorized(w.dps.bootstrap(&request(&group, "A", ts)).await);
    }
    let logged = refusals(&all_events(&w.dps).await);
    assert!(matches!(
        logged[0].2,
        BootstrapRefusal::StaleTimestamp { skew_seconds } if skew_seconds < 0
    ));
    assert!(matches!(
        logged[1].2,
        BootstrapRefusal::StaleTimestamp { skew_seconds } if skew_seconds > 0
    ));
}

// ----- group secret rotation -------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn a_rotated_secret_keeps_verifying_for_its_grace_period_then_stops() {
    let grace = Duration::from_secs(3600);
    let config =
        Config::default().with_bootstrap(BootstrapConfig::default().with_secret_grace(grace));
    let w = world_with(Arc::new(FakeEnvironment::new()), config);
    w.env.add_target(&Fixtures::target(), &["m1"]);
    let old = w.dps.create_group(group_settings()).await.unwrap();
    register(&w.dps, &old, "A").await;
    w.dps
        .allocate(old.id(), &dps_core::Selection::all())
        .await
        .unwrap();
    let old_key = dps_testkit::bootstrap_key(&old, &sn("A"));

    let rotated = w
        .dps
        .rotate_group_secret(old.id(), SecretRotation::Graceful)
        .await
        .unwrap();
    assert_ne!(rotated.secret(), old.secret());
    assert_eq!(rotated.previous_secret(), Some(old.secret()));
    assert_eq!(rotated.secret_rotated_at(), Some(EPOCH));
    assert_eq!(rotated.version(), old.version().next());
    let new_key = w
        .dps
        .device_bootstrap_key(old.id(), &sn("A"))
        .await
        .unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(new_key, dps_testkit::bootstrap_key(&rotated, &sn("A")));

    let signed = |key: &DeviceBootstrapKey, clock: &ManualClock| {
        BootstrapClaims::new(old.id(), sn("A"), clock.now_seconds()).sign(key)
    };
    // Both keys work during the grace period, up to its last millisecond.
    assert!(w.dps.bootstrap(&signed(&old_key, &w.clock)).await.is_ok());
    assert!(w.dps.bootstrap(&signed(&new_key, &w.clock)).await.is_ok());
    w.clock.set(Timestamp::from_unix_millis(
        EPOCH.saturating_add(grace).unix_millis() - 1,
    ));
    assert!(w.dps.bootstrap(&signed(&old_key, &w.clock)).await.is_ok());
    // From the end of the grace period on, only the new key works.
    w.clock.set(EPOCH.saturating_add(grace));
    assert_unauthorized(w.dps.bootstrap(&signed(&old_key, &w.clock)).await);
    assert!(w.dps.bootstrap(&signed(&new_key, &w.clock)).await.is_ok());

    let events = all_events(&w.dps).await;
    assert_eq!(
        refusals(&events),
        vec![(old.id(), Some(sn("A")), BootstrapRefusal::BadSignature)]
    );
    let rotation = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::GroupSecretRotated { .. }))
        .unwrap();
    assert_eq!(
        rotation.kind,
        EventKind::GroupSecretRotated {
            previous_kept: true
        }
    );
    let json = serde_json::to_string(&events).unwrap();
    let (old_secret, new_secret) = (
        dps_testkit::group_secret(&old),
        dps_testkit::group_secret(&rotated),
    );
    assert!(!json.contains(old_secret.expose()) && !json.contains(new_secret.expose()));
}

#[tokio::test(flavor = "current_thread")]
async fn an_immediate_rotation_stops_the_old_secret_at_once() {
    let w = world();
    let old = group_with(&w, group_settings(), &["A"]).await;
    w.dps
        .allocate(old.id(), &dps_core::Selection::all())
        .await
        .unwrap();
    let before = request(&old, "A", epoch_seconds());
    assert!(w.dps.bootstrap(&before).await.is_ok());
    let rotated = w
        .dps
        .rotate_group_secret(old.id(), SecretRotation::Immediate)
        .await
        .unwrap();
    assert_eq!(rotated.previous_secret(), None);
    assert_unauthorized(w.dps.bootstrap(&before).await);
    assert!(
        w.dps
            .bootstrap(&request(&rotated, "A", epoch_seconds()))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_rotation_drops_the_secret_before_the_previous_one() {
    let w = world();
    let first = group_with(&w, group_settings(), &["A"]).await;
    w.dps
        .allocate(first.id(), &dps_core::Selection::all())
        .await
        .unwrap();
    let second = w
        .dps
        .rotate_group_secret(first.id(), SecretRotation::Graceful)
        .await
        .unwrap();
    let third = w
        .dps
        .rotate_group_secret(first.id(), SecretRotation::Graceful)
        .await
        .unwrap();
    assert_eq!(third.previous_secret(), Some(second.secret()));
    assert_unauthorized(
        w.dps
            .bootstrap(&request(&first, "A", epoch_seconds()))
            .await,
    );
    assert!(
        w.dps
            .bootstrap(&request(&second, "A", epoch_seconds()))
            .await
            .is_ok()
    );
    assert!(
        w.dps
            .bootstrap(&request(&third, "A", epoch_seconds()))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn rotating_a_missing_group_is_not_found() {
    let w = world();
    let ghost = GroupId::from_uuid(dps_core::Uuid::from_u128(1));
    let err = w
        .dps
        .rotate_group_secret(ghost, SecretRotation::Graceful)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}

#[test]
fn groups_stored_before_rotation_existed_still_read() {
    use dps_core::stored::{StoredGroup, decode_group};
    let group = Fixtures::new().group("g");
    let json = StoredGroup::from(&group).to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    // A group that was never rotated writes no rotation fields, as before.
    assert!(value.get("previous_secret").is_none());
    assert!(value.get("secret_rotated_at").is_none());
    let back = decode_group(&json).unwrap();
    assert_eq!(back, group);
    assert_eq!(back.previous_secret(), None);

    let next = dps_testkit::sealed(&Secret::new("next").unwrap(), SecretOf::Group(group.id()));
    let rotated = group.with_rotated_secret(next, true, EPOCH);
    let back = decode_group(&StoredGroup::from(&rotated).to_json().unwrap()).unwrap();
    assert_eq!(back, rotated);
    assert_eq!(
        back.previous_secret_at(EPOCH, Duration::from_secs(1)),
        Some(group.secret())
    );
    assert_eq!(back.previous_secret_at(EPOCH, Duration::ZERO), None);
}

// ----- semantics -------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn an_allocated_device_gets_endpoints_and_credentials_and_is_marked_bootstrapped() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    w.dps
        .allocate(group.id(), &dps_core::Selection::all())
        .await
        .unwrap();
    let before = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    let allocation = before.state().allocated().unwrap().clone();
    assert_eq!(allocation.bootstrapped_at(), None);

    w.clock.advance(Duration::from_secs(5));
    let answer = w
        .dps
        .bootstrap(&request(&group, "A", epoch_seconds() + 5))
        .await
        .unwrap();
    let expected_endpoints = w.env.endpoints(allocation.target()).await.unwrap();
    let bootstrapped_at = EPOCH.saturating_add(Duration::from_secs(5));
    assert_eq!(
        answer,
        BootstrapAnswer {
            device_id: before.id(),
            serial: sn("A"),
            target: Fixtures::target(),
            endpoints: expected_endpoints,
            asset_id: allocation.asset_id().clone(),
            credentials: dps_testkit::credentials(&before).unwrap(),
            bootstrapped_at,
            allocated_now: false,
        }
    );
    let after = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(
        after.state().allocated().unwrap().bootstrapped_at(),
        Some(bootstrapped_at)
    );
    assert_eq!(after.version(), before.version().next());
    let events = all_events(&w.dps).await;
    let last = events.last().unwrap();
    assert_eq!(last.kind, EventKind::Bootstrapped);
    assert_eq!(last.device_id, Some(before.id()));
    assert_versions_count_events(&w, &group).await;

    // The answer hides the device secret from Debug and Serialize, and its revealed form
    // shows it to the device.
    let secret = dps_testkit::credentials(&before)
        .unwrap()
        .device_secret
        .expose()
        .to_owned();
    assert!(!format!("{answer:?}").contains(&secret));
    let json = serde_json::to_value(&answer).unwrap();
    assert!(json["credentials"].get("device_secret").is_none(), "{json}");
    assert!(!json.to_string().contains(&secret));
    let json = serde_json::to_value(answer.revealed()).unwrap();
    assert_eq!(json["credentials"]["device_secret"], secret.as_str());
    assert_eq!(json["serial"], "A");
}

#[tokio::test(flavor = "current_thread")]
async fn repeating_a_request_returns_the_same_credentials_and_never_allocates_again() {
    let w = world();
    let group = group_with(&w, auto_settings(), &["A"]).await;
    let r = request(&group, "A", epoch_seconds());
    let first = w.dps.bootstrap(&r).await.unwrap();
    assert!(first.allocated_now);
    w.clock.advance(Duration::from_secs(1));
    let second = w.dps.bootstrap(&r).await.unwrap();
    let third = w.dps.bootstrap(&r).await.unwrap();
    for again in [&second, &third] {
        assert!(!again.allocated_now);
        assert_eq!(again.credentials, first.credentials);
        assert_eq!(again.asset_id, first.asset_id);
        assert_eq!(again.endpoints, first.endpoints);
    }
    assert_eq!(w.env.calls_of(CallKind::Onboard).len(), 1);
    let kinds: Vec<EventKind> = all_events(&w.dps)
        .await
        .into_iter()
        .filter(|e| e.device_id == Some(first.device_id))
        .map(|e| e.kind)
        .collect();
    assert!(matches!(kinds[0], EventKind::Registered));
    assert!(matches!(kinds[1], EventKind::AllocationStarted { .. }));
    assert!(matches!(kinds[2], EventKind::Allocated { .. }));
    assert_eq!(kinds[3..].to_vec(), vec![EventKind::Bootstrapped; 3]);
    assert_versions_count_events(&w, &group).await;
}

#[tokio::test(flavor = "current_thread")]
async fn auto_activation_allocates_through_the_allocate_path() {
    let w = world();
    let group = group_with(&w, auto_settings(), &["A"]).await;
    let answer = w
        .dps
        .bootstrap(&request(&group, "A", epoch_seconds()))
        .await
        .unwrap();
    assert!(answer.allocated_now);
    assert_eq!(answer.target, Fixtures::target());
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    let allocation = a.state().allocated().unwrap();
    assert_eq!(dps_testkit::credentials(&a).unwrap(), answer.credentials);
    assert_eq!(allocation.asset_id(), &answer.asset_id);
    assert_eq!(a.first_target(), Some(&Fixtures::target()));
    // The same environment conversation as `allocate`: model check, then onboard.
    let kinds: Vec<CallKind> = w.env.calls().iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            CallKind::ModelExists,
            CallKind::Onboard,
            CallKind::Endpoints
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn auto_activation_reports_allocation_errors_and_records_them_on_the_device() {
    let w = world();
    let mut settings = auto_settings();
    settings.default_target = None;
    let no_target = group_with(&w, settings, &["A"]).await;
    let err = w
        .dps
        .bootstrap(&request(&no_target, "A", epoch_seconds()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no_target");

    let group = w.dps.create_group(auto_settings()).await.unwrap();
    w.dps
        .register(
            group.id(),
            NewDevice::new(sn("M"), "unknown-model".parse().unwrap()),
        )
        .await
        .unwrap();
    let err = w
        .dps
        .bootstrap(&request(&group, "M", epoch_seconds()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "model_missing");
    let m = w.dps.device_by_serial(group.id(), &sn("M")).await.unwrap();
    assert_eq!(m.status(), AllocationStatus::NotAllocated);
    assert_eq!(m.last_error().unwrap().code, "model_missing");

    w.env.fail_next(CallKind::Onboard, Fault::Rejected);
    register(&w.dps, &group, "R").await;
    let err = w
        .dps
        .bootstrap(&request(&group, "R", epoch_seconds()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "environment_rejected");
    // Next time it works.
    let answer = w
        .dps
        .bootstrap(&request(&group, "R", epoch_seconds()))
        .await
        .unwrap();
    assert!(answer.allocated_now);
}

#[tokio::test(flavor = "current_thread")]
async fn without_auto_activation_a_not_allocated_device_gets_not_allocated() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    let err = w
        .dps
        .bootstrap(&request(&group, "A", epoch_seconds()))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::NotAllocated { serial } if *serial == sn("A")));
    assert_eq!(err.code(), "not_allocated");
    assert!(!err.is_retryable());
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.version().get(), 1, "nothing was written");
    assert!(w.env.calls().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_pending_device_gets_try_again_and_its_credentials_once_recovered() {
    let w = world();
    let group = group_with(&w, auto_settings(), &["A"]).await;
    w.env
        .fail_next(CallKind::Onboard, Fault::TransientAfterApply);
    let r = request(&group, "A", epoch_seconds());
    // The auto-activation itself meets the transient failure: the device stays pending.
    let err = w.dps.bootstrap(&r).await.unwrap_err();
    assert_eq!(err.code(), "environment_unavailable");
    assert!(err.is_retryable());
    let err = w.dps.bootstrap(&r).await.unwrap_err();
    assert!(matches!(&err, Error::TryAgain { serial } if *serial == sn("A")));
    assert_eq!(err.code(), "try_again");
    assert!(err.is_retryable());

    w.dps.recover().await.unwrap();
    let answer = w.dps.bootstrap(&r).await.unwrap();
    assert!(!answer.allocated_now);
    let onboards = w.env.calls_of(CallKind::Onboard);
    assert_eq!(onboards.len(), 2);
    assert_eq!(
        onboards[0].op, onboards[1].op,
        "recovered with the same operation"
    );
    assert_eq!(w.env.assets().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn endpoints_that_fail_leave_the_device_unmarked() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    w.dps
        .allocate(group.id(), &dps_core::Selection::all())
        .await
        .unwrap();
    let before = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    w.env.fail_next(CallKind::Endpoints, Fault::Transient);
    let err = w
        .dps
        .bootstrap(&request(&group, "A", epoch_seconds()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "environment_unavailable");
    let after = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(after, before);
}

#[tokio::test(flavor = "current_thread")]
async fn name_and_timezone_fill_empty_fields_at_first_contact_only() {
    let w = world();
    let group = group_with(&w, auto_settings(), &["A", "B"]).await;
    // B already has a name from its operator.
    let edit = DeviceEdit {
        name: Some(Some("Lobby".parse().unwrap())),
        ..Default::default()
    };
    w.dps
        .edit_device(group.id(), &sn("B"), &edit)
        .await
        .unwrap();

    let reported = |serial: &str, name: &str, tz: &str| {
        let key = dps_testkit::bootstrap_key(&group, &sn(serial));
        BootstrapClaims::new(group.id(), sn(serial), epoch_seconds())
            .with_name(name.parse::<DeviceName>().unwrap())
            .with_timezone(tz.parse::<Timezone>().unwrap())
            .sign(&key)
    };
    w.dps
        .bootstrap(&reported("A", "Boiler room", "+01:00"))
        .await
        .unwrap();
    w.dps
        .bootstrap(&reported("B", "Device B", "-05:00"))
        .await
        .unwrap();
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.name().map(DeviceName::as_str), Some("Boiler room"));
    assert_eq!(a.timezone(), Some("+01:00".parse().unwrap()));
    let b = w.dps.device_by_serial(group.id(), &sn("B")).await.unwrap();
    assert_eq!(
        b.name().map(DeviceName::as_str),
        Some("Lobby"),
        "the operator's name stays"
    );
    assert_eq!(b.timezone(), Some("-05:00".parse().unwrap()));
    // The report was committed before the allocation, so the target onboarded A with it.
    let kinds_of_a: Vec<EventKind> = all_events(&w.dps)
        .await
        .into_iter()
        .filter(|e| e.device_id == Some(a.id()))
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds_of_a[1], EventKind::Edited);
    assert!(matches!(kinds_of_a[2], EventKind::AllocationStarted { .. }));

    // Later contacts do not change them.
    w.dps
        .edit_device(
            group.id(),
            &sn("A"),
            &DeviceEdit {
                name: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.dps
        .bootstrap(&reported("A", "Other", "+02:00"))
        .await
        .unwrap();
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    assert_eq!(a.name(), None);
    assert_eq!(a.timezone(), Some("+01:00".parse().unwrap()));
    assert_versions_count_events(&w, &group).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_replaced_device_bootstraps_with_the_key_of_its_new_serial() {
    let w = world();
    let group = group_with(&w, auto_settings(), &["OLD"]).await;
    let first = w
        .dps
        .bootstrap(&request(&group, "OLD", epoch_seconds()))
        .await
        .unwrap();
    w.dps
        .replace(
            group.id(),
            &sn("OLD"),
            dps_core::ReplaceRequest {
                new_serial: dps_core::NewSerial::Given(sn("NEW")),
                batch_tag: "swap".parse().unwrap(),
                description: None,
            },
        )
        .await
        .unwrap();
    assert_unauthorized(
        w.dps
            .bootstrap(&request(&group, "OLD", epoch_seconds()))
            .await,
    );
    let answer = w
        .dps
        .bootstrap(&request(&group, "NEW", epoch_seconds()))
        .await
        .unwrap();
    assert_eq!(answer.device_id, first.device_id);
    assert_eq!(
        answer.asset_id, first.asset_id,
        "the asset survives replacement"
    );
    assert_ne!(
        answer.credentials, first.credentials,
        "the target reissued them"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn sign_as_device_signs_with_the_current_group_secret() {
    let w = world();
    let group = group_with(&w, auto_settings(), &["A"]).await;
    let claims = BootstrapClaims::new(group.id(), sn("A"), epoch_seconds());
    let signed = w.dps.sign_as_device(claims.clone()).await.unwrap();
    assert_eq!(signed, request(&group, "A", epoch_seconds()));
    assert!(w.dps.bootstrap(&signed).await.is_ok());
    let ghost = BootstrapClaims::new(GroupId::from_uuid(dps_core::Uuid::nil()), sn("A"), 0);
    assert_eq!(
        w.dps.sign_as_device(ghost).await.unwrap_err().code(),
        "not_found"
    );
}

// ----- concurrency -----------------------------------------------------------------------

#[test]
fn bootstrap_futures_are_send_so_multi_threaded_servers_can_spawn_them() {
    fn assert_send<T: Send>(_: &T) {}
    let w = world();
    let group = Fixtures::new().group("g");
    let r = request(&group, "A", 0);
    assert_send(&w.dps.bootstrap(&r));
    assert_send(
        &w.dps
            .rotate_group_secret(group.id(), SecretRotation::Graceful),
    );
    assert_send(&w.dps.sign_as_device(r.claims.clone()));
}

/// A [`FakeEnvironment`] whose calls can be held at a gate, so that a test can interleave two
/// bootstraps deterministically, without sleeping.
#[derive(Debug)]
struct GatedEnv {
    inner: Arc<FakeEnvironment>,
    /// The first two `model_exists` calls wait here for each other.
    model_barrier: Option<Barrier>,
    model_calls: AtomicUsize,
    /// When set, `onboard` announces itself on `entered` and waits for `release`.
    hold_onboard: bool,
    entered: Notify,
    release: Notify,
}

impl GatedEnv {
    fn new(inner: Arc<FakeEnvironment>) -> Self {
        Self {
            inner,
            model_barrier: None,
            model_calls: AtomicUsize::new(0),
            hold_onboard: false,
            entered: Notify::new(),
            release: Notify::new(),
        }
    }
}

#[async_trait]
impl Environment for GatedEnv {
    async fn model_exists(
        &self,
        target: &Target,
        model: &ModelId,
    ) -> Result<bool, EnvironmentError> {
        if let Some(barrier) = &self.model_barrier
            && self.model_calls.fetch_add(1, Ordering::SeqCst) < 2
        {
            barrier.wait().await;
        }
        self.inner.model_exists(target, model).await
    }
    async fn onboard(
        &self,
        op: OperationId,
        target: &Target,
        device: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        if self.hold_onboard {
            self.entered.notify_one();
            self.release.notified().await;
        }
        self.inner.onboard(op, target, device).await
    }
    async fn offboard(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
    ) -> Result<(), EnvironmentError> {
        self.inner.offboard(op, target, asset).await
    }
    async fn reissue(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
        new_serial: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        self.inner.reissue(op, target, asset, new_serial).await
    }
    async fn endpoints(&self, target: &Target) -> Result<Endpoints, EnvironmentError> {
        self.inner.endpoints(target).await
    }
}

struct GenericWorld<E> {
    dps: Provisioner<Arc<InMemoryStore>, E>,
    env: Arc<FakeEnvironment>,
    clock: Arc<ManualClock>,
}

fn world_with<E: Environment + HasFake>(env: E, config: Config) -> GenericWorld<E> {
    let clock = Arc::new(ManualClock::new(EPOCH));
    let injected = Injected {
        clock: clock.clone(),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(42)),
    };
    let fake = env.fake();
    GenericWorld {
        dps: Provisioner::with_parts(Arc::new(InMemoryStore::new()), env, injected, config)
            .with_keys(dps_testkit::test_keys()),
        env: fake,
        clock,
    }
}

/// The fake environment under a test environment.
trait HasFake {
    fn fake(&self) -> Arc<FakeEnvironment>;
}

impl HasFake for Arc<FakeEnvironment> {
    fn fake(&self) -> Arc<FakeEnvironment> {
        Arc::clone(self)
    }
}

impl HasFake for GatedEnv {
    fn fake(&self) -> Arc<FakeEnvironment> {
        Arc::clone(&self.inner)
    }
}

async fn register<E: Environment>(
    dps: &Provisioner<Arc<InMemoryStore>, E>,
    group: &RegistrationGroup,
    serial: &str,
) {
    dps.register(
        group.id(),
        NewDevice::new(sn(serial), "m1".parse().unwrap()),
    )
    .await
    .unwrap();
}

trait ClockSeconds {
    fn now_seconds(&self) -> i64;
}

impl ClockSeconds for ManualClock {
    fn now_seconds(&self) -> i64 {
        dps_core::inject::Clock::now(self).unix_seconds()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn two_concurrent_bootstraps_of_an_unallocated_device_allocate_it_once() {
    let fake = Arc::new(FakeEnvironment::new());
    fake.add_target(&Fixtures::target(), &["m1"]);
    let mut env = GatedEnv::new(Arc::clone(&fake));
    // Both bootstraps read the device as not allocated before either commits anything.
    env.model_barrier = Some(Barrier::new(2));
    let w = world_with(env, Config::default());
    let group = w.dps.create_group(auto_settings()).await.unwrap();
    register(&w.dps, &group, "A").await;

    let r = request(&group, "A", epoch_seconds());
    let (first, second) = tokio::join!(w.dps.bootstrap(&r), w.dps.bootstrap(&r));
    let (first, second) = (first.unwrap(), second.unwrap());

    assert_eq!(w.env.calls_of(CallKind::ModelExists).len(), 2, "both tried");
    assert_eq!(w.env.calls_of(CallKind::Onboard).len(), 1, "one allocation");
    assert_eq!(w.env.assets().len(), 1);
    assert_eq!(first.credentials, second.credentials);
    assert_eq!(first.asset_id, second.asset_id);
    assert_eq!(first.device_id, second.device_id);
    assert_eq!(
        [first.allocated_now, second.allocated_now]
            .iter()
            .filter(|a| **a)
            .count(),
        1,
        "exactly one of them allocated"
    );
    let events = w.dps.events(EventCursor::START, 100).await.unwrap();
    let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    assert_eq!(
        count(|k| matches!(k, EventKind::AllocationStarted { .. })),
        1
    );
    assert_eq!(count(|k| matches!(k, EventKind::Allocated { .. })), 1);
    assert_eq!(count(|k| matches!(k, EventKind::Bootstrapped)), 2);
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    let of_a = events
        .iter()
        .filter(|e| e.device_id == Some(a.id()))
        .count() as u64;
    assert_eq!(of_a, a.version().get());
}

#[tokio::test(flavor = "current_thread")]
async fn a_bootstrap_during_a_concurrent_allocation_gets_try_again_then_the_same_credentials() {
    let fake = Arc::new(FakeEnvironment::new());
    fake.add_target(&Fixtures::target(), &["m1"]);
    let mut env = GatedEnv::new(Arc::clone(&fake));
    env.hold_onboard = true;
    let w = world_with(env, Config::default());
    let group = w.dps.create_group(auto_settings()).await.unwrap();
    register(&w.dps, &group, "A").await;
    let r = request(&group, "A", epoch_seconds());

    let env = w.dps.environment();
    let allocating = w.dps.bootstrap(&r);
    let meanwhile = async {
        // Wait until the first bootstrap has committed its pending allocation and is
        // inside `onboard`, then bootstrap again, then let the onboarding finish.
        env.entered.notified().await;
        let result = w.dps.bootstrap(&r).await;
        env.release.notify_one();
        result
    };
    let (first, second) = tokio::join!(allocating, meanwhile);
    let first = first.unwrap();
    assert!(first.allocated_now);
    assert!(matches!(second, Err(Error::TryAgain { .. })), "{second:?}");

    // The device retries and gets what the first got.
    let retried = w.dps.bootstrap(&r).await.unwrap();
    assert_eq!(retried.credentials, first.credentials);
    assert_eq!(retried.asset_id, first.asset_id);
    assert_eq!(w.env.calls_of(CallKind::Onboard).len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn many_devices_bootstrapping_at_once_are_each_allocated_once() {
    let w = world();
    let serials: Vec<String> = (0..20).map(|i| format!("D{i:02}")).collect();
    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
    let group = group_with(&w, auto_settings(), &refs).await;
    let requests: Vec<BootstrapRequest> = refs
        .iter()
        .flat_map(|s| {
            [
                request(&group, s, epoch_seconds()),
                request(&group, s, epoch_seconds()),
            ]
        })
        .collect();
    let answers = futures_util::future::join_all(requests.iter().map(|r| w.dps.bootstrap(r))).await;
    for pair in answers.chunks(2) {
        let (a, b) = (pair[0].as_ref().unwrap(), pair[1].as_ref().unwrap());
        assert_eq!(a.credentials, b.credentials);
    }
    assert_eq!(w.env.calls_of(CallKind::Onboard).len(), refs.len());
    assert_versions_count_events(&w, &group).await;
}
