//! Batches over the job threshold: `202 Accepted`, the job's URL, its progress and outcome,
//! its cancellation, and who may see it.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::Harness;
use dps_core::access::Role;
use dps_http::Options;
use serde_json::{Value, json};

async fn until_over(h: &Harness, path: &str) -> Value {
    for _ in 0..5000 {
        let a = h.admin(Method::GET, path, None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        if a.body["state"] != "running" {
            return a.body;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the job did not end");
}

#[tokio::test]
async fn a_batch_over_the_threshold_runs_as_a_job() {
    let h = Harness::with_options(Options::default().with_job_threshold(2)).await;
    let group = h.group("lab").await;
    for s in ["SN-1", "SN-2", "SN-3"] {
        h.device(&group, s, "m1").await;
    }
    h.device(&group, "SN-4", "gone").await;
    // At the threshold, the batch runs in its request.
    let small = h
        .admin(
            Method::POST,
            &format!("/v1/groups/{group}/devices:reset"),
            Some(json!({"serials": ["SN-1", "SN-2"]})),
        )
        .await;
    assert_eq!(small.status, StatusCode::OK);
    assert_eq!(small.body["failed"], 2);

    let a = h
        .admin(
            Method::POST,
            &format!("/v1/groups/{group}/devices:allocate"),
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_owned();
    let location = format!("/v1/jobs/{id}");
    assert_eq!(a.header("location"), location);
    assert_eq!(
        (a.body["kind"].as_str(), a.body["total"].as_u64()),
        (Some("allocate"), Some(4))
    );
    let job = until_over(&h, &location).await;
    assert_eq!(job["state"], "finished");
    assert_eq!(
        (job["succeeded"].as_u64(), job["failed"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(job["failures"][0]["serial"], "SN-4");
    assert_eq!(job["failures"][0]["code"], "model_missing");
    assert_eq!(job["actor"], "root");
    let device = h
        .admin(
            Method::GET,
            &format!("/v1/groups/{group}/devices/SN-3"),
            None,
        )
        .await;
    assert_eq!(device.body["status"], "allocated");

    // Cancelling an ended job answers it unchanged; the list shows it.
    let c = h
        .admin(Method::POST, &format!("{location}/cancel"), None)
        .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["state"], "finished");
    let list = h.admin(Method::GET, "/v1/jobs", None).await;
    assert_eq!(list.body["items"][0]["id"], id.as_str());

    // A viewer reads it and may not cancel it; a token of another group does not see it.
    let viewer = h.token("watcher", Role::Viewer, &[]).await;
    let v = h.call(Method::GET, &location, Some(&viewer), None).await;
    assert_eq!(v.status, StatusCode::OK);
    let v = h
        .call(
            Method::POST,
            &format!("{location}/cancel"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(v.status, StatusCode::FORBIDDEN);
    let other = h.group("other").await;
    let outsider = h
        .token("outsider", Role::Admin, &[other.parse().unwrap()])
        .await;
    let o = h.call(Method::GET, &location, Some(&outsider), None).await;
    assert_eq!(o.status, StatusCode::NOT_FOUND);
    let o = h.call(Method::GET, "/v1/jobs", Some(&outsider), None).await;
    assert_eq!(o.body["items"], json!([]));
    let missing = h.admin(Method::GET, "/v1/jobs/not-a-job", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
