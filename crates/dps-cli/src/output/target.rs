//! A configured target.

use dps_env_static::TargetConfig;
use serde::Serialize;

/// A configured target: where it is, its models and its endpoints.
#[derive(Debug, Serialize)]
pub(crate) struct TargetOut<'a> {
    environment: &'a str,
    ou: &'a str,
    models: Vec<&'a str>,
    mqtt_endpoint: Option<&'a str>,
    http_endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<&'a str>,
}

impl<'a> From<&'a TargetConfig> for TargetOut<'a> {
    fn from(t: &'a TargetConfig) -> Self {
        Self {
            environment: t.environment.as_str(),
            ou: t.ou.as_str(),
            models: t.models.iter().map(|m| m.as_str()).collect(),
            mqtt_endpoint: t.mqtt_endpoint.as_ref().map(|e| e.as_str()),
            http_endpoint: t.http_endpoint.as_ref().map(|e| e.as_str()),
            webhook: None,
        }
    }
}

impl<'a> From<&'a crate::targets_file::WebhookTargetEntry> for TargetOut<'a> {
    fn from(t: &'a crate::targets_file::WebhookTargetEntry) -> Self {
        Self {
            environment: t.environment.as_str(),
            ou: t.ou.as_str(),
            models: Vec::new(),
            mqtt_endpoint: t.webhook.mqtt_endpoint.as_ref().map(|e| e.as_str()),
            http_endpoint: t.webhook.http_endpoint.as_ref().map(|e| e.as_str()),
            webhook: Some(t.shown_url()),
        }
    }
}
