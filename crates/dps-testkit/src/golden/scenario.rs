//! The scenario itself.

use std::sync::Arc;
use std::time::Duration;

use dps_core::{
    Atomicity, Changeset, Config, Device, DeviceEdit, GroupEdit, GroupId, Injected, ModelType,
    NewDevice, NewGroup, NewSerial, OperationId, Provisioner, RegistrationGroup, ReplaceRequest,
    ReprovisionMethod, Selection, Store, Uuid, attribute::AttributeDef, attribute::AttributeSchema,
    attribute::AttributeType, attribute::AttributeValue, bootstrap::BootstrapClaims,
    bootstrap::BootstrapConfig, bootstrap::BootstrapRequest, bootstrap::SecretRotation,
    inject::Clock, inject::ManualClock, inject::SeededSecrets, inject::SequentialIds,
};

use crate::{CallKind, EPOCH, FakeEnvironment, Fault, Fixtures};

/// Parses a value that the scenario spells out literally.
fn p<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .unwrap_or_else(|e| panic!("scenario literal {s:?} does not parse: {e}"))
}

/// The scenario's provisioner, clock and environment.
struct Run<S: Store + ?Sized> {
    dps: Provisioner<Arc<S>, Arc<FakeEnvironment>>,
    clock: Arc<ManualClock>,
    env: Arc<FakeEnvironment>,
}

impl<S: Store + ?Sized> Run<S> {
    /// Moves the clock on by a second, so that every step has its own instant.
    fn tick(&self) {
        self.clock.advance(Duration::from_secs(1));
    }

    async fn register(&self, group: &RegistrationGroup, new: NewDevice) -> Device {
        self.tick();
        self.dps
            .register(group.id(), new)
            .await
            .unwrap_or_else(|e| panic!("register: {e}"))
    }

    async fn register_serial(&self, group: &RegistrationGroup, serial: &str) -> Device {
        self.register(group, NewDevice::new(p(serial), p("m1")))
            .await
    }

    /// Allocates the one device `serial`; `ok` says whether it is expected to succeed.
    async fn allocate(&self, group: &RegistrationGroup, serial: &str, ok: bool) {
        self.tick();
        let report = self
            .dps
            .allocate(group.id(), &Selection::Serials(vec![p(serial)]))
            .await
            .unwrap_or_else(|e| panic!("allocate {serial}: {e}"));
        assert_eq!(report.all_succeeded(), ok, "allocate {serial}: {report:?}");
    }

    async fn reset(&self, group: &RegistrationGroup, serial: &str, ok: bool) {
        self.tick();
        let report = self
            .dps
            .reset(group.id(), &Selection::Serials(vec![p(serial)]))
            .await
            .unwrap_or_else(|e| panic!("reset {serial}: {e}"));
        assert_eq!(report.all_succeeded(), ok, "reset {serial}: {report:?}");
    }

    async fn delete(&self, group: &RegistrationGroup, serial: &str, ok: bool) {
        self.tick();
        let report = self
            .dps
            .delete(group.id(), &Selection::Serials(vec![p(serial)]))
            .await
            .unwrap_or_else(|e| panic!("delete {serial}: {e}"));
        assert_eq!(report.all_succeeded(), ok, "delete {serial}: {report:?}");
    }

    async fn replace(&self, group: &RegistrationGroup, serial: &str, request: ReplaceRequest) {
        self.tick();
        let result = self.dps.replace(group.id(), &p(serial), request).await;
        if let Err(e) = result
            && !e.is_retryable()
        {
            panic!("replace {serial}: {e}");
        }
    }

    /// Sends a bootstrap request signed as the device would; the answer does not matter.
    async fn bootstrap_signed(&self, claims: BootstrapClaims) {
        self.tick();
        let request = self
            .dps
            .sign_as_device(claims)
            .await
            .unwrap_or_else(|e| panic!("sign: {e}"));
        let _ = self.dps.bootstrap(&request).await;
    }

    fn claims(&self, group: &RegistrationGroup, serial: &str) -> BootstrapClaims {
        BootstrapClaims::new(group.id(), p(serial), self.clock.now().unix_seconds() + 1)
    }
}

/// The attribute schema with every attribute type, required and optional attributes, with
/// and without defaults.
fn full_schema() -> AttributeSchema {
    AttributeSchema::new(vec![
        AttributeDef::new(p("floor"), AttributeType::Integer)
            .required()
            .with_default(AttributeValue::Integer(0)),
        AttributeDef::new(p("room"), AttributeType::String { max_len: 16 }),
        AttributeDef {
            id: p("color"),
            name: p("Colour"),
            ty: AttributeType::Enum {
                items: vec!["red".into(), "blue".into()],
            },
            required: true,
            default: Some(AttributeValue::Enum("red".into())),
        },
        AttributeDef::new(p("installed"), AttributeType::Date)
            .with_default(AttributeValue::Date(p("2026-01-01"))),
        AttributeDef::new(p("rack"), AttributeType::Integer),
    ])
    .unwrap_or_else(|e| panic!("scenario schema: {e}"))
}

/// A device of the full-schema group with every optional field set.
fn full_device(serial: &str) -> NewDevice {
    let mut new = NewDevice::new(p(serial), p("m1"));
    new.name = Some(p("Boiler room"));
    new.timezone = Some(p("+01:00"));
    new.batch_tag = Some(p("b1"));
    new.description = Some(p("Every field set"));
    new.target = Some(Fixtures::other_target());
    new.attributes = [
        (p("floor"), AttributeValue::Integer(3)),
        (p("room"), AttributeValue::String("4.12".into())),
        (p("color"), AttributeValue::Enum("blue".into())),
        (p("installed"), AttributeValue::Date(p("2026-01-15"))),
        (p("rack"), AttributeValue::Integer(-7)),
    ]
    .into();
    new
}

/// Runs the golden scenario on `store`, which must be empty.
///
/// Everything is deterministic: the clock is a [`ManualClock`] from [`EPOCH`], identifiers
/// come from [`SequentialIds`], secrets from [`SeededSecrets`], the environment is a
/// [`FakeEnvironment`] with faults injected at fixed calls, and batches run one device at a
/// time. The same scenario therefore leaves the same records in every store.
///
/// It leaves behind:
///
/// - groups with every setting (default target, private model, each reprovision method,
///   auto-activation, a schema with every attribute type), one with all defaults, one edited,
///   one deleted, secrets rotated gracefully (previous secret kept) and immediately;
/// - devices not allocated (fresh, reprovisioned, after a rejected and a failed allocation),
///   allocated (bootstrapped or not, auto-activated at bootstrap, replaced twice, after a
///   rejected reset), pending each action (allocate, reset, replace, delete) after a
///   transient environment failure, pending after a second attempt, pending under an
///   unexpired lease, with every optional field set and with none, with attribute values of
///   each type, the same serial in two groups and a bulk import;
/// - events of every kind.
///
/// # Panics
///
/// When a step does not go as scripted, which means the domain changed its behaviour.
pub async fn scenario<S: Store + ?Sized>(store: Arc<S>) {
    let clock = Arc::new(ManualClock::new(EPOCH));
    let env = Arc::new(FakeEnvironment::new());
    env.add_target(&Fixtures::target(), &["m1", "m2"]);
    env.add_target(&Fixtures::other_target(), &["m1"]);
    let injected = Injected {
        clock: Arc::clone(&clock) as Arc<dyn Clock>,
        ids: Arc::new(SequentialIds::new(1)),
        secrets: Arc::new(SeededSecrets::new(42)),
    };
    // One device at a time: the history the first release wrote, which its fixtures hold
    // (a larger page commits a batch's intents before its results, another event order).
    let config = Config::default()
        .with_concurrency(1)
        .with_page_size(1)
        .with_bootstrap(BootstrapConfig::default().with_refusal_events_per_minute(1));
    let run = Run {
        // Sealing takes its nonces from a source of its own, so that the injected one hands
        // out the same secrets and serials as when the first release wrote its fixtures.
        dps: Provisioner::with_parts(Arc::clone(&store), Arc::clone(&env), injected, config)
            .with_sealer(crate::test_sealer()),
        clock,
        env,
    };
    let groups = groups(&run).await;
    full_group_devices(&run, &groups.full).await;
    changed_devices(&run, &groups.full).await;
    pending_devices(&run, &groups.full).await;
    other_group_devices(&run, &groups).await;
    refusals(&run, &groups.full).await;
    run.tick();
    run.dps
        .rotate_group_secret(groups.full.id(), SecretRotation::Graceful)
        .await
        .unwrap_or_else(|e| panic!("rotate: {e}"));
    run.tick();
    run.dps
        .rotate_group_secret(groups.disabled.id(), SecretRotation::Immediate)
        .await
        .unwrap_or_else(|e| panic!("rotate: {e}"));
}

struct Groups {
    full: RegistrationGroup,
    lab: RegistrationGroup,
    disabled: RegistrationGroup,
    plain: RegistrationGroup,
}

async fn create<S: Store + ?Sized>(run: &Run<S>, new: NewGroup) -> RegistrationGroup {
    run.tick();
    run.dps
        .create_group(new)
        .await
        .unwrap_or_else(|e| panic!("create group: {e}"))
}

async fn groups<S: Store + ?Sized>(run: &Run<S>) -> Groups {
    let mut full = NewGroup::new(p("Building 7"));
    full.description = Some(p("Every setting set"));
    full.default_target = Some(Fixtures::target());
    full.model_type = ModelType::Private;
    full.reprovision = ReprovisionMethod::Initialize;
    full.auto_activation = true;
    full.attributes = full_schema();
    let full = create(run, full).await;

    let lab = create(run, NewGroup::new(p("Lab"))).await;
    run.tick();
    let edit = GroupEdit {
        description: Some(Some(p("Edited once"))),
        default_target: Some(Some(Fixtures::other_target())),
        ..GroupEdit::default()
    };
    let lab = run
        .dps
        .edit_group(lab.id(), edit)
        .await
        .unwrap_or_else(|e| panic!("edit group: {e}"));

    let mut disabled = NewGroup::new(p("No reset"));
    disabled.reprovision = ReprovisionMethod::Disabled;
    disabled.default_target = Some(Fixtures::target());
    let disabled = create(run, disabled).await;

    let plain = create(run, NewGroup::new(p("Plain"))).await;

    let temporary = create(run, NewGroup::new(p("Temporary"))).await;
    run.tick();
    run.dps
        .delete_group(temporary.id(), false)
        .await
        .unwrap_or_else(|e| panic!("delete group: {e}"));
    Groups {
        full,
        lab,
        disabled,
        plain,
    }
}

/// Settled devices of the full-schema group.
async fn full_group_devices<S: Store + ?Sized>(run: &Run<S>, g: &RegistrationGroup) {
    // Every field set, allocated to its own target, bootstrapped.
    run.register(g, full_device("SN-FULL")).await;
    run.allocate(g, "SN-FULL", true).await;
    run.bootstrap_signed(run.claims(g, "SN-FULL")).await;

    // Only the required fields; the schema's defaults filled in; never allocated.
    run.register_serial(g, "SN-MIN").await;

    // Allocated by its first bootstrap (auto-activation), which also names it.
    run.register_serial(g, "SN-AUTO").await;
    let claims = run
        .claims(g, "SN-AUTO")
        .with_name(p("Reported name"))
        .with_timezone(p("-05:30"));
    run.bootstrap_signed(claims).await;

    // Allocated, then reset: reprovisioned, attributes back to the defaults.
    let mut new = NewDevice::new(p("SN-RESET"), p("m2"));
    new.attributes
        .insert(p("room"), AttributeValue::String("lobby".into()));
    run.register(g, new).await;
    run.allocate(g, "SN-RESET", true).await;
    run.reset(g, "SN-RESET", true).await;

    // The environment rejects the allocation.
    run.register_serial(g, "SN-REJECT").await;
    run.env.fail_next(CallKind::Onboard, Fault::Rejected);
    run.allocate(g, "SN-REJECT", false).await;

    // The model does not exist in the target: refused before the environment is asked.
    run.register(g, NewDevice::new(p("SN-NOMODEL"), p("m9")))
        .await;
    run.allocate(g, "SN-NOMODEL", false).await;

    // Allocated, then the environment rejects the reset: still allocated, with the error.
    run.register_serial(g, "SN-OPFAIL").await;
    run.allocate(g, "SN-OPFAIL", true).await;
    run.env.fail_next(CallKind::Offboard, Fault::Rejected);
    run.reset(g, "SN-OPFAIL", false).await;
}

/// Devices of the full-schema group that were replaced, deleted or edited.
async fn changed_devices<S: Store + ?Sized>(run: &Run<S>, g: &RegistrationGroup) {
    // Replaced twice: a replacement history of two.
    run.register_serial(g, "SN-REPL").await;
    run.allocate(g, "SN-REPL", true).await;
    let first = ReplaceRequest {
        new_serial: NewSerial::Given(p("SN-REPL-2")),
        batch_tag: p("rma-1"),
        description: Some(p("First swap")),
    };
    run.replace(g, "SN-REPL", first).await;
    let second = ReplaceRequest {
        new_serial: NewSerial::Given(p("SN-REPL-3")),
        batch_tag: p("rma-2"),
        description: None,
    };
    run.replace(g, "SN-REPL-2", second).await;

    // Deleted at once (not allocated), and deleted after offboarding.
    run.register_serial(g, "SN-DEL-NOW").await;
    run.delete(g, "SN-DEL-NOW", true).await;
    run.register_serial(g, "SN-DEL-OFF").await;
    run.allocate(g, "SN-DEL-OFF", true).await;
    run.delete(g, "SN-DEL-OFF", true).await;

    // Edited: one field cleared, one set, one attribute removed and one changed.
    run.register(g, full_device("SN-EDIT")).await;
    run.tick();
    let mut edit = DeviceEdit {
        name: Some(None),
        description: Some(Some(p("Edited"))),
        ..DeviceEdit::default()
    };
    edit.attributes.insert(p("rack"), None);
    edit.attributes
        .insert(p("floor"), Some(AttributeValue::Integer(12)));
    run.dps
        .edit_device(g.id(), &p("SN-EDIT"), &edit)
        .await
        .unwrap_or_else(|e| panic!("edit device: {e}"));
}

/// Pending devices of the full-schema group, and the recovery of two others.
async fn pending_devices<S: Store + ?Sized>(run: &Run<S>, g: &RegistrationGroup) {
    // Two deferred allocations, recovered: one fails again, one completes.
    for serial in ["SN-RETRY", "SN-RECOVER"] {
        run.register_serial(g, serial).await;
        run.env.fail_next(CallKind::Onboard, Fault::Transient);
        run.allocate(g, serial, false).await;
    }
    run.tick();
    run.env.fail_next(CallKind::Onboard, Fault::Transient);
    run.dps
        .recover()
        .await
        .unwrap_or_else(|e| panic!("recover: {e}"));

    // Pending each action after a transient failure: lease released, error recorded.
    run.register_serial(g, "SN-P-ALLOC").await;
    run.env.fail_next(CallKind::Onboard, Fault::Transient);
    run.allocate(g, "SN-P-ALLOC", false).await;

    run.register_serial(g, "SN-P-RESET").await;
    run.allocate(g, "SN-P-RESET", true).await;
    run.env.fail_next(CallKind::Offboard, Fault::Transient);
    run.reset(g, "SN-P-RESET", false).await;

    run.register_serial(g, "SN-P-REPL").await;
    run.allocate(g, "SN-P-REPL", true).await;
    run.env.fail_next(CallKind::Reissue, Fault::Transient);
    let request = ReplaceRequest {
        new_serial: NewSerial::Given(p("SN-P-REPL-NEW")),
        batch_tag: p("rma-3"),
        description: Some(p("Swap in progress")),
    };
    run.replace(g, "SN-P-REPL", request).await;

    run.register_serial(g, "SN-P-DEL").await;
    run.allocate(g, "SN-P-DEL", true).await;
    run.env
        .fail_next(CallKind::Offboard, Fault::TransientAfterApply);
    run.delete(g, "SN-P-DEL", false).await;

    // Pending under a lease that has not run out, as a driver that stopped mid-operation
    // leaves it.
    let device = run.register_serial(g, "SN-LEASE").await;
    run.tick();
    let now = run.clock.now();
    let op = OperationId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
    let lease_until = now.saturating_add(Duration::from_secs(3600));
    let begun = dps_core::lifecycle::begin_allocate(&device, g, op, now, lease_until)
        .unwrap_or_else(|e| panic!("begin allocate: {e}"));
    let mut cs = Changeset::new();
    cs.transition(begun.intent);
    run.dps
        .store()
        .commit(cs)
        .await
        .unwrap_or_else(|e| panic!("commit: {e}"));
}

/// Devices of the other groups.
async fn other_group_devices<S: Store + ?Sized>(run: &Run<S>, groups: &Groups) {
    // Migrate on reset: attributes kept, event says not initialized.
    run.register_serial(&groups.lab, "SN-LAB").await;
    run.allocate(&groups.lab, "SN-LAB", true).await;
    run.reset(&groups.lab, "SN-LAB", true).await;
    // The same serial as in the full-schema group.
    run.register_serial(&groups.lab, "SN-MIN").await;

    run.register_serial(&groups.disabled, "SN-D1").await;
    run.allocate(&groups.disabled, "SN-D1", true).await;

    // A bulk import, large enough for the backends' bulk write paths.
    run.tick();
    let bulk = (0..40)
        .map(|i| {
            let mut new = NewDevice::new(p(&format!("SN-BULK-{i:03}")), p("m1"));
            new.batch_tag = Some(p("bulk"));
            new
        })
        .collect();
    let report = run
        .dps
        .register_many(groups.plain.id(), bulk, Atomicity::AllOrNothing)
        .await
        .unwrap_or_else(|e| panic!("register many: {e}"));
    assert_eq!(report.registered(), 40, "bulk import: {report:?}");
}

/// Refused bootstrap requests, one of each reason, two of them counted but not recorded.
async fn refusals<S: Store + ?Sized>(run: &Run<S>, g: &RegistrationGroup) {
    let minute = Duration::from_secs(61);
    run.tick();
    let unknown = GroupId::from_uuid(Uuid::from_u128(0xdead_beef));
    let request = BootstrapRequest {
        claims: BootstrapClaims::new(unknown, p("SN-GHOST"), run.clock.now().unix_seconds()),
        signature: "A".repeat(43) + "=",
    };
    let _ = run.dps.bootstrap(&request).await;
    // Within the same minute: counted, not recorded.
    let forged = BootstrapRequest {
        claims: run.claims(g, "SN-FULL"),
        signature: "B".repeat(43) + "=",
    };
    let _ = run.dps.bootstrap(&forged).await;
    run.bootstrap_signed(run.claims(g, "SN-NOBODY")).await;

    run.clock.advance(minute);
    let now = run.clock.now().unix_seconds();
    run.bootstrap_signed(BootstrapClaims::new(g.id(), p("SN-FULL"), now - 3600))
        .await;
    run.clock.advance(minute);
    let _ = run.dps.bootstrap(&forged).await;
    run.clock.advance(minute);
    run.bootstrap_signed(run.claims(g, "SN-NOBODY")).await;
}
