//! A [`dps_core::Environment`] whose targets are real platforms, reached over HTTPS: each
//! port call (`model_exists`, `onboard`, `offboard`, `reissue`, `endpoints`) is one signed,
//! idempotent `POST` of a JSON body to the target's webhook URL. Any platform, written in
//! any language, takes part in allocation by answering the contract of
//! `docs/environment-webhook.md`.
//!
//! - **Signed**: `X-Dps-Timestamp` and `X-Dps-Signature: v1=<hex>`, the HMAC-SHA256 of
//!   `"{timestamp}.{body}"` under a per-target shared secret ([`sign`], [`verify`]).
//! - **Idempotent**: `Idempotency-Key: <operation id>` on every call that changes the
//!   platform, the same for each retry and for
//!   [`recover`](dps_core::Provisioner::recover); the platform answers a repeat with the
//!   first result.
//! - **Resilient**: connect and request timeouts, bounded retries with exponential back-off
//!   and jitter (honouring `Retry-After`), then [`Transient`](dps_core::EnvironmentError::Transient)
//!   so the device stays pending; a circuit breaker and a concurrency cap per target.
//! - **Discreet**: the shared secret never appears in `Debug`, errors or logs, nor does a
//!   URL's query (where a platform may keep a key).
//!
//! # Example
//!
//! ```
//! use dps_env_webhook::{WebhookEnvironment, WebhookTarget};
//!
//! let target: dps_core::Target = "prod-eu/acme".parse()?;
//! let webhook = WebhookTarget::new("https://platform.example.com/dps", dps_core::Secret::new("s3cret")?)?;
//! let env = WebhookEnvironment::new([(target, webhook)])?;
//! assert_eq!(env.targets().count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod batch;
mod breaker;
mod environment;
mod sign;
mod target;
mod wire;

pub use environment::WebhookEnvironment;
pub use sign::{
    IDEMPOTENCY_HEADER, MAX_CLOCK_SKEW_SECS, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify,
};
pub use target::{ConfigError, MAX_BATCH_SIZE, WebhookConfig, WebhookTarget};
