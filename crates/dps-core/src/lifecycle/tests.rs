use uuid::Uuid;

use super::*;
use crate::attribute::AttributeSchema;
use crate::device::Device;
use crate::device::NewDevice;
use crate::environment::EnvironmentError;
use crate::group::NewGroup;
use crate::id::{DeviceId, GroupId, OperationId};
use crate::seal::SealedSecret;
use crate::secret::Secret;
use crate::state::SealedCredentials;
use crate::text::AssetId;
use crate::text::Key;

fn op(n: u128) -> OperationId {
    OperationId::from_uuid(Uuid::from_u128(n))
}

fn t(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn group() -> RegistrationGroup {
    let mut new = NewGroup::new("g".parse().unwrap());
    new.default_target = Some("prod/acme".parse().unwrap());
    new.attributes = AttributeSchema::default();
    RegistrationGroup::new(
        GroupId::from_uuid(Uuid::from_u128(1)),
        new,
        SealedSecret::clear(Secret::new("s").unwrap()),
        t(0),
    )
}

fn onboarded(asset: &str) -> EnvOutcome {
    EnvOutcome::Onboarded {
        asset_id: AssetId::new(asset).unwrap(),
        credentials: SealedCredentials {
            product_key: Key::new("pk").unwrap(),
            device_key: Key::new("dk").unwrap(),
            device_secret: SealedSecret::clear(Secret::new("s").unwrap()),
        },
    }
}

fn registered(g: &RegistrationGroup) -> Device {
    let new = NewDevice::new("SN-1".parse().unwrap(), "m".parse().unwrap());
    Device::register(DeviceId::from_uuid(Uuid::from_u128(2)), g, new, t(0)).unwrap()
}

fn settled(s: Settlement) -> Device {
    assert!(s.result.is_ok(), "{:?}", s.result);
    s.transition.device().cloned().unwrap()
}

fn allocated(g: &RegistrationGroup) -> Device {
    let begun = begin_allocate(&registered(g), g, op(1), t(0), t(10)).unwrap();
    let answer = Ok(onboarded("a1"));
    settled(begun.pending.settle(g, answer, t(1)).unwrap())
}

#[test]
fn allocate_then_reset_round_trips_to_not_allocated() {
    let g = group();
    let a = allocated(&g);
    assert_eq!(a.status(), AllocationStatus::Allocated);
    let begun = begin_reset(&a, &g, op(2), t(2), t(12)).unwrap();
    assert!(matches!(begun.pending.call(), EnvCall::Offboard { .. }));
    let n = settled(
        begun
            .pending
            .settle(&g, Ok(EnvOutcome::Offboarded), t(3))
            .unwrap(),
    );
    let AllocationState::NotAllocated(na) = n.state() else {
        panic!("not reset")
    };
    assert!(na.reprovisioned());
}

#[test]
fn illegal_moves_are_refused_with_the_state_named() {
    let g = group();
    let na = registered(&g);
    let e = begin_reset(&na, &g, op(1), t(0), t(1)).unwrap_err();
    let Error::InvalidState(e) = e else {
        panic!("{e:?}")
    };
    assert_eq!(e.from, AllocationStatus::NotAllocated);
    assert_eq!(e.operation, Operation::Reset);
    let replace = begin_replace(
        &na,
        "x".parse().unwrap(),
        "b".parse().unwrap(),
        None,
        op(1),
        t(0),
        t(1),
    );
    assert!(replace.is_err());
    assert!(begin_allocate(&allocated(&g), &g, op(1), t(0), t(1)).is_err());

    let p = begin_allocate(&na, &g, op(7), t(0), t(1)).unwrap().pending;
    let e = begin_delete(p.device(), None, op(8), t(0), t(1)).unwrap_err();
    assert_eq!(e.code(), "operation_in_progress");
    let Error::OperationInProgress { operation, .. } = e else {
        panic!("{e:?}")
    };
    assert_eq!(operation, op(7));
}

#[test]
fn mismatched_outcome_is_refused_and_rejection_restores() {
    let g = group();
    let a = allocated(&g);
    let pending = begin_reset(&a, &g, op(2), t(2), t(12)).unwrap().pending;
    let mismatch = pending.settle(&g, Ok(onboarded("zz")), t(3));
    assert!(mismatch.is_err());
    let rejected = pending
        .settle(&g, Err(EnvironmentError::rejected("no").into()), t(3))
        .unwrap();
    assert!(rejected.result.is_err());
    let back = rejected.transition.device().unwrap();
    assert_eq!(back.state(), a.state());
    assert_eq!(rejected.transition.event().kind.name(), "operation_failed");
}

#[test]
fn leases_gate_recovery() {
    let g = group();
    let p = begin_allocate(&registered(&g), &g, op(1), t(0), t(100))
        .unwrap()
        .pending;
    let pending = p.pending();
    assert!(!pending.is_claimable(t(99)));
    assert!(pending.is_claimable(t(100)));
    assert!(pending.released().is_claimable(t(0)));
    assert_eq!(pending.claimed(t(200)).attempts(), 2);
    assert!(claim(p.device(), t(99), t(200)).is_err());
    let claimed = claim(p.device(), t(100), t(200)).unwrap();
    assert_eq!(claimed.pending.pending().attempts(), 2);
    assert_eq!(claimed.intent.event().kind.name(), "operation_resumed");
}

#[test]
fn a_rejected_replacement_returns_to_the_old_serial_or_falls_back_to_the_new() {
    let g = group();
    let a = allocated(&g);
    let begun = begin_replace(
        &a,
        "SN-2".parse().unwrap(),
        "b".parse().unwrap(),
        None,
        op(3),
        t(2),
        t(12),
    )
    .unwrap();
    assert_eq!(begun.pending.device().serial().as_str(), "SN-2");
    let s = begun
        .pending
        .settle(&g, Err(EnvironmentError::rejected("no").into()), t(3))
        .unwrap();
    assert_eq!(s.transition.device().unwrap().serial().as_str(), "SN-1");
    assert_eq!(
        s.transition.event().serial.as_ref().unwrap().as_str(),
        "SN-1"
    );
    let fallback = s.fallback.unwrap();
    assert_eq!(fallback.device().unwrap().serial().as_str(), "SN-2");
    assert_eq!(fallback.device().unwrap().state(), a.state());
}
