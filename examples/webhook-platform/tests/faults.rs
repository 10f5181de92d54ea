//! Each scripted fault does what it says, on the next requests only.

mod common;

use std::time::Duration;

use common::{Client, config, onboard, serve, target};
use serde_json::json;
use webhook_platform::{Fault, Platform};

const OP: &str = "c3a1e2f4-5b6d-4e7f-8a9b-0c1d2e3f4a5b";

fn model_exists() -> serde_json::Value {
    json!({"call": "model_exists", "target": target(), "model_id": "thermostat"})
}

#[tokio::test]
async fn queued_statuses_answer_the_next_requests_in_order_then_the_platform_answers() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let faults = server.platform.faults();
    let client = Client::new(&server.url);
    faults.push(Fault::Status(500));
    faults.push(Fault::Status(503));
    assert_eq!(faults.queued(), 2);
    let body = onboard(OP, "SN-1", "thermostat");
    let first = client.call(&body).await.unwrap();
    assert_eq!(
        (first.status, &first.json),
        (500, &json!({"reason": "injected fault"}))
    );
    let second = client.call(&body).await.unwrap();
    assert_eq!(second.status, 503);
    assert!(server.platform.snapshot().applied.is_empty());
    let third = client.call(&body).await.unwrap();
    assert_eq!(third.status, 200, "{}", third.text);
    assert_eq!(faults.queued(), 0);
    let snapshot = server.platform.snapshot();
    assert_eq!((snapshot.applied[OP], snapshot.requested[OP]), (1, 3));
}

#[tokio::test]
async fn push_times_faults_exactly_the_next_n_requests() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    server.platform.faults().push_times(Fault::Status(502), 3);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(client.call(&model_exists()).await.unwrap().status);
    }
    assert_eq!(statuses, [502, 502, 502, 200, 200]);
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    server
        .platform
        .faults()
        .push(Fault::TooManyRequests { retry_after: 7 });
    let answer = client.call(&model_exists()).await.unwrap();
    assert_eq!(answer.status, 429);
    assert_eq!(answer.retry_after.as_deref(), Some("7"));
}

#[tokio::test]
async fn a_reject_answers_its_status_and_reason_and_applies_nothing() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    server.platform.faults().push(Fault::Reject {
        status: 409,
        reason: "serial SN-1 is registered elsewhere".to_owned(),
    });
    let answer = client
        .call(&onboard(OP, "SN-1", "thermostat"))
        .await
        .unwrap();
    assert_eq!(answer.status, 409);
    assert_eq!(
        answer.json,
        json!({"reason": "serial SN-1 is registered elsewhere"})
    );
    assert!(server.platform.snapshot().applied.is_empty());
}

#[tokio::test]
async fn down_answers_503_to_every_request_until_cleared() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let faults = server.platform.faults();
    faults.set_down(true);
    faults.push(Fault::Status(500));
    assert!(faults.is_down());
    for _ in 0..3 {
        let answer = client
            .call(&onboard(OP, "SN-1", "thermostat"))
            .await
            .unwrap();
        assert_eq!(answer.status, 503);
        assert_eq!(answer.json, json!({"reason": "platform is down"}));
    }
    // Down leaves the queue alone; clear empties it and brings the platform up.
    assert_eq!(faults.queued(), 1);
    faults.clear();
    assert!(!faults.is_down());
    let answer = client
        .call(&onboard(OP, "SN-1", "thermostat"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let snapshot = server.platform.snapshot();
    assert_eq!((snapshot.applied[OP], snapshot.requested[OP]), (1, 4));
}

#[tokio::test]
async fn set_down_false_brings_the_platform_back() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let faults = server.platform.faults();
    faults.set_down(true);
    assert_eq!(client.call(&model_exists()).await.unwrap().status, 503);
    faults.set_down(false);
    assert_eq!(client.call(&model_exists()).await.unwrap().status, 200);
}

#[tokio::test]
async fn a_hang_outlasts_the_clients_timeout_and_applies_nothing() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let faults = server.platform.faults();
    faults.push(Fault::Hang);
    let client = Client::with_timeout(&server.url, Duration::from_millis(300));
    let error = client
        .call(&onboard(OP, "SN-1", "thermostat"))
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(server.platform.snapshot().applied.is_empty());
    faults.release();
    let answer = client
        .call(&onboard(OP, "SN-1", "thermostat"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(server.platform.snapshot().applied[OP], 1);
}

#[tokio::test]
async fn a_released_hang_answers_503_without_applying() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let faults = server.platform.faults();
    faults.push(Fault::Hang);
    let client = Client::new(&server.url);
    let body = onboard(OP, "SN-1", "thermostat");
    let call = tokio::spawn(async move { client.call(&body).await.unwrap() });
    // Wait for the request to be held: yield to the server until it is.
    while faults.hanging() == 0 {
        tokio::task::yield_now().await;
    }
    faults.release();
    let answer = call.await.unwrap();
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.json,
        json!({"reason": "released from an injected hang"})
    );
    assert_eq!(faults.hanging(), 0);
    assert!(server.platform.snapshot().applied.is_empty());
}

#[tokio::test]
async fn apply_then_drop_applies_and_the_client_sees_a_connection_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform.jsonl");
    let mut config = config();
    config.data_file = Some(data.clone());
    let server = serve(Platform::new(config).unwrap()).await;
    let client = Client::new(&server.url);
    // A first request, so the dropped one may travel on a reused connection too.
    assert_eq!(client.call(&model_exists()).await.unwrap().status, 200);
    server.platform.faults().push(Fault::ApplyThenDrop);
    let body = onboard(OP, "SN-1", "thermostat");
    let error = client.call(&body).await.unwrap_err();
    assert!(error.status().is_none(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    let snapshot = server.platform.snapshot();
    assert_eq!(snapshot.applied[OP], 1);
    let (asset_id, asset) = snapshot.assets.iter().next().unwrap();
    assert_eq!(std::fs::read_to_string(&data).unwrap().lines().count(), 1);
    // The retry gets the answer that was lost.
    let retry = client.call(&body).await.unwrap();
    assert_eq!(retry.status, 200);
    assert_eq!(retry.json["asset_id"], asset_id.as_str());
    assert_eq!(retry.json["device_key"], asset.device_key.as_str());
    assert_eq!(server.platform.snapshot().applied[OP], 1);
}

#[tokio::test]
async fn apply_then_drop_closes_the_socket_without_a_byte_of_the_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = serve(Platform::new(config()).unwrap()).await;
    server.platform.faults().push(Fault::ApplyThenDrop);
    let body = serde_json::to_vec(&onboard(OP, "SN-1", "thermostat")).unwrap();
    let t = common::now();
    let sig = webhook_platform::signature(common::SECRET, t, &body);
    let address = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Dps-Timestamp: {t}\r\nX-Dps-Signature: v1={sig}\r\n\
         Idempotency-Key: {OP}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    let mut received = Vec::new();
    // The server closes the connection (a clean end or a reset) having written nothing.
    let _ = socket.read_to_end(&mut received).await;
    assert_eq!(String::from_utf8_lossy(&received), "");
    assert_eq!(server.platform.snapshot().applied[OP], 1);
}

#[tokio::test]
async fn malformed_answers_200_with_a_body_that_is_not_the_answer() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    server.platform.faults().push(Fault::Malformed);
    let body = onboard(OP, "SN-1", "thermostat");
    let answer = client.call(&body).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text, r#"{"asset_id": 5"#);
    assert!(serde_json::from_str::<serde_json::Value>(&answer.text).is_err());
    assert_eq!(server.platform.snapshot().applied[OP], 1);
    let retry = client.call(&body).await.unwrap();
    assert!(retry.json["asset_id"].is_string(), "{}", retry.text);
    assert_eq!(server.platform.snapshot().applied[OP], 1);
}

#[tokio::test]
async fn the_state_route_takes_no_fault() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let faults = server.platform.faults();
    faults.push(Fault::Status(500));
    faults.set_down(true);
    assert!(client.state().await["assets"].is_object());
    assert_eq!(faults.queued(), 1);
}
