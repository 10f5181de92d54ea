//! Batches call an environment that takes many calls at once (`Environment::batch_limit`
//! above one) with `*_many` calls: by kind and target, in chunks of at most the limit, each
//! device with its own operation ID and result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dps_core::inject::{ManualClock, SeededSecrets, SequentialIds};
use dps_core::state::AllocationStatus;
use dps_core::{
    AssetId, Config, Credentials, DeviceQuery, Endpoints, Environment, EnvironmentError, Injected,
    ModelId, NewDevice, NewGroup, NewSerial, OffboardCall, OnboardCall, OnboardRequest, Onboarded,
    OperationId, Provisioner, ReissueCall, ReplaceRequest, Selection, SerialNumber, Target,
};
use dps_store_memory::InMemoryStore;
use dps_testkit::{CallKind, EPOCH, FakeEnvironment};

/// A `*_many` call as the environment saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Many {
    kind: CallKind,
    target: Target,
    ops: Vec<OperationId>,
}

/// A [`FakeEnvironment`] that takes up to `limit` calls at once, logs each `*_many` call and,
/// while `short` is set, leaves the last answer of each one out.
#[derive(Debug)]
struct Batching {
    inner: FakeEnvironment,
    limit: usize,
    many: Mutex<Vec<Many>>,
    short: AtomicBool,
}

impl Batching {
    fn new(limit: usize, targets: &[&Target]) -> Self {
        let inner = FakeEnvironment::new();
        for target in targets {
            inner.add_target(target, &["m1"]);
        }
        Self {
            inner,
            limit,
            many: Mutex::new(Vec::new()),
            short: AtomicBool::new(false),
        }
    }

    fn many(&self) -> Vec<Many> {
        self.many.lock().unwrap().clone()
    }

    fn log<T>(
        &self,
        kind: CallKind,
        target: &Target,
        ops: Vec<OperationId>,
        mut results: Vec<T>,
    ) -> Vec<T> {
        self.many.lock().unwrap().push(Many {
            kind,
            target: target.clone(),
            ops,
        });
        if self.short.load(Ordering::SeqCst) {
            results.pop();
        }
        results
    }
}

#[async_trait]
impl Environment for Batching {
    async fn model_exists(&self, t: &Target, m: &ModelId) -> Result<bool, EnvironmentError> {
        self.inner.model_exists(t, m).await
    }
    async fn onboard(
        &self,
        op: OperationId,
        t: &Target,
        d: &OnboardRequest,
    ) -> Result<Onboarded, EnvironmentError> {
        self.inner.onboard(op, t, d).await
    }
    async fn offboard(
        &self,
        op: OperationId,
        t: &Target,
        a: &AssetId,
    ) -> Result<(), EnvironmentError> {
        self.inner.offboard(op, t, a).await
    }
    async fn reissue(
        &self,
        op: OperationId,
        t: &Target,
        a: &AssetId,
        s: &SerialNumber,
    ) -> Result<Credentials, EnvironmentError> {
        self.inner.reissue(op, t, a, s).await
    }
    async fn endpoints(&self, t: &Target) -> Result<Endpoints, EnvironmentError> {
        self.inner.endpoints(t).await
    }
    fn batch_limit(&self, _: &Target) -> usize {
        self.limit
    }
    async fn onboard_many(
        &self,
        t: &Target,
        calls: &[OnboardCall],
    ) -> Vec<Result<Onboarded, EnvironmentError>> {
        let mut results = Vec::new();
        for c in calls {
            results.push(self.inner.onboard(c.op, t, &c.device).await);
        }
        self.log(
            CallKind::Onboard,
            t,
            calls.iter().map(|c| c.op).collect(),
            results,
        )
    }
    async fn offboard_many(
        &self,
        t: &Target,
        calls: &[OffboardCall],
    ) -> Vec<Result<(), EnvironmentError>> {
        let mut results = Vec::new();
        for c in calls {
            results.push(self.inner.offboard(c.op, t, &c.asset_id).await);
        }
        self.log(
            CallKind::Offboard,
            t,
            calls.iter().map(|c| c.op).collect(),
            results,
        )
    }
    async fn reissue_many(
        &self,
        t: &Target,
        calls: &[ReissueCall],
    ) -> Vec<Result<Credentials, EnvironmentError>> {
        let mut results = Vec::new();
        for c in calls {
            results.push(
                self.inner
                    .reissue(c.op, t, &c.asset_id, &c.new_serial)
                    .await,
            );
        }
        self.log(
            CallKind::Reissue,
            t,
            calls.iter().map(|c| c.op).collect(),
            results,
        )
    }
}

fn target(s: &str) -> Target {
    s.parse().unwrap()
}

fn sn(i: usize) -> SerialNumber {
    format!("SN-{i:03}").parse().unwrap()
}

type Dps = Provisioner<Arc<InMemoryStore>, Arc<Batching>>;

/// A group of `n` devices whose default target is `prod/acme`; devices whose index is in
/// `elsewhere` have their own target, `lab/acme`.
async fn setup(env: Arc<Batching>, n: usize, elsewhere: &[usize]) -> (Dps, dps_core::GroupId) {
    let injected = Injected {
        clock: Arc::new(ManualClock::new(EPOCH)),
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(1)),
    };
    let config = Config::default().with_page_size(10);
    let dps = Provisioner::with_parts(Arc::new(InMemoryStore::new()), env, injected, config)
        .with_keys(dps_testkit::test_keys());
    let mut settings = NewGroup::new("g".parse().unwrap());
    settings.default_target = Some(target("prod/acme"));
    let group = dps.create_group(settings).await.unwrap();
    for i in 0..n {
        let mut device = NewDevice::new(sn(i), "m1".parse().unwrap());
        if elsewhere.contains(&i) {
            device.target = Some(target("lab/acme"));
        }
        dps.register(group.id(), device).await.unwrap();
    }
    (dps, group.id())
}

#[tokio::test]
async fn a_page_goes_to_the_environment_in_chunks_by_kind_and_target() {
    let (prod, lab) = (target("prod/acme"), target("lab/acme"));
    let env = Arc::new(Batching::new(3, &[&prod, &lab]));
    // 25 devices in pages of 10; devices 0, 1 and 2 go to the lab.
    let (dps, group) = setup(Arc::clone(&env), 25, &[0, 1, 2]).await;

    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert_eq!(report.succeeded(), 25);
    let many = env.many();
    assert!(many.iter().all(|m| m.kind == CallKind::Onboard));
    assert!(
        many.iter().all(|m| (2..=3).contains(&m.ops.len())),
        "{many:?}"
    );
    let lab_ops: usize = many
        .iter()
        .filter(|m| m.target == lab)
        .map(|m| m.ops.len())
        .sum();
    assert_eq!(lab_ops, 3, "the lab's devices go to the lab");
    let singles = env.inner.calls_of(CallKind::Onboard).len()
        - many.iter().map(|m| m.ops.len()).sum::<usize>();
    // Pages of 10 hold 7, 10 and 5 prod devices: chunks 3+3+1, 3+3+3+1, 3+2.
    assert_eq!(singles, 2, "a chunk of one is a single call");
    for device in dps
        .devices(&DeviceQuery::group(group), None, 100)
        .await
        .unwrap()
        .items
    {
        assert_eq!(device.status(), AllocationStatus::Allocated);
        let want = if ["SN-000", "SN-001", "SN-002"].contains(&device.serial().as_str()) {
            &lab
        } else {
            &prod
        };
        assert_eq!(device.state().allocated().unwrap().target(), want);
    }

    let ops: Vec<OperationId> = many.iter().flat_map(|m| m.ops.clone()).collect();
    let mut unique = ops.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ops.len(), "each operation is called once");
}

#[tokio::test]
async fn reset_and_replace_use_the_batch_forms_of_offboard_and_reissue() {
    let prod = target("prod/acme");
    let env = Arc::new(Batching::new(4, &[&prod]));
    let (dps, group) = setup(Arc::clone(&env), 8, &[]).await;
    assert!(
        dps.allocate(group, &Selection::all())
            .await
            .unwrap()
            .all_succeeded()
    );

    let replacements = (0..4)
        .map(|i| {
            let request = ReplaceRequest {
                new_serial: NewSerial::Given(format!("NEW-{i}").parse().unwrap()),
                batch_tag: "b".parse().unwrap(),
                description: None,
            };
            (sn(i), request)
        })
        .collect();
    let report = dps.replace_many(group, replacements).await.unwrap();
    assert!(report.all_succeeded(), "{report:?}");
    let reissues: Vec<Many> = env
        .many()
        .into_iter()
        .filter(|m| m.kind == CallKind::Reissue)
        .collect();
    assert_eq!(reissues.len(), 1);
    assert_eq!(reissues[0].ops.len(), 4);

    let report = dps.reset(group, &Selection::all()).await.unwrap();
    assert_eq!(report.succeeded(), 8);
    let offboards: Vec<usize> = env
        .many()
        .into_iter()
        .filter(|m| m.kind == CallKind::Offboard)
        .map(|m| m.ops.len())
        .collect();
    assert_eq!(offboards, [4, 4]);
    assert!(env.inner.assets().is_empty(), "every asset is gone");
}

#[tokio::test]
async fn a_missing_answer_leaves_its_device_pending_for_recover() {
    let prod = target("prod/acme");
    let env = Arc::new(Batching::new(5, &[&prod]));
    let (dps, group) = setup(Arc::clone(&env), 10, &[]).await;
    env.short.store(true, Ordering::SeqCst);

    let report = dps.allocate(group, &Selection::all()).await.unwrap();
    assert_eq!(
        report.succeeded(),
        8,
        "two chunks of five, one answer short each"
    );
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err())
        .collect();
    assert_eq!(failed.len(), 2);
    for e in failed {
        assert_eq!(e.code(), "environment_unavailable");
        assert!(e.to_string().contains("fewer than the 5 calls"), "{e}");
    }

    env.short.store(false, Ordering::SeqCst);
    let recovered = dps.recover().await.unwrap();
    assert_eq!(recovered.completed.succeeded(), 2);
    let devices = dps
        .devices(&DeviceQuery::group(group), None, 100)
        .await
        .unwrap()
        .items;
    assert!(
        devices
            .iter()
            .all(|d| d.status() == AllocationStatus::Allocated)
    );
    assert_eq!(env.inner.assets().len(), 10, "one asset per device");
}

#[tokio::test]
async fn an_environment_without_batches_gets_single_calls() {
    let prod = target("prod/acme");
    let env = Arc::new(Batching::new(1, &[&prod]));
    let (dps, group) = setup(Arc::clone(&env), 12, &[]).await;
    assert_eq!(
        dps.allocate(group, &Selection::all())
            .await
            .unwrap()
            .succeeded(),
        12
    );
    assert!(env.many().is_empty());
    assert_eq!(env.inner.calls_of(CallKind::Onboard).len(), 12);
}
