//! The management API and the bootstrap call, in process: access, the lifecycle, errors.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use common::{Harness, TARGET};
use dps_core::access::{AccessToken, Role};
use dps_core::inject::OsSecrets;
use dps_core::{GroupId, Store, Timestamp};
use dps_http::{Options, RateLimit};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

/// Every management route, with a body where it takes one.
fn management_routes(group: &str) -> Vec<(Method, String, Option<Value>)> {
    let g = format!("/v1/groups/{group}");
    let sel = Some(json!({"all": true}));
    vec![
        (Method::GET, "/v1/groups".into(), None),
        (
            Method::POST,
            "/v1/groups".into(),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, g.clone(), None),
        (Method::PATCH, g.clone(), Some(json!({"description": "d"}))),
        (Method::DELETE, g.clone(), None),
        (Method::POST, format!("{g}/secret:rotate"), None),
        (Method::GET, format!("{g}/devices"), None),
        (
            Method::POST,
            format!("{g}/devices"),
            Some(json!({"serial": "N-1", "model_id": "m1"})),
        ),
        (
            Method::POST,
            format!("{g}/devices:generate"),
            Some(json!({"count": 1, "model_id": "m1"})),
        ),
        (Method::GET, format!("{g}/devices:template"), None),
        (Method::POST, format!("{g}/devices:allocate"), sel.clone()),
        (Method::POST, format!("{g}/devices:reset"), sel.clone()),
        (Method::POST, format!("{g}/devices:delete"), sel),
        (Method::GET, format!("{g}/devices/SN-1"), None),
        (
            Method::PATCH,
            format!("{g}/devices/SN-1"),
            Some(json!({"name": "n"})),
        ),
        (Method::DELETE, format!("{g}/devices/SN-1"), None),
        (
            Method::POST,
            format!("{g}/devices/SN-1/replace"),
            Some(json!({"batch_tag": "b"})),
        ),
        (Method::POST, "/v1/recover".into(), None),
        (Method::GET, "/v1/events".into(), None),
    ]
}

#[test]
fn every_management_route_refuses_a_missing_or_unknown_token() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        h.device(&g, "SN-1", "m1").await;
        for (method, uri, body) in management_routes(&g) {
            for token in [None, Some("dps_not-a-token"), Some("")] {
                let a = h.call(method.clone(), &uri, token, body.clone()).await;
                assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {uri}: {a:?}");
                assert_eq!(a.code(), "unauthorized");
                assert_eq!(a.header("content-type"), "application/problem+json");
                assert_eq!(a.header("www-authenticate"), "Bearer");
            }
        }
        // Nothing changed: the device is still there, unallocated.
        let a = h
            .admin(Method::GET, &format!("/v1/groups/{g}/devices/SN-1"), None)
            .await;
        assert_eq!(a.body["status"], "not_allocated");
    });
}

#[test]
fn a_viewer_reads_but_changes_nothing() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        h.device(&g, "SN-1", "m1").await;
        let viewer = h.token("auditor", Role::Viewer, &[]).await;
        let before = h
            .store
            .events(dps_core::EventCursor::START, 1000)
            .await
            .unwrap();
        for (method, uri, body) in management_routes(&g) {
            let a = h.call(method.clone(), &uri, Some(&viewer), body).await;
            if method == Method::GET {
                assert!(a.status.is_success(), "{method} {uri}: {a:?}");
            } else {
                assert_eq!(a.status, StatusCode::FORBIDDEN, "{method} {uri}: {a:?}");
                assert_eq!(a.code(), "forbidden");
            }
        }
        let after = h
            .store
            .events(dps_core::EventCursor::START, 1000)
            .await
            .unwrap();
        assert_eq!(before, after);
    });
}

#[test]
fn a_token_limited_to_groups_sees_no_other_group() {
    run(async {
        let h = Harness::new().await;
        let mine = h.group("mine").await;
        let other = h.group("other").await;
        h.device(&mine, "SN-1", "m1").await;
        h.device(&other, "SN-1", "m1").await;
        let id: GroupId = mine.parse().unwrap();
        let limited = h.token("tenant", Role::Operator, &[id]).await;

        for uri in [
            format!("/v1/groups/{other}"),
            "/v1/groups/other".to_owned(),
            format!("/v1/groups/{other}/devices"),
            format!("/v1/groups/{other}/devices/SN-1"),
        ] {
            let a = h.call(Method::GET, &uri, Some(&limited), None).await;
            let missing = h
                .call(
                    Method::GET,
                    &uri.replace(&other, "00000000-0000-0000-0000-00000000dead")
                        .replace("/other", "/nobody"),
                    Some(&limited),
                    None,
                )
                .await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}: {a:?}");
            assert_eq!(a.code(), missing.code(), "{uri}");
            assert_eq!(a.status, missing.status, "{uri}");
        }
        let a = h
            .call(
                Method::POST,
                &format!("/v1/groups/{other}/devices:delete"),
                Some(&limited),
                Some(json!({"all": true})),
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);

        let groups = h
            .call(Method::GET, "/v1/groups", Some(&limited), None)
            .await;
        let names: Vec<&str> = groups.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["mine"]);

        let events = h
            .call(Method::GET, "/v1/events", Some(&limited), None)
            .await;
        let items = events.body["items"].as_array().unwrap();
        assert!(!items.is_empty());
        assert!(
            items.iter().all(|e| e["group_id"] == mine.as_str()),
            "{items:?}"
        );

        // The other group is untouched; the limited token's own group works.
        let a = h
            .admin(
                Method::GET,
                &format!("/v1/groups/{other}/devices/SN-1"),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        let a = h
            .call(
                Method::POST,
                &format!("/v1/groups/{mine}/devices:allocate"),
                Some(&limited),
                Some(json!({"all": true})),
            )
            .await;
        assert_eq!(a.body["succeeded"], 1, "{a:?}");
    });
}

#[test]
fn the_lifecycle_over_http_records_who_did_it() {
    run(async {
        let h = Harness::new().await;
        let ops = h.token("ops-team", Role::Operator, &[]).await;
        let ops = Some(ops.as_str());
        let a = h
            .call(
                Method::POST,
                "/v1/groups",
                ops,
                Some(json!({"name": "Building 7", "default_target": TARGET,
                            "attributes": [{"id": "floor", "name": "Floor", "type": "integer",
                                            "required": false, "default": null}]})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        assert_eq!(a.body["environment"], "prod-eu");
        let g = "Building%207";

        for (serial, model) in [("SN-1", "m1"), ("SN-2", "m2"), ("SN-3", "gone")] {
            let a = h
                .call(
                    Method::POST,
                    &format!("/v1/groups/{g}/devices"),
                    ops,
                    Some(json!({"serial": serial, "model_id": model,
                                "attributes": {"floor": 3}})),
                )
                .await;
            assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
            assert_eq!(a.body["attributes"]["floor"], "3");
        }
        let a = h
            .call(
                Method::POST,
                &format!("/v1/groups/{g}/devices"),
                ops,
                Some(json!({"serial": "SN-1", "model_id": "m1"})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{a:?}");
        assert_eq!(a.code(), "already_registered");

        // A page of two, then the rest after its cursor.
        let a = h
            .call(
                Method::GET,
                &format!("/v1/groups/{g}/devices?limit=2"),
                ops,
                None,
            )
            .await;
        assert_eq!(a.body["items"].as_array().unwrap().len(), 2);
        let cursor = a.body["next_cursor"].as_str().unwrap().to_owned();
        let a = h
            .call(
                Method::GET,
                &format!("/v1/groups/{g}/devices?limit=2&cursor={cursor}"),
                ops,
                None,
            )
            .await;
        assert_eq!(a.body["items"][0]["serial"], "SN-3");
        assert_eq!(a.body["next_cursor"], Value::Null);

        // Allocate everything: the device whose model is missing fails alone.
        let a = h
            .call(
                Method::POST,
                &format!("/v1/groups/{g}/devices:allocate"),
                ops,
                Some(json!({"all": true})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(
            (a.body["succeeded"].clone(), a.body["failed"].clone()),
            (json!(2), json!(1))
        );
        let failed: Vec<&Value> = a.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ok"] == false)
            .collect();
        assert_eq!(failed[0]["serial"], "SN-3");
        assert_eq!(failed[0]["error"]["code"], "model_missing");

        let a = h
            .call(
                Method::GET,
                &format!("/v1/groups/{g}/devices?status=allocated"),
                ops,
                None,
            )
            .await;
        assert_eq!(a.body["items"].as_array().unwrap().len(), 2);

        // Edit with a stale version: 412; with the ETag: done.
        let a = h
            .call(
                Method::GET,
                &format!("/v1/groups/{g}/devices/SN-1"),
                ops,
                None,
            )
            .await;
        let tag = a.header("etag").to_owned();
        let asset = a.body["asset_id"].as_str().unwrap().to_owned();
        assert!(a.body.get("device_secret").is_none());
        let stale = h
            .send(
                Method::PATCH,
                &format!("/v1/groups/{g}/devices/SN-1"),
                ops,
                &[("if-match", "\"1\"")],
                Some(json!({"name": "Lobby"}).to_string()),
            )
            .await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{stale:?}");
        assert_eq!(stale.code(), "version_mismatch");
        let a = h
            .send(
                Method::PATCH,
                &format!("/v1/groups/{g}/devices/SN-1"),
                ops,
                &[("if-match", &tag)],
                Some(json!({"name": "Lobby"}).to_string()),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(a.body["name"], "Lobby");
        assert_ne!(a.header("etag"), tag);

        // Replace keeps the asset and takes the new serial.
        let a = h
            .call(
                Method::POST,
                &format!("/v1/groups/{g}/devices/SN-1/replace"),
                ops,
                Some(json!({"new_serial": "SN-1b", "batch_tag": "rma-7"})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(a.body["serial"], "SN-1b");
        assert_eq!(a.body["asset_id"], asset.as_str());
        assert_eq!(a.body["replaced_serials"], json!(["SN-1"]));

        // Reset, then delete twice: the second finds nothing.
        let a = h
            .call(
                Method::POST,
                &format!("/v1/groups/{g}/devices:reset"),
                ops,
                Some(json!({"serials": ["SN-1b", "SN-2"]})),
            )
            .await;
        assert_eq!(a.body["succeeded"], 2, "{a:?}");
        let a = h
            .call(
                Method::DELETE,
                &format!("/v1/groups/{g}/devices/SN-2"),
                ops,
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{a:?}");
        let a = h
            .call(
                Method::DELETE,
                &format!("/v1/groups/{g}/devices/SN-2"),
                ops,
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{a:?}");
        assert_eq!(a.code(), "not_found");

        // Every change names the token that made it.
        let a = h.admin(Method::GET, "/v1/events?limit=1000", None).await;
        let events = a.body["items"].as_array().unwrap();
        assert!(events.len() > 10);
        assert!(
            events.iter().all(|e| e["actor"] == "ops-team"),
            "{events:?}"
        );

        // The group cannot go while it has devices, unless cascaded.
        let a = h
            .call(Method::DELETE, &format!("/v1/groups/{g}"), ops, None)
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{a:?}");
        assert_eq!(a.code(), "group_not_empty");
        let a = h
            .call(
                Method::DELETE,
                &format!("/v1/groups/{g}?cascade=true"),
                ops,
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(a.body["group_deleted"], true);
        let a = h
            .call(Method::GET, &format!("/v1/groups/{g}"), ops, None)
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
    });
}

#[test]
fn only_an_admin_reads_device_secrets() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        h.device(&g, "SN-1", "m1").await;
        h.admin(
            Method::POST,
            &format!("/v1/groups/{g}/devices:allocate"),
            Some(json!({"all": true})),
        )
        .await;
        let operator = h.token("ops", Role::Operator, &[]).await;
        let viewer = h.token("view", Role::Viewer, &[]).await;
        for token in [&operator, &viewer] {
            for uri in [
                format!("/v1/groups/{g}/devices/SN-1"),
                format!("/v1/groups/{g}/devices"),
            ] {
                let a = h.call(Method::GET, &uri, Some(token), None).await;
                assert_eq!(a.status, StatusCode::OK);
                assert!(!a.text.contains("device_secret"), "{}", a.text);
                let a = h
                    .call(
                        Method::GET,
                        &format!("{uri}?include_secrets=true"),
                        Some(token),
                        None,
                    )
                    .await;
                assert_eq!(a.status, StatusCode::FORBIDDEN, "{a:?}");
            }
        }
        let a = h
            .admin(
                Method::GET,
                &format!("/v1/groups/{g}/devices/SN-1?include_secrets=true"),
                None,
            )
            .await;
        assert!(
            a.body["device_secret"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{a:?}"
        );
    });
}

#[test]
fn a_removed_token_is_refused_at_once() {
    run(async {
        let h = Harness::new().await;
        let t = h.token("temp", Role::Viewer, &[]).await;
        assert_eq!(
            h.call(Method::GET, "/v1/groups", Some(&t), None)
                .await
                .status,
            StatusCode::OK
        );
        assert!(
            h.store
                .remove_token(&"temp".parse().unwrap())
                .await
                .unwrap()
        );
        let a = h.call(Method::GET, "/v1/groups", Some(&t), None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn bad_requests_get_their_status_and_code() {
    run(async {
        let h = Harness::with_options(Options::default()).await;
        let g = h.group("g").await;
        let devices = format!("/v1/groups/{g}/devices");
        let admin = Some(h.admin.as_str());
        let cases: Vec<(String, Option<String>, StatusCode, &str)> = vec![
            (
                devices.clone(),
                Some("{\"serial\": ".into()),
                StatusCode::BAD_REQUEST,
                "malformed_json",
            ),
            (
                devices.clone(),
                Some("{\"serial\": 5}".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
            (
                devices.clone(),
                Some(json!({"serial": "SN 1", "model_id": "m1"}).to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
            (
                devices.clone(),
                Some(json!({"serial": "S", "model_id": "m1", "extra": 1}).to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
            (
                devices.clone(),
                Some(
                    json!({"serial": "S", "model_id": "m1", "attributes": {"nope": "1"}})
                        .to_string(),
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_attribute",
            ),
            (
                devices.clone(),
                Some(format!(
                    "{{\"serial\": \"{}\"}}",
                    "x".repeat(2 * 1024 * 1024)
                )),
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
            ),
            (
                devices.clone(),
                Some(format!(
                    "{{\"serial\": \"S\", \"model_id\": \"m1\", \"attributes\": {}1{}}}",
                    "[".repeat(16),
                    "]".repeat(16)
                )),
                StatusCode::UNPROCESSABLE_ENTITY,
                "json_too_deep",
            ),
            (
                devices.clone(),
                Some(format!(
                    "{{\"serial\": \"S\", \"model_id\": \"m1\", \"name\": \"{}\"}}",
                    "x".repeat(64 * 1024 + 1)
                )),
                StatusCode::UNPROCESSABLE_ENTITY,
                "field_too_large",
            ),
            (
                devices.clone(),
                Some(format!("{{\"{}\": 1}}", "k".repeat(64 * 1024 + 1))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "field_too_large",
            ),
            (
                format!("/v1/groups/{g}/devices:allocate"),
                Some(json!({}).to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_selection",
            ),
            (
                format!("/v1/groups/{g}/devices:allocate"),
                Some(json!({"all": true, "serials": []}).to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_selection",
            ),
            (
                format!("/v1/groups/{g}/devices:generate"),
                Some(json!({"count": 0, "model_id": "m1"}).to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_count",
            ),
        ];
        for (uri, body, status, code) in cases {
            let a = h.send(Method::POST, &uri, admin, &[], body).await;
            assert_eq!((a.status, a.code()), (status, code), "{uri}: {a:?}");
            assert_eq!(a.header("content-type"), "application/problem+json");
        }
        let a = h
            .admin(Method::GET, &format!("{devices}?status=sideways"), None)
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_status")
        );
        let a = h
            .admin(Method::GET, &format!("{devices}?limit=lots"), None)
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_query")
        );
        let a = h.admin(Method::GET, "/v1/nothing-here", None).await;
        assert_eq!((a.status, a.code()), (StatusCode::NOT_FOUND, "no_route"));
        let a = h
            .send(
                Method::PATCH,
                &format!("{devices}/SN-1"),
                admin,
                &[("if-match", "soon")],
                Some("{}".into()),
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "invalid_if_match")
        );
        // Nothing was registered by any of them.
        let a = h.admin(Method::GET, &devices, None).await;
        assert_eq!(a.body["items"], json!([]));
    });
}

/// A device's request, signed as `docs/bootstrap.md` says and nothing else: the canonical
/// string of six lines, HMAC-SHA256 with the 32 bytes of the device key, standard base64.
fn signed_request(group: &str, serial: &str, timestamp: i64, device_key_b64: &str) -> Value {
    let canonical = format!("dps-bootstrap-v1\n{group}\n{serial}\n{timestamp}\n\n");
    let key = base64::engine::general_purpose::STANDARD
        .decode(device_key_b64)
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(canonical.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    json!({"group_id": group, "serial": serial, "timestamp": timestamp, "signature": signature})
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_device_bootstraps_with_a_request_written_from_the_spec() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        h.device(&g, "TH.2024:000042", "m1").await;
        h.admin(
            Method::PATCH,
            &format!("/v1/groups/{g}"),
            Some(json!({"auto_activation": true})),
        )
        .await;
        // The factory's step: the device key, as the export's bootstrap-key column gives it.
        let group = h.store.group(g.parse().unwrap()).await.unwrap().unwrap();
        let key =
            dps_testkit::bootstrap_key(&group, &"TH.2024:000042".parse().unwrap()).expose_base64();

        let body = signed_request(&g, "TH.2024:000042", now_seconds(), &key);
        let a = h
            .call(Method::POST, "/v1/bootstrap", None, Some(body.clone()))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(a.body["allocated_now"], true);
        assert_eq!(
            a.body["target"],
            json!({"environment": "prod-eu", "ou": "acme"})
        );
        let secret = a.body["credentials"]["device_secret"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!secret.is_empty());
        // Again: the same credentials, no second allocation.
        let again = h
            .call(Method::POST, "/v1/bootstrap", None, Some(body))
            .await;
        assert_eq!(again.body["credentials"]["device_secret"], secret.as_str());
        assert_eq!(again.body["allocated_now"], false);

        // Every refused check answers the same.
        let wrong_key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        for body in [
            signed_request(&g, "TH.2024:000042", now_seconds(), &wrong_key),
            signed_request(&g, "TH.2024:000042", now_seconds() - 3600, &key),
            signed_request(&g, "TH.2024:000043", now_seconds(), &key),
            signed_request(
                "00000000-0000-0000-0000-00000000dead",
                "TH.2024:000042",
                now_seconds(),
                &key,
            ),
        ] {
            let a = h
                .call(Method::POST, "/v1/bootstrap", None, Some(body))
                .await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{a:?}");
            assert_eq!(a.code(), "unauthorized");
            assert_eq!(a.body["detail"], again_detail());
        }
    });
}

fn again_detail() -> Value {
    json!(dps_core::Error::Unauthorized.to_string())
}

#[test]
fn bootstrap_requests_beyond_the_rate_limit_wait() {
    run(async {
        let options = Options::default().with_bootstrap_limits(
            RateLimit::new(5, Duration::from_secs(60)),
            RateLimit::unlimited(),
        );
        let h = Harness::with_options(options).await;
        let g = h.group("g").await;
        let bad = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let mut statuses = Vec::new();
        for _ in 0..8 {
            let body = signed_request(&g, "SN-1", now_seconds(), &bad);
            let a = h
                .call(Method::POST, "/v1/bootstrap", None, Some(body))
                .await;
            if a.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(a.code(), "rate_limited");
                let wait: u64 = a.header("retry-after").parse().unwrap();
                assert!((1..=12).contains(&wait), "{wait}");
            }
            statuses.push(a.status.as_u16());
        }
        assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
        // The management API is not limited by it.
        assert_eq!(
            h.admin(Method::GET, "/v1/groups", None).await.status,
            StatusCode::OK
        );
    });
}

#[test]
fn health_and_readiness_need_no_token() {
    run(async {
        let h = Harness::new().await;
        assert_eq!(
            h.call(Method::GET, "/healthz", None, None).await.status,
            StatusCode::OK
        );
        let a = h.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(
            (a.status, a.body["status"].clone()),
            (StatusCode::OK, json!("ready"))
        );
    });
}

const MESSY_CSV: &str = "\u{feff}Device Serial No.,Model ID,Device Name,Batch Tag\r\n\
SN-1,m1,Lobby,b1\r\n\
SN 2,m1,,b1\r\n\
SN-3,m2,\"Hall, east\",b1\r\n\
SN-1,m1,dup,b1\r\n\
SN-4,,,b1\r\n";

#[test]
fn an_import_reports_each_refused_row_as_json_or_as_the_error_csv() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        let ops = h.token("ops", Role::Operator, &[]).await;
        let uri = format!("/v1/groups/{g}/devices:import");
        let csv = [("content-type", "text/csv")];

        let dry = h
            .send(
                Method::POST,
                &format!("{uri}?dry_run=true"),
                Some(&ops),
                &csv,
                Some(MESSY_CSV.into()),
            )
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{dry:?}");
        assert_eq!(
            (dry.body["dry_run"].clone(), dry.body["committed"].clone()),
            (json!(true), json!(false))
        );
        assert_eq!(
            h.admin(Method::GET, &format!("/v1/groups/{g}/devices"), None)
                .await
                .body["items"],
            json!([])
        );

        let a = h
            .send(Method::POST, &uri, Some(&ops), &csv, Some(MESSY_CSV.into()))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(
            (a.body["created"].clone(), a.body["rejected"].clone()),
            (json!(2), json!(3))
        );
        let lines: Vec<u64> = a.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, [3, 5, 6]);
        assert_eq!(a.body["rows"][0]["code"], "invalid_serial");

        // The same file again, answered as the error CSV: every row now refused.
        let a = h
            .send(
                Method::POST,
                &uri,
                Some(&ops),
                &[("content-type", "text/csv"), ("accept", "text/csv")],
                Some(MESSY_CSV.into()),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.header("content-type").starts_with("text/csv"));
        assert_eq!(a.text.lines().count(), 6, "{}", a.text);
        assert!(a.text.contains("already_registered"));

        // A multipart upload of the console's form.
        let boundary = "XyZ";
        let form = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.csv\"\r\n\
             Content-Type: text/csv\r\n\r\nDevice Serial No.,Model ID\r\nSN-9,m1\r\n--{boundary}--\r\n"
        );
        let ct = format!("multipart/form-data; boundary={boundary}");
        let a = h
            .send(
                Method::POST,
                &uri,
                Some(&ops),
                &[("content-type", &ct)],
                Some(form),
            )
            .await;
        assert_eq!(
            (a.status, a.body["created"].clone()),
            (StatusCode::OK, json!(1)),
            "{a:?}"
        );

        // Bad UTF-8 and a bad header refuse the file.
        let a = h
            .send(
                Method::POST,
                &uri,
                Some(&ops),
                &csv,
                Some("Device Serial No.,Nope\nx,y\n".into()),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{a:?}");
        let a = h
            .send(
                Method::POST,
                &uri,
                Some(&ops),
                &[("content-type", "application/json")],
                Some("{}".into()),
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        );
    });
}

#[test]
fn an_operator_imports_within_the_console_limits_and_an_admin_or_a_bulk_token_beyond() {
    run(async {
        // Imports that run in their request: a job's threshold above the file.
        let h =
            Harness::with_options(dps_http::Options::default().with_job_threshold(10_000)).await;
        let g = h.group("g").await;
        let ops = h.token("ops", Role::Operator, &[]).await;
        let uri = format!("/v1/groups/{g}/devices:import");
        let mut csv = String::from("Device Serial No.,Model ID\n");
        for i in 0..1001 {
            csv.push_str(&format!("SN-{i:05},m1\n"));
        }
        let ct = [("content-type", "text/csv")];
        let a = h
            .send(Method::POST, &uri, Some(&ops), &ct, Some(csv.clone()))
            .await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{a:?}");
        assert_eq!(a.code(), "limit_exceeded");
        assert_eq!(
            h.admin(
                Method::GET,
                &format!("/v1/groups/{g}/devices?limit=1"),
                None
            )
            .await
            .body["items"],
            json!([])
        );
        let a = h
            .send(
                Method::POST,
                &uri,
                Some(&h.admin.clone()),
                &ct,
                Some(csv.clone()),
            )
            .await;
        assert_eq!(
            (a.status, a.body["created"].clone()),
            (StatusCode::OK, json!(1001)),
            "{a:?}"
        );
        let (token, loader) = AccessToken::issue(
            "loader".parse().unwrap(),
            Role::Operator,
            vec![],
            &OsSecrets,
            Timestamp::from_unix_millis(0),
        );
        h.store
            .insert_token(&token.with_bulk_import(true))
            .await
            .unwrap();
        let a = h
            .send(
                Method::POST,
                &format!("{uri}?mode=upsert"),
                Some(&loader),
                &ct,
                Some(csv),
            )
            .await;
        assert_eq!(
            (a.status, a.body["accepted"].clone()),
            (StatusCode::OK, json!(1001)),
            "{a:?}"
        );
    });
}

#[test]
fn an_export_streams_the_selection_and_imports_again() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        for i in 0..30 {
            h.device(
                &g,
                &format!("SN-{i:02}"),
                if i % 2 == 0 { "m1" } else { "m2" },
            )
            .await;
        }
        let a = h
            .admin(
                Method::GET,
                &format!("/v1/groups/{g}/devices:export?model_id=m2"),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.header("content-type").starts_with("text/csv"));
        assert_eq!(a.text.lines().count(), 16, "{}", a.text);
        assert!(!a.text.contains("Device Secret"));
        let a = h
            .admin(
                Method::POST,
                &format!("/v1/groups/{g}/devices:export"),
                Some(json!({"serials": ["SN-01", "SN-02"]})),
            )
            .await;
        assert_eq!(a.text.lines().count(), 3);

        let all = h
            .admin(Method::GET, &format!("/v1/groups/{g}/devices:export"), None)
            .await;
        let copy = h.group("copy").await;
        let a = h
            .send(
                Method::POST,
                &format!("/v1/groups/{copy}/devices:import"),
                Some(&h.admin.clone()),
                &[("content-type", "text/csv")],
                Some(all.text.clone()),
            )
            .await;
        assert_eq!(
            (
                a.status,
                a.body["created"].clone(),
                a.body["rejected"].clone()
            ),
            (StatusCode::OK, json!(30), json!(0)),
            "{a:?}"
        );

        // Secrets only for an admin.
        let ops = h.token("ops", Role::Operator, &[]).await;
        let a = h
            .call(
                Method::GET,
                &format!("/v1/groups/{g}/devices:export?include_secrets=true"),
                Some(&ops),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);

        let zip = h
            .admin(
                Method::GET,
                &format!("/v1/groups/{g}/devices:qr?batch_tag=none"),
                None,
            )
            .await;
        assert_eq!(zip.status, StatusCode::OK);
        assert_eq!(zip.header("content-type"), "application/zip");
    });
}

/// Reads frames of a streamed body until `text` holds `n` events.
async fn sse_events(body: &mut axum::body::Body, n: usize) -> String {
    use http_body_util::BodyExt;
    let mut text = String::new();
    while text.matches("\n\n").count() < n {
        let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
            .await
            .expect("an event arrives")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    text
}

#[test]
fn the_event_log_is_followed_live_and_resumed() {
    run(async {
        use tower::ServiceExt;
        let h = Harness::new().await;
        let g = h.group("g").await;
        let request = |last: Option<&str>| {
            let mut r = axum::http::Request::get("/v1/events")
                .header("authorization", format!("Bearer {}", h.admin))
                .header("accept", "text/event-stream");
            if let Some(id) = last {
                r = r.header("last-event-id", id);
            }
            r.body(axum::body::Body::empty()).unwrap()
        };
        let response = h.app.clone().oneshot(request(None)).await.unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response.into_body();
        let first = sse_events(&mut body, 1).await;
        assert!(
            first.contains("event: group_created") && first.contains("id: 1"),
            "{first}"
        );
        // A change made now arrives on the open stream.
        h.device(&g, "SN-1", "m1").await;
        let next = sse_events(&mut body, 1).await;
        assert!(
            next.contains("event: registered") && next.contains("\"serial\":\"SN-1\""),
            "{next}"
        );
        // A reconnecting client resumes after the last event it saw.
        let resumed = h.app.clone().oneshot(request(Some("1"))).await.unwrap();
        let mut body = resumed.into_body();
        let again = sse_events(&mut body, 1).await;
        assert!(
            again.contains("id: 2") && !again.contains("id: 1\n"),
            "{again}"
        );
    });
}
