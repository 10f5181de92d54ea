//! The JSON bodies of the contract (`docs/environment-webhook.md`): this crate's own shapes,
//! not the domain types'.

use dps_core::{
    AssetId, Credentials, Endpoint, Endpoints, Key, OnboardRequest, Onboarded, OperationId, Secret,
    Target,
};
use serde::{Deserialize, Serialize};

/// A call's request body.
#[derive(Debug, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub(crate) enum Call<'a> {
    ModelExists {
        target: TargetRef<'a>,
        model_id: &'a str,
    },
    Onboard {
        operation_id: OperationId,
        target: TargetRef<'a>,
        device: DeviceRef<'a>,
    },
    Offboard {
        operation_id: OperationId,
        target: TargetRef<'a>,
        asset_id: &'a str,
    },
    Reissue {
        operation_id: OperationId,
        target: TargetRef<'a>,
        asset_id: &'a str,
        new_serial: &'a str,
    },
    Endpoints {
        target: TargetRef<'a>,
    },
}

impl Call<'_> {
    /// The operation ID of a call that changes the platform.
    pub(crate) fn operation(&self) -> Option<OperationId> {
        match self {
            Call::Onboard { operation_id, .. }
            | Call::Offboard { operation_id, .. }
            | Call::Reissue { operation_id, .. } => Some(*operation_id),
            Call::ModelExists { .. } | Call::Endpoints { .. } => None,
        }
    }

    /// The call's name, as its body's `call` says.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Call::ModelExists { .. } => "model_exists",
            Call::Onboard { .. } => "onboard",
            Call::Offboard { .. } => "offboard",
            Call::Reissue { .. } => "reissue",
            Call::Endpoints { .. } => "endpoints",
        }
    }
}

/// A batch call's request body: `onboard_many`, `offboard_many` or `reissue_many`, one item
/// per call, each with its operation ID.
#[derive(Debug, Serialize)]
pub(crate) struct Batch<'a, I> {
    pub(crate) call: &'static str,
    pub(crate) target: TargetRef<'a>,
    pub(crate) items: Vec<&'a I>,
}

/// One item of `onboard_many`.
#[derive(Debug, Serialize)]
pub(crate) struct OnboardItem<'a> {
    pub(crate) operation_id: OperationId,
    pub(crate) device: DeviceRef<'a>,
}

/// One item of `offboard_many`.
#[derive(Debug, Serialize)]
pub(crate) struct OffboardItem<'a> {
    pub(crate) operation_id: OperationId,
    pub(crate) asset_id: &'a str,
}

/// One item of `reissue_many`.
#[derive(Debug, Serialize)]
pub(crate) struct ReissueItem<'a> {
    pub(crate) operation_id: OperationId,
    pub(crate) asset_id: &'a str,
    pub(crate) new_serial: &'a str,
}

/// The answer to a batch call: one result per item, in order.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchAnswer<'a> {
    #[serde(borrow)]
    pub(crate) results: Vec<ItemAnswer<'a>>,
}

/// One item's result: the status and body that the single call would have answered.
#[derive(Debug, Deserialize)]
pub(crate) struct ItemAnswer<'a> {
    pub(crate) status: u16,
    #[serde(borrow, default)]
    pub(crate) answer: Option<&'a serde_json::value::RawValue>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct TargetRef<'a> {
    environment: &'a str,
    ou: &'a str,
}

impl<'a> From<&'a Target> for TargetRef<'a> {
    fn from(t: &'a Target) -> Self {
        Self {
            environment: t.environment.as_str(),
            ou: t.ou.as_str(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct DeviceRef<'a> {
    device_id: dps_core::DeviceId,
    serial: &'a str,
    model_id: &'a str,
    name: Option<&'a str>,
}

impl<'a> From<&'a OnboardRequest> for DeviceRef<'a> {
    fn from(d: &'a OnboardRequest) -> Self {
        Self {
            device_id: d.device_id,
            serial: d.serial.as_str(),
            model_id: d.model_id.as_str(),
            name: d.name.as_ref().map(|n| n.as_str()),
        }
    }
}

/// The answer to `model_exists`.
#[derive(Debug, Deserialize)]
pub(crate) struct Exists {
    pub(crate) exists: bool,
}

/// The answer to `onboard`.
#[derive(Debug, Deserialize)]
pub(crate) struct OnboardAnswer {
    asset_id: String,
    #[serde(flatten)]
    credentials: CredentialsAnswer,
}

/// The answer to `reissue`, and the credentials of `onboard`'s.
#[derive(Debug, Deserialize)]
pub(crate) struct CredentialsAnswer {
    product_key: String,
    device_key: String,
    device_secret: String,
}

/// The answer to `offboard`: any JSON object.
#[derive(Debug, Deserialize)]
pub(crate) struct Done {}

/// The answer to `endpoints`.
#[derive(Debug, Deserialize)]
pub(crate) struct EndpointsAnswer {
    #[serde(default)]
    mqtt: Option<String>,
    #[serde(default)]
    http: Option<String>,
}

/// Why an answer that parsed as JSON holds no valid value.
pub(crate) type Invalid = String;

impl OnboardAnswer {
    pub(crate) fn into_onboarded(self) -> Result<Onboarded, Invalid> {
        Ok(Onboarded {
            asset_id: AssetId::new(&self.asset_id).map_err(|e| format!("asset_id: {e}"))?,
            credentials: self.credentials.into_credentials()?,
        })
    }
}

impl CredentialsAnswer {
    pub(crate) fn into_credentials(self) -> Result<Credentials, Invalid> {
        Ok(Credentials {
            product_key: Key::new(&self.product_key).map_err(|e| format!("product_key: {e}"))?,
            device_key: Key::new(&self.device_key).map_err(|e| format!("device_key: {e}"))?,
            device_secret: Secret::new(self.device_secret)
                .map_err(|e| format!("device_secret: {e}"))?,
        })
    }
}

impl EndpointsAnswer {
    pub(crate) fn into_endpoints(self) -> Result<Endpoints, Invalid> {
        let parse = |field: &str, v: Option<String>| {
            v.map(|v| Endpoint::new(&v).map_err(|e| format!("{field}: {e}")))
                .transpose()
        };
        Ok(Endpoints {
            mqtt: parse("mqtt", self.mqtt)?,
            http: parse("http", self.http)?,
        })
    }
}
