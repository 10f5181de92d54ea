//! A reference platform for the dps webhook environment.
//!
//! dps's webhook environment calls a platform with one signed `POST` per environment call
//! (`model_exists`, `onboard`, `offboard`, `reissue`, `endpoints`, and the batch calls
//! `onboard_many`, `offboard_many`, `reissue_many`); the contract is
//! `docs/environment-webhook.md`. [`Platform`] implements that contract as an axum
//! [`Router`]: it verifies `X-Dps-Signature` and `X-Dps-Timestamp`, answers a repeated
//! `Idempotency-Key` (or a batch item's repeated `operation_id`) with its first answer and
//! applies it once, and, given a data file, keeps every applied effect across restarts.
//!
//! For tests it adds two things a real platform does not have:
//!
//! - [`Platform::snapshot`] and `GET /_platform/state` (unsigned): how many times each
//!   operation was applied and requested, the live assets, and the most requests in flight
//!   at once;
//! - [`Faults`], a handle that scripts the next answers: an error status, a platform that is
//!   down, a request that hangs, an answer lost after the effect was applied, a malformed body.
//!
//! | method and path | what it does |
//! |---|---|
//! | `POST /` | the webhook: one contract call per request |
//! | `GET /_platform/state` | the [`Snapshot`] as JSON (a reference-platform convenience) |
//!
//! ```
//! use webhook_platform::{Fault, Platform, PlatformConfig};
//!
//! let mut config = PlatformConfig::new("s3cret");
//! config.models = vec!["thermostat".to_owned()];
//! config.mqtt = Some("mqtts://mqtt.example.com:8883".to_owned());
//! let platform = Platform::new(config)?;
//! let app = platform.router(); // serve with axum::serve, or nest in a larger router
//! platform.faults().push(Fault::Status(503)); // the next request answers 503
//! assert!(platform.snapshot().assets.is_empty());
//! # drop(app);
//! # Ok::<(), webhook_platform::Error>(())
//! ```
#![deny(missing_docs)]

mod faults;
mod signature;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as Shared;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;

pub use faults::{Fault, Faults, HANG_LIMIT};
pub use signature::{WINDOW_SECONDS, signature};
pub use state::{Asset, Target};

use state::{Answer, DataFile, Effect, Entry, Keys, Request, State, StoredAsset};

/// The header that carries the signature, `v1=<64 hex digits>`.
pub const SIGNATURE_HEADER: &str = "x-dps-signature";
/// The header that carries the request's unix time in whole seconds.
pub const TIMESTAMP_HEADER: &str = "x-dps-timestamp";
/// The header that carries the operation ID on `onboard`, `offboard` and `reissue`.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The most items a batch call (`onboard_many`, `offboard_many`, `reissue_many`) may hold.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// What the platform is built from. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlatformConfig {
    /// The secret shared with dps, whose UTF-8 bytes key the signature.
    pub secret: String,
    /// The models that exist, in every target.
    pub models: Vec<String>,
    /// The MQTT endpoint `endpoints` answers, if any.
    pub mqtt: Option<String>,
    /// The HTTP endpoint `endpoints` answers, if any.
    pub http: Option<String>,
    /// The file that keeps applied effects across restarts (JSON lines); none keeps them in
    /// memory only.
    pub data_file: Option<PathBuf>,
}

impl PlatformConfig {
    /// A platform with this shared secret, no models, no endpoints and no data file.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            models: Vec::new(),
            mqtt: None,
            http: None,
            data_file: None,
        }
    }
}

impl fmt::Debug for PlatformConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformConfig")
            .field("secret", &"<redacted>")
            .field("models", &self.models)
            .field("mqtt", &self.mqtt)
            .field("http", &self.http)
            .field("data_file", &self.data_file)
            .finish()
    }
}

/// Why a platform could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data file could not be opened, read or repaired.
    #[error("cannot use the data file {path}")]
    Io {
        /// The data file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A line of the data file is not an entry this platform wrote.
    #[error("the data file {path} is corrupt at line {line}: {reason}")]
    Corrupt {
        /// The data file.
        path: PathBuf,
        /// The line, counted from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// What the platform has seen and holds: the answer of `GET /_platform/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// Operation ID → how many times its effect was applied (1 for an idempotent platform),
    /// counting the data file's entries.
    pub applied: BTreeMap<String, u64>,
    /// `Idempotency-Key` → how many webhook requests carried it since this process started,
    /// whatever their outcome (refused, faulted, repeated).
    pub requested: BTreeMap<String, u64>,
    /// Asset ID → the live asset.
    pub assets: BTreeMap<String, Asset>,
    /// How many webhook requests (`POST /`) arrived since this process started.
    pub requests: u64,
    /// The most webhook requests that were in flight at once since this process started.
    pub peak_in_flight: usize,
}

/// The reference platform: cheap to clone, all clones share one state.
///
/// `Debug` shows the configuration without the secret, and counts instead of records.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Platform")
            .field("models", &self.inner.models)
            .field("mqtt", &self.inner.mqtt)
            .field("http", &self.inner.http)
            .field("assets", &state.assets.len())
            .field("operations", &state.applied.len())
            .field("faults", &self.inner.faults)
            .finish_non_exhaustive()
    }
}

struct Inner {
    secret: String,
    models: Vec<String>,
    mqtt: Option<String>,
    http: Option<String>,
    state: Mutex<State>,
    faults: Faults,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// A refusal: a status and the answer's `reason`.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    reason: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        json_response(self.status, &json!({ "reason": self.reason }))
    }
}

/// The body of a successful answer.
#[derive(Serialize)]
#[serde(untagged)]
enum Reply {
    Exists {
        exists: bool,
    },
    Endpoints {
        mqtt: Option<String>,
        http: Option<String>,
    },
    Answer(Answer),
    Batch {
        results: Vec<ItemResult>,
    },
}

/// One item's result in a batch call's answer.
#[derive(Serialize)]
struct ItemResult {
    status: u16,
    answer: ItemBody,
}

/// An item's answer: the single call's answer, or its refusal.
#[derive(Serialize)]
#[serde(untagged)]
enum ItemBody {
    Answer(Answer),
    Refusal { reason: String },
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        // Only a map with keys that are not strings fails, and no answer holds one.
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A copy of `map`, in key order.
fn sorted<V: Clone>(map: &std::collections::HashMap<String, V>) -> BTreeMap<String, V> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Platform {
    /// A platform from `config`; with a data file, the file is opened (or created) and
    /// replayed, so earlier operation IDs get their first answers again.
    pub fn new(config: PlatformConfig) -> Result<Self, Error> {
        let mut state = State::default();
        if let Some(path) = &config.data_file {
            let log = DataFile::open(path, &mut state)?;
            state.log = Some(log);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                secret: config.secret,
                models: config.models,
                mqtt: config.mqtt,
                http: config.http,
                state: Mutex::new(state),
                faults: Faults::default(),
                requests: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                peak_in_flight: AtomicUsize::new(0),
            }),
        })
    }

    /// The routes: `POST /` (the webhook) and `GET /_platform/state`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", post(webhook))
            .route("/_platform/state", get(state_json))
            .with_state(self.clone())
    }

    /// The handle that scripts faults for the next requests.
    pub fn faults(&self) -> Faults {
        self.inner.faults.clone()
    }

    /// What the platform has seen and holds now.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.state();
        Snapshot {
            applied: sorted(&state.applied),
            requested: sorted(&state.requested),
            assets: sorted(&state.assets),
            requests: self.inner.requests.load(Ordering::SeqCst),
            peak_in_flight: self.inner.peak_in_flight.load(Ordering::SeqCst),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change to the state is made whole under the lock or not at all.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Verifies and answers one webhook request, `request` being its body as parsed.
    fn handle(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        request: Result<Request, String>,
    ) -> Result<Reply, Refusal> {
        signature::verify(
            &self.inner.secret,
            headers.get(TIMESTAMP_HEADER).map(HeaderValue::as_bytes),
            headers.get(SIGNATURE_HEADER).map(HeaderValue::as_bytes),
            body,
            now(),
        )
        .map_err(|refused| Refusal::new(StatusCode::UNAUTHORIZED, refused.reason()))?;
        let request = request
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("invalid request: {e}")))?;
        let operation_id = match &request {
            Request::ModelExists { model_id, .. } => {
                return Ok(Reply::Exists {
                    exists: self.inner.models.contains(model_id),
                });
            }
            Request::Endpoints { .. } => {
                return Ok(Reply::Endpoints {
                    mqtt: self.inner.mqtt.clone(),
                    http: self.inner.http.clone(),
                });
            }
            other => other.operation_id(),
        };
        let Some(operation_id) = operation_id.map(str::to_owned) else {
            return self.batch(request);
        };
        let key = match headers.get(IDEMPOTENCY_HEADER).map(HeaderValue::to_str) {
            None => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "missing Idempotency-Key header",
                ));
            }
            Some(Err(_)) => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "Idempotency-Key is not visible ASCII",
                ));
            }
            Some(Ok(key)) => key,
        };
        if key != operation_id {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("Idempotency-Key {key} is not the body's operation_id {operation_id}"),
            ));
        }
        self.mutate(key, request).map(Reply::Answer)
    }

    /// Answers a batch call (`onboard_many`, `offboard_many`, `reissue_many`): each item as
    /// the single call it stands for, under its own operation ID.
    fn batch(&self, request: Request) -> Result<Reply, Refusal> {
        let Some(singles) = request.into_singles() else {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "not a batch call"));
        };
        if singles.len() > MAX_BATCH_ITEMS {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a batch call holds at most {MAX_BATCH_ITEMS} items"),
            ));
        }
        let results = singles
            .into_iter()
            .map(|single| {
                let key = single.operation_id().unwrap_or_default().to_owned();
                match self.mutate(&key, single) {
                    Ok(answer) => ItemResult {
                        status: StatusCode::OK.as_u16(),
                        answer: ItemBody::Answer(answer),
                    },
                    Err(refusal) => ItemResult {
                        status: refusal.status.as_u16(),
                        answer: ItemBody::Refusal {
                            reason: refusal.reason,
                        },
                    },
                }
            })
            .collect();
        Ok(Reply::Batch { results })
    }

    /// Applies a mutating request once per operation ID and answers its first answer.
    fn mutate(&self, key: &str, request: Request) -> Result<Answer, Refusal> {
        let mut state = self.state();
        if let Some(first) = state.answers.get(key) {
            return if first.request == request {
                Ok(first.answer.clone())
            } else {
                Err(Refusal::new(
                    StatusCode::CONFLICT,
                    format!("operation {key} was first requested with a different call or body"),
                ))
            };
        }
        let random_failed = |e: getrandom::Error| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the platform's random source failed: {e}"),
            )
        };
        let (effect, answer) = match request.clone() {
            Request::Onboard { target, device, .. } => {
                if !self.inner.models.contains(&device.model_id) {
                    return Err(Refusal::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("model {} does not exist", device.model_id),
                    ));
                }
                let (asset_id, keys) = Keys::random_asset().map_err(random_failed)?;
                let answer = Answer::Onboarded {
                    asset_id: asset_id.clone(),
                    keys: keys.clone(),
                };
                let asset = StoredAsset::new(target, device, keys);
                (Effect::Onboarded { asset_id, asset }, answer)
            }
            Request::Offboard {
                target, asset_id, ..
            } => (
                Effect::Offboarded { target, asset_id },
                Answer::Offboarded {},
            ),
            Request::Reissue {
                target,
                asset_id,
                new_serial,
                ..
            } => {
                if !state
                    .assets
                    .get(&asset_id)
                    .is_some_and(|a| a.target == target)
                {
                    return Err(Refusal::new(
                        StatusCode::NOT_FOUND,
                        format!(
                            "asset {asset_id} does not exist in {}/{}",
                            target.environment, target.ou
                        ),
                    ));
                }
                let keys = Keys::random().map_err(random_failed)?;
                let answer = Answer::Reissued(keys.clone());
                let effect = Effect::Reissued {
                    target,
                    asset_id,
                    serial: new_serial,
                    keys,
                };
                (effect, answer)
            }
            Request::ModelExists { .. }
            | Request::Endpoints { .. }
            | Request::OnboardMany { .. }
            | Request::OffboardMany { .. }
            | Request::ReissueMany { .. } => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "not a single call that changes the platform",
                ));
            }
        };
        let entry = Entry {
            key: key.to_owned(),
            request,
            answer: answer.clone(),
            effect,
        };
        if let Some(log) = state.log.as_mut() {
            log.append(&entry)
                .map_err(|reason| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, reason))?;
        }
        state.apply(entry);
        Ok(answer)
    }

    /// Counts the request under its `Idempotency-Key`, or a batch call under each item's
    /// operation ID.
    fn count_request(&self, headers: &HeaderMap, request: Option<&Request>) {
        if let Some(key) = headers
            .get(IDEMPOTENCY_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            *self.state().requested.entry(key.to_owned()).or_default() += 1;
        } else if let Some(request) = request {
            let mut state = self.state();
            for op in request.item_operations() {
                *state.requested.entry(op.to_owned()).or_default() += 1;
            }
        }
    }
}

/// Counts a webhook request in flight for as long as it lives, and the most at once.
struct InFlight<'a>(&'a Inner);

impl<'a> InFlight<'a> {
    fn new(inner: &'a Inner) -> Self {
        inner.requests.fetch_add(1, Ordering::SeqCst);
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(inner)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `POST /`: takes the next fault, if any, else answers the call.
async fn webhook(Shared(platform): Shared<Platform>, headers: HeaderMap, body: Bytes) -> Response {
    let _in_flight = InFlight::new(&platform.inner);
    let request = serde_json::from_slice::<Request>(&body).map_err(|e| e.to_string());
    platform.count_request(&headers, request.as_ref().ok());
    let faults = &platform.inner.faults;
    if faults.is_down() {
        return Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "platform is down").into_response();
    }
    let answer = |platform: &Platform| match platform.handle(&headers, &body, request) {
        Ok(answer) => json_response(StatusCode::OK, &answer),
        Err(refusal) => refusal.into_response(),
    };
    match faults.take() {
        None => answer(&platform),
        Some(Fault::Status(status)) => Refusal::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "injected fault",
        )
        .into_response(),
        Some(Fault::TooManyRequests { retry_after }) => {
            let mut response =
                Refusal::new(StatusCode::TOO_MANY_REQUESTS, "injected fault").into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            response
        }
        Some(Fault::Reject { status, reason }) => Refusal::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            reason,
        )
        .into_response(),
        Some(Fault::Hang) => {
            faults.hang().await;
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "released from an injected hang",
            )
            .into_response()
        }
        Some(Fault::ApplyThenDrop) => {
            // Applied and persisted; the answer is lost with the connection.
            let _ = answer(&platform);
            dropped_connection()
        }
        Some(Fault::Malformed) => {
            let _ = answer(&platform);
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                r#"{"asset_id": 5"#,
            )
                .into_response()
        }
    }
}

/// A response whose body fails before its first byte: the server closes the connection
/// without writing the status line, and the client sees a connection error.
fn dropped_connection() -> Response {
    let failing = futures_util::stream::iter([Err::<Bytes, std::io::Error>(
        std::io::Error::other("injected fault: connection dropped"),
    )]);
    Response::new(Body::from_stream(failing))
}

/// `GET /_platform/state`: the [`Snapshot`] as JSON.
async fn state_json(Shared(platform): Shared<Platform>) -> Response {
    json_response(StatusCode::OK, &platform.snapshot())
}
