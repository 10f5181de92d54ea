//! `StaticEnvironment`: targets from configuration, credentials from the secret source.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use dps_core::{
    AssetId, Credentials, Endpoints, Environment, EnvironmentError, Key, ModelId, OnboardRequest,
    Onboarded, OperationId, Secret, SerialNumber, Target, inject::SecretSource,
};

use crate::config::{StaticConfig, TargetConfig};

/// How many asset IDs an onboarding tries before it gives up: with random bytes from the
/// operating system, a second attempt is already all but never needed.
const MAX_ASSET_ID_ATTEMPTS: u32 = 16;

/// The sequence numbers of asset IDs have 24 bits (six hex digits).
const SEQUENCE_MASK: u32 = 0xff_ffff;

/// The result of an operation, as a retry gets it again.
#[derive(Debug, Clone)]
enum Recorded {
    Onboarded(Onboarded),
    Offboarded,
    Reissued(Credentials),
}

/// An asset this environment onboarded (or reissued credentials for) and has not offboarded.
#[derive(Debug)]
struct Asset {
    target: Target,
    product_key: Key,
}

#[derive(Debug)]
struct State {
    /// The remembered operations, by identifier: identifiers are time-ordered (see
    /// [`IdGen`](dps_core::inject::IdGen)), so the first ones are the oldest.
    operations: BTreeMap<OperationId, Recorded>,
    /// How many operations are remembered.
    remember: usize,
    /// The assets in use.
    assets: HashMap<AssetId, Asset>,
    /// The sequence number of the next asset ID.
    next_asset: u32,
}

impl State {
    /// Remembers the result of `op`, forgetting the oldest operations beyond the bound.
    fn record(&mut self, op: OperationId, result: Recorded) {
        self.operations.insert(op, result);
        while self.operations.len() > self.remember {
            self.operations.pop_first();
        }
    }

    /// The next sequence number for an asset ID, counting up and wrapping after `ffffff`.
    fn take_sequence(&mut self) -> u32 {
        let sequence = self.next_asset;
        self.next_asset = (sequence + 1) & SEQUENCE_MASK;
        sequence
    }
}

/// An [`Environment`] whose targets, models and endpoints come from a [`StaticConfig`] and
/// whose asset IDs, keys and secrets come from the injected [`SecretSource`].
///
/// An asset ID is `asset-` and 18 hex digits: six of a sequence number and twelve from the
/// secret source. The sequence starts at a random point taken from the secret source and
/// counts up by one for each ID tried, wrapping from `ffffff` to `000000`: the IDs an
/// environment issues sort in the order it issued them (except across that wrap). An ID that
/// is still in use is never issued again. Product and device keys are `pk-` and `dk-` and 16
/// hex digits, and a device secret is 48 hex digits, all from the secret source.
///
/// It keeps the results of the most recent operations (those with the newest identifiers) in
/// memory ([`StaticEnvironment::DEFAULT_REMEMBERED_OPERATIONS`] unless
/// [`with_remembered_operations`](StaticEnvironment::with_remembered_operations) says
/// otherwise), so a repeated call with the same [`OperationId`] returns the first result: the
/// idempotency the [`Environment`] contract asks for, within one process and for as long as
/// the operation is remembered. A retry of a forgotten operation is served as a new one.
pub struct StaticEnvironment {
    targets: HashMap<Target, TargetConfig>,
    secrets: Arc<dyn SecretSource>,
    state: Mutex<State>,
}

impl fmt::Debug for StaticEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticEnvironment")
            .field("targets", &self.targets.len())
            .finish_non_exhaustive()
    }
}

impl StaticEnvironment {
    /// How many operations' results an environment remembers unless told otherwise: far more
    /// than a batch has in flight, so that retries and recoveries are answered alike, while
    /// a long-running process does not grow without bound.
    pub const DEFAULT_REMEMBERED_OPERATIONS: usize = 100_000;

    /// An environment serving `config`, issuing credentials from `secrets`.
    pub fn new(config: StaticConfig, secrets: Arc<dyn SecretSource>) -> Self {
        let targets = config
            .targets
            .into_iter()
            .map(|t| (t.target(), t))
            .collect();
        let mut start = [0u8; 3];
        secrets.fill(&mut start);
        let [high, middle, low] = start;
        Self {
            targets,
            secrets,
            state: Mutex::new(State {
                operations: BTreeMap::new(),
                remember: Self::DEFAULT_REMEMBERED_OPERATIONS,
                assets: HashMap::new(),
                next_asset: u32::from_be_bytes([0, high, middle, low]),
            }),
        }
    }

    /// This environment remembering the results of the `n` most recent operations (at least
    /// one), by their time-ordered identifiers: `StaticEnvironment::new(config,
    /// secrets).with_remembered_operations(10_000)`.
    #[must_use]
    pub fn with_remembered_operations(self, n: usize) -> Self {
        self.state().remember = n.max(1);
        self
    }

    /// The configured targets, sorted.
    pub fn targets(&self) -> Vec<&TargetConfig> {
        let mut v: Vec<&TargetConfig> = self.targets.values().collect();
        v.sort_by_key(|a| a.target());
        v
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn target(&self, target: &Target) -> Result<&TargetConfig, EnvironmentError> {
        self.targets
            .get(target)
            .ok_or_else(|| EnvironmentError::rejected(format!("unknown target {target}")))
    }

    /// `bytes` random bytes from the secret source, as hex digits.
    fn random_hex(&self, bytes: usize) -> String {
        let mut random = vec![0u8; bytes];
        self.secrets.fill(&mut random);
        hex(&random)
    }

    /// `asset-`, six hex digits of `sequence` and twelve random ones.
    fn asset_id(&self, sequence: u32) -> AssetId {
        let text = format!("asset-{sequence:06x}{}", self.random_hex(6));
        // Hex digits after an ASCII prefix always form a valid identifier.
        AssetId::new(text).unwrap_or_else(|_| unreachable!("generated asset IDs are valid"))
    }

    /// `prefix` and 16 random hex digits.
    fn key(&self, prefix: &str) -> Key {
        let text = format!("{prefix}{}", self.random_hex(8));
        // Hex digits after an ASCII prefix always form a valid key.
        Key::new(text).unwrap_or_else(|_| unreachable!("generated keys are valid"))
    }

    /// New device credentials under `product_key`.
    fn credentials(&self, product_key: Key) -> Credentials {
        let mut secret = [0u8; 24];
        self.secrets.fill(&mut secret);
        Credentials {
            product_key,
            device_key: self.key("dk-"),
            device_secret: Secret::from_bytes_hex(&secret),
        }
    }

    /// An asset ID that is not in use, filed as an asset of `target` under `product_key`.
    fn new_asset(
        &self,
        state: &mut State,
        target: &Target,
        product_key: &Key,
    ) -> Result<AssetId, EnvironmentError> {
        for _ in 0..MAX_ASSET_ID_ATTEMPTS {
            let id = self.asset_id(state.take_sequence());
            if !state.assets.contains_key(&id) {
                let asset = Asset {
                    target: target.clone(),
                    product_key: product_key.clone(),
                };
                state.assets.insert(id.clone(), asset);
                return Ok(id);
            }
        }
        Err(EnvironmentError::transient(
            "no free asset ID: the secret source keeps repeating itself",
        ))
    }
}

/// The lowercase hex digits of `bytes`, two per byte.
fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 * bytes.len());
    for b in bytes {
        // Writing to a `String` cannot fail.
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// The refusal of an operation identifier that was used for another kind of call.
fn used_for_another_call(op: OperationId) -> EnvironmentError {
    EnvironmentError::rejected(format!("operation {op} was used for another call"))
}

#[async_trait]
impl Environment for StaticEnvironment {
    async fn model_exists(
        &self,
        target: &Target,
        model: &ModelId,
    ) -> Result<bool, EnvironmentError> {
        Ok(self.target(target)?.models.contains(model))
    }

    async fn onboard(
        &self,
        op: OperationId,
        target: &Target,
        device: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        let config = self.target(target)?;
        if !config.models.contains(&device.model_id) {
            return Err(EnvironmentError::rejected(format!(
                "model {} does not exist in {target}",
                device.model_id
            )));
        }
        let mut state = self.state();
        match state.operations.get(&op) {
            Some(Recorded::Onboarded(onboarded)) => return Ok(onboarded.clone()),
            Some(Recorded::Offboarded | Recorded::Reissued(_)) => {
                return Err(used_for_another_call(op));
            }
            None => {}
        }
        let credentials = self.credentials(self.key("pk-"));
        let asset_id = self.new_asset(&mut state, target, &credentials.product_key)?;
        let onboarded = Onboarded {
            asset_id,
            credentials,
        };
        state.record(op, Recorded::Onboarded(onboarded.clone()));
        Ok(onboarded)
    }

    async fn offboard(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
    ) -> Result<(), EnvironmentError> {
        self.target(target)?;
        let mut state = self.state();
        match state.operations.get(&op) {
            Some(Recorded::Offboarded) => return Ok(()),
            Some(Recorded::Onboarded(_) | Recorded::Reissued(_)) => {
                return Err(used_for_another_call(op));
            }
            None => {}
        }
        state.assets.remove(asset);
        state.record(op, Recorded::Offboarded);
        Ok(())
    }

    async fn reissue(
        &self,
        op: OperationId,
        target: &Target,
        asset: &AssetId,
        _new_serial: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        self.target(target)?;
        let mut state = self.state();
        match state.operations.get(&op) {
            Some(Recorded::Reissued(credentials)) => return Ok(credentials.clone()),
            Some(Recorded::Onboarded(_) | Recorded::Offboarded) => {
                return Err(used_for_another_call(op));
            }
            None => {}
        }
        let product_key = match state.assets.get(asset) {
            Some(a) if &a.target != target => {
                return Err(EnvironmentError::rejected(format!(
                    "asset {asset} does not belong to {target}"
                )));
            }
            Some(a) => a.product_key.clone(),
            // An asset from before a restart: the product key is issued anew.
            None => self.key("pk-"),
        };
        let credentials = self.credentials(product_key);
        state.assets.insert(
            asset.clone(),
            Asset {
                target: target.clone(),
                product_key: credentials.product_key.clone(),
            },
        );
        state.record(op, Recorded::Reissued(credentials.clone()));
        Ok(credentials)
    }

    async fn endpoints(&self, target: &Target) -> Result<Endpoints, EnvironmentError> {
        let config = self.target(target)?;
        Ok(Endpoints {
            mqtt: config.mqtt_endpoint.clone(),
            http: config.http_endpoint.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dps_core::{DeviceId, Uuid};

    /// A broken secret source: every byte it gives is zero.
    #[derive(Debug)]
    struct Zeros;

    impl SecretSource for Zeros {
        fn fill(&self, dest: &mut [u8]) {
            dest.fill(0);
        }
    }

    fn env() -> (StaticEnvironment, Target) {
        let target: Target = "prod/acme".parse().unwrap();
        let config = StaticConfig {
            targets: vec![TargetConfig {
                environment: target.environment.clone(),
                ou: target.ou.clone(),
                models: vec!["m1".parse().unwrap()],
                mqtt_endpoint: None,
                http_endpoint: None,
            }],
        };
        (StaticEnvironment::new(config, Arc::new(Zeros)), target)
    }

    fn op(n: u128) -> OperationId {
        OperationId::from_uuid(Uuid::from_u128(n))
    }

    fn request() -> OnboardRequest {
        OnboardRequest {
            device_id: DeviceId::from_uuid(Uuid::from_u128(1)),
            serial: "SN-1".parse().unwrap(),
            model_id: "m1".parse().unwrap(),
            name: None,
        }
    }

    #[test]
    fn hex_writes_two_lowercase_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[tokio::test]
    async fn an_asset_id_in_use_is_not_issued_again() {
        let (env, target) = env();
        let first = env.onboard(op(1), &target, &request()).await.unwrap();
        // The sequence comes round again (as after 2²⁴ assets) to an ID that is in use.
        env.state().next_asset = 0;
        let second = env.onboard(op(2), &target, &request()).await.unwrap();
        assert_ne!(first.asset_id, second.asset_id);
        assert_eq!(env.state().assets.len(), 2, "both assets are kept");
    }

    #[tokio::test]
    async fn the_sequence_wraps_after_its_last_value() {
        let (env, target) = env();
        env.state().next_asset = SEQUENCE_MASK;
        let last = env.onboard(op(1), &target, &request()).await.unwrap();
        let first = env.onboard(op(2), &target, &request()).await.unwrap();
        assert_eq!(last.asset_id.as_str(), "asset-ffffff000000000000");
        assert_eq!(first.asset_id.as_str(), "asset-000000000000000000");
    }

    #[tokio::test]
    async fn a_secret_source_that_repeats_itself_gets_a_transient_error_not_a_reused_id() {
        let (env, target) = env();
        for n in 0..u128::from(MAX_ASSET_ID_ATTEMPTS) {
            env.onboard(op(n + 1), &target, &request()).await.unwrap();
        }
        env.state().next_asset = 0;
        let refused = env.onboard(op(100), &target, &request()).await;
        assert!(matches!(refused, Err(EnvironmentError::Transient { .. })));
        assert_eq!(
            env.state().assets.len(),
            MAX_ASSET_ID_ATTEMPTS as usize,
            "no asset was overwritten"
        );
    }
}
