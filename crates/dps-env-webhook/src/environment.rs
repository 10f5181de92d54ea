//! `WebhookEnvironment`: every port call one signed `POST` to the target's platform.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use dps_core::{
    AssetId, Credentials, Endpoints, Environment, EnvironmentError, ModelId, OffboardCall,
    OnboardCall, OnboardRequest, Onboarded, OperationId, ReissueCall, SerialNumber, Target,
};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::breaker::Breaker;
use crate::sign::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::target::{ConfigError, WebhookTarget, shown};
use crate::wire::{self, Call};

/// The most bytes of an answer that are read; a longer answer is malformed.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How long endpoints asked of a platform are kept.
const ENDPOINTS_TTL: Duration = Duration::from_secs(60);

/// How long a model the platform said exists is taken to exist without asking again. A
/// model removed meanwhile is refused by the platform's `onboard`; a model that did not
/// exist is asked about again every time.
const MODEL_TTL: Duration = Duration::from_secs(60);

/// The most characters of a platform's refusal that reach an error.
const MAX_REASON_CHARS: usize = 200;

/// An [`Environment`] whose targets are platforms reached over HTTPS: each port call is one
/// signed, idempotent `POST` of a JSON body to the target's webhook URL, as
/// `docs/environment-webhook.md` specifies.
///
/// Each call retries what may pass (connection errors, timeouts, 408, 429, 5xx) with
/// exponential back-off and jitter, then answers [`EnvironmentError::Transient`], so the
/// device stays pending and [`recover`](dps_core::Provisioner::recover) finishes it with the
/// same operation ID. A refusal (any other 4xx) is [`EnvironmentError::Rejected`] with the
/// platform's reason. Per target, a circuit breaker fails calls at once while the platform
/// is down, and a cap bounds the calls at once.
pub struct WebhookEnvironment {
    client: reqwest::Client,
    routes: HashMap<Target, Route>,
}

impl std::fmt::Debug for WebhookEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut targets: Vec<_> = self.routes.keys().map(ToString::to_string).collect();
        targets.sort();
        f.debug_struct("WebhookEnvironment")
            .field("targets", &targets)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Route {
    pub(crate) config: WebhookTarget,
    pub(crate) breaker: Breaker,
    pub(crate) slots: tokio::sync::Semaphore,
    endpoints: Mutex<Option<(Instant, Endpoints)>>,
    models: Mutex<HashMap<ModelId, Instant>>,
}

/// Why one attempt failed.
pub(crate) enum Failure {
    /// Another attempt may pass; after `retry_after`, if the platform said.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The platform refused.
    Rejected(String),
}

impl WebhookEnvironment {
    /// The environment over `targets`, each with its webhook.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Client`] if the HTTP client cannot be built.
    pub fn new(
        targets: impl IntoIterator<Item = (Target, WebhookTarget)>,
    ) -> Result<Self, ConfigError> {
        let routes: HashMap<Target, Route> = targets
            .into_iter()
            .map(|(target, config)| {
                let route = Route {
                    breaker: Breaker::new(config.breaker_threshold, config.breaker_cool_down),
                    slots: tokio::sync::Semaphore::new(config.max_concurrent),
                    endpoints: Mutex::new(None),
                    models: Mutex::new(HashMap::new()),
                    config,
                };
                (target, route)
            })
            .collect();
        let connect_timeout = routes
            .values()
            .map(|r| r.config.connect_timeout)
            .max()
            .unwrap_or(Duration::from_secs(5));
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(connect_timeout)
            // A signed body must not follow a redirect elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self { client, routes })
    }

    /// The targets it serves.
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.routes.keys()
    }

    pub(crate) fn route(&self, target: &Target) -> Result<&Route, EnvironmentError> {
        self.routes.get(target).ok_or_else(|| {
            EnvironmentError::rejected(format!("no webhook is configured for target {target}"))
        })
    }

    /// Makes `call` to the platform of `target`, retrying what may pass.
    async fn call<A: DeserializeOwned>(
        &self,
        target: &Target,
        call: &Call<'_>,
    ) -> Result<A, EnvironmentError> {
        let route = self.route(target)?;
        let url = shown(&route.config.url);
        let body = serde_json::to_vec(call)
            .map_err(|e| EnvironmentError::transient(format!("cannot write the request: {e}")))?;
        if let Err(open) = route.breaker.admit() {
            return Err(circuit_open(route, open));
        }
        let _slot = route
            .slots
            .acquire()
            .await
            .map_err(|_| EnvironmentError::transient("the environment is shutting down"))?;
        let config = &route.config;
        let mut attempt = 1;
        loop {
            let outcome = self
                .attempt(route, call.operation(), &body, MAX_ANSWER_BYTES)
                .await;
            let (message, retry_after) = match outcome {
                Ok(answer) => {
                    route.breaker.succeeded();
                    return serde_json::from_slice::<A>(&answer).map_err(|e| {
                        EnvironmentError::transient(format!(
                            "malformed answer to {} from {url}: {e}",
                            call.name()
                        ))
                    });
                }
                Err(Failure::Rejected(reason)) => {
                    route.breaker.succeeded();
                    return Err(EnvironmentError::rejected(reason));
                }
                Err(Failure::Transient {
                    message,
                    retry_after,
                }) => (message, retry_after),
            };
            let wait = retry_after.unwrap_or_else(|| backoff(config, attempt));
            if attempt >= config.attempts || wait > config.max_retry_after {
                route.breaker.failed();
                tracing::warn!(call = call.name(), %url, attempts = attempt, %message, "a webhook call failed");
                return Err(EnvironmentError::transient(format!(
                    "{} at {url}: {message} (after {attempt} attempts)",
                    call.name()
                )));
            }
            tracing::debug!(call = call.name(), %url, attempt, %message, "retrying a webhook call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One signed `POST`, with `Idempotency-Key: <operation>` when given; the answer's body
    /// (at most `max_bytes`) on success.
    pub(crate) async fn attempt(
        &self,
        route: &Route,
        operation: Option<OperationId>,
        body: &[u8],
        max_bytes: usize,
    ) -> Result<Vec<u8>, Failure> {
        let config = &route.config;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = sign(config.secret.expose().as_bytes(), timestamp, body);
        let mut request = self
            .client
            .post(config.url.clone())
            .timeout(config.request_timeout)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                HeaderValue::from_static(concat!("dps/", env!("CARGO_PKG_VERSION"))),
            )
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_vec());
        if let Some(op) = operation {
            request = request.header(IDEMPOTENCY_HEADER, op.to_string());
        }
        let mut response = request.send().await.map_err(|e| transport(&e, config))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e, config))? {
            if answer.len() + chunk.len() > max_bytes {
                return Err(Failure::Transient {
                    message: format!("the answer is longer than {max_bytes} bytes"),
                    retry_after: None,
                });
            }
            answer.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(answer);
        }
        let json = serde_json::from_slice::<Value>(&answer).ok();
        let text = String::from_utf8_lossy(&answer);
        Err(refused(status, json.as_ref(), text.trim(), retry_after))
    }
}

/// What a non-2xx status with this answer means: 408, 429 and 5xx may pass another time,
/// any other status is a refusal, with the platform's reason.
pub(crate) fn refused(
    status: StatusCode,
    json: Option<&Value>,
    text: &str,
    retry_after: Option<Duration>,
) -> Failure {
    let reason = reason(status, json, text);
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Failure::Transient {
            message: format!("the platform answered {status}: {reason}"),
            retry_after,
        }
    } else {
        Failure::Rejected(reason)
    }
}

/// The refusal of a call whose circuit is open.
pub(crate) fn circuit_open(route: &Route, open: Duration) -> EnvironmentError {
    EnvironmentError::transient(format!(
        "the platform at {} failed {} calls in a row; calls resume within {} s",
        shown(&route.config.url),
        route.config.breaker_threshold,
        open.as_secs().max(1)
    ))
}

/// A transport failure as an attempt's: what happened, without the URL's query.
fn transport(e: &reqwest::Error, config: &WebhookTarget) -> Failure {
    let message = if e.is_timeout() {
        format!("no answer within {} ms", config.request_timeout.as_millis())
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        let mut message = "the connection failed".to_owned();
        let mut source = std::error::Error::source(e);
        // The chain names the cause (reset, closed, TLS) without the URL.
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    };
    Failure::Transient {
        message,
        retry_after: None,
    }
}

/// The platform's reason for a refusal: its JSON `reason`, `detail` or `message`, else its
/// text, else the status.
fn reason(status: StatusCode, json: Option<&Value>, text: &str) -> String {
    let from_json = json.and_then(|v| {
        ["reason", "detail", "message"]
            .iter()
            .find_map(|k| v.get(k).and_then(|r| r.as_str()))
    });
    let text: String = from_json
        .unwrap_or(text)
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    if text.is_empty() {
        format!("the platform answered {status}")
    } else {
        text
    }
}

/// The wait before attempt `attempt + 1`: the back-off doubled per attempt, capped, with
/// "full jitter" (uniform between half of it and all of it).
pub(crate) fn backoff(config: &WebhookTarget, attempt: u32) -> Duration {
    let exp = config
        .backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(config.max_backoff);
    let half = exp / 2;
    half + half.mul_f64(jitter())
}

/// A number in `[0, 1)` that differs from call to call; not for secrets.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[async_trait]
impl Environment for WebhookEnvironment {
    async fn model_exists(
        &self,
        target: &Target,
        model: &ModelId,
    ) -> Result<bool, EnvironmentError> {
        let route = self.route(target)?;
        if lock(&route.models)
            .get(model)
            .is_some_and(|at| at.elapsed() < MODEL_TTL)
        {
            return Ok(true);
        }
        let call = Call::ModelExists {
            target: target.into(),
            model_id: model.as_str(),
        };
        let exists = self.call::<wire::Exists>(target, &call).await?.exists;
        let mut models = lock(&route.models);
        if exists {
            models.insert(model.clone(), Instant::now());
        } else {
            models.remove(model);
        }
        Ok(exists)
    }

    async fn onboard(
        &self,
        op: OperationId,
        target: &Target,
        device: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        let call = Call::Onboard {
            operation_id: op,
            target: target.into(),
            device: device.into(),
        };
        self.call::<wire::OnboardAnswer>(target, &call)
            .await?
            .into_onboarded()
            .map_err(|e| malformed("onboard", e))
    }

    async fn offboard(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
    ) -> Result<(), EnvironmentError> {
        let call = Call::Offboard {
            operation_id: op,
            target: target.into(),
            asset_id: asset.as_str(),
        };
        self.call::<wire::Done>(target, &call).await.map(|_| ())
    }

    async fn reissue(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
        new_serial: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        let call = Call::Reissue {
            operation_id: op,
            target: target.into(),
            asset_id: asset.as_str(),
            new_serial: new_serial.as_str(),
        };
        self.call::<wire::CredentialsAnswer>(target, &call)
            .await?
            .into_credentials()
            .map_err(|e| malformed("reissue", e))
    }

    async fn endpoints(&self, target: &Target) -> Result<Endpoints, EnvironmentError> {
        let route = self.route(target)?;
        if let Some(configured) = &route.config.endpoints {
            return Ok(configured.clone());
        }
        if let Some((at, cached)) = lock(&route.endpoints).as_ref()
            && at.elapsed() < ENDPOINTS_TTL
        {
            return Ok(cached.clone());
        }
        let call = Call::Endpoints {
            target: target.into(),
        };
        let endpoints = self
            .call::<wire::EndpointsAnswer>(target, &call)
            .await?
            .into_endpoints()
            .map_err(|e| malformed("endpoints", e))?;
        *lock(&route.endpoints) = Some((Instant::now(), endpoints.clone()));
        Ok(endpoints)
    }

    fn batch_limit(&self, target: &Target) -> usize {
        self.routes.get(target).map_or(1, |r| r.config.batch_size)
    }

    async fn onboard_many(
        &self,
        target: &Target,
        calls: &[OnboardCall],
    ) -> Vec<Result<Onboarded, EnvironmentError>> {
        let items: Vec<_> = calls
            .iter()
            .map(|c| wire::OnboardItem {
                operation_id: c.op,
                device: (&c.device).into(),
            })
            .collect();
        self.call_many(
            target,
            "onboard_many",
            &items,
            wire::OnboardAnswer::into_onboarded,
        )
        .await
    }

    async fn offboard_many(
        &self,
        target: &Target,
        calls: &[OffboardCall],
    ) -> Vec<Result<(), EnvironmentError>> {
        let items: Vec<_> = calls
            .iter()
            .map(|c| wire::OffboardItem {
                operation_id: c.op,
                asset_id: c.asset_id.as_str(),
            })
            .collect();
        self.call_many(target, "offboard_many", &items, |_: wire::Done| Ok(()))
            .await
    }

    async fn reissue_many(
        &self,
        target: &Target,
        calls: &[ReissueCall],
    ) -> Vec<Result<Credentials, EnvironmentError>> {
        let items: Vec<_> = calls
            .iter()
            .map(|c| wire::ReissueItem {
                operation_id: c.op,
                asset_id: c.asset_id.as_str(),
                new_serial: c.new_serial.as_str(),
            })
            .collect();
        self.call_many(
            target,
            "reissue_many",
            &items,
            wire::CredentialsAnswer::into_credentials,
        )
        .await
    }
}

pub(crate) fn malformed(call: &str, why: String) -> EnvironmentError {
    EnvironmentError::transient(format!("malformed answer to {call}: {why}"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
