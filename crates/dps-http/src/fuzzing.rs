//! The harness of the HTTP fuzz targets, shared by `fuzz/fuzz_targets/http_*.rs` (nightly,
//! `cargo fuzz`) and the stable replay test `tests/fuzz_corpus.rs`, which runs every file of
//! `fuzz/corpus/http_*` through the same properties.
//!
//! Each input gets a fresh [`Api`] over the store and environment that [`Parts`] makes, with a
//! fixed clock, sequential identifiers and seeded secrets, so that an input gives the same
//! answer in every run: the group ID and secret are always the same, and a signed request
//! such as [`signed_bootstrap_body`] keeps verifying.
//!
//! | target | input | properties |
//! |---|---|---|
//! | [`BootstrapFuzz`] (`http_bootstrap`) | the JSON body of `POST /v1/bootstrap` | 200, 400, 401, 413, 415, 422 or 429, never 5xx; every refusal is a problem with a snake_case `code`; 200 only for a request signed with the device's key within the window |
//! | [`ImportFuzz`] (`http_import`) | the first byte picks the options, the rest is the CSV of `POST /v1/groups/{group}/devices:import` | never 5xx; every refusal is a problem with a snake_case `code`; a report's `accepted + rejected` is the number of data rows the reader reads, `rejected` the number of rows it lists; the devices it created are listed afterwards |
//!
//! # Panics
//!
//! Panicking is the purpose of this module: [`BootstrapFuzz::run`] and [`ImportFuzz::run`]
//! panic when an answer violates a property, which is how a fuzzer or a test learns of it.
//! They also panic when the fixture itself cannot be built, which is a bug of the harness,
//! never of the input. Nothing the input holds makes them panic otherwise.
//!
//! ```
//! use std::sync::Arc;
//! use dps_core::{Environment, Store};
//! use dps_http::fuzzing::{BootstrapFuzz, signed_bootstrap_body};
//!
//! fn parts() -> (Arc<dyn Store>, Arc<dyn Environment>) {
//!     let target = "prod-eu/acme".parse().unwrap();
//!     let env = dps_testkit::FakeEnvironment::with_target(&target, &["m1", "m2"]);
//!     (Arc::new(dps_store_memory::InMemoryStore::new()), Arc::new(env))
//! }
//!
//! let fuzz = BootstrapFuzz::new(parts).unwrap();
//! assert_eq!(fuzz.run(b"{\"group_id\": 1}").as_u16(), 422);
//! assert_eq!(fuzz.run(&signed_bootstrap_body(parts)).as_u16(), 200);
//! ```

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use dps_core::access::{AccessToken, Role};
use dps_core::bootstrap::{BootstrapClaims, BootstrapRequest, DeviceBootstrapKey};
use dps_core::inject::{ManualClock, SeededSecrets, SequentialIds};
use dps_core::seal::{Keys, SealingKey};
use dps_core::{
    Config, Environment, Injected, NewDevice, NewGroup, Provisioner, RegistrationGroup,
    SerialNumber, Store, Timestamp,
};
use dps_csv::{ImportMode, ImportOptions};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::{Api, PROBLEM_JSON};

/// The instant the fixture's clock shows: 2026-01-01T00:00:00Z.
pub const NOW_MILLIS: i64 = 1_767_225_600_000;
/// The serial of the one device of the fixture's group (model `m1`).
pub const SERIAL: &str = "SN-0001";
/// The boundary of the multipart uploads [`ImportFuzz`] sends.
pub const BOUNDARY: &str = "dps-fuzz-7MA4YWxkTrZu0gW";

const TARGET: &str = "prod-eu/acme";

/// A fresh store and environment for one input: the store empty, the environment with the
/// target `prod-eu/acme` where the models `m1` and `m2` exist and onboarding succeeds (for
/// example an in-memory store and the test kit's fake environment). The harness takes them
/// from its caller, so that this crate depends on no store or environment of its own.
pub type Parts = fn() -> (Arc<dyn Store>, Arc<dyn Environment>);

/// A failure of the harness itself (not of the service under test).
type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The value of a step of the harness, or a panic that says the harness (not the input) failed.
fn harness<T>(result: Result<T, Failure>) -> T {
    match result {
        Ok(t) => t,
        Err(e) => panic!("the fuzz harness failed (not the input): {e}"),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// One service with one group (`fuzz`, auto-activation on, default target `prod-eu/acme`,
/// attributes `floor` and `color`) holding one device ([`SERIAL`]), and an operator token.
struct Fixture {
    api: Api,
    app: Router,
    group: RegistrationGroup,
    operator: String,
}

impl Fixture {
    async fn new(parts: Parts) -> Result<Self, Failure> {
        use dps_core::attribute::{AttributeDef, AttributeSchema, AttributeType, AttributeValue};

        let (store, env) = parts();
        let now = Timestamp::from_unix_millis(NOW_MILLIS);
        let injected = Injected {
            clock: Arc::new(ManualClock::new(now)),
            ids: Arc::new(SequentialIds::new(1)),
            secrets: Arc::new(SeededSecrets::new(7)),
        };
        let keys = Keys::new("fuzz".parse()?, SealingKey::from_bytes([9; 32]));
        let dps = Provisioner::with_parts(Arc::clone(&store), env, injected, Config::default())
            .with_keys(keys);
        let mut new = NewGroup::new("fuzz".parse()?);
        new.default_target = Some(TARGET.parse()?);
        new.auto_activation = true;
        new.attributes = AttributeSchema::new(vec![
            AttributeDef::new("floor".parse()?, AttributeType::Integer),
            AttributeDef::new(
                "color".parse()?,
                AttributeType::Enum {
                    items: vec!["red".into(), "blue".into()],
                },
            )
            .with_default(AttributeValue::Enum("red".into())),
        ])?;
        let group = dps.create_group(new).await?;
        dps.register(group.id(), NewDevice::new(SERIAL.parse()?, "m1".parse()?))
            .await?;
        let (token, operator) = AccessToken::issue(
            "fuzz-operator".parse()?,
            Role::Operator,
            Vec::new(),
            &SeededSecrets::new(11),
            now,
        );
        store.insert_token(&token).await?;
        let api = Api::new(dps);
        Ok(Self {
            app: api.router(),
            api,
            group,
            operator,
        })
    }

    /// The bootstrap key of the device `serial` of the fixture's group.
    fn bootstrap_key(&self, serial: &SerialNumber) -> Result<DeviceBootstrapKey, Failure> {
        Ok(self
            .api
            .provisioner()
            .bootstrap_key_for(&self.group, serial)?)
    }

    async fn send(&self, request: Request<Body>) -> Result<Answer, Failure> {
        let response = match self.app.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// How many devices the group lists, page after page, as the operator.
    async fn listed(&self) -> Result<usize, Failure> {
        let mut count = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut uri = format!("/v1/groups/{}/devices?limit=1000", self.group.id());
            if let Some(c) = &cursor {
                uri.push_str("&cursor=");
                uri.push_str(c);
            }
            let request = Request::builder()
                .method(Method::GET)
                .uri(uri)
                .header(header::AUTHORIZATION, format!("Bearer {}", self.operator))
                .body(Body::empty())?;
            let answer = self.send(request).await?;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "the listing failed: {answer:?}"
            );
            let page = answer.json();
            let items = page["items"].as_array().map_or(0, Vec::len);
            count += items;
            match page["next_cursor"].as_str() {
                Some(c) if items > 0 => cursor = Some(c.to_owned()),
                _ => return Ok(count),
            }
        }
    }
}

/// An answer of the router.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Every refusal is `application/problem+json` with a snake_case `code` and the status.
    fn assert_problem(&self) {
        assert_eq!(
            self.content_type, PROBLEM_JSON,
            "a refusal is not a problem: {self:?}"
        );
        let body = self.json();
        let code = body["code"].as_str().unwrap_or("");
        assert!(is_code(code), "no snake_case code: {self:?}");
        assert_eq!(
            body["status"].as_u64(),
            Some(u64::from(self.status.as_u16())),
            "the problem's status is not the answer's: {self:?}"
        );
    }
}

fn is_code(code: &str) -> bool {
    !code.is_empty()
        && !code.starts_with('_')
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The body of a request that the fixture's device signs correctly at the fixture's time: the
/// one input that [`BootstrapFuzz::run`] answers 200. `fuzz/corpus/http_bootstrap/`
/// holds it as a seed, so that the fuzzer starts from the accepted path.
///
/// # Panics
///
/// When the fixture cannot be built (a bug of the harness).
pub fn signed_bootstrap_body(parts: Parts) -> Vec<u8> {
    harness(runtime().map_err(Failure::from).and_then(|rt| {
        rt.block_on(async {
            let fixture = Fixture::new(parts).await?;
            let serial: SerialNumber = SERIAL.parse()?;
            let key = fixture.bootstrap_key(&serial)?;
            let claims = BootstrapClaims::new(fixture.group.id(), serial, NOW_MILLIS / 1000);
            Ok(serde_json::to_vec(&claims.sign(&key))?)
        })
    }))
}

/// The `http_bootstrap` target: arbitrary bytes as the `application/json` body of
/// `POST /v1/bootstrap`.
#[derive(Debug)]
pub struct BootstrapFuzz {
    runtime: tokio::runtime::Runtime,
    parts: Parts,
}

impl BootstrapFuzz {
    /// A harness with its own single-threaded runtime, over fresh [`Parts`] for each input.
    ///
    /// # Errors
    ///
    /// When the runtime cannot be built.
    pub fn new(parts: Parts) -> std::io::Result<Self> {
        Ok(Self {
            runtime: runtime()?,
            parts,
        })
    }

    /// Sends `body` to a fresh fixture and checks the answer's properties; its status.
    ///
    /// # Panics
    ///
    /// When a property is violated (see the [module](self) docs), or the fixture cannot be
    /// built.
    pub fn run(&self, body: &[u8]) -> StatusCode {
        harness(self.runtime.block_on(bootstrap(self.parts, body)))
    }
}

async fn bootstrap(parts: Parts, body: &[u8]) -> Result<StatusCode, Failure> {
    let fixture = Fixture::new(parts).await?;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/bootstrap")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))?;
    let answer = fixture.send(request).await?;
    let status = answer.status.as_u16();
    assert!(
        matches!(status, 200 | 400 | 401 | 413 | 415 | 422 | 429),
        "unexpected status: {answer:?}"
    );
    if answer.status != StatusCode::OK {
        answer.assert_problem();
        return Ok(answer.status);
    }
    // Accepted: the body must be a request that the device's key signed within the window.
    let request: BootstrapRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => panic!("200 for a body that is no bootstrap request ({e}): {answer:?}"),
    };
    let claims = &request.claims;
    assert_eq!(claims.group_id, fixture.group.id(), "200 for another group");
    assert_eq!(claims.serial.as_str(), SERIAL, "200 for another serial");
    let key = fixture
        .bootstrap_key(&claims.serial)
        .unwrap_or_else(|e| panic!("the fixture's bootstrap key: {e}"));
    assert!(key.verify(&request), "200 for a bad signature");
    let window = i64::try_from(Config::default().bootstrap.window.as_secs()).unwrap_or(i64::MAX);
    let skew = claims.timestamp.saturating_sub(NOW_MILLIS / 1000);
    assert!(skew.abs() <= window, "200 for a stale timestamp ({skew} s)");
    assert!(
        answer.content_type.starts_with("application/json"),
        "{answer:?}"
    );
    let json = answer.json();
    assert_eq!(json["serial"].as_str(), Some(SERIAL), "{answer:?}");
    assert!(
        json["credentials"]["device_secret"].is_string(),
        "{answer:?}"
    );
    Ok(answer.status)
}

/// How [`ImportFuzz`] sends an input, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportShape {
    /// `?dry_run=true` (bit 0).
    pub dry_run: bool,
    /// A `multipart/form-data` upload with the boundary [`BOUNDARY`] rather than a
    /// `text/csv` body (bit 1).
    pub multipart: bool,
    /// `?mode=upsert` (bit 2).
    pub upsert: bool,
}

impl ImportShape {
    /// The shape that the first byte of `data` picks, and the CSV: the rest. An empty input
    /// is an empty `text/csv` body.
    pub fn split(data: &[u8]) -> (Self, &[u8]) {
        match data.split_first() {
            Some((b, rest)) => (
                Self {
                    dry_run: b & 1 != 0,
                    multipart: b & 2 != 0,
                    upsert: b & 4 != 0,
                },
                rest,
            ),
            None => (
                Self {
                    dry_run: false,
                    multipart: false,
                    upsert: false,
                },
                data,
            ),
        }
    }
}

/// The `http_import` target: arbitrary bytes as the CSV of
/// `POST /v1/groups/{group}/devices:import` with an operator token; the first byte picks the
/// [`ImportShape`].
#[derive(Debug)]
pub struct ImportFuzz {
    runtime: tokio::runtime::Runtime,
    parts: Parts,
}

impl ImportFuzz {
    /// A harness with its own single-threaded runtime, over fresh [`Parts`] for each input.
    ///
    /// # Errors
    ///
    /// When the runtime cannot be built.
    pub fn new(parts: Parts) -> std::io::Result<Self> {
        Ok(Self {
            runtime: runtime()?,
            parts,
        })
    }

    /// Sends `data` to a fresh fixture and checks the answer's properties; its status.
    ///
    /// # Panics
    ///
    /// When a property is violated (see the [module](self) docs), or the fixture cannot be
    /// built.
    pub fn run(&self, data: &[u8]) -> StatusCode {
        harness(self.runtime.block_on(import(self.parts, data)))
    }
}

async fn import(parts: Parts, data: &[u8]) -> Result<StatusCode, Failure> {
    let (shape, csv) = ImportShape::split(data);
    let fixture = Fixture::new(parts).await?;
    let expected_rows = shape.expected_rows(&fixture, csv).await;
    let (content_type, body) = shape.body(csv);
    let request = Request::builder()
        .method(Method::POST)
        .uri(shape.uri(&fixture))
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", fixture.operator),
        )
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))?;
    let answer = fixture.send(request).await?;
    assert!(
        !answer.status.is_server_error(),
        "a server error: {answer:?}"
    );
    if answer.status != StatusCode::OK {
        answer.assert_problem();
        return Ok(answer.status);
    }
    let created = shape.check_report(&answer, expected_rows);
    let listed = fixture.listed().await? as u64;
    let expected = 1 + created.unwrap_or(0);
    assert_eq!(
        listed, expected,
        "the group lists {listed} devices after the import: {answer:?}"
    );
    Ok(answer.status)
}

impl ImportShape {
    /// The import's URI, with this shape's query.
    fn uri(self, fixture: &Fixture) -> String {
        let mut uri = format!("/v1/groups/{}/devices:import", fixture.group.id());
        let mut query = Vec::new();
        if self.dry_run {
            query.push("dry_run=true");
        }
        if self.upsert {
            query.push("mode=upsert");
        }
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query.join("&"));
        }
        uri
    }

    /// The content type and body that send `csv` in this shape.
    fn body(self, csv: &[u8]) -> (String, Vec<u8>) {
        if self.multipart {
            let mut form = format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"devices.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .into_bytes();
            form.extend_from_slice(csv);
            form.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
            (format!("multipart/form-data; boundary={BOUNDARY}"), form)
        } else {
            ("text/csv".to_owned(), csv.to_vec())
        }
    }

    /// What the library's reader makes of the same file, in a dry run before the upload: the
    /// number of data rows the report must account for. A multipart body whose CSV holds the
    /// boundary ends the file early, so it has no such count.
    async fn expected_rows(self, fixture: &Fixture, csv: &[u8]) -> Option<u64> {
        let delimiter = format!("\r\n--{BOUNDARY}");
        if self.multipart && contains(csv, delimiter.as_bytes()) {
            return None;
        }
        let mode = if self.upsert {
            ImportMode::Upsert
        } else {
            ImportMode::Create
        };
        let options = ImportOptions::default().with_mode(mode).dry_run();
        dps_csv::import_async(fixture.api.provisioner(), fixture.group.id(), csv, &options)
            .await
            .ok()
            .map(|report| report.summary.rows)
    }

    /// Checks a `200` import report against this shape and the rows the file holds; the
    /// number of devices it created when it committed.
    fn check_report(self, answer: &Answer, expected_rows: Option<u64>) -> Option<u64> {
        let report = answer.json();
        let count = |name: &str| match report[name].as_u64() {
            Some(n) => n,
            None => panic!("the report has no {name}: {answer:?}"),
        };
        let (accepted, rejected) = (count("accepted"), count("rejected"));
        let (created, updated, unchanged) =
            (count("created"), count("updated"), count("unchanged"));
        assert_eq!(accepted, created + updated + unchanged, "{answer:?}");
        let listed_rows = report["rows"].as_array().map_or(0, Vec::len) as u64;
        assert_eq!(
            rejected, listed_rows,
            "rejected is not the rows listed: {answer:?}"
        );
        if let Some(rows) = expected_rows {
            assert_eq!(
                accepted + rejected,
                rows,
                "the report does not account for every data row: {answer:?}"
            );
        }
        let committed = report["committed"].as_bool() == Some(true);
        assert_eq!(
            report["dry_run"].as_bool(),
            Some(self.dry_run),
            "{answer:?}"
        );
        assert!(
            !(self.dry_run && committed),
            "a dry run committed: {answer:?}"
        );
        committed.then_some(created)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
