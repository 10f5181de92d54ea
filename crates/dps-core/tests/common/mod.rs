//! Shared set-up for the Provisioner tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use dps_core::{
    Config, Injected, NewDevice, NewGroup, Provisioner, RegistrationGroup, SerialNumber, Target,
    inject::ManualClock, inject::SeededSecrets, inject::SequentialIds,
};
use dps_store_memory::InMemoryStore;
use dps_testkit::{EPOCH, FakeEnvironment, Fixtures};

pub type Dps = Provisioner<Arc<InMemoryStore>, Arc<FakeEnvironment>>;

pub struct World {
    pub dps: Dps,
    pub store: Arc<InMemoryStore>,
    pub env: Arc<FakeEnvironment>,
    pub clock: Arc<ManualClock>,
}

pub fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let env = Arc::new(FakeEnvironment::new());
    env.add_target(&Fixtures::target(), &["m1", "m2"]);
    env.add_target(&Fixtures::other_target(), &["m1"]);
    let clock = Arc::new(ManualClock::new(EPOCH));
    let injected = Injected {
        clock: clock.clone(),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(42)),
    };
    let dps = Provisioner::with_parts(
        Arc::clone(&store),
        Arc::clone(&env),
        injected,
        Config::default(),
    )
    .with_keys(dps_testkit::test_keys());
    World {
        dps,
        store,
        env,
        clock,
    }
}

pub fn sn(s: &str) -> SerialNumber {
    s.parse().unwrap()
}

pub fn group_settings() -> NewGroup {
    let mut g = NewGroup::new("building".parse().unwrap());
    g.default_target = Some(Fixtures::target());
    g
}

pub async fn group_with(w: &World, settings: NewGroup, serials: &[&str]) -> RegistrationGroup {
    let group = w.dps.create_group(settings).await.unwrap();
    for s in serials {
        w.dps
            .register(group.id(), NewDevice::new(sn(s), "m1".parse().unwrap()))
            .await
            .unwrap();
    }
    group
}

pub fn target(s: &str) -> Target {
    s.parse().unwrap()
}
