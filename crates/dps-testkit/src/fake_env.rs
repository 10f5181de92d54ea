//! `FakeEnvironment`: an [`Environment`] that records every call and fails on demand.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use dps_core::{
    AssetId, Credentials, Endpoint, Endpoints, Environment, EnvironmentError, Key, ModelId,
    OnboardRequest, Onboarded, OperationId, Secret, SerialNumber, Target,
};

/// Which environment method a call was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// [`Environment::model_exists`].
    ModelExists,
    /// [`Environment::onboard`].
    Onboard,
    /// [`Environment::offboard`].
    Offboard,
    /// [`Environment::reissue`].
    Reissue,
    /// [`Environment::endpoints`].
    Endpoints,
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The method.
    pub kind: CallKind,
    /// The operation, for mutating calls.
    pub op: Option<OperationId>,
    /// The target.
    pub target: Target,
    /// The serial, for `onboard` and `reissue`.
    pub serial: Option<SerialNumber>,
    /// The asset, for `offboard` and `reissue`.
    pub asset: Option<AssetId>,
    /// Whether the call returned `Ok`.
    pub ok: bool,
}

/// A failure to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fail with [`EnvironmentError::Transient`] without doing anything.
    Transient,
    /// Fail with [`EnvironmentError::Rejected`].
    Rejected,
    /// Do the work, then fail with [`EnvironmentError::Transient`], as a timeout after a
    /// successful remote call looks: a retry with the same operation must see the result.
    TransientAfterApply,
}

#[derive(Debug, Default)]
struct State {
    models: HashMap<Target, Vec<ModelId>>,
    calls: Vec<Call>,
    next_faults: HashMap<CallKind, VecDeque<Fault>>,
    nth_faults: HashMap<usize, Fault>,
    latency: Option<Duration>,
    counter: u64,
    done: HashMap<OperationId, Done>,
    assets: HashMap<AssetId, Target>,
}

#[derive(Debug, Clone)]
enum Done {
    Onboarded(Onboarded),
    Offboarded,
    Reissued(Credentials),
}

/// An in-memory [`Environment`] for tests: targets and their models are set up by the test,
/// credentials are deterministic (`asset-N`, `pk-N`, `dk-N`, `secret-N`), every call is
/// recorded, and faults can be injected for the next call of a kind or for the n-th call
/// overall. It is idempotent per [`OperationId`] like a real target must be.
#[derive(Debug, Default)]
pub struct FakeEnvironment {
    state: Mutex<State>,
}

impl FakeEnvironment {
    /// An environment without targets.
    pub fn new() -> Self {
        Self::default()
    }

    /// An environment with one target holding `models`.
    pub fn with_target(target: &Target, models: &[&str]) -> Self {
        let env = Self::new();
        env.add_target(target, models);
        env
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a target with these models (model IDs that do not parse are skipped).
    pub fn add_target(&self, target: &Target, models: &[&str]) {
        let models = models.iter().filter_map(|m| m.parse().ok()).collect();
        self.state().models.insert(target.clone(), models);
    }

    /// Makes the next call of `kind` fail with `fault`; repeated calls queue up.
    pub fn fail_next(&self, kind: CallKind, fault: Fault) {
        self.state()
            .next_faults
            .entry(kind)
            .or_default()
            .push_back(fault);
    }

    /// Makes the `n`-th call overall (1-based, counting every method) fail with `fault`.
    pub fn fail_nth(&self, n: usize, fault: Fault) {
        self.state().nth_faults.insert(n, fault);
    }

    /// Removes every pending fault.
    pub fn heal(&self) {
        let mut s = self.state();
        s.next_faults.clear();
        s.nth_faults.clear();
    }

    /// Delays every call by `latency` (`None` for no delay).
    pub fn set_latency(&self, latency: Option<Duration>) {
        self.state().latency = latency;
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls of `kind` so far.
    pub fn calls_of(&self, kind: CallKind) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.kind == kind)
            .cloned()
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// The assets that currently exist, with their targets.
    pub fn assets(&self) -> HashMap<AssetId, Target> {
        self.state().assets.clone()
    }

    async fn enter(&self) {
        let latency = self.state().latency;
        if let Some(d) = latency {
            tokio::time::sleep(d).await;
        }
    }

    fn fault_for(s: &mut State, kind: CallKind) -> Option<Fault> {
        let n = s.calls.len() + 1;
        if let Some(f) = s.nth_faults.remove(&n) {
            return Some(f);
        }
        s.next_faults.get_mut(&kind).and_then(VecDeque::pop_front)
    }

    /// Runs a mutating call: applies the injected fault of `call.kind` around `apply` (a
    /// transient-after-apply fault does the work, then fails) and records the call.
    fn mutate<T>(
        &self,
        call: Call,
        apply: impl FnOnce(&mut State) -> Result<T, EnvironmentError>,
    ) -> Result<T, EnvironmentError> {
        let mut s = self.state();
        let result = match Self::fault_for(&mut s, call.kind) {
            Some(f @ (Fault::Transient | Fault::Rejected)) => Err(fail(&f)),
            Some(f @ Fault::TransientAfterApply) => apply(&mut s).and_then(|_| Err(fail(&f))),
            None => apply(&mut s),
        };
        s.calls.push(Call {
            ok: result.is_ok(),
            ..call
        });
        result
    }

    fn issue(s: &mut State) -> Credentials {
        s.counter += 1;
        let n = s.counter;
        Credentials {
            product_key: key(&format!("pk-{n}")),
            device_key: key(&format!("dk-{n}")),
            device_secret: Secret::new(format!("secret-{n}"))
                .unwrap_or_else(|e| panic!("fake secret: {e}")),
        }
    }
}

fn key(s: &str) -> Key {
    Key::new(s).unwrap_or_else(|e| panic!("fake key {s}: {e}"))
}

fn fail(fault: &Fault) -> EnvironmentError {
    match fault {
        Fault::Transient | Fault::TransientAfterApply => {
            EnvironmentError::transient("injected transient fault")
        }
        Fault::Rejected => EnvironmentError::rejected("injected rejection"),
    }
}

#[async_trait]
impl Environment for FakeEnvironment {
    async fn model_exists(
        &self,
        target: &Target,
        model: &ModelId,
    ) -> Result<bool, EnvironmentError> {
        self.enter().await;
        let mut s = self.state();
        let fault = Self::fault_for(&mut s, CallKind::ModelExists);
        let result = match &fault {
            Some(f) => Err(fail(f)),
            None => Ok(s.models.get(target).is_some_and(|m| m.contains(model))),
        };
        s.calls.push(Call {
            kind: CallKind::ModelExists,
            op: None,
            target: target.clone(),
            serial: None,
            asset: None,
            ok: result.is_ok(),
        });
        result
    }

    async fn onboard(
        &self,
        op: OperationId,
        target: &Target,
        device: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        self.enter().await;
        let call = Call {
            kind: CallKind::Onboard,
            op: Some(op),
            target: target.clone(),
            serial: Some(device.serial.clone()),
            asset: None,
            ok: false,
        };
        self.mutate(call, |s| match s.done.get(&op) {
            Some(Done::Onboarded(o)) => Ok(o.clone()),
            Some(_) => Err(EnvironmentError::rejected("operation reused")),
            None if !s.models.contains_key(target) => Err(EnvironmentError::rejected(format!(
                "unknown target {target}"
            ))),
            None => {
                let credentials = Self::issue(s);
                let asset_id = AssetId::new(format!("asset-{}", s.counter))
                    .unwrap_or_else(|e| panic!("fake asset: {e}"));
                s.assets.insert(asset_id.clone(), target.clone());
                let o = Onboarded {
                    asset_id,
                    credentials,
                };
                s.done.insert(op, Done::Onboarded(o.clone()));
                Ok(o)
            }
        })
    }

    async fn offboard(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
    ) -> Result<(), EnvironmentError> {
        self.enter().await;
        let call = Call {
            kind: CallKind::Offboard,
            op: Some(op),
            target: target.clone(),
            serial: None,
            asset: Some(asset.clone()),
            ok: false,
        };
        self.mutate(call, |s| match s.done.get(&op) {
            Some(Done::Offboarded) => Ok(()),
            Some(_) => Err(EnvironmentError::rejected("operation reused")),
            None => {
                s.assets.remove(asset);
                s.done.insert(op, Done::Offboarded);
                Ok(())
            }
        })
    }

    async fn reissue(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
        new_serial: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        self.enter().await;
        let call = Call {
            kind: CallKind::Reissue,
            op: Some(op),
            target: target.clone(),
            serial: Some(new_serial.clone()),
            asset: Some(asset.clone()),
            ok: false,
        };
        self.mutate(call, |s| match s.done.get(&op) {
            Some(Done::Reissued(c)) => Ok(c.clone()),
            Some(_) => Err(EnvironmentError::rejected("operation reused")),
            None => {
                let c = Self::issue(s);
                s.done.insert(op, Done::Reissued(c.clone()));
                Ok(c)
            }
        })
    }

    async fn endpoints(&self, target: &Target) -> Result<Endpoints, EnvironmentError> {
        self.enter().await;
        let mut s = self.state();
        let fault = Self::fault_for(&mut s, CallKind::Endpoints);
        let result = match &fault {
            Some(f) => Err(fail(f)),
            None if s.models.contains_key(target) => Ok(Endpoints {
                mqtt: Endpoint::new(format!("mqtts://{}.example:8883", target.environment)).ok(),
                http: Endpoint::new(format!("https://{}.example", target.environment)).ok(),
            }),
            None => Err(EnvironmentError::rejected(format!(
                "unknown target {target}"
            ))),
        };
        s.calls.push(Call {
            kind: CallKind::Endpoints,
            op: None,
            target: target.clone(),
            serial: None,
            asset: None,
            ok: result.is_ok(),
        });
        result
    }
}
