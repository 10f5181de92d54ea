//! The `Provisioner` service: every operation on groups and devices, split by use case.
//!
//! | file | what it serves |
//! |---|---|
//! | `groups.rs` | group CRUD and secret rotation |
//! | `devices.rs` | registration (one, many, generated), reads, listings, edits |
//! | `import.rs` | planning and applying bulk imports, the one bulk-registration path |
//! | `operations.rs` | allocate, reset, replace and delete, and the driver of pending devices |
//! | `recover.rs` | re-driving pending operations |
//! | `bootstrap.rs` | answering a device's bootstrap call, opening secrets |
//! | `reseal.rs` | sealing stored secrets again with the current key |
//! | `report.rs` | selections, reports and pages |
//!
//! The service decides no domain outcome: the [`lifecycle`](crate::lifecycle) steps do, and
//! the service commits their [`Transition`]s and calls the environment.

mod bootstrap;
mod devices;
mod groups;
mod import;
mod jobs;
mod operations;
mod page;
mod recover;
mod report;
mod reseal;

use std::sync::Arc;
use std::time::Duration;

pub use recover::{Leased, RecoverReport};
pub use report::{
    Atomicity, BatchReport, DeviceOutcome, GenerateReport, GenerateSpec, NewSerial, Page,
    RegisterReport, ReplaceRequest, Selection,
};
pub use reseal::{ResealReport, SecretsByKey};

use crate::bootstrap::BootstrapConfig;
use crate::changeset::{Changeset, Transition};
use crate::environment::Environment;
use crate::error::{Result, StoreError};
use crate::event::Event;
use crate::id::{DeviceId, EventCursor, GroupId, OperationId};
use crate::inject::{Clock, IdGen, SecretSource};
use crate::seal::{KeyProvider, Keys, SealedSecret, Sealer, SecretOf};
use crate::secret::Secret;
use crate::store::Store;
use crate::text::Actor;
use crate::text::SerialNumber;
use crate::time::Timestamp;

/// The clock, identifier generator and secret source a [`Provisioner`] uses.
#[derive(Debug, Clone)]
pub struct Injected {
    /// The source of the current instant.
    pub clock: Arc<dyn Clock>,
    /// The source of new identifiers.
    pub ids: Arc<dyn IdGen>,
    /// The source of secrets and generated serials.
    pub secrets: Arc<dyn SecretSource>,
}

impl Injected {
    /// The system clock, UUID v7 identifiers and the operating system's random source.
    #[cfg(feature = "system")]
    pub fn system() -> Self {
        Self {
            clock: Arc::new(crate::inject::SystemClock),
            ids: Arc::new(crate::inject::SystemIds),
            secrets: Arc::new(crate::inject::OsSecrets),
        }
    }
}

/// Tuning of a [`Provisioner`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// How long the driver of a pending operation owns it before
    /// [`Provisioner::recover`] may take it over. Default: 60 s.
    pub lease: Duration,
    /// How many devices of a batch are in flight at once. Default: 16.
    pub concurrency: usize,
    /// How many devices a batch reads per store query. Default: 1000.
    pub page_size: usize,
    /// How many new devices one commit of [`Provisioner::register_many`] holds. Default: 10 000.
    pub chunk_size: usize,
    /// How [`Provisioner::bootstrap`] verifies requests.
    pub bootstrap: BootstrapConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            concurrency: 16,
            page_size: 1000,
            chunk_size: 10_000,
            bootstrap: BootstrapConfig::default(),
        }
    }
}

impl Config {
    /// This configuration with another lease.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// This configuration with another batch concurrency (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// This configuration with another page size (at least 1).
    #[must_use]
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// This configuration with another registration chunk size (at least 1).
    #[must_use]
    pub fn with_chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n.max(1);
        self
    }

    /// This configuration with other bootstrap settings.
    #[must_use]
    pub fn with_bootstrap(mut self, bootstrap: BootstrapConfig) -> Self {
        self.bootstrap = bootstrap;
        self
    }
}

/// The provisioning service: registration groups, devices, the allocation lifecycle and the
/// event log, over a [`Store`] and an [`Environment`].
///
/// Every state change commits its event in the same changeset. Operations that call the
/// environment first commit a pending state with a fresh [`OperationId`], then call the
/// environment with that identifier, then commit the result; [`Provisioner::recover`]
/// completes whatever a crash or a transient failure left pending.
#[derive(Debug)]
pub struct Provisioner<S, E> {
    store: S,
    env: E,
    injected: Injected,
    config: Config,
    /// Seals and opens secrets with the keys this provisioner was given.
    sealer: Sealer,
    /// Who the events of this handle's changes name; `None` leaves them unnamed.
    actor: Option<Actor>,
    /// Shared by the handles that [`Provisioner::acting_as`] makes, so that they record
    /// bootstrap refusals within one budget.
    refusals: Arc<std::sync::Mutex<bootstrap::RefusalBudget>>,
}

const GENERATED_SERIAL_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl<S: Store, E: Environment> Provisioner<S, E> {
    /// A provisioner with the system clock, identifiers and secrets and the default
    /// configuration.
    #[cfg(feature = "system")]
    pub fn new(store: S, env: E) -> Self {
        Self::with_parts(store, env, Injected::system(), Config::default())
    }

    /// A provisioner with the given clock, identifiers, secrets and configuration.
    ///
    /// It has no sealing key until [`with_keys`](Provisioner::with_keys) gives it one.
    pub fn with_parts(store: S, env: E, injected: Injected, config: Config) -> Self {
        let sealer = Sealer::new(Arc::new(Keys::none()), Arc::clone(&injected.secrets));
        Self {
            store,
            env,
            injected,
            config,
            sealer,
            actor: None,
            refusals: Arc::default(),
        }
    }

    /// This provisioner sealing secrets with the current key of `keys` and opening them with
    /// whichever of its keys sealed them; see the [`seal`](crate::seal) module.
    ///
    /// Without keys a provisioner lists and edits, but whatever needs a secret fails with
    /// [`Error::KeyUnavailable`](crate::Error::KeyUnavailable).
    pub fn with_keys(mut self, keys: impl KeyProvider) -> Self {
        self.sealer = Sealer::new(Arc::new(keys), Arc::clone(&self.injected.secrets));
        self
    }

    /// This provisioner sealing and opening secrets with `sealer`, which may take its nonces
    /// from a source of its own (as [`with_keys`](Provisioner::with_keys) takes them from
    /// the injected secret source).
    pub fn with_sealer(mut self, sealer: Sealer) -> Self {
        self.sealer = sealer;
        self
    }

    /// The sealer, with this provisioner's keys.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// This provisioner with `actor` named by the events of every change it commits.
    ///
    /// A service that serves many callers keeps one provisioner and takes a handle per
    /// request with [`acting_as`](Provisioner::acting_as).
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// A handle on the same store, environment and configuration whose changes' events
    /// name `actor`; cheap when the store and environment are shared (`Arc`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use dps::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let env = dps::StaticEnvironment::new(dps::StaticConfig { targets: vec![] },
    /// #     Arc::new(dps::inject::OsSecrets));
    /// let dps = Provisioner::new(Arc::new(dps::memory::InMemoryStore::new()), Arc::new(env)).with_keys(dps::seal::Keys::ephemeral());
    /// let ops = dps.acting_as("ops-team".parse()?);
    /// ops.create_group(NewGroup::new("Building 7".parse()?)).await?;
    /// let events = dps.events(EventCursor::START, 10).await?;
    /// assert_eq!(events[0].actor.as_ref().map(|a| a.as_str()), Some("ops-team"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn acting_as(&self, actor: Actor) -> Self
    where
        S: Clone,
        E: Clone,
    {
        Self {
            store: self.store.clone(),
            env: self.env.clone(),
            injected: self.injected.clone(),
            config: self.config.clone(),
            sealer: self.sealer.clone(),
            actor: Some(actor),
            refusals: Arc::clone(&self.refusals),
        }
    }

    /// Who the events of this handle's changes name.
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    /// A builder that starts from the system clock, identifiers and secrets and the default
    /// configuration, and replaces what it is given.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use dps::inject::{ManualClock, OsSecrets};
    /// use dps::memory::InMemoryStore;
    /// use dps::{Config, Provisioner, StaticConfig, StaticEnvironment, Timestamp};
    ///
    /// let env = StaticEnvironment::new(StaticConfig { targets: vec![] }, Arc::new(OsSecrets));
    /// let dps = Provisioner::builder(InMemoryStore::new(), env)
    ///     .clock(ManualClock::new(Timestamp::from_unix_millis(0)))
    ///     .config(Config::default().with_lease(Duration::from_secs(30)))
    ///     .build();
    /// assert_eq!(dps.config().lease, Duration::from_secs(30));
    /// ```
    #[cfg(feature = "system")]
    pub fn builder(store: S, env: E) -> Builder<S, E> {
        Builder {
            store,
            env,
            injected: Injected::system(),
            config: Config::default(),
            keys: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The environment.
    pub fn environment(&self) -> &E {
        &self.env
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Events after `after`, at most `limit`, oldest first.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn events(&self, after: EventCursor, limit: usize) -> Result<Vec<Event>> {
        Ok(self.store.events(after, limit).await?)
    }

    /// The injected clock's current instant.
    fn now(&self) -> Timestamp {
        self.injected.clock.now()
    }

    /// A fresh device identifier from the injected generator.
    fn new_device_id(&self) -> DeviceId {
        DeviceId::from_uuid(self.injected.ids.new_uuid())
    }

    /// A fresh group identifier from the injected generator.
    fn new_group_id(&self) -> GroupId {
        GroupId::from_uuid(self.injected.ids.new_uuid())
    }

    /// A fresh operation identifier from the injected generator.
    fn new_op(&self) -> OperationId {
        OperationId::from_uuid(self.injected.ids.new_uuid())
    }

    /// A fresh group secret for `group` from the injected secret source (32 random bytes as
    /// 64 hex digits), sealed.
    fn new_group_secret(&self, group: GroupId) -> Result<SealedSecret> {
        let mut bytes = [0u8; 32];
        self.injected.secrets.fill(&mut bytes);
        let secret = Secret::from_bytes_hex(&bytes);
        Ok(self.sealer.seal(&secret, SecretOf::Group(group))?)
    }

    /// A serial of 16 characters of Crockford base32: 9 for the injected clock's millisecond
    /// (so that serials generated later sort later, and a batch's devices land side by side
    /// in the serial index) and 7 for 35 bits from the injected secret source.
    fn generate_serial(&self) -> SerialNumber {
        let ms = u64::try_from(self.now().unix_millis()).unwrap_or(0);
        let mut bytes = [0u8; 8];
        self.injected.secrets.fill(&mut bytes);
        let random = u64::from_le_bytes(bytes);
        let text: String = (0..9)
            .rev()
            .map(|i| (ms >> (5 * i)) & 31)
            .chain((0..7).rev().map(|i| (random >> (5 * i)) & 31))
            .map(|d| char::from(GENERATED_SERIAL_ALPHABET[d as usize]))
            .collect();
        // The alphabet holds only serial characters and the length is 16.
        SerialNumber::new(text).unwrap_or_else(|_| unreachable!("generated serials are valid"))
    }

    /// When a lease taken at `now` runs out.
    fn lease_from(&self, now: Timestamp) -> Timestamp {
        now.saturating_add(self.config.lease)
    }

    /// Commits one transition.
    async fn commit(&self, transition: Transition) -> Result<()> {
        let mut cs = Changeset::with_capacity(1);
        cs.transition(transition);
        Ok(self.store_commit(cs).await?)
    }

    /// Commits `cs`, its events naming this handle's actor.
    async fn store_commit(&self, mut cs: Changeset) -> Result<(), StoreError> {
        if let Some(actor) = &self.actor {
            cs.name_actor(actor);
        }
        self.store.commit(cs).await
    }
}

/// Builds a [`Provisioner`] from the system defaults and what it is given; see
/// [`Provisioner::builder`].
#[cfg(feature = "system")]
#[derive(Debug)]
#[must_use]
pub struct Builder<S, E> {
    store: S,
    env: E,
    injected: Injected,
    config: Config,
    keys: Option<Arc<dyn KeyProvider>>,
}

#[cfg(feature = "system")]
impl<S: Store, E: Environment> Builder<S, E> {
    /// Seals and opens secrets with `keys`; see [`Provisioner::with_keys`].
    pub fn keys(mut self, keys: impl KeyProvider) -> Self {
        self.keys = Some(Arc::new(keys));
        self
    }

    /// Reads the time from `clock`.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.injected.clock = Arc::new(clock);
        self
    }

    /// Takes new identifiers from `ids`.
    pub fn ids(mut self, ids: impl IdGen + 'static) -> Self {
        self.injected.ids = Arc::new(ids);
        self
    }

    /// Takes secrets and generated serials from `secrets`.
    pub fn secrets(mut self, secrets: impl SecretSource + 'static) -> Self {
        self.injected.secrets = Arc::new(secrets);
        self
    }

    /// Uses `config`.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The provisioner.
    pub fn build(self) -> Provisioner<S, E> {
        let dps = Provisioner::with_parts(self.store, self.env, self.injected, self.config);
        match self.keys {
            Some(keys) => dps.with_keys(keys),
            None => dps,
        }
    }
}
