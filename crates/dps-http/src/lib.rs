//! The **dps** provisioning service over HTTP: an [axum] [`Router`] with the management API
//! under `/v1`, the device-facing `POST /v1/bootstrap`, bearer tokens with roles, and errors
//! as `application/problem+json`.
//!
//! [`Api`] holds a [`Provisioner`] over shared trait objects, so that
//! it runs on any store and environment; [`Api::router`] answers a `Router` with its state
//! applied, which an embedding service serves as it is or [nests](Router::nest) into its own
//! router, beside routes with their own state:
//!
//! ```
//! use std::sync::Arc;
//! use dps_core::{Provisioner, Store, Environment};
//! use dps_http::Api;
//! # fn env() -> Arc<dyn Environment> {
//! #     Arc::new(dps_env_static::StaticEnvironment::new(
//! #         dps_env_static::StaticConfig { targets: vec![] }, Arc::new(dps_core::inject::OsSecrets)))
//! # }
//!
//! let store: Arc<dyn Store> = Arc::new(dps_store_memory::InMemoryStore::new());
//! let api = Api::new(Provisioner::new(store, env()).with_keys(dps_core::seal::Keys::ephemeral()));
//! let app: axum::Router = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "my service" }))
//!     .nest("/provisioning", api.router());
//! # let _ = app;
//! ```
//!
//! # Routes
//!
//! `{group}` is a group ID or a unique group name, `{serial}` a serial number
//! (percent-encoded). Collection-level methods use a colon (`devices:allocate`), so they never
//! collide with a serial.
//!
//! | route | role | what |
//! |---|---|---|
//! | `GET /v1/groups` · `POST /v1/groups` | viewer · operator | list groups (`limit`, `cursor`), create one |
//! | `GET, PATCH, DELETE /v1/groups/{group}` | viewer · operator | show (with `ETag`), edit (`If-Match`), delete (`?cascade=true` deletes its devices first) |
//! | `POST /v1/groups/{group}/secret:rotate` | operator | a new group secret (`{"immediate": true}` drops the old one at once) |
//! | `GET /v1/groups/{group}/devices` | viewer | a page of devices: `status`, `batch_tag`, `model_id`, `target`, `allocated_to`, `serial_prefix`, `limit`, `cursor` |
//! | `POST /v1/groups/{group}/devices` | operator | register one device |
//! | `POST /v1/groups/{group}/devices:generate` | operator | register `count` devices with generated serials |
//! | `GET, PATCH, DELETE /v1/groups/{group}/devices/{serial}` | viewer · operator | show (with `ETag`; `?include_secrets=true` for an admin), edit (`If-Match: <version>`, 412 when it is stale), delete |
//! | `POST /v1/groups/{group}/devices/{serial}/replace` | operator | replace the hardware, keeping the asset |
//! | `GET /v1/groups/{group}/devices:template` | viewer | the group's import template (CSV) |
//! | `POST /v1/groups/{group}/devices:import` | operator | a CSV file as a `text/csv` body or a `multipart/form-data` upload, streamed: `mode` (`create`, `upsert`, `update`), `dry_run`, `all_or_nothing`; the console's limits (2 MB, 1000 records) unless the token may import in bulk (an admin's, or one issued with `--bulk-import`); the report as JSON, or with `Accept: text/csv` as the error CSV |
//! | `GET or POST /v1/groups/{group}/devices:export` | viewer | the CSV of a selection (the listing's filters, or a selection body), streamed; `include_secrets` and `include_bootstrap_keys` for an admin |
//! | `GET or POST /v1/groups/{group}/devices:qr` | viewer | the ZIP of the selection's QR labels, streamed |
//! | `POST /v1/groups/{group}/devices:allocate` · `:reset` · `:delete` | operator | a batch over `{"serials": […]}`, `{"filter": {…}}` or `{"all": true}`; one outcome per device, or, over [`Options::job_threshold`] devices, `202 Accepted` and the job that runs it at `Location` |
//! | `GET /v1/jobs` · `GET /v1/jobs/{job}` | viewer | the jobs, newest first · one job's progress (`done` of `total`), counts and failed devices |
//! | `POST /v1/jobs/{job}/cancel` | operator | stop the job after the page in flight |
//! | `GET /v1/jobs/{job}/results` | viewer | each device's result so far, as CSV (`Device Serial No.,Result,Code,Message`) |
//! | `GET /v1/jobs/{job}/file` | viewer | the file of a finished export (CSV), label (ZIP) or import job (its refused records, CSV); an export, a label archive or a bulk import over [`Options::job_threshold`] devices answers `202 Accepted` and its job (an export with secrets always streams: it is never kept) |
//! | `POST /v1/recover` | operator | complete the operations a crash or an unavailable environment left pending |
//! | `GET /v1/events` | viewer | the event log: `after`, `limit` |
//! | `POST /v1/bootstrap` | none | the device-facing call of `docs/bootstrap.md` |
//! | `GET /healthz` · `GET /readyz` | none | the process is up · the store answers |
//! | `/`, `/sign-in`, `/groups/…` | a session | the console (feature `console`): the "Managing Devices" pages, signed in with a token |
//! | `GET /metrics` | none | Prometheus text: requests by route and status, latency, bootstrap outcomes, batch sizes |
//!
//! Every answer carries `X-Request-Id` (the client's, when it sent a short printable one),
//! which the request's log lines carry too.
//!
//! # Access
//!
//! Every management route needs `Authorization: Bearer <token>`, a token that
//! [`AccessToken::issue`](dps_core::access::AccessToken::issue) made and the store holds
//! (`dps token create` makes one). A `viewer` reads, an `operator` also changes groups and
//! devices, an `admin` may also read device secrets. A token limited to groups gets 404 for
//! every other group, exactly as for a missing one, and sees only their events. Each change
//! records the token's name as its events' actor.
//!
//! # Retries
//!
//! A request that changes state (`POST`, `PATCH` or `DELETE`) may carry
//! `Idempotency-Key: <key>` (1 to 255 visible ASCII characters, unique per intended change,
//! such as a UUID). Its first answer is kept in the store for a day at least
//! ([`Options::idempotency_retention`]); a repeat of the key with the same method, path and
//! body answers it again, marked `Idempotent-Replayed: true`, without running the request
//! twice. The same key with another request is refused with 422 `idempotency_key_reused`,
//! and while the first request runs, a repeat gets 409 `idempotency_in_progress`. A server
//! failure (5xx), a 408 or a 429 keeps nothing, so the retry runs; so does a first request
//! that was lost (its server stopped) once [`Options::idempotency_lease`] is over. Keys are
//! scoped by token: the store keeps each as the hex SHA-256 of the token, `:`, and the key.
//!
//! An import's upload is never buffered to be compared: it is hashed as it streams through
//! the import, and a repeat is answered the first report only if its file has the same bytes
//! (the file part's, for a `multipart/form-data` upload, whatever its boundary) and asks for
//! the same report format. An upload refused before it was read to its end (over the
//! console's limits, or broken off) keeps nothing.
//!
//! # Errors
//!
//! Every refusal is a [`Problem`]: `application/problem+json` with the stable `code` of
//! `docs/errors.md`; its status comes from the error's category (400 usage, 401, 403, 404,
//! 409 conflict or operation in progress, 412 stale `If-Match`, 413, 422 validation, 429,
//! 503 with `Retry-After` for retryable failures).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod auth;
#[cfg(feature = "console")]
mod console;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod fuzzing;
mod idempotency;
mod jobs;
mod limit;
mod metrics;
pub mod openapi;
mod problem;
mod routes;
pub mod server;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use dps_core::{Environment, Provisioner, Store};

pub use auth::Caller;
pub use idempotency::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
pub use limit::RateLimit;
pub use metrics::REQUEST_ID;
pub use problem::{PROBLEM_JSON, Problem};

/// The provisioner that an [`Api`] serves: any store and any environment.
pub type DynProvisioner = Provisioner<Arc<dyn Store>, Arc<dyn Environment>>;

/// Limits and tuning of an [`Api`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The most devices, groups or events one page holds, whatever a client asks for.
    pub max_page: usize,
    /// The largest JSON request body, in bytes; a larger one is refused with 413 before it
    /// is read further.
    pub max_json_body: usize,
    /// How deep a JSON request body may nest arrays and objects (the body itself is level
    /// 1); a deeper one is refused with 422 `json_too_deep`.
    pub max_json_depth: usize,
    /// The longest string (a value or a field name) of a JSON request body, in bytes; a
    /// longer one is refused with 422 `field_too_large`.
    pub max_json_string: usize,
    /// The most serials one batch request may name.
    pub max_batch_serials: usize,
    /// The most devices one `devices:generate` request may create.
    pub max_generate: usize,
    /// The most devices a batch (`devices:allocate`, `:reset`, `:delete`), an export, a label
    /// archive or a bulk import runs in its request; a larger one runs as a job, answered
    /// `202 Accepted` with the job's URL.
    pub job_threshold: usize,
    /// Bootstrap requests per client address.
    pub bootstrap_per_address: RateLimit,
    /// Bootstrap requests per group named in the request.
    pub bootstrap_per_group: RateLimit,
    /// How long the answer of a request with an `Idempotency-Key` is kept for its repeats
    /// (at least this long; records are purged hourly).
    pub idempotency_retention: Duration,
    /// How long the first request with an `Idempotency-Key` may run before a repeat takes it
    /// for lost (its server stopped, say) and runs the request itself; until then a repeat
    /// is answered 409 `idempotency_in_progress`. Keep it longer than the longest request.
    pub idempotency_lease: Duration,
    /// The most requests served at once; beyond it a request is answered 503 `overloaded`
    /// with `Retry-After` at once, rather than queued.
    pub max_concurrent_requests: usize,
    /// The longest wait for the next piece of a request's body; a client that sends
    /// nothing for longer has its request refused (`body_timeout`) instead of holding it open.
    pub body_read_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_page: 1000,
            max_json_body: 1024 * 1024,
            max_json_depth: 16,
            max_json_string: 64 * 1024,
            max_batch_serials: 10_000,
            max_generate: 10_000,
            job_threshold: 1000,
            bootstrap_per_address: RateLimit::new(20, Duration::from_secs(1)),
            bootstrap_per_group: RateLimit::new(2000, Duration::from_secs(1)),
            idempotency_retention: Duration::from_secs(24 * 60 * 60),
            idempotency_lease: Duration::from_secs(15 * 60),
            max_concurrent_requests: 1024,
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

impl Options {
    /// These options with `max_page`.
    pub fn with_max_page(mut self, n: usize) -> Self {
        self.max_page = n.max(1);
        self
    }

    /// These options with the JSON body limits: `max_json_body`, `max_json_depth` and
    /// `max_json_string`.
    pub fn with_json_limits(mut self, body: usize, depth: usize, string: usize) -> Self {
        self.max_json_body = body;
        self.max_json_depth = depth.max(1);
        self.max_json_string = string;
        self
    }

    /// These options with `job_threshold`.
    pub fn with_job_threshold(mut self, devices: usize) -> Self {
        self.job_threshold = devices;
        self
    }

    /// These options with `body_read_timeout`.
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// These options with `idempotency_lease`.
    pub fn with_idempotency_lease(mut self, lease: Duration) -> Self {
        self.idempotency_lease = lease;
        self
    }

    /// These options with the bootstrap rate limits per client address and per group.
    pub fn with_bootstrap_limits(mut self, per_address: RateLimit, per_group: RateLimit) -> Self {
        self.bootstrap_per_address = per_address;
        self.bootstrap_per_group = per_group;
        self
    }
}

/// The HTTP service over one provisioner: clone it freely, every clone shares the same
/// provisioner, limits and rate-limit state.
#[derive(Debug, Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dps: DynProvisioner,
    options: Options,
    per_address: limit::Limiter<std::net::IpAddr>,
    per_group: limit::Limiter<dps_core::GroupId>,
    metrics: metrics::Metrics,
    in_flight: Arc<tokio::sync::Semaphore>,
    runners: jobs::Runners,
    #[cfg(feature = "console")]
    console: console::ConsoleState,
}

impl Api {
    /// The service over `dps` with the default [`Options`].
    pub fn new(dps: DynProvisioner) -> Self {
        Self::with_options(dps, Options::default())
    }

    /// The service over `dps` with `options`.
    pub fn with_options(dps: DynProvisioner, options: Options) -> Self {
        Self {
            inner: Arc::new(Inner {
                per_address: limit::Limiter::new(options.bootstrap_per_address),
                per_group: limit::Limiter::new(options.bootstrap_per_group),
                metrics: metrics::Metrics::new(),
                in_flight: Arc::new(tokio::sync::Semaphore::new(
                    options.max_concurrent_requests.max(1),
                )),
                dps,
                options,
                runners: jobs::Runners::default(),
                #[cfg(feature = "console")]
                console: console::ConsoleState::default(),
            }),
        }
    }

    /// The provisioner it serves.
    pub fn provisioner(&self) -> &DynProvisioner {
        &self.inner.dps
    }

    /// Its options.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The routes of the service, its state applied: serve it, or nest it into a router of
    /// your own.
    pub fn router(&self) -> Router {
        routes::routes(self)
            .layer(DefaultBodyLimit::max(self.inner.options.max_json_body))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                body_timeout,
            ))
            .layer(axum::middleware::from_fn_with_state(self.clone(), shed))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                metrics::layer,
            ))
            .with_state(self.clone())
    }

    /// The provisioner acting for `caller`: its changes' events name the caller's token.
    fn acting_for(&self, caller: &Caller) -> DynProvisioner {
        self.inner.dps.acting_as(caller.token().name().clone())
    }
}

/// Refuses a request beyond [`Options::max_concurrent_requests`] with 503 `overloaded`.
async fn shed(
    axum::extract::State(api): axum::extract::State<Api>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match Arc::clone(&api.inner.in_flight).try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the service is serving as many requests as it may; retry shortly",
        )
        .retry_after(1)
        .into_response(),
    }
}

/// Ends a request's body with an error when its client sends nothing for longer than
/// [`Options::body_read_timeout`], so that a stalled upload cannot hold a request open.
async fn body_timeout(
    axum::extract::State(api): axum::extract::State<Api>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use futures_util::StreamExt as _;
    let timeout = api.inner.options.body_read_timeout;
    let (parts, body) = request.into_parts();
    let chunks = body.into_data_stream();
    let guarded = futures_util::stream::unfold(Some(chunks), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout(timeout, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(chunks))),
            Ok(None) => None,
            Err(_) => Some((
                Err(axum::Error::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client sent no more of the body in time",
                ))),
                None,
            )),
        }
    });
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(guarded));
    next.run(request).await
}
