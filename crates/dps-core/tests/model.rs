//! Model-based test: random operation sequences with injected environment faults, run
//! against the Provisioner (in-memory store, fake environment) and a plain reference model.
//! After every step both agree and the invariants hold.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;
use dps_core::{
    DeviceEdit, DeviceQuery, Error, EventCursor, NewDevice, NewSerial, RegistrationGroup,
    ReplaceRequest, Selection, SerialNumber, Target, lifecycle::Outcome, state::AllocationStatus,
};
use dps_testkit::{CallKind, Fault, Fixtures};
use proptest::prelude::*;

const SERIALS: &[&str] = &["S0", "S1", "S2", "S3", "S4", "S5"];

#[derive(Debug, Clone)]
enum Op {
    Register(usize),
    Edit(usize, Option<bool>),
    Allocate(usize),
    Reset(usize),
    Replace(usize, usize),
    Delete(usize),
    Recover,
    Fault(CallKind, Fault),
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0..SERIALS.len();
    let kind = prop_oneof![
        Just(CallKind::ModelExists),
        Just(CallKind::Onboard),
        Just(CallKind::Offboard),
        Just(CallKind::Reissue),
    ];
    let fault = prop_oneof![
        Just(Fault::Transient),
        Just(Fault::Rejected),
        Just(Fault::TransientAfterApply),
    ];
    prop_oneof![
        3 => idx.clone().prop_map(Op::Register),
        1 => (idx.clone(), proptest::option::of(any::<bool>())).prop_map(|(i, t)| Op::Edit(i, t)),
        3 => idx.clone().prop_map(Op::Allocate),
        2 => idx.clone().prop_map(Op::Reset),
        2 => (idx.clone(), idx.clone()).prop_map(|(a, b)| Op::Replace(a, b)),
        1 => idx.prop_map(Op::Delete),
        1 => Just(Op::Recover),
        2 => (kind, fault).prop_map(|(k, f)| Op::Fault(k, f)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pend {
    Allocate,
    Reset,
    Replace,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum St {
    NotAllocated,
    Pending(Pend),
    Allocated,
}

#[derive(Debug, Clone)]
struct MDevice {
    state: St,
    own_target: Option<Target>,
    /// The serial the device had before a pending replacement.
    replaced_from: Option<String>,
    /// The target of the last completed allocation, to check reallocation.
    last_alloc: Option<(Target, String, String)>,
}

#[derive(Debug, Default)]
struct Model {
    devices: BTreeMap<String, MDevice>,
    faults: HashMap<CallKind, Vec<Fault>>,
}

impl Model {
    fn next_fault(&mut self, kind: CallKind) -> Option<Fault> {
        let q = self.faults.get_mut(&kind)?;
        (!q.is_empty()).then(|| q.remove(0))
    }

    /// The outcome code of an environment call with the next fault of `kind`: `None` when it
    /// succeeds, else whether the work was applied and the error code.
    fn env_call(&mut self, kind: CallKind) -> Option<&'static str> {
        match self.next_fault(kind) {
            None => None,
            Some(Fault::Rejected) => Some("environment_rejected"),
            Some(Fault::Transient | Fault::TransientAfterApply) => Some("environment_unavailable"),
        }
    }
}

fn code(r: &Result<Outcome, Error>) -> Option<&'static str> {
    r.as_ref().err().map(Error::code)
}

struct Harness {
    w: World,
    group: RegistrationGroup,
    model: Model,
    rt: tokio::runtime::Runtime,
}

impl Harness {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let w = world();
        let group = rt.block_on(w.dps.create_group(group_settings())).unwrap();
        Self {
            w,
            group,
            model: Model::default(),
            rt,
        }
    }

    fn device(&self, serial: &str) -> Option<dps_core::Device> {
        self.rt
            .block_on(self.w.dps.device_by_serial(self.group.id(), &sn(serial)))
            .ok()
    }

    fn resolved_target(&self, serial: &str) -> Target {
        self.model.devices[serial]
            .own_target
            .clone()
            .unwrap_or_else(Fixtures::target)
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let gid = self.group.id();
        match op {
            Op::Fault(kind, fault) => {
                self.w.env.fail_next(*kind, fault.clone());
                self.model
                    .faults
                    .entry(*kind)
                    .or_default()
                    .push(fault.clone());
            }
            Op::Register(i) => {
                let s = SERIALS[*i];
                let r = self.rt.block_on(
                    self.w
                        .dps
                        .register(gid, NewDevice::new(sn(s), "m1".parse().unwrap())),
                );
                if self.model.devices.contains_key(s) {
                    prop_assert_eq!(r.err().map(|e| e.code()), Some("already_registered"));
                } else {
                    prop_assert!(r.is_ok(), "register {}: {:?}", s, r.err());
                    self.model.devices.insert(
                        s.to_owned(),
                        MDevice {
                            state: St::NotAllocated,
                            own_target: None,
                            replaced_from: None,
                            last_alloc: None,
                        },
                    );
                }
            }
            Op::Edit(i, t) => {
                let s = SERIALS[*i];
                let target = t.map(|other| {
                    if other {
                        Fixtures::other_target()
                    } else {
                        Fixtures::target()
                    }
                });
                let edit = DeviceEdit {
                    target: Some(target.clone()),
                    ..Default::default()
                };
                let r = self.rt.block_on(self.w.dps.edit_device(gid, &sn(s), &edit));
                match self.model.devices.get_mut(s) {
                    None => prop_assert_eq!(r.err().map(|e| e.code()), Some("not_found")),
                    Some(d) if matches!(d.state, St::Pending(_)) => {
                        prop_assert_eq!(r.err().map(|e| e.code()), Some("operation_in_progress"))
                    }
                    Some(d) => {
                        prop_assert!(r.is_ok(), "edit: {:?}", r.err());
                        d.own_target = target;
                    }
                }
            }
            Op::Allocate(i) => {
                let s = SERIALS[*i];
                let report = self
                    .rt
                    .block_on(self.w.dps.allocate(gid, &Selection::Serials(vec![sn(s)])));
                let report = report.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let got = code(&report.outcomes[0].result);
                let expected = match self.model.devices.get(s).map(|d| d.state.clone()) {
                    None => Some("not_found"),
                    Some(St::Pending(_)) => Some("operation_in_progress"),
                    Some(St::Allocated) => Some("invalid_state"),
                    Some(St::NotAllocated) => match self.model.env_call(CallKind::ModelExists) {
                        Some(c) => Some(c),
                        None => {
                            let fault = self.model.next_fault(CallKind::Onboard);
                            let d = self
                                .model
                                .devices
                                .get_mut(s)
                                .unwrap_or_else(|| unreachable!());
                            match fault {
                                None => {
                                    d.state = St::Allocated;
                                    None
                                }
                                Some(Fault::Rejected) => Some("environment_rejected"),
                                Some(_) => {
                                    d.state = St::Pending(Pend::Allocate);
                                    Some("environment_unavailable")
                                }
                            }
                        }
                    },
                };
                prop_assert_eq!(got, expected, "allocate {}", s);
                if got.is_none() {
                    self.check_allocation(s)?;
                }
            }
            Op::Reset(i) => {
                let s = SERIALS[*i];
                let report = self
                    .rt
                    .block_on(self.w.dps.reset(gid, &Selection::Serials(vec![sn(s)])))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let got = code(&report.outcomes[0].result);
                let expected = match self.model.devices.get(s).map(|d| d.state.clone()) {
                    None => Some("not_found"),
                    Some(St::Pending(_)) => Some("operation_in_progress"),
                    Some(St::NotAllocated) => Some("invalid_state"),
                    Some(St::Allocated) => {
                        let fault = self.model.next_fault(CallKind::Offboard);
                        let d = self
                            .model
                            .devices
                            .get_mut(s)
                            .unwrap_or_else(|| unreachable!());
                        match fault {
                            None => {
                                d.state = St::NotAllocated;
                                None
                            }
                            Some(Fault::Rejected) => Some("environment_rejected"),
                            Some(_) => {
                                d.state = St::Pending(Pend::Reset);
                                Some("environment_unavailable")
                            }
                        }
                    }
                };
                prop_assert_eq!(got, expected, "reset {}", s);
            }
            Op::Replace(i, j) => {
                let (s, new) = (SERIALS[*i], SERIALS[*j]);
                let before = self.device(s);
                let r = self.rt.block_on(self.w.dps.replace(
                    gid,
                    &sn(s),
                    ReplaceRequest {
                        new_serial: NewSerial::Given(sn(new)),
                        batch_tag: "r".parse().unwrap(),
                        description: None,
                    },
                ));
                let got = r.as_ref().err().map(Error::code);
                let expected = match self.model.devices.get(s).map(|d| d.state.clone()) {
                    None => Some("not_found"),
                    Some(_) if self.model.devices.contains_key(new) => Some("already_registered"),
                    Some(St::Pending(_)) => Some("operation_in_progress"),
                    Some(St::NotAllocated) => Some("invalid_state"),
                    Some(St::Allocated) => {
                        let fault = self.model.next_fault(CallKind::Reissue);
                        match fault {
                            Some(Fault::Rejected) => Some("environment_rejected"),
                            other => {
                                let mut d = self
                                    .model
                                    .devices
                                    .remove(s)
                                    .unwrap_or_else(|| unreachable!());
                                let code = if other.is_none() {
                                    d.state = St::Allocated;
                                    None
                                } else {
                                    d.state = St::Pending(Pend::Replace);
                                    d.replaced_from = Some(s.to_owned());
                                    Some("environment_unavailable")
                                };
                                self.model.devices.insert(new.to_owned(), d);
                                code
                            }
                        }
                    }
                };
                prop_assert_eq!(got, expected, "replace {} -> {}", s, new);
                if let (Ok(after), Some(before)) = (&r, &before) {
                    check_replacement(before, after)?;
                }
            }
            Op::Delete(i) => {
                let s = SERIALS[*i];
                let report = self
                    .rt
                    .block_on(self.w.dps.delete(gid, &Selection::Serials(vec![sn(s)])))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let got = code(&report.outcomes[0].result);
                let expected = match self.model.devices.get(s).map(|d| d.state.clone()) {
                    None => Some("not_found"),
                    Some(St::Pending(_)) => Some("operation_in_progress"),
                    Some(St::NotAllocated) => {
                        self.model.devices.remove(s);
                        None
                    }
                    Some(St::Allocated) => match self.model.next_fault(CallKind::Offboard) {
                        None => {
                            self.model.devices.remove(s);
                            None
                        }
                        Some(Fault::Rejected) => Some("environment_rejected"),
                        Some(_) => {
                            if let Some(d) = self.model.devices.get_mut(s) {
                                d.state = St::Pending(Pend::Delete);
                            }
                            Some("environment_unavailable")
                        }
                    },
                };
                prop_assert_eq!(got, expected, "delete {}", s);
            }
            Op::Recover => {
                // A healthy environment: every pending device completes.
                self.w.env.heal();
                self.model.faults.clear();
                let report = self
                    .rt
                    .block_on(self.w.dps.recover())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(report.completed.all_succeeded(), "recover: {:?}", report);
                let pending: Vec<String> = self
                    .model
                    .devices
                    .iter()
                    .filter(|(_, d)| matches!(d.state, St::Pending(_)))
                    .map(|(s, _)| s.clone())
                    .collect();
                prop_assert_eq!(report.completed.outcomes.len(), pending.len());
                for s in pending {
                    let d = self
                        .model
                        .devices
                        .get_mut(&s)
                        .unwrap_or_else(|| unreachable!());
                    match d.state {
                        St::Pending(Pend::Allocate) => d.state = St::Allocated,
                        St::Pending(Pend::Reset) => d.state = St::NotAllocated,
                        St::Pending(Pend::Replace) => {
                            d.state = St::Allocated;
                            d.replaced_from = None;
                        }
                        St::Pending(Pend::Delete) => {
                            self.model.devices.remove(&s);
                        }
                        St::NotAllocated | St::Allocated => {}
                    }
                }
                let still = self.rt.block_on(self.w.dps.count(&DeviceQuery::new(
                    gid,
                    dps_core::DeviceFilter {
                        status: Some(AllocationStatus::Pending),
                        ..Default::default()
                    },
                )));
                prop_assert_eq!(still.ok(), Some(0), "no device stays pending after recover");
                let allocated: Vec<String> = self
                    .model
                    .devices
                    .iter()
                    .filter(|(_, d)| d.state == St::Allocated)
                    .map(|(s, _)| s.clone())
                    .collect();
                for s in allocated {
                    self.check_allocation(&s)?;
                }
            }
        }
        self.check_invariants()
    }

    /// After an allocation completes: remember its target and asset; a reallocation to
    /// another target has a new asset ID.
    fn check_allocation(&mut self, serial: &str) -> Result<(), TestCaseError> {
        let d = self
            .device(serial)
            .ok_or_else(|| TestCaseError::fail("device vanished"))?;
        let alloc = d
            .state()
            .allocated()
            .ok_or_else(|| TestCaseError::fail("not allocated"))?;
        let expected_target = self.resolved_target(serial);
        let m = self
            .model
            .devices
            .get_mut(serial)
            .ok_or_else(|| TestCaseError::fail("model lost the device"))?;
        let secret = dps_testkit::credentials(&d)
            .ok_or_else(|| TestCaseError::fail("not allocated"))?
            .device_secret
            .expose()
            .to_owned();
        let unchanged = m
            .last_alloc
            .as_ref()
            .is_some_and(|(_, asset, _)| asset == alloc.asset_id().as_str());
        if unchanged {
            // The same allocation as before (edits since do not move it).
            let (prev_target, _, _) = m.last_alloc.as_ref().unwrap_or_else(|| unreachable!());
            prop_assert_eq!(
                prev_target,
                alloc.target(),
                "same asset only in the same target"
            );
        } else {
            // A new allocation: to the target that resolves now.
            prop_assert_eq!(alloc.target(), &expected_target);
            if let Some((prev_target, _, prev_secret)) = &m.last_alloc
                && prev_target != alloc.target()
            {
                prop_assert_ne!(prev_secret, &secret, "reallocation gives a new secret");
            }
        }
        m.last_alloc = Some((alloc.target().clone(), alloc.asset_id().to_string(), secret));
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let page = self
            .rt
            .block_on(
                self.w
                    .dps
                    .devices(&DeviceQuery::group(self.group.id()), None, 1000),
            )
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let serials: Vec<String> = page.items.iter().map(|d| d.serial().to_string()).collect();
        let model_serials: Vec<String> = self.model.devices.keys().cloned().collect();
        prop_assert_eq!(
            &serials,
            &model_serials,
            "the store holds exactly the model's devices"
        );
        // Serials are unique (the listing is strictly ordered).
        prop_assert!(serials.windows(2).all(|w| w[0] < w[1]));
        let events = self
            .rt
            .block_on(self.w.dps.events(EventCursor::START, 100_000))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut per_device: HashMap<dps_core::DeviceId, u64> = HashMap::new();
        for e in &events {
            if let Some(id) = e.device_id {
                *per_device.entry(id).or_default() += 1;
            }
        }
        for d in &page.items {
            let m = &self.model.devices[d.serial().as_str()];
            let status = match m.state {
                St::NotAllocated => AllocationStatus::NotAllocated,
                St::Pending(_) => AllocationStatus::Pending,
                St::Allocated => AllocationStatus::Allocated,
            };
            prop_assert_eq!(d.status(), status, "status of {}", d.serial());
            prop_assert_eq!(
                per_device.get(&d.id()).copied().unwrap_or(0),
                d.version().get(),
                "every change of {} has exactly one event",
                d.serial()
            );
        }
        Ok(())
    }
}

fn check_replacement(
    before: &dps_core::Device,
    after: &dps_core::Device,
) -> Result<(), TestCaseError> {
    let (a, b) = (
        before
            .state()
            .allocated()
            .ok_or_else(|| TestCaseError::fail("replaced a device that was not allocated"))?,
        after
            .state()
            .allocated()
            .ok_or_else(|| TestCaseError::fail("replacement did not end allocated"))?,
    );
    prop_assert_eq!(a.asset_id(), b.asset_id(), "replace keeps the asset ID");
    prop_assert_ne!(&a.credentials().device_key, &b.credentials().device_key);
    prop_assert_ne!(
        &a.credentials().device_secret,
        &b.credentials().device_secret
    );
    prop_assert_eq!(before.id(), after.id());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_provisioner_agrees_with_the_reference_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        for op in &ops {
            h.step(op)?;
        }
        // Finally a healthy recovery leaves nothing pending.
        h.step(&Op::Recover)?;
    }
}

#[test]
fn serials_used_by_the_model_are_valid() {
    for s in SERIALS {
        assert!(s.parse::<SerialNumber>().is_ok());
    }
}
