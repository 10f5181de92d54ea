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

/// One `onboard` of [`Environment::onboard_many`]: the operation and the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardCall {
    /// The operation committed with the device's pending state.
    pub op: OperationId,
    /// The device facts the target needs.
    pub device: OnboardRequest,
}

/// One `offboard` of [`Environment::offboard_many`]: the operation and the asset to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffboardCall {
    /// The operation committed with the device's pending state.
    pub op: OperationId,
    /// The asset to remove.
    pub asset_id: AssetId,
}

/// One `reissue` of [`Environment::reissue_many`]: the operation, the asset that keeps its
/// identity and the new hardware's serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReissueCall {
    /// The operation committed with the device's pending state.
    pub op: OperationId,
    /// The asset whose credentials are reissued.
    pub asset_id: AssetId,
    /// The replacement hardware's serial.
    pub new_serial: SerialNumber,
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
///
/// # Batches
///
/// A batch operation calls the environment for many devices of a page at once. By default it
/// makes the single calls above, [`Config::concurrency`](crate::Config) at a time. An
/// environment that can take many calls in one round trip says so with
/// [`Environment::batch_limit`]; the batch then groups a page's calls by kind and target,
/// into chunks of at most that many, and makes one [`Environment::onboard_many`],
/// [`Environment::offboard_many`] or [`Environment::reissue_many`] per chunk, each call of a
/// chunk keeping its own operation ID and getting its own result.
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

    /// The most calls to `target` that one `*_many` call takes. The default, 1, has batches
    /// make single calls only.
    fn batch_limit(&self, target: &Target) -> usize {
        let _ = target;
        1
    }

    /// [`Environment::onboard`] of each of `calls` in `target`: one result per call, in the
    /// order of `calls`. A result missing from the end counts as
    /// [`EnvironmentError::Transient`]. The default makes the single calls one after another.
    async fn onboard_many(
        &self,
        target: &Target,
        calls: &[OnboardCall],
    ) -> Vec<Result<Onboarded, EnvironmentError>> {
        let mut results = Vec::with_capacity(calls.len());
        for call in calls {
            results.push(self.onboard(call.op, target, &call.device).await);
        }
        results
    }

    /// [`Environment::offboard`] of each of `calls` from `target`, as
    /// [`Environment::onboard_many`] does.
    async fn offboard_many(
        &self,
        target: &Target,
        calls: &[OffboardCall],
    ) -> Vec<Result<(), EnvironmentError>> {
        let mut results = Vec::with_capacity(calls.len());
        for call in calls {
            results.push(self.offboard(call.op, target, &call.asset_id).await);
        }
        results
    }

    /// [`Environment::reissue`] of each of `calls` in `target`, as
    /// [`Environment::onboard_many`] does.
    async fn reissue_many(
        &self,
        target: &Target,
        calls: &[ReissueCall],
    ) -> Vec<Result<Credentials, EnvironmentError>> {
        let mut results = Vec::with_capacity(calls.len());
        for call in calls {
            results.push(
                self.reissue(call.op, target, &call.asset_id, &call.new_serial)
                    .await,
            );
        }
        results
    }
}

#[cfg(feature = "mock")]
mockall::mock! {
    /// A mockall mock of [`Environment`]'s single calls; its batch calls are the trait's
    /// defaults, which make single calls.
    pub Environment {}

    #[async_trait]
    impl Environment for Environment {
        async fn model_exists(
            &self,
            target: &Target,
            model: &ModelId,
        ) -> Result<bool, EnvironmentError>;
        async fn onboard(
            &self,
            op: OperationId,
            target: &Target,
            device: &OnboardRequest,
        ) -> Result<Onboarded, EnvironmentError>;
        async fn offboard(
            &self,
            op: OperationId,
            target: &Target,
            asset: &AssetId,
        ) -> Result<(), EnvironmentError>;
        async fn reissue(
            &self,
            op: OperationId,
            target: &Target,
            asset: &AssetId,
            new_serial: &SerialNumber,
        ) -> Result<Credentials, EnvironmentError>;
        async fn endpoints(&self, target: &Target) -> Result<Endpoints, EnvironmentError>;
    }
}

#[cfg(feature = "mock")]
impl fmt::Debug for MockEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MockEnvironment")
    }
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
    fn batch_limit(&self, target: &Target) -> usize {
        (**self).batch_limit(target)
    }
    async fn onboard_many(
        &self,
        target: &Target,
        calls: &[OnboardCall],
    ) -> Vec<Result<Onboarded, EnvironmentError>> {
        (**self).onboard_many(target, calls).await
    }
    async fn offboard_many(
        &self,
        target: &Target,
        calls: &[OffboardCall],
    ) -> Vec<Result<(), EnvironmentError>> {
        (**self).offboard_many(target, calls).await
    }
    async fn reissue_many(
        &self,
        target: &Target,
        calls: &[ReissueCall],
    ) -> Vec<Result<Credentials, EnvironmentError>> {
        (**self).reissue_many(target, calls).await
    }
}
