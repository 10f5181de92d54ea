//! How one target's platform is reached: its URL, shared secret, timeouts, retries, circuit
//! breaker and concurrency cap.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use dps_core::{Endpoints, Secret};
use serde::Deserialize;

/// A target's webhook could not be configured as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL does not parse, or is not `https://` (plain `http://` is allowed only to a
    /// loopback address).
    #[error("webhook URL {url}: {reason}")]
    Url {
        /// The URL, without its query and credentials.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The shared secret could not be read, or is not 1 to 256 printable ASCII characters.
    /// The message never holds the secret.
    #[error("webhook secret: {0}")]
    Secret(String),
    /// A number is out of its range.
    #[error("webhook option {option}: {reason}")]
    Option {
        /// The option.
        option: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("webhook HTTP client: {0}")]
    Client(String),
}

/// How dps reaches one target's platform: its webhook URL and shared secret, and how patient
/// and how busy each call may be.
///
/// ```
/// use std::time::Duration;
/// use dps_env_webhook::WebhookTarget;
///
/// let target = WebhookTarget::new("https://platform.example.com/dps", dps_core::Secret::new("s3cret")?)?
///     .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
///     .with_retries(4, Duration::from_millis(100), Duration::from_secs(2));
/// assert_eq!(target.url(), "https://platform.example.com/dps");
/// assert!(!format!("{target:?}").contains("s3cret"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct WebhookTarget {
    pub(crate) url: reqwest::Url,
    pub(crate) secret: Secret,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) attempts: u32,
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cool_down: Duration,
    pub(crate) max_concurrent: usize,
    pub(crate) batch_size: usize,
    pub(crate) endpoints: Option<Endpoints>,
}

/// The most calls one batch call of a webhook carries.
pub const MAX_BATCH_SIZE: usize = 1000;

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &shown(&self.url))
            .field("secret", &self.secret)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("attempts", &self.attempts)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("max_concurrent", &self.max_concurrent)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

/// A URL as messages show it: without credentials or query, where a platform may keep a key
/// (as function keys in a `?code=` do).
pub(crate) fn shown(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    // Only a URL that cannot be a base refuses these, and a webhook URL is always a base.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

impl WebhookTarget {
    /// The defaults: connect within 5 s, answer within 10 s, 3 attempts with back-off from
    /// 200 ms up to 5 s (a `Retry-After` up to 30 s is honoured), the circuit opens after 5
    /// failed calls in a row for 30 s, 32 calls at once, no batch calls.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Url`] when `url` does not parse or is neither `https://` nor
    /// `http://` to a loopback address.
    pub fn new(url: &str, secret: Secret) -> Result<Self, ConfigError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| ConfigError::Url {
            url: url.split(['?', '#']).next().unwrap_or("").to_owned(),
            reason: e.to_string(),
        })?;
        let loopback = parsed.host_str().is_some_and(|host| {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(ConfigError::Url {
                    url: shown(&parsed),
                    reason: "use https:// (plain http:// only to a loopback address)".into(),
                });
            }
        }
        Ok(Self {
            url: parsed,
            secret,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            breaker_threshold: 5,
            breaker_cool_down: Duration::from_secs(30),
            max_concurrent: 32,
            batch_size: 1,
            endpoints: None,
        })
    }

    /// The webhook URL, as messages show it (without credentials or query).
    pub fn url(&self) -> String {
        shown(&self.url)
    }

    /// This target with the time to connect and the time to answer each attempt.
    #[must_use]
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// This target with `attempts` tries per call (at least one), waiting `backoff` times a
    /// power of two (at most `max_backoff`, with jitter) between them.
    #[must_use]
    pub fn with_retries(mut self, attempts: u32, backoff: Duration, max_backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self.max_backoff = max_backoff.max(backoff);
        self
    }

    /// This target, honouring a platform's `Retry-After` up to `max` inside a call; a longer
    /// one ends the call as transient at once.
    #[must_use]
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// This target with its circuit breaker: after `threshold` failed calls in a row (at
    /// least one), calls fail at once for `cool_down`, then one call tries the platform again.
    #[must_use]
    pub fn with_breaker(mut self, threshold: u32, cool_down: Duration) -> Self {
        self.breaker_threshold = threshold.max(1);
        self.breaker_cool_down = cool_down;
        self
    }

    /// This target with at most `n` calls at once (at least one); more wait their turn.
    #[must_use]
    pub fn with_max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// This target taking up to `n` calls of one kind in one batch call (`onboard_many`,
    /// `offboard_many`, `reissue_many`), clamped to 1 to [`MAX_BATCH_SIZE`]; 1 makes single
    /// calls only. The platform must implement the batch calls of the contract.
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.clamp(1, MAX_BATCH_SIZE);
        self
    }

    /// This target with the endpoints its devices connect to, so that they are not asked of
    /// the platform.
    #[must_use]
    pub fn with_endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = Some(endpoints);
        self
    }
}

/// A webhook target as a configuration file gives it (the `webhook` table of a target in
/// the `dps` command's targets file):
///
/// ```toml
/// url = "https://platform.example.com/dps"
/// secret_env = "DPS_WEBHOOK_SECRET"   # or secret_file = "/run/secrets/dps-webhook"
/// connect_timeout_ms = 2000
/// request_timeout_ms = 5000
/// attempts = 3
/// max_concurrent = 32
/// batch_size = 100
/// mqtt_endpoint = "mqtts://mqtt.example.com:8883"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The webhook URL.
    pub url: String,
    /// The environment variable that holds the shared secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The file that holds the shared secret (one line).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The time to connect, in milliseconds.
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// The time to answer one attempt, in milliseconds.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// The tries per call.
    #[serde(default)]
    pub attempts: Option<u32>,
    /// The most calls at once.
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    /// The most calls of one kind in one batch call, 1 to [`MAX_BATCH_SIZE`]; 1 (the
    /// default) makes single calls only.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// The MQTT broker the target's devices connect to; with `http_endpoint`, the platform
    /// is not asked.
    #[serde(default)]
    pub mqtt_endpoint: Option<dps_core::Endpoint>,
    /// The HTTP API the target's devices connect to.
    #[serde(default)]
    pub http_endpoint: Option<dps_core::Endpoint>,
}

impl WebhookConfig {
    /// The target this configures, its secret read from the environment variable or file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Secret`] when neither or both of `secret_env` and `secret_file` are
    /// given, or the secret cannot be read or is invalid; [`ConfigError::Url`] as
    /// [`WebhookTarget::new`]; [`ConfigError::Option`] for a `batch_size` out of its range.
    pub fn resolve(&self) -> Result<WebhookTarget, ConfigError> {
        let text = match (&self.secret_env, &self.secret_file) {
            (Some(var), None) => std::env::var(var).map_err(|_| {
                ConfigError::Secret(format!("the environment variable {var} is not set"))
            })?,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| ConfigError::Secret(format!("cannot read {}: {e}", path.display())))?,
            _ => {
                return Err(ConfigError::Secret(
                    "give exactly one of secret_env and secret_file".into(),
                ));
            }
        };
        // The validation error may quote a character of the secret: say only the rule.
        let secret = Secret::new(text.trim_end_matches(['\r', '\n'])).map_err(|_| {
            ConfigError::Secret(
                "the shared secret must be 1 to 256 printable ASCII characters".into(),
            )
        })?;
        let mut target = WebhookTarget::new(&self.url, secret)?;
        let ms = Duration::from_millis;
        target.connect_timeout = self.connect_timeout_ms.map_or(target.connect_timeout, ms);
        target.request_timeout = self.request_timeout_ms.map_or(target.request_timeout, ms);
        if let Some(n) = self.attempts {
            target.attempts = n.max(1);
        }
        if let Some(n) = self.max_concurrent {
            target.max_concurrent = n.max(1);
        }
        if let Some(n) = self.batch_size {
            if !(1..=MAX_BATCH_SIZE).contains(&n) {
                return Err(ConfigError::Option {
                    option: "batch_size",
                    reason: "must be 1 to 1000",
                });
            }
            target.batch_size = n;
        }
        if self.mqtt_endpoint.is_some() || self.http_endpoint.is_some() {
            target.endpoints = Some(Endpoints {
                mqtt: self.mqtt_endpoint.clone(),
                http: self.http_endpoint.clone(),
            });
        }
        Ok(target)
    }
}
