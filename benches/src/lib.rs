//! Shared set-up for the dps benchmarks: the `ratios` binary and the criterion benches.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dps_core::{
    Atomicity, Config, Injected, NewDevice, NewGroup, Provisioner, Selection, Store, Target,
    inject::OsSecrets, inject::SystemClock, inject::SystemIds,
};
use dps_env_static::{StaticConfig, StaticEnvironment, TargetConfig};
use dps_store_memory::InMemoryStore;

pub mod allocate;
pub mod csv;
pub mod http;
pub mod postgres;
pub mod qr;
pub mod sqlite;
pub mod webhook;

/// One scenario's measurement: our rate and the baseline's, in items per second.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Our rate.
    pub ours: f64,
    /// The baseline's rate.
    pub baseline: f64,
}

/// Items per second.
pub fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// The shortest of `runs` timings: the least disturbed by the rest of the machine.
pub fn best(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

/// A provisioner over the in-memory store and a static environment with one target.
pub type MemoryDps = Provisioner<InMemoryStore, StaticEnvironment>;

/// A single-threaded Tokio runtime with I/O and timers.
///
/// # Panics
///
/// When the runtime cannot be built.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build a Tokio runtime: {e}"))
}

/// The event of `device`'s change of `kind`, at its last update.
pub fn device_event(device: &dps_core::Device, kind: dps_core::EventKind) -> dps_core::NewEvent {
    dps_core::NewEvent {
        at: device.updated_at(),
        actor: None,
        group_id: device.group_id(),
        device_id: Some(device.id()),
        serial: Some(device.serial().clone()),
        kind,
    }
}

/// The target every benchmark allocates to.
///
/// # Panics
///
/// Never: the literal is valid.
pub fn target() -> Target {
    "bench/acme"
        .parse()
        .unwrap_or_else(|e| panic!("bench target: {e}"))
}

/// The static environment every benchmark allocates with: [`target`] holding model `m1`.
///
/// # Panics
///
/// Never: the literals are valid.
pub fn static_env() -> StaticEnvironment {
    let t = target();
    StaticEnvironment::new(
        StaticConfig {
            targets: vec![TargetConfig {
                environment: t.environment.clone(),
                ou: t.ou.clone(),
                models: vec!["m1".parse().unwrap_or_else(|e| panic!("{e}"))],
                mqtt_endpoint: None,
                http_endpoint: None,
            }],
        },
        Arc::new(OsSecrets),
    )
}

/// A provisioner over `store` and [`static_env`] whose new group holds `n` registered,
/// unallocated devices `SN-00000000`…; returns the group.
///
/// # Panics
///
/// When set-up fails, which is a bug in the benchmark.
pub async fn seeded_group<S: Store>(
    store: S,
    n: usize,
) -> (Provisioner<S, StaticEnvironment>, dps_core::GroupId) {
    seeded_group_with(store, static_env(), n).await
}

/// The sealing keys of every scenario: one fixed key.
pub fn keys() -> dps_core::seal::Keys {
    let id = "bench".parse().unwrap_or_else(|e| panic!("{e}"));
    dps_core::seal::Keys::new(id, dps_core::seal::SealingKey::from_bytes([0xbe; 32]))
}

/// A sealer with [`keys`], as the scenarios' provisioners have.
pub fn sealer() -> dps_core::seal::Sealer {
    dps_core::seal::Sealer::new(Arc::new(keys()), Arc::new(OsSecrets))
}

/// As [`seeded_group`], with the environment `env`, which serves [`target`] with model `m1`.
///
/// # Panics
///
/// When set-up fails, which is a bug in the benchmark.
pub async fn seeded_group_with<S: Store, E: dps_core::Environment>(
    store: S,
    env: E,
    n: usize,
) -> (Provisioner<S, E>, dps_core::GroupId) {
    let injected = Injected {
        clock: Arc::new(SystemClock),
        ids: Arc::new(SystemIds),
        secrets: Arc::new(OsSecrets),
    };
    let dps = Provisioner::with_parts(store, env, injected, Config::default()).with_keys(keys());
    let mut settings = NewGroup::new("bench".parse().unwrap_or_else(|e| panic!("{e}")));
    settings.default_target = Some(target());
    let group = dps
        .create_group(settings)
        .await
        .unwrap_or_else(|e| panic!("create group: {e}"));
    let model: dps_core::ModelId = "m1".parse().unwrap_or_else(|e| panic!("{e}"));
    let devices = (0..n)
        .map(|i| {
            let serial = format!("SN-{i:08}")
                .parse()
                .unwrap_or_else(|e| panic!("{e}"));
            NewDevice::new(serial, model.clone())
        })
        .collect();
    let report = dps
        .register_many(group.id(), devices, Atomicity::AllOrNothing)
        .await
        .unwrap_or_else(|e| panic!("register: {e}"));
    assert_eq!(report.registered(), n, "set-up registered every device");
    (dps, group.id())
}

/// A provisioner whose group holds `n` registered, unallocated devices; returns the group.
///
/// # Panics
///
/// When set-up fails, which is a bug in the benchmark.
pub async fn memory_group(n: usize) -> (MemoryDps, dps_core::GroupId) {
    seeded_group(InMemoryStore::new(), n).await
}

/// Batch-allocates every device of a fresh group of `n` devices; returns the time the
/// allocation took (set-up excluded).
///
/// # Panics
///
/// When an allocation fails, which is a bug.
pub fn time_allocate(rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    rt.block_on(async {
        let (dps, group) = memory_group(n).await;
        let start = Instant::now();
        let report = dps
            .allocate(group, &Selection::all())
            .await
            .unwrap_or_else(|e| panic!("allocate: {e}"));
        let elapsed = start.elapsed();
        assert_eq!(report.succeeded(), n, "every device was allocated");
        elapsed
    })
}
