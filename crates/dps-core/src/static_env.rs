//! `StaticEnvironment`: targets from configuration, credentials from the secret source.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::environment::{
    Credentials, Endpoints, Environment, EnvironmentError, OnboardRequest, Onboarded,
};
use crate::id::OperationId;
use crate::inject::SecretSource;
use crate::secret::{Secret, hex_digits};
use crate::text::{AssetId, Endpoint, EnvironmentId, Key, ModelId, OuId, SerialNumber, Target};

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

/// The configuration of a [`StaticEnvironment`], for example from a TOML or JSON file:
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

#[derive(Debug, Clone)]
enum Recorded {
    Onboarded {
        asset_id: AssetId,
        credentials: Issued,
    },
    Offboarded,
    Reissued(Issued),
}

/// Credentials as remembered: the secret as its random bytes, so that remembering an
/// operation neither allocates nor copies the secret text.
#[derive(Clone)]
struct Issued {
    product_key: Key,
    device_key: Key,
    secret: [u8; SECRET_BYTES],
}

impl Issued {
    fn credentials(&self) -> Credentials {
        Credentials {
            product_key: self.product_key.clone(),
            device_key: self.device_key.clone(),
            device_secret: Secret::from_bytes_hex(&self.secret),
        }
    }
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret is left out.
        f.debug_struct("Issued")
            .field("product_key", &self.product_key)
            .field("device_key", &self.device_key)
            .finish_non_exhaustive()
    }
}

/// How many asset IDs an onboarding tries before it gives up: with random bytes from the
/// operating system, a second attempt is already all but never needed.
const MAX_ASSET_ID_ATTEMPTS: u32 = 16;

/// How many random bytes a device secret has (it is written as twice as many hex digits).
const SECRET_BYTES: usize = 24;

#[derive(Debug)]
struct State {
    /// The remembered operations, by identifier: identifiers are time-ordered (see
    /// [`IdGen`](crate::IdGen)), so new ones go to the end and the oldest are first.
    operations: BTreeMap<OperationId, Recorded>,
    /// How many operations are remembered.
    remember: usize,
    /// By asset ID: IDs start with a sequence number, so each new asset goes near the one
    /// before it.
    assets: BTreeMap<AssetKey, Asset>,
    /// The sequence number of the next asset ID (24 bits, wrapping).
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
}

/// An asset ID as the key of the asset index: ordered as its text is, but compared eight
/// bytes at a time inline, since every insertion compares the new ID with a few dozen others.
#[derive(Debug, PartialEq, Eq)]
struct AssetKey(AssetId);

impl Ord for AssetKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (self.0.as_str().as_bytes(), other.0.as_str().as_bytes());
        let (a_words, _) = a.as_chunks::<8>();
        let (b_words, _) = b.as_chunks::<8>();
        for (x, y) in a_words.iter().zip(b_words) {
            let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
            if x != y {
                return x.cmp(&y);
            }
        }
        // Every whole word of the shorter one is equal: what follows decides.
        let at = 8 * a_words.len().min(b_words.len());
        let (a_tail, b_tail) = (a.get(at..), b.get(at..));
        a_tail.unwrap_or_default().cmp(b_tail.unwrap_or_default())
    }
}

impl PartialOrd for AssetKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

// Look-ups by `&AssetId` compare as `AssetId` does, which orders alike.
impl std::borrow::Borrow<AssetId> for AssetKey {
    fn borrow(&self) -> &AssetId {
        &self.0
    }
}

#[derive(Debug)]
struct Asset {
    target: Target,
    product_key: Key,
}

/// An [`Environment`] whose targets, models and endpoints come from a [`StaticConfig`] and
/// whose asset IDs, keys and secrets come from the injected [`SecretSource`].
///
/// An asset ID is `asset-` and 18 hex digits: six of a sequence number and twelve from the
/// secret source. The sequence starts at a random point taken from the secret source and
/// counts up by one for each ID tried, wrapping from `ffffff` to `000000`: the IDs an
/// environment issues sort in the order it issued them (except across that wrap), so its
/// asset index grows at one place. An ID that is still in use is never issued again. Product
/// and device keys are `pk-` and `dk-` and 16 hex digits, and a device secret is 48 hex
/// digits, all from the secret source.
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
        let mut start = [0u8; 4];
        secrets.fill(&mut start[1..]);
        Self {
            targets,
            secrets,
            state: Mutex::new(State {
                operations: BTreeMap::new(),
                remember: Self::DEFAULT_REMEMBERED_OPERATIONS,
                assets: BTreeMap::new(),
                next_asset: u32::from_be_bytes(start),
            }),
        }
    }

    /// This environment remembering the results of the `n` most recent operations (at least
    /// one), by their time-ordered identifiers.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dps_core::{SeededSecrets, StaticConfig, StaticEnvironment};
    ///
    /// let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(SeededSecrets::new(1)))
    ///     .with_remembered_operations(10_000);
    /// # let _ = env;
    /// ```
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

    /// `prefix` followed by 16 random hex digits (kept inline: no heap allocation).
    fn token(&self, prefix: &str) -> CompactString {
        let mut random = [0u8; 8];
        self.secrets.fill(&mut random);
        let mut text = CompactString::new(prefix);
        text.extend(hex_digits(&random));
        text
    }

    /// `asset-`, six hex digits of `sequence` and twelve random ones: 24 characters, which
    /// the ID keeps inline on 64-bit targets.
    fn asset_id(&self, sequence: u32) -> AssetId {
        let mut bytes = [0u8; 9];
        let [_, high, middle, low] = sequence.to_be_bytes();
        bytes[..3].copy_from_slice(&[high, middle, low]);
        self.secrets.fill(&mut bytes[3..]);
        let mut text = CompactString::new("asset-");
        text.extend(hex_digits(&bytes));
        // Hex digits after an ASCII prefix always form a valid identifier.
        AssetId::new(text).unwrap_or_else(|_| unreachable!("generated asset IDs are valid"))
    }

    fn key(&self, prefix: &str) -> Key {
        // Hex digits after an ASCII prefix always form a valid key.
        Key::new(self.token(prefix)).unwrap_or_else(|_| unreachable!("generated keys are valid"))
    }

    fn issue(&self, product_key: Key) -> Issued {
        let mut secret = [0u8; SECRET_BYTES];
        self.secrets.fill(&mut secret);
        Issued {
            product_key,
            device_key: self.key("dk-"),
            secret,
        }
    }
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
            Some(Recorded::Onboarded {
                asset_id,
                credentials,
            }) => {
                return Ok(Onboarded {
                    asset_id: asset_id.clone(),
                    credentials: credentials.credentials(),
                });
            }
            Some(Recorded::Offboarded | Recorded::Reissued(_)) => {
                return Err(EnvironmentError::rejected(format!(
                    "operation {op} was used for another call"
                )));
            }
            None => {}
        }
        let issued = self.issue(self.key("pk-"));
        let mut attempts = 0;
        let asset_id = loop {
            let id = self.asset_id(state.next_asset);
            state.next_asset = state.next_asset.wrapping_add(1) & 0xff_ffff;
            if let Entry::Vacant(slot) = state.assets.entry(AssetKey(id)) {
                let id = slot.key().0.clone();
                slot.insert(Asset {
                    target: target.clone(),
                    product_key: issued.product_key.clone(),
                });
                break id;
            }
            attempts += 1;
            if attempts == MAX_ASSET_ID_ATTEMPTS {
                return Err(EnvironmentError::transient(
                    "no free asset ID: the secret source keeps repeating itself",
                ));
            }
        };
        let onboarded = Onboarded {
            asset_id: asset_id.clone(),
            credentials: issued.credentials(),
        };
        state.record(
            op,
            Recorded::Onboarded {
                asset_id,
                credentials: issued,
            },
        );
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
            Some(Recorded::Onboarded { .. } | Recorded::Reissued(_)) => {
                return Err(EnvironmentError::rejected(format!(
                    "operation {op} was used for another call"
                )));
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
            Some(Recorded::Reissued(issued)) => return Ok(issued.credentials()),
            Some(Recorded::Onboarded { .. } | Recorded::Offboarded) => {
                return Err(EnvironmentError::rejected(format!(
                    "operation {op} was used for another call"
                )));
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
        let issued = self.issue(product_key);
        let credentials = issued.credentials();
        state.assets.insert(
            AssetKey(asset.clone()),
            Asset {
                target: target.clone(),
                product_key: issued.product_key.clone(),
            },
        );
        state.record(op, Recorded::Reissued(issued));
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
    use crate::environment::OnboardRequest;
    use crate::id::DeviceId;

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
        OperationId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn request() -> OnboardRequest {
        OnboardRequest {
            device_id: DeviceId::from_uuid(uuid::Uuid::from_u128(1)),
            serial: "SN-1".parse().unwrap(),
            model_id: "m1".parse().unwrap(),
            name: None,
        }
    }

    #[test]
    fn asset_keys_order_as_asset_ids_do() {
        let ids: Vec<AssetId> = [
            "a",
            "asset-1",
            "asset-10",
            "asset-2",
            "asset-000000000000000000",
            "asset-000000ffffffffffff",
            "asset-000001000000000000",
            "asset-00000100000000000",
            "asset-0000010000000000000",
            "b-12345678",
            "b-1234567",
            "b-123456789abcdefgh",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzy",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for a in &ids {
            for b in &ids {
                let keys = AssetKey(a.clone()).cmp(&AssetKey(b.clone()));
                assert_eq!(keys, a.cmp(b), "{a} against {b}");
            }
        }
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
