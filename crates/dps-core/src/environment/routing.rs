//! `RoutingEnvironment`: one environment per target, behind one port.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Credentials, Endpoints, Environment, EnvironmentError, OffboardCall, OnboardCall,
    OnboardRequest, Onboarded, ReissueCall,
};
use crate::id::OperationId;
use crate::text::{AssetId, ModelId, SerialNumber, Target};

/// An [`Environment`] that passes each call to the environment of its target: so that some
/// targets are served by one implementation (a platform's webhook, say) and others by
/// another (a static configuration), in one provisioner.
///
/// A target without a route goes to the fallback, if there is one; otherwise its calls are
/// rejected.
///
/// ```
/// use std::sync::Arc;
/// use dps_core::{Environment, RoutingEnvironment, Target};
///
/// # fn env() -> Arc<dyn Environment> { Arc::new(RoutingEnvironment::new()) }
/// let prod: Target = "prod-eu/acme".parse()?;
/// let routed = RoutingEnvironment::new()
///     .route(prod.clone(), env())
///     .fallback(env());
/// assert!(routed.routes(&prod));
/// # Ok::<(), dps_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RoutingEnvironment {
    routes: HashMap<Target, Arc<dyn Environment>>,
    fallback: Option<Arc<dyn Environment>>,
}

impl RoutingEnvironment {
    /// No routes and no fallback.
    pub fn new() -> Self {
        Self::default()
    }

    /// This environment, passing the calls for `target` to `env`.
    #[must_use]
    pub fn route(mut self, target: Target, env: Arc<dyn Environment>) -> Self {
        self.routes.insert(target, env);
        self
    }

    /// This environment, passing the calls for every target without a route to `env`.
    #[must_use]
    pub fn fallback(mut self, env: Arc<dyn Environment>) -> Self {
        self.fallback = Some(env);
        self
    }

    /// Whether `target` has a route of its own.
    pub fn routes(&self, target: &Target) -> bool {
        self.routes.contains_key(target)
    }

    fn pick(&self, target: &Target) -> Result<&Arc<dyn Environment>, EnvironmentError> {
        self.routes
            .get(target)
            .or(self.fallback.as_ref())
            .ok_or_else(|| {
                EnvironmentError::rejected(format!("no environment serves target {target}"))
            })
    }
}

#[async_trait]
impl Environment for RoutingEnvironment {
    async fn model_exists(
        &self,
        target: &Target,
        model: &ModelId,
    ) -> Result<bool, EnvironmentError> {
        self.pick(target)?.model_exists(target, model).await
    }

    async fn onboard(
        &self,
        op: OperationId,
        target: &Target,
        device: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        self.pick(target)?.onboard(op, target, device).await
    }

    async fn offboard(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
    ) -> Result<(), EnvironmentError> {
        self.pick(target)?.offboard(op, target, asset).await
    }

    async fn reissue(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
        new_serial: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        self.pick(target)?
            .reissue(op, target, asset, new_serial)
            .await
    }

    async fn endpoints(&self, target: &Target) -> Result<Endpoints, EnvironmentError> {
        self.pick(target)?.endpoints(target).await
    }

    fn batch_limit(&self, target: &Target) -> usize {
        self.pick(target).map_or(1, |env| env.batch_limit(target))
    }

    async fn onboard_many(
        &self,
        target: &Target,
        calls: &[OnboardCall],
    ) -> Vec<Result<Onboarded, EnvironmentError>> {
        match self.pick(target) {
            Ok(env) => env.onboard_many(target, calls).await,
            Err(e) => vec![Err(e); calls.len()],
        }
    }

    async fn offboard_many(
        &self,
        target: &Target,
        calls: &[OffboardCall],
    ) -> Vec<Result<(), EnvironmentError>> {
        match self.pick(target) {
            Ok(env) => env.offboard_many(target, calls).await,
            Err(e) => vec![Err(e); calls.len()],
        }
    }

    async fn reissue_many(
        &self,
        target: &Target,
        calls: &[ReissueCall],
    ) -> Vec<Result<Credentials, EnvironmentError>> {
        match self.pick(target) {
            Ok(env) => env.reissue_many(target, calls).await,
            Err(e) => vec![Err(e); calls.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers `model_exists` with its value, and refuses the rest.
    #[derive(Debug)]
    struct Answering(bool);

    #[async_trait]
    impl Environment for Answering {
        async fn model_exists(&self, _: &Target, _: &ModelId) -> Result<bool, EnvironmentError> {
            Ok(self.0)
        }
        async fn onboard(
            &self,
            _: OperationId,
            _: &Target,
            _: &OnboardRequest,
        ) -> Result<Onboarded, EnvironmentError> {
            Err(EnvironmentError::rejected("not here"))
        }
        async fn offboard(
            &self,
            _: OperationId,
            _: &Target,
            _: &AssetId,
        ) -> Result<(), EnvironmentError> {
            Err(EnvironmentError::rejected("not here"))
        }
        async fn reissue(
            &self,
            _: OperationId,
            _: &Target,
            _: &AssetId,
            _: &SerialNumber,
        ) -> Result<Credentials, EnvironmentError> {
            Err(EnvironmentError::rejected("not here"))
        }
        async fn endpoints(&self, _: &Target) -> Result<Endpoints, EnvironmentError> {
            Ok(Endpoints::default())
        }
    }

    #[tokio::test]
    async fn each_target_goes_to_its_route_the_others_to_the_fallback_or_are_rejected() {
        let (a, b): (Target, Target) = ("env/a".parse().unwrap(), "env/b".parse().unwrap());
        let model: ModelId = "m".parse().unwrap();
        let routed = RoutingEnvironment::new().route(a.clone(), Arc::new(Answering(true)));
        assert!(routed.routes(&a) && !routed.routes(&b));
        assert!(routed.model_exists(&a, &model).await.unwrap());
        let e = routed.model_exists(&b, &model).await.unwrap_err();
        assert!(matches!(e, EnvironmentError::Rejected { .. }), "{e}");
        let routed = routed.fallback(Arc::new(Answering(false)));
        assert!(routed.model_exists(&a, &model).await.unwrap());
        assert!(!routed.model_exists(&b, &model).await.unwrap());
    }
}
