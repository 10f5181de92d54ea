//! A device.

use std::collections::BTreeMap;

use dps_core::state::SealedCredentials;
use dps_core::{AssetId, Credentials, Device, LastError, Target};
use serde::Serialize;

/// A device: its fields, its last error, its allocation and the serials it replaced.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceView<'a> {
    id: String,
    serial: &'a str,
    model_id: &'a str,
    status: &'static str,
    name: Option<&'a str>,
    timezone: Option<String>,
    batch_tag: Option<&'a str>,
    description: Option<&'a str>,
    /// The device's own target, `environment/ou` (null when its group's default applies).
    target: Option<String>,
    /// Each attribute's value in its text form.
    attributes: BTreeMap<String, String>,
    version: u64,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<LastErrorOut<'a>>,
    /// Present only while the device is allocated.
    #[serde(flatten)]
    #[schema(value_type = AllocationOut)]
    allocation: Option<AllocationOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    replaced_serials: Vec<&'a str>,
}

impl<'a> DeviceView<'a> {
    /// The view of `d` with its device secret from `credentials` (the device's credentials
    /// opened), for a caller allowed to read it.
    pub fn with_secret(d: &'a Device, credentials: Option<Credentials>) -> Self {
        let mut view = Self::from(d);
        if let Some(allocation) = &mut view.allocation {
            allocation.device_secret = credentials.map(|c| String::from(c.device_secret));
        }
        view
    }
}

impl<'a> From<&'a Device> for DeviceView<'a> {
    fn from(d: &'a Device) -> Self {
        Self {
            id: d.id().to_string(),
            serial: d.serial().as_str(),
            model_id: d.model_id().as_str(),
            status: d.status().as_str(),
            name: d.name().map(|n| n.as_str()),
            timezone: d.timezone().map(|t| t.to_string()),
            batch_tag: d.batch_tag().map(|t| t.as_str()),
            description: d.description().map(|t| t.as_str()),
            target: d.target().map(|t| t.to_string()),
            attributes: d
                .attributes()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            version: d.version().get(),
            created_at: d.created_at().to_string(),
            updated_at: d.updated_at().to_string(),
            last_error: d.last_error().map(LastErrorOut::from),
            allocation: d
                .state()
                .allocated()
                .map(|a| AllocationOut::new(a.target(), a.asset_id(), a.credentials())),
            replaced_serials: d
                .replacements()
                .iter()
                .map(|r| r.old_serial.as_str())
                .collect(),
        }
    }
}

/// Why the device's last operation failed, and when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LastErrorOut<'a> {
    code: &'a str,
    message: &'a str,
    at: String,
}

impl<'a> From<&'a LastError> for LastErrorOut<'a> {
    fn from(e: &'a LastError) -> Self {
        Self {
            code: &e.code,
            message: &e.message,
            at: e.at.to_string(),
        }
    }
}

/// Where an allocated device is, and the identity the target gave it (its secret only when
/// asked for with [`DeviceView::with_secret`]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AllocationOut<'a> {
    #[schema(required = false)]
    environment: &'a str,
    #[schema(required = false)]
    ou: &'a str,
    #[schema(required = false)]
    asset_id: &'a str,
    #[schema(required = false)]
    product_key: &'a str,
    #[schema(required = false)]
    device_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_secret: Option<String>,
}

impl<'a> AllocationOut<'a> {
    fn new(target: &'a Target, asset_id: &'a AssetId, credentials: &'a SealedCredentials) -> Self {
        Self {
            environment: target.environment.as_str(),
            ou: target.ou.as_str(),
            asset_id: asset_id.as_str(),
            product_key: credentials.product_key.as_str(),
            device_key: credentials.device_key.as_str(),
            device_secret: None,
        }
    }
}
