//! `GET /metrics` in the Prometheus text format, and the middleware that counts requests and
//! gives each one an ID.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use crate::Api;

/// The request and response header that carries a request's ID.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Upper bounds of the batch size histogram, in devices.
const BATCH_BOUNDS: [f64; 7] = [1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0, 1_000_000.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, bound) in bounds.iter().enumerate() {
            if value <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in bounds.iter().enumerate() {
            let n = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Counts {
    /// Requests by (method, route, status).
    requests: BTreeMap<(String, String, u16), u64>,
    /// Latency by route.
    latency: BTreeMap<String, Histogram>,
    /// Bootstrap answers by outcome (`ok` or the error code).
    bootstrap: BTreeMap<&'static str, u64>,
    /// Devices per batch, by operation.
    batches: BTreeMap<&'static str, Histogram>,
}

/// The service's counters, shared by its clones.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counts: Mutex<Counts>,
    next_id: AtomicU64,
    started: u64,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            started,
            ..Self::default()
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A poisoned lock still holds valid counts.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a bootstrap answer.
    pub(crate) fn bootstrap(&self, outcome: &'static str) {
        *self.counts().bootstrap.entry(outcome).or_default() += 1;
    }

    /// Observes the size of a batch.
    pub(crate) fn batch(&self, operation: &'static str, devices: usize) {
        self.counts()
            .batches
            .entry(operation)
            .or_default()
            .observe(&BATCH_BOUNDS, devices as f64);
    }

    fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut counts = self.counts();
        *counts
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        counts
            .latency
            .entry(route.to_owned())
            .or_default()
            .observe(&LATENCY_BOUNDS, seconds);
    }

    /// A fresh request ID: the process's start and a counter, unique per process.
    fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{n:x}", self.started)
    }

    /// The Prometheus text of every counter.
    pub(crate) fn render(&self) -> String {
        let counts = self.counts();
        let mut out = String::new();
        out.push_str(
            "# HELP dps_http_requests_total Requests answered, by method, route and status.\n",
        );
        out.push_str("# TYPE dps_http_requests_total counter\n");
        for ((method, route, status), n) in &counts.requests {
            let _ = writeln!(
                out,
                "dps_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP dps_http_request_duration_seconds Time to answer a request, by route.\n",
        );
        out.push_str("# TYPE dps_http_request_duration_seconds histogram\n");
        for (route, h) in &counts.latency {
            let labels = format!("route=\"{}\"", escape(route));
            h.render(
                &mut out,
                "dps_http_request_duration_seconds",
                &labels,
                &LATENCY_BOUNDS,
            );
        }
        out.push_str(
            "# HELP dps_bootstrap_total Bootstrap answers, by outcome (ok or the error code).\n",
        );
        out.push_str("# TYPE dps_bootstrap_total counter\n");
        for (outcome, n) in &counts.bootstrap {
            let _ = writeln!(out, "dps_bootstrap_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP dps_batch_devices Devices per batch request, by operation.\n");
        out.push_str("# TYPE dps_batch_devices histogram\n");
        for (op, h) in &counts.batches {
            let labels = format!("operation=\"{op}\"");
            h.render(&mut out, "dps_batch_devices", &labels, &BATCH_BOUNDS);
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Gives the request an ID (the client's `X-Request-Id` when it is short and printable),
/// answers it in the same header, logs the request in a span that carries it, and counts it
/// by its route pattern (never by its path, which would name serials).
pub(crate) async fn layer(State(api): State<Api>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| api.inner.metrics.request_id(), str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    span.in_scope(|| tracing::info!(status, seconds, "answered"));
    api.inner.metrics.request(&method, &route, status, seconds);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(api): State<Api>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        api.inner.metrics.render(),
    )
        .into_response()
}
