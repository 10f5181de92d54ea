//! The `Environment` port: the targets that devices are allocated to.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::id::{DeviceId, OperationId};
use crate::secret::{Revealed, Secret};
use crate::text::{AssetId, DeviceName, Endpoint, Key, ModelId, SerialNumber, Target};

mod routing;

pub use routing::RoutingEnvironment;

/// The credentials ("triple") a target issues to an allocated device.
///
/// Its JSON is `{"product_key": …, "device_key": …}`: the device secret is left out. Serialise
/// [`Credentials::revealed`] where the secret must go along (the answer to the device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    /// The product key.
    pub product_key: Key,
    /// The device key.
    pub device_key: Key,
    /// The device secret (masked in `Debug` and `Display`, left out of `Serialize`).
    #[serde(skip_serializing)]
    pub device_secret: Secret,
}

impl Credentials {
    /// These credentials as a value whose JSON includes the device secret:
    /// `{"product_key": …, "device_key": …, "device_secret": …}`.
    pub fn revealed(&self) -> Revealed<'_, Self> {
        Revealed(self)
    }
}

impl Serialize for Revealed<'_, Credentials> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let c = self.0;
        let mut s = serializer.serialize_struct("Credentials", 3)?;
        s.serialize_field("product_key", &c.product_key)?;
        s.serialize_field("device_key", &c.device_key)?;
        s.serialize_field("device_secret", c.device_secret.expose())?;
        s.end()
    }
}

/// What a target returns when it onboards a device.
///
/// Its JSON leaves the device secret out, as [`Credentials`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Onboarded {
    /// The identity the target gives the device.
    pub asset_id: AssetId,
    /// The device's credentials.
    pub credentials: Credentials,
}

/// The device facts a target needs to onboard it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardRequest {
    /// The device's identifier (stable across replacements).
    pub device_id: DeviceId,
    /// The serial number.
    pub serial: SerialNumber,
    /// The model; it exists in the target.
    pub model_id: ModelId,
    /// The device name, if it has one.
    pub name: Option<DeviceName>,
}

/// Where an allocated device connects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The MQTT broker address, if the target has one.
    pub mqtt: Option<Endpoint>,
    /// The HTTP API address, if the target has one.
    pub http: Option<Endpoint>,
}

/// A failed environment call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvironmentError {
    /// The environment could not be reached or failed transiently. Retry later with the same
    /// [`OperationId`]; the device stays pending meanwhile.
    #[error("environment unavailable: {message}")]
    Transient {
        /// What went wrong.
        message: String,
    },
    /// The environment refused the operation. Retrying will not help; the state rolls back.
    #[error("environment rejected the operation: {reason}")]
    Rejected {
        /// Why.
        reason: String,
    },
}

impl EnvironmentError {
    /// A transient failure.
    pub fn transient(message: impl fmt::Display) -> Self {
        Self::Transient {
            message: message.to_string(),
        }
    }

    /// A rejection.
    pub fn rejected(reason: impl fmt::Display) -> Self {
        Self::Rejected {
            reason: reason.to_string(),
        }
    }
}

/// The targets that devices are allocated to: an IoT platform's environments and OUs.
///
/// # Contract
///
/// - Every mutating call carries the [`OperationId`] that was committed with the device's
///   pending state. Implementations must be **idempotent per operation**: a repeated call with
///   the same `OperationId` (after a crash, a timeout, or from
///   [`Provisioner::recover`](crate::Provisioner::recover)) returns the result of the first
///   call and changes nothing more.
/// - [`EnvironmentError::Transient`] means "try again later"; [`EnvironmentError::Rejected`]
///   means the operation will never succeed as asked.
/// - `offboard` of an asset the target no longer knows succeeds: the goal state is reached.
/// - `reissue` keeps the asset ID and returns a new device key and device secret.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Environment: Send + Sync + fmt::Debug + 'static {
    /// Whether `model` exists in `target`. Allocation requires it.
    async fn model_exists(
        &self,
        target: &Target,
        model: &ModelId,
    ) -> Result<bool, EnvironmentError>;

    /// Creates the device's asset in `target` and issues its credentials.
    async fn onboard(
        &self,
        op: OperationId,
        target: &Target,
        device: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError>;

    /// Removes the asset from `target`; the device disconnects.
    async fn offboard(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
    ) -> Result<(), EnvironmentError>;

    /// Issues new credentials for replacement hardware with serial `new_serial`; the asset ID
    /// stays the same.
    async fn reissue(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
        new_serial: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError>;

    /// Where devices allocated to `target` connect.
    async fn endpoints(&self, target: &Target) -> Result<Endpoints, EnvironmentError>;
}

#[async_trait]
impl<T: Environment + ?Sized> Environment for std::sync::Arc<T> {
    async fn model_exists(
        &self,
        target: &Target,
        model: &ModelId,
    ) -> Result<bool, EnvironmentError> {
        (**self).model_exists(target, model).await
    }
    async fn onboard(
        &self,
        op: OperationId,
        target: &Target,
        device: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        (**self).onboard(op, target, device).await
    }
    async fn offboard(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
    ) -> Result<(), EnvironmentError> {
        (**self).offboard(op, target, asset).await
    }
    async fn reissue(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
        new_serial: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        (**self).reissue(op, target, asset, new_serial).await
    }
    async fn endpoints(&self, target: &Target) -> Result<Endpoints, EnvironmentError> {
        (**self).endpoints(target).await
    }
}
