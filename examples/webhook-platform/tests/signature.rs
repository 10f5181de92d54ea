//! The platform accepts requests signed with its secret inside the clock window, and refuses
//! every other with 401 and a JSON reason.

mod common;

use common::{Client, SECRET, config, now, serve};
use serde_json::json;
use webhook_platform::{Platform, signature};

fn body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "call": "model_exists",
        "target": {"environment": "prod-eu", "ou": "acme"},
        "model_id": "thermostat",
    }))
    .unwrap()
}

fn headers(secret: &str, timestamp: u64, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("X-Dps-Timestamp", timestamp.to_string()),
        (
            "X-Dps-Signature",
            format!("v1={}", signature(secret, timestamp, body)),
        ),
    ]
}

async fn refused(client: &Client, body: Vec<u8>, headers: &[(&str, String)], why: &str) {
    let answer = client.raw(body, headers).await.unwrap();
    assert_eq!(answer.status, 401, "{why}: {}", answer.text);
    let reason = answer.json["reason"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "{why}: no reason in {}", answer.text);
}

#[tokio::test]
async fn a_request_signed_with_the_secret_now_is_answered() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = body();
    let answer = client
        .raw(body.clone(), &headers(SECRET, now(), &body))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json, json!({"exists": true}));
}

#[tokio::test]
async fn a_timestamp_at_the_edge_of_the_window_is_accepted() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = body();
    // 290 s leaves the test 10 s of slack for the clock to move on.
    for timestamp in [now() - 290, now() + 290] {
        let answer = client
            .raw(body.clone(), &headers(SECRET, timestamp, &body))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
}

#[tokio::test]
async fn a_changed_byte_in_the_body_is_refused() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = body();
    let signed = headers(SECRET, now(), &body);
    let mut changed = body.clone();
    let at = changed.iter().position(|&b| b == b't').unwrap();
    changed[at] = b'T';
    refused(&client, changed, &signed, "changed body").await;
}

#[tokio::test]
async fn a_changed_timestamp_is_refused() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = body();
    let t = now();
    let mut signed = headers(SECRET, t, &body);
    signed[0].1 = (t - 1).to_string();
    refused(&client, body, &signed, "timestamp not the signed one").await;
}

#[tokio::test]
async fn a_timestamp_outside_the_window_is_refused_even_when_signed() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = body();
    refused(
        &client,
        body.clone(),
        &headers(SECRET, now() - 301, &body),
        "stale",
    )
    .await;
    refused(
        &client,
        body.clone(),
        &headers(SECRET, now() + 400, &body),
        "future",
    )
    .await;
}

#[tokio::test]
async fn a_signature_with_another_secret_is_refused() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = body();
    refused(
        &client,
        body.clone(),
        &headers("another-secret", now(), &body),
        "wrong secret",
    )
    .await;
}

#[tokio::test]
async fn a_request_missing_either_header_is_refused() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = body();
    let signed = headers(SECRET, now(), &body);
    refused(&client, body.clone(), &signed[1..], "no timestamp").await;
    refused(&client, body.clone(), &signed[..1], "no signature").await;
    refused(&client, body.clone(), &[], "no headers").await;
}

#[tokio::test]
async fn a_signature_not_in_the_v1_form_is_refused() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = body();
    let t = now();
    let hex = signature(SECRET, t, &body);
    for form in [
        hex.clone(),
        format!("v2={hex}"),
        format!("v1={}", &hex[..63]),
    ] {
        let headers = [
            ("X-Dps-Timestamp", t.to_string()),
            ("X-Dps-Signature", form),
        ];
        refused(&client, body.clone(), &headers, "signature form").await;
    }
}

#[tokio::test]
async fn a_refused_mutation_applies_nothing() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let mut client = Client::new(&server.url);
    client.secret = "another-secret".to_owned();
    let answer = client
        .call(&common::onboard(
            "7d1f0c52-0a3e-4c55-8f0e-2f6f5f3b9a01",
            "SN-1",
            "thermostat",
        ))
        .await
        .unwrap();
    assert_eq!(answer.status, 401);
    let snapshot = server.platform.snapshot();
    assert!(snapshot.applied.is_empty());
    assert!(snapshot.assets.is_empty());
    assert_eq!(
        snapshot.requested["7d1f0c52-0a3e-4c55-8f0e-2f6f5f3b9a01"],
        1
    );
}
