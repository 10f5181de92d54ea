//! A [`dps_core::Environment`] whose targets, models and endpoints come from configuration:
//! the reference environment of **dps**, for tests, demos, the `dps` command and deployments
//! that run in one process.
//!
//! A service uses it through the `dps` crate, as `dps::StaticEnvironment`.
//!
//! [`StaticEnvironment`] serves the targets of a [`StaticConfig`] (a list of
//! [`TargetConfig`], usually read from a TOML or JSON file) and issues asset IDs, keys and
//! device secrets from an injected [`SecretSource`](dps_core::inject::SecretSource). It remembers the
//! results of recent operations, so a retry with the same
//! [`OperationId`](dps_core::OperationId) gets the first answer.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use dps_core::{DeviceId, Environment, OnboardRequest, OperationId, inject::SeededSecrets, Target, Uuid};
//! use dps_env_static::{StaticConfig, StaticEnvironment};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config: StaticConfig = toml::from_str(
//!     r#"
//!     [[targets]]
//!     environment = "prod-eu"
//!     ou = "acme"
//!     models = ["thermostat"]
//!     mqtt_endpoint = "mqtts://mqtt.eu.example.com:8883"
//!     "#,
//! )?;
//! let env = StaticEnvironment::new(config, Arc::new(SeededSecrets::new(7)));
//!
//! let target: Target = "prod-eu/acme".parse()?;
//! let request = OnboardRequest {
//!     device_id: DeviceId::from_uuid(Uuid::from_u128(1)),
//!     serial: "SN-0001".parse()?,
//!     model_id: "thermostat".parse()?,
//!     name: None,
//! };
//! let op = OperationId::from_uuid(Uuid::from_u128(1));
//! let onboarded = env.onboard(op, &target, &request).await?;
//! assert!(onboarded.asset_id.as_str().starts_with("asset-"));
//! // A retry of the same operation gets the same answer.
//! assert_eq!(env.onboard(op, &target, &request).await?, onboarded);
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod config;
mod environment;

pub use config::{StaticConfig, TargetConfig};
pub use environment::StaticEnvironment;
