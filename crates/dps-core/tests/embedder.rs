//! What an embedding service relies on: no secret in any domain type's JSON, `not_found` for an
//! unknown group from every call that takes one, and pages that end without an empty read.

mod common;

use common::*;
use dps_core::bootstrap::{BootstrapClaims, SecretRotation};
use dps_core::import::{ImportFields, ImportMode, ImportRecord};
use dps_core::seal::SecretOf;
use dps_core::state::AllocationStatus;
use dps_core::{
    Atomicity, DeviceEdit, DeviceFilter, DeviceQuery, EventCursor, GenerateSpec, GroupEdit,
    GroupId, NewDevice, NewSerial, Page, ReplaceRequest, Selection, Uuid,
};
use serde::Serialize;

/// Every secret of `w`'s groups and devices, as text: group secrets (current and previous),
/// device secrets, and bootstrap keys.
async fn every_secret(w: &World) -> Vec<String> {
    let mut secrets = Vec::new();
    let groups = w.dps.groups(None, 100).await.unwrap().items;
    for g in &groups {
        secrets.push(dps_testkit::group_secret(g).expose().to_owned());
        if let Some(previous) = g.previous_secret() {
            let opened = w.dps.sealer().open(previous, SecretOf::Group(g.id()));
            secrets.push(opened.unwrap().expose().to_owned());
        }
        let devices = w
            .dps
            .devices(&DeviceQuery::group(g.id()), None, 100)
            .await
            .unwrap();
        for d in &devices.items {
            if let Some(c) = w.dps.credentials(d).unwrap() {
                secrets.push(c.device_secret.expose().to_owned());
            }
            let key = w
                .dps
                .device_bootstrap_key(g.id(), d.serial())
                .await
                .unwrap();
            secrets.push(key.expose_base64());
        }
    }
    assert!(secrets.len() >= 6, "the scenario has secrets to look for");
    secrets
}

fn json_of(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn no_public_type_serialises_a_secret() {
    let w = world();
    let mut settings = group_settings();
    settings.auto_activation = true;
    let group = group_with(&w, settings, &["A", "B", "C", "D"]).await;
    let allocated = w.dps.allocate(group.id(), &Selection::all()).await.unwrap();
    let group = w
        .dps
        .rotate_group_secret(group.id(), SecretRotation::Graceful)
        .await
        .unwrap();
    let replaced = w
        .dps
        .replace(
            group.id(),
            &sn("A"),
            ReplaceRequest {
                new_serial: NewSerial::Given(sn("A2")),
                batch_tag: "rma".parse().unwrap(),
                description: None,
            },
        )
        .await
        .unwrap();
    let claims = BootstrapClaims::new(group.id(), sn("B"), EPOCH_SECONDS);
    let request = w.dps.sign_as_device(claims).await.unwrap();
    let answer = w.dps.bootstrap(&request).await.unwrap();
    // A device left pending in a replacement: its pending action carries the credentials.
    let c = w.dps.device_by_serial(group.id(), &sn("C")).await.unwrap();
    w.env.fail_next(
        dps_testkit::CallKind::Reissue,
        dps_testkit::Fault::Transient,
    );
    let _ = w
        .dps
        .replace(
            group.id(),
            c.serial(),
            ReplaceRequest {
                new_serial: NewSerial::Given(sn("C2")),
                batch_tag: "rma".parse().unwrap(),
                description: None,
            },
        )
        .await;
    let pending = w.dps.device(c.id()).await.unwrap();
    assert_eq!(pending.status(), AllocationStatus::Pending);
    let secrets = every_secret(&w).await;

    let devices = w
        .dps
        .devices(&DeviceQuery::group(group.id()), None, 100)
        .await
        .unwrap();
    let d = w.dps.device_by_serial(group.id(), &sn("D")).await.unwrap();
    let allocation = d.state().allocated().unwrap();
    let registered = w
        .dps
        .register_many(
            group.id(),
            vec![NewDevice::new(sn("E"), "m1".parse().unwrap())],
            Atomicity::BestEffort,
        )
        .await
        .unwrap();
    let events = w.dps.events(EventCursor::START, 1000).await.unwrap();

    let documents = [
        ("group", json_of(&group)),
        (
            "groups page",
            json_of(&w.dps.groups(None, 10).await.unwrap()),
        ),
        ("devices page", json_of(&devices)),
        ("replaced device", json_of(&replaced)),
        ("pending device", json_of(&pending)),
        ("pending state", json_of(pending.state())),
        ("pending", json_of(pending.state().pending().unwrap())),
        (
            "pending action",
            json_of(pending.state().pending().unwrap().action()),
        ),
        ("allocated state", json_of(d.state())),
        ("allocation", json_of(allocation)),
        ("credentials", json_of(allocation.credentials())),
        ("bootstrap answer", json_of(&answer)),
        ("batch report", json_of(&allocated)),
        ("device outcome", json_of(&allocated.outcomes[0])),
        ("register report", json_of(&registered)),
        ("events", json_of(&events)),
    ];
    for (what, json) in &documents {
        for secret in &secrets {
            assert!(
                !json.contains(secret.as_str()),
                "{what} carries a secret: {json}"
            );
        }
    }
    // The stored form, the explicit step into a store, keeps them only sealed.
    let stored_group = dps_core::stored::StoredGroup::from(&group)
        .to_json()
        .unwrap();
    let stored_device = dps_core::stored::StoredDevice::from(&d).to_json().unwrap();
    for secret in &secrets {
        assert!(!stored_group.contains(secret.as_str()), "{stored_group}");
        assert!(!stored_device.contains(secret.as_str()), "{stored_device}");
    }
    assert!(stored_device.contains(r#""device_secret":{"key":"test-1","nonce":"#));
    // The explicit calls do reveal what they name.
    let credentials = w.dps.credentials(&d).unwrap().unwrap();
    let device_secret = credentials.device_secret.expose();
    assert!(json_of(&credentials.revealed()).contains(device_secret));
    assert!(json_of(&answer.revealed()).contains(answer.credentials.device_secret.expose()));
    let group_secret = w.dps.open_group_secret(&group).unwrap();
    assert!(json_of(&group_secret.revealed()).contains(group_secret.expose()));
}

/// The Unix seconds of the test clock.
const EPOCH_SECONDS: i64 = dps_testkit::EPOCH.unix_millis() / 1000;

#[tokio::test(flavor = "current_thread")]
async fn every_call_that_takes_a_group_answers_not_found_for_an_unknown_one() {
    let w = world();
    let known = group_with(&w, group_settings(), &["A"]).await;
    let ghost = GroupId::from_uuid(Uuid::from_u128(0xdead));
    let serial = sn("A");
    let query = DeviceQuery::group(ghost);
    let new = || NewDevice::new(sn("N"), "m1".parse().unwrap());
    let replace = ReplaceRequest {
        new_serial: NewSerial::Generated,
        batch_tag: "b".parse().unwrap(),
        description: None,
    };
    let spec = GenerateSpec {
        model_id: "m1".parse().unwrap(),
        batch_tag: None,
    };
    let codes = [
        ("group", w.dps.group(ghost).await.err()),
        (
            "edit_group",
            w.dps.edit_group(ghost, GroupEdit::default()).await.err(),
        ),
        ("delete_group", w.dps.delete_group(ghost, true).await.err()),
        (
            "rotate_group_secret",
            w.dps
                .rotate_group_secret(ghost, SecretRotation::Immediate)
                .await
                .err(),
        ),
        ("register", w.dps.register(ghost, new()).await.err()),
        (
            "register_many",
            w.dps
                .register_many(ghost, vec![new()], Atomicity::BestEffort)
                .await
                .err(),
        ),
        ("generate", w.dps.generate(ghost, 2, spec).await.err()),
        (
            "device_by_serial",
            w.dps.device_by_serial(ghost, &serial).await.err(),
        ),
        ("devices", w.dps.devices(&query, None, 10).await.err()),
        (
            "devices with a filter",
            w.dps
                .devices(
                    &DeviceQuery::new(ghost, DeviceFilter::default()),
                    Some(sn("Z")),
                    10,
                )
                .await
                .err(),
        ),
        ("count", w.dps.count(&query).await.err()),
        (
            "edit_device",
            w.dps
                .edit_device(ghost, &serial, &DeviceEdit::default())
                .await
                .err(),
        ),
        (
            "allocate",
            w.dps.allocate(ghost, &Selection::all()).await.err(),
        ),
        ("reset", w.dps.reset(ghost, &Selection::all()).await.err()),
        ("delete", w.dps.delete(ghost, &Selection::all()).await.err()),
        (
            "delete_device",
            w.dps.delete_device(ghost, &serial, None).await.err(),
        ),
        (
            "replace",
            w.dps.replace(ghost, &serial, replace).await.err(),
        ),
        (
            "device_bootstrap_key",
            w.dps.device_bootstrap_key(ghost, &serial).await.err(),
        ),
        (
            "sign_as_device",
            w.dps
                .sign_as_device(BootstrapClaims::new(ghost, serial.clone(), 0))
                .await
                .err(),
        ),
    ];
    for (call, err) in codes {
        let err = err.unwrap_or_else(|| panic!("{call} succeeded for an unknown group"));
        assert_eq!(err.code(), "not_found", "{call}: {err}");
        assert!(err.to_string().starts_with("group "), "{call}: {err}");
    }

    // A plan made for a group that is deleted before it is applied writes nothing.
    let plan = w
        .dps
        .plan_import(
            &known,
            vec![ImportRecord::new(new())],
            ImportMode::Create,
            &ImportFields::default(),
        )
        .await
        .unwrap();
    w.dps.delete_group(known.id(), true).await.unwrap();
    let applied = w.dps.apply_import(plan, Atomicity::AllOrNothing).await;
    let refused = match applied {
        Err(e) => e,
        Ok(a) => a.outcomes.into_iter().find_map(Result::err).unwrap(),
    };
    assert_eq!(refused.code(), "not_found", "{refused}");

    // A known group with no devices is an empty answer, not an error.
    let empty = w.dps.create_group(group_settings()).await.unwrap();
    let page = w
        .dps
        .devices(&DeviceQuery::group(empty.id()), None, 10)
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.next), (0, None));
    assert_eq!(
        w.dps.count(&DeviceQuery::group(empty.id())).await.unwrap(),
        0
    );
    let err = w
        .dps
        .device_by_serial(empty.id(), &serial)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("device "), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_last_page_carries_no_cursor() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A", "B", "C", "D"]).await;
    let query = DeviceQuery::group(group.id());
    let serials = |p: &Page<dps_core::Device, dps_core::SerialNumber>| -> Vec<String> {
        p.items.iter().map(|d| d.serial().to_string()).collect()
    };

    let first = w.dps.devices(&query, None, 2).await.unwrap();
    assert_eq!(serials(&first), ["A", "B"]);
    assert_eq!(first.next, Some(sn("B")));
    let last = w.dps.devices(&query, first.next, 2).await.unwrap();
    assert_eq!(serials(&last), ["C", "D"]);
    assert_eq!(
        last.next, None,
        "four devices in pages of two: the second is the last"
    );

    let all = w.dps.devices(&query, None, 4).await.unwrap();
    assert_eq!((all.items.len(), all.next), (4, None));
    let more = w.dps.devices(&query, None, 3).await.unwrap();
    assert_eq!((more.items.len(), more.next), (3, Some(sn("C"))));

    // Groups page the same way.
    w.dps.create_group(group_settings()).await.unwrap();
    let groups = w.dps.groups(None, 2).await.unwrap();
    assert_eq!((groups.items.len(), groups.next), (2, None));
    let one = w.dps.groups(None, 1).await.unwrap();
    assert_eq!(one.next, Some(one.items[0].id()));

    // The JSON shape of a page.
    let json = serde_json::to_value(&last).unwrap();
    assert_eq!(json["next"], serde_json::Value::Null);
    assert_eq!(json["items"][0]["serial"], "C");
}

#[tokio::test(flavor = "current_thread")]
async fn reports_selections_and_filters_have_a_stable_json_shape() {
    let w = world();
    let group = group_with(&w, group_settings(), &["A"]).await;
    let report = w
        .dps
        .allocate(
            group.id(),
            &Selection::Serials(vec![sn("A"), sn("missing")]),
        )
        .await
        .unwrap();
    let a = w.dps.device_by_serial(group.id(), &sn("A")).await.unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "succeeded": 1,
            "failed": 1,
            "outcomes": [
                {"serial": "A", "device_id": a.id().to_string(), "ok": true,
                 "status": "allocated", "version": 3},
                {"serial": "missing", "device_id": null, "ok": false,
                 "error": {"code": "not_found", "category": "not_found", "retryable": false,
                           "message": "device missing not found"}},
            ],
        })
    );

    let deleted = w
        .dps
        .delete(group.id(), &Selection::Serials(vec![sn("A")]))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&deleted.outcomes[0]).unwrap(),
        serde_json::json!({"serial": "A", "device_id": a.id().to_string(), "ok": true,
                           "status": "deleted"})
    );

    let selection: Selection =
        serde_json::from_value(serde_json::json!({"serials": ["A", "B"]})).unwrap();
    assert_eq!(selection, Selection::Serials(vec![sn("A"), sn("B")]));
    let filter = DeviceFilter {
        status: Some(AllocationStatus::NotAllocated),
        serial_prefix: Some(sn("SN-")),
        ..DeviceFilter::default()
    };
    let json = serde_json::to_value(Selection::Filter(filter.clone())).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"filter": {"status": "not_allocated", "serial_prefix": "SN-"}})
    );
    assert_eq!(
        serde_json::from_value::<Selection>(json).unwrap(),
        Selection::Filter(filter)
    );
    assert!(serde_json::from_value::<Selection>(serde_json::json!({"all": true})).is_err());
}
