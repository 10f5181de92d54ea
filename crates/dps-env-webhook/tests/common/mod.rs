//! A reference platform on a loopback socket, and a provisioner that reaches it through a
//! webhook.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use dps_core::state::AllocationStatus;
use dps_core::{
    Atomicity, Config, Device, DeviceQuery, Environment, GroupId, NewDevice, NewGroup, Provisioner,
    Secret, Selection, SerialNumber, Store, Target,
};
use dps_env_webhook::{WebhookEnvironment, WebhookTarget};
use dps_store_memory::InMemoryStore;
use webhook_platform::{Faults, Platform, PlatformConfig, Snapshot};

pub const SECRET: &str = "test-shared-secret-0123456789";
pub const TARGET: &str = "partner/acme";

pub type Dps = Provisioner<Arc<dyn Store>, Arc<WebhookEnvironment>>;

/// A reference platform serving on 127.0.0.1, where models `m1` and `m2` exist.
pub struct Running {
    pub platform: Platform,
    pub faults: Faults,
    pub url: String,
}

impl Running {
    pub async fn start() -> Self {
        let mut config = PlatformConfig::new(SECRET);
        config.models = vec!["m1".into(), "m2".into()];
        config.mqtt = Some("mqtts://mqtt.partner.example.com:8883".into());
        Self::start_with(config).await
    }

    pub async fn start_with(config: PlatformConfig) -> Self {
        let platform = Platform::new(config).expect("a platform");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}/", listener.local_addr().expect("its address"));
        let router = platform.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            faults: platform.faults(),
            platform,
            url,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.platform.snapshot()
    }

    /// A webhook to this platform that retries fast and never opens its circuit.
    pub fn webhook(&self) -> WebhookTarget {
        fast(WebhookTarget::new(&self.url, Secret::new(SECRET).expect("a secret")).expect("a URL"))
    }

    pub fn environment(&self, webhook: WebhookTarget) -> WebhookEnvironment {
        WebhookEnvironment::new([(target(), webhook)]).expect("an environment")
    }
}

/// `webhook`, retrying three times within milliseconds, its circuit never open.
pub fn fast(webhook: WebhookTarget) -> WebhookTarget {
    webhook
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
        .with_retries(3, Duration::from_millis(1), Duration::from_millis(5))
        .with_breaker(u32::MAX, Duration::ZERO)
}

pub fn target() -> Target {
    TARGET.parse().expect("a target")
}

pub fn serial(i: usize) -> SerialNumber {
    format!("SN-{i:05}").parse().expect("a serial")
}

/// The sealing keys of the tests' provisioners: one fixed key.
pub fn keys() -> dps_core::seal::Keys {
    let key = dps_core::seal::SealingKey::from_bytes([0x5e; 32]);
    dps_core::seal::Keys::new("test-1".parse().expect("a key ID"), key)
}

/// A provisioner over a fresh in-memory store, whose leases run out at once, with a group
/// whose default target is the platform's and `n` devices of model `m1`.
pub async fn provisioner(env: WebhookEnvironment, n: usize) -> (Dps, GroupId) {
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    let dps = Provisioner::builder(store, Arc::new(env))
        .config(Config::default().with_lease(Duration::ZERO))
        .keys(keys())
        .build();
    let group = with_devices(&dps, n).await;
    // The platform's answer is kept: the faults a test queues meet the calls that change it.
    assert!(
        dps.environment()
            .model_exists(&target(), &"m1".parse().expect("a model"))
            .await
            .expect("m1 exists")
    );
    (dps, group)
}

pub async fn with_devices(dps: &Dps, n: usize) -> GroupId {
    let mut new = NewGroup::new("lab".parse().expect("a name"));
    new.default_target = Some(target());
    let group = dps.create_group(new).await.expect("a group").id();
    let devices = (0..n)
        .map(|i| NewDevice::new(serial(i), "m1".parse().expect("a model")))
        .collect();
    let report = dps
        .register_many(group, devices, Atomicity::AllOrNothing)
        .await
        .expect("registered");
    assert_eq!(report.outcomes.len(), n);
    group
}

pub fn serials(range: std::ops::Range<usize>) -> Selection {
    Selection::Serials(range.map(serial).collect())
}

/// Every device of `group`.
pub async fn devices(dps: &Dps, group: GroupId) -> Vec<Device> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = dps
            .devices(&DeviceQuery::group(group), after, 1000)
            .await
            .expect("a page");
        all.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

pub fn count(devices: &[Device], status: AllocationStatus) -> usize {
    devices.iter().filter(|d| d.status() == status).count()
}

/// Every operation the platform applied was applied once.
pub fn applied_once(snapshot: &Snapshot) {
    for (op, times) in &snapshot.applied {
        assert_eq!(*times, 1, "operation {op} applied {times} times");
    }
}
