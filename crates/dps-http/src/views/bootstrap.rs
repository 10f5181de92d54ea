//! A bootstrap answer, as the device receives it.

use dps_core::{Credentials, Endpoints, bootstrap::BootstrapAnswer};
use serde::Serialize;

use super::target::TargetRef;

/// Where the device connects and with which credentials, its secret included.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BootstrapView<'a> {
    device_id: String,
    serial: &'a str,
    target: TargetRef<'a>,
    endpoints: EndpointsOut<'a>,
    asset_id: &'a str,
    credentials: CredentialsOut<'a>,
    /// Milliseconds since the Unix epoch.
    bootstrapped_at: i64,
    allocated_now: bool,
}

impl<'a> From<&'a BootstrapAnswer> for BootstrapView<'a> {
    fn from(a: &'a BootstrapAnswer) -> Self {
        Self {
            device_id: a.device_id.to_string(),
            serial: a.serial.as_str(),
            target: (&a.target).into(),
            endpoints: (&a.endpoints).into(),
            asset_id: a.asset_id.as_str(),
            credentials: (&a.credentials).into(),
            bootstrapped_at: a.bootstrapped_at.unix_millis(),
            allocated_now: a.allocated_now,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EndpointsOut<'a> {
    mqtt: Option<&'a str>,
    http: Option<&'a str>,
}

impl<'a> From<&'a Endpoints> for EndpointsOut<'a> {
    fn from(e: &'a Endpoints) -> Self {
        Self {
            mqtt: e.mqtt.as_ref().map(|m| m.as_str()),
            http: e.http.as_ref().map(|h| h.as_str()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CredentialsOut<'a> {
    product_key: &'a str,
    device_key: &'a str,
    device_secret: &'a str,
}

impl<'a> From<&'a Credentials> for CredentialsOut<'a> {
    fn from(c: &'a Credentials) -> Self {
        Self {
            product_key: c.product_key.as_str(),
            device_key: c.device_key.as_str(),
            device_secret: c.device_secret.expose(),
        }
    }
}
