//! Retries made safe by `Idempotency-Key`: JSON requests, streamed imports, and a first
//! request lost in flight.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::Harness;
use dps_core::access::{IdempotencyRecord, Role, TokenHash};
use dps_core::{Store, Timestamp};
use dps_http::Options;
use serde_json::json;

fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

#[test]
fn a_repeated_idempotency_key_answers_the_first_answer_once() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        let admin = Some(h.admin.as_str());
        let uri = format!("/v1/groups/{g}/devices:generate");
        let body = json!({"count": 3, "model_id": "m1"}).to_string();
        let key = [("idempotency-key", "6f1c0d3e-retry-1")];
        let first = h
            .send(Method::POST, &uri, admin, &key, Some(body.clone()))
            .await;
        assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
        assert_eq!(first.header("idempotent-replayed"), "");
        let again = h.send(Method::POST, &uri, admin, &key, Some(body)).await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.text, first.text);
        assert_eq!(again.header("idempotent-replayed"), "true");
        assert_eq!(again.header("content-type"), "application/json");
        let listed = h
            .admin(Method::GET, &format!("/v1/groups/{g}/devices"), None)
            .await;
        assert_eq!(
            listed.body["items"].as_array().unwrap().len(),
            3,
            "generated once"
        );

        // The same key with another body is refused; another token's same key is its own.
        let other = json!({"count": 4, "model_id": "m1"}).to_string();
        let a = h
            .send(Method::POST, &uri, admin, &key, Some(other.clone()))
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
        );
        let second = h.token("second", Role::Operator, &[]).await;
        let a = h
            .send(Method::POST, &uri, Some(&second), &key, Some(other))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        assert_eq!(a.header("idempotent-replayed"), "");

        let a = h
            .send(
                Method::POST,
                &uri,
                admin,
                &[("idempotency-key", "")],
                Some("{}".into()),
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "invalid_idempotency_key")
        );
    });
}

#[test]
fn a_refused_request_with_a_key_is_answered_the_same_again() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        let admin = Some(h.admin.as_str());
        let uri = format!("/v1/groups/{g}/devices");
        let body = json!({"serial": "SN-1", "model_id": "m1"}).to_string();
        let key = [("idempotency-key", "k-1")];
        assert_eq!(
            h.send(Method::POST, &uri, admin, &key, Some(body.clone()))
                .await
                .status,
            StatusCode::CREATED
        );
        // Without the key, a second registration is refused as a duplicate ...
        let dup = h
            .send(Method::POST, &uri, admin, &[], Some(body.clone()))
            .await;
        assert_eq!(dup.code(), "already_registered");
        // ... with it, the first success is answered again.
        let a = h.send(Method::POST, &uri, admin, &key, Some(body)).await;
        assert_eq!(a.status, StatusCode::CREATED);
        assert_eq!(a.header("idempotent-replayed"), "true");
    });
}

const FILE: &str = "Device Serial No.,Model ID\r\nSN-1,m1\r\nSN 2,m1\r\nSN-3,m2\r\n";

fn form(boundary: &str, file: &str) -> (String, String) {
    (
        format!("multipart/form-data; boundary={boundary}"),
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
        ),
    )
}

#[test]
fn a_repeated_import_key_answers_the_first_report_without_importing_again() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        let ops = h.token("ops", Role::Operator, &[]).await;
        let uri = format!("/v1/groups/{g}/devices:import");
        let key = ("idempotency-key", "import-1");
        let csv = [("content-type", "text/csv"), key];

        let first = h
            .send(Method::POST, &uri, Some(&ops), &csv, Some(FILE.into()))
            .await;
        assert_eq!(first.status, StatusCode::OK, "{first:?}");
        assert_eq!(
            (
                first.body["created"].clone(),
                first.body["rejected"].clone()
            ),
            (json!(2), json!(1))
        );
        assert_eq!(first.header("idempotent-replayed"), "");

        // Run again, the same file would be refused row by row; the repeat answers the first
        // report instead, as a multipart upload too, whatever its boundary.
        let again = h
            .send(Method::POST, &uri, Some(&ops), &csv, Some(FILE.into()))
            .await;
        assert_eq!(
            (again.status, again.header("idempotent-replayed")),
            (StatusCode::OK, "true")
        );
        assert_eq!(again.text, first.text);
        let (ct, body) = form("b0undary-7", FILE);
        let a = h
            .send(
                Method::POST,
                &uri,
                Some(&ops),
                &[("content-type", &ct), key],
                Some(body),
            )
            .await;
        assert_eq!(
            (a.status, a.header("idempotent-replayed")),
            (StatusCode::OK, "true"),
            "{a:?}"
        );
        assert_eq!(a.text, first.text);
        let listed = h
            .admin(Method::GET, &format!("/v1/groups/{g}/devices"), None)
            .await;
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);

        // Another file, a longer one, a shorter one, or another answer format under the same
        // key is a reuse of the key.
        for (file, headers) in [
            (FILE.replace("SN-3", "SN-4"), &csv[..]),
            (format!("{FILE}SN-5,m1\r\n"), &csv[..]),
            (FILE[..FILE.len() - 9].to_owned(), &csv[..]),
            (
                FILE.to_owned(),
                &[("content-type", "text/csv"), ("accept", "text/csv"), key][..],
            ),
        ] {
            let a = h
                .send(Method::POST, &uri, Some(&ops), headers, Some(file.clone()))
                .await;
            assert_eq!(
                (a.status, a.code()),
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
                "{file:?} {headers:?}"
            );
        }
        let listed = h
            .admin(Method::GET, &format!("/v1/groups/{g}/devices"), None)
            .await;
        assert_eq!(
            listed.body["items"].as_array().unwrap().len(),
            2,
            "nothing imported"
        );
    });
}

#[test]
fn an_import_refused_part_way_keeps_no_answer_for_its_key() {
    run(async {
        let h = Harness::new().await;
        let g = h.group("g").await;
        let ops = h.token("ops", Role::Operator, &[]).await;
        let uri = format!("/v1/groups/{g}/devices:import");
        let mut big = String::from("Device Serial No.,Model ID\n");
        for i in 0..1001 {
            big.push_str(&format!("SN-{i:05},m1\n"));
        }
        let headers = [("content-type", "text/csv"), ("idempotency-key", "big-1")];
        for _ in 0..2 {
            let a = h
                .send(Method::POST, &uri, Some(&ops), &headers, Some(big.clone()))
                .await;
            assert_eq!(
                (a.status, a.code(), a.header("idempotent-replayed")),
                (StatusCode::PAYLOAD_TOO_LARGE, "limit_exceeded", ""),
                "refused again, not replayed: {a:?}"
            );
        }
        // A form without a file is refused before the upload is read: the key is free again
        // for the right form.
        let (ct, empty) = (
            "multipart/form-data; boundary=b".to_owned(),
            "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--b--\r\n"
                .to_owned(),
        );
        let key = ("idempotency-key", "form-1");
        let a = h
            .send(
                Method::POST,
                &uri,
                Some(&ops),
                &[("content-type", &ct), key],
                Some(empty),
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "missing_file")
        );
        let (ct, body) = form("b", FILE);
        let a = h
            .send(
                Method::POST,
                &uri,
                Some(&ops),
                &[("content-type", &ct), key],
                Some(body),
            )
            .await;
        assert_eq!(
            (a.status, a.body["created"].clone()),
            (StatusCode::OK, json!(2)),
            "{a:?}"
        );
    });
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp::from_unix_millis(i64::try_from(ms).unwrap())
}

#[test]
fn a_repeat_of_a_request_lost_in_flight_runs_once_its_lease_is_over() {
    run(async {
        let lease = Duration::from_secs(10 * 60);
        let h = Harness::with_options(Options::default().with_idempotency_lease(lease)).await;
        let g = h.group("g").await;
        let uri = format!("/v1/groups/{g}/devices");
        let body = json!({"serial": "SN-1", "model_id": "m1"}).to_string();
        // Claims as a server that stopped mid-request leaves them, one within its lease and
        // one past it.
        let scoped = |key: &str| format!("{}:{key}", TokenHash::of(&h.admin).to_hex());
        let lost = |key: &str, ago: Duration| IdempotencyRecord {
            key: scoped(key),
            fingerprint: [7; 32],
            created_at: Timestamp::from_unix_millis(
                now().unix_millis() - i64::try_from(ago.as_millis()).unwrap(),
            ),
            answer: None,
        };
        for record in [
            lost("recent", Duration::from_secs(60)),
            lost("old", lease + Duration::from_secs(60)),
        ] {
            h.store
                .claim_idempotency(&record, Timestamp::from_unix_millis(0))
                .await
                .unwrap();
        }
        let admin = Some(h.admin.as_str());
        let a = h
            .send(
                Method::POST,
                &uri,
                admin,
                &[("idempotency-key", "recent")],
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (a.status, a.code(), a.header("retry-after")),
            (StatusCode::CONFLICT, "idempotency_in_progress", "1")
        );
        let a = h
            .send(
                Method::POST,
                &uri,
                admin,
                &[("idempotency-key", "old")],
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "the lost request is run: {a:?}"
        );
        let again = h
            .send(
                Method::POST,
                &uri,
                admin,
                &[("idempotency-key", "old")],
                Some(body),
            )
            .await;
        assert_eq!(
            (again.status, again.header("idempotent-replayed")),
            (StatusCode::CREATED, "true")
        );
        assert_eq!(again.text, a.text);
    });
}
