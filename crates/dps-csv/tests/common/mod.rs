//! Shared set-up for the dps-csv tests.
#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read};
use std::sync::Arc;

use dps_core::{
    Config, Injected, NewGroup, Provisioner, RegistrationGroup, attribute::AttributeDef,
    attribute::AttributeSchema, attribute::AttributeType, attribute::AttributeValue,
    inject::ManualClock, inject::SeededSecrets, inject::SequentialIds,
};
use dps_store_memory::InMemoryStore;
use dps_testkit::{EPOCH, FakeEnvironment, Fixtures};

pub type Dps = Provisioner<Arc<InMemoryStore>, Arc<FakeEnvironment>>;

/// A provisioner over the in-memory store and a fake environment with target `prod/acme`
/// holding models `m1` and `m2`.
pub fn dps() -> Dps {
    dps_with(Config::default())
}

pub fn dps_with(config: Config) -> Dps {
    let env = Arc::new(FakeEnvironment::new());
    env.add_target(&Fixtures::target(), &["m1", "m2"]);
    let injected = Injected {
        clock: Arc::new(ManualClock::new(EPOCH)),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(42)),
    };
    Provisioner::with_parts(Arc::new(InMemoryStore::new()), env, injected, config)
        .with_keys(dps_testkit::test_keys())
}

/// The schema of most tests: integer `floor`, string `note` (at most 200), enum `color`
/// (`red`, `blue sky`, `-low`) defaulting to `red`, and date `installed`.
pub fn schema() -> AttributeSchema {
    AttributeSchema::new(vec![
        AttributeDef::new("floor".parse().unwrap(), AttributeType::Integer),
        AttributeDef::new(
            "note".parse().unwrap(),
            AttributeType::String { max_len: 200 },
        ),
        AttributeDef::new(
            "color".parse().unwrap(),
            AttributeType::Enum {
                items: vec!["red".into(), "blue sky".into(), "-low".into()],
            },
        )
        .with_default(AttributeValue::Enum("red".into())),
        AttributeDef::new("installed".parse().unwrap(), AttributeType::Date),
    ])
    .unwrap()
}

pub async fn group(dps: &Dps, name: &str, schema: AttributeSchema) -> RegistrationGroup {
    let mut g = NewGroup::new(name.parse().unwrap());
    g.default_target = Some(Fixtures::target());
    g.attributes = schema;
    dps.create_group(g).await.unwrap()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A reader that counts the bytes it hands out.
pub struct Counting<R> {
    pub inner: R,
    pub served: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.served
            .fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
        Ok(n)
    }
}

/// `n` bytes of `b`, generated as they are read.
pub struct Repeat {
    pub byte: u8,
    pub left: u64,
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].fill(self.byte);
        self.left -= n as u64;
        Ok(n)
    }
}
