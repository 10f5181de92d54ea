//! The OpenAPI document: the committed `docs/openapi.json` is the one the code generates,
//! and `GET /openapi.json` serves it.

mod common;

use axum::http::{Method, StatusCode};
use common::Harness;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = dps_http::openapi::json();
    if std::env::var_os("DPS_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the routes; regenerate it with \
         DPS_UPDATE_OPENAPI=1 cargo test -p dps-http --test openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every route of the service is in it.
    for path in [
        "/v1/groups",
        "/v1/groups/{group}",
        "/v1/groups/{group}/secret:rotate",
        "/v1/groups/{group}/devices",
        "/v1/groups/{group}/devices:generate",
        "/v1/groups/{group}/devices:template",
        "/v1/groups/{group}/devices:import",
        "/v1/groups/{group}/devices:export",
        "/v1/groups/{group}/devices:qr",
        "/v1/groups/{group}/devices:allocate",
        "/v1/groups/{group}/devices:reset",
        "/v1/groups/{group}/devices:delete",
        "/v1/groups/{group}/devices/{serial}",
        "/v1/groups/{group}/devices/{serial}/replace",
        "/v1/recover",
        "/v1/events",
        "/v1/bootstrap",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is missing");
    }
}

#[tokio::test]
async fn the_service_serves_its_document() {
    let h = Harness::new().await;
    let a = h.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text, dps_http::openapi::json());
}
