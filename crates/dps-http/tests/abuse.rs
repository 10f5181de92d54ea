//! Bad input at volume: a flood of badly signed bootstraps from one address, and a client
//! that never finishes its request's head. Each gets its answer, and the server keeps
//! serving everyone else.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::Harness;
use dps_core::{EventCursor, EventKind, Store};
use dps_http::testing::{Client, TestServer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn ten_thousand_bad_bootstraps_from_one_address_are_refused_and_barely_logged() {
    // A burst of 20 that refills over an hour: nothing refills during the test.
    let limits = dps_http::Options::default().with_bootstrap_limits(
        dps_http::RateLimit::new(20, Duration::from_secs(3600)),
        dps_http::RateLimit::unlimited(),
    );
    let h = Harness::with_options(limits).await;
    let g = h.group("g").await;
    h.device(&g, "SN-1", "m1").await;
    let before = h
        .store
        .events(EventCursor::START, 100_000)
        .await
        .unwrap()
        .len();
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let body = json!({"group_id": g, "serial": "SN-1", "timestamp": i,
                          "signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="});
        let a = h
            .call(Method::POST, "/v1/bootstrap", None, Some(body))
            .await;
        assert!(
            a.code() == "unauthorized" || a.code() == "rate_limited",
            "{a:?}"
        );
        *statuses.entry(a.status.as_u16()).or_insert(0) += 1;
    }
    // The address's burst gets its 401s; every request after it waits.
    let refused = statuses[&401];
    assert_eq!(refused, 20, "{statuses:?}");
    assert_eq!(statuses[&429], 10_000 - refused);
    // Only the refusals that reached the provisioner were recorded, and nothing else.
    let events = h.store.events(EventCursor::START, 100_000).await.unwrap();
    let new = &events[before..];
    assert_eq!(new.len(), refused);
    assert!(
        new.iter()
            .all(|e| matches!(e.kind, EventKind::BootstrapRefused { .. }))
    );
    // Everyone else is still served.
    let a = h
        .admin(Method::GET, &format!("/v1/groups/{g}/devices/SN-1"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let m = h.call(Method::GET, "/metrics", None, None).await;
    assert!(
        m.text
            .contains("dps_bootstrap_total{outcome=\"rate_limited\"}"),
        "{}",
        m.text
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_cut_off_while_others_are_served() {
    let h = Harness::new().await;
    let server = TestServer::start_with(h.app.clone(), Duration::from_millis(300))
        .await
        .unwrap();
    let mut slow = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    slow.write_all(b"GET /v1/groups HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Another client is answered while the slow one dawdles.
    let a = Client::new(server.addr())
        .with_token(h.admin.clone())
        .send(Method::GET, "/v1/groups", &[], "")
        .await
        .unwrap();
    assert_eq!(a.status, StatusCode::OK);
    // The slow one's connection is closed by the server: the read ends (with a 408 answer
    // or none at all) instead of waiting forever.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_server_stops_after_the_requests_in_flight() {
    let h = Harness::new().await;
    let server = TestServer::start(h.app.clone()).await.unwrap();
    let client = Client::new(server.addr()).with_token(h.admin.clone());
    let a = client.send(Method::GET, "/healthz", &[], "").await.unwrap();
    assert_eq!(a.status, StatusCode::OK);
    let addr = server.addr();
    server.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_body_that_stalls_is_refused_while_others_are_served() {
    let options = dps_http::Options::default().with_body_read_timeout(Duration::from_millis(300));
    let h = Harness::with_options(options).await;
    let g = h.group("g").await;
    let server = TestServer::start(h.app.clone()).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /v1/groups/{g}/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"serial\":",
        h.admin
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let a = Client::new(server.addr())
        .with_token(h.admin.clone())
        .send(Method::GET, "/v1/groups", &[], "")
        .await
        .unwrap();
    assert_eq!(a.status, StatusCode::OK);
    // The stalled request gets its refusal; nothing was registered.
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), slow.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 4"), "{text}");
    let listed = h
        .admin(Method::GET, &format!("/v1/groups/{g}/devices"), None)
        .await;
    assert_eq!(listed.body["items"], json!([]));
    server.stop().await;
}
