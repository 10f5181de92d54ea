//! Health, readiness and the answer to an unknown route.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Api;
use crate::problem::Problem;

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "the process is up", body = Object), crate::problem::Refused),
)]
pub(crate) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// The store answers a read.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, description = "the store answers", body = Object), crate::problem::Refused),
)]
pub(crate) async fn readyz(State(api): State<Api>) -> Response {
    match api.provisioner().store().groups(None, 1).await {
        Ok(_) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "the store is not ready");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the store does not answer",
            )
            .retry_after(1)
            .into_response()
        }
    }
}

/// No route has this path.
pub(crate) async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no_route", "no route has this path")
}
