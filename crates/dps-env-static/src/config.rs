//! The configuration of a [`StaticEnvironment`](crate::StaticEnvironment).

use dps_core::{Endpoint, EnvironmentId, ModelId, OuId, Target};
use serde::{Deserialize, Serialize};

/// One configured target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The environment.
    pub environment: EnvironmentId,
    /// The organization unit.
    pub ou: OuId,
    /// The models that exist in this target.
    #[serde(default)]
    pub models: Vec<ModelId>,
    /// The MQTT broker devices connect to.
    #[serde(default)]
    pub mqtt_endpoint: Option<Endpoint>,
    /// The HTTP API devices connect to.
    #[serde(default)]
    pub http_endpoint: Option<Endpoint>,
}

impl TargetConfig {
    /// The target this configures.
    pub fn target(&self) -> Target {
        Target::new(self.environment.clone(), self.ou.clone())
    }
}

/// The configuration of a [`StaticEnvironment`](crate::StaticEnvironment), for example from a
/// TOML or JSON file:
///
/// ```toml
/// [[targets]]
/// environment = "prod-eu"
/// ou = "acme"
/// models = ["thermostat-v2"]
/// mqtt_endpoint = "mqtts://mqtt.eu.example.com:8883"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// The targets.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
}
