//! `POST /v1/bootstrap`: the device-facing call of `docs/bootstrap.md`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use dps_core::bootstrap::BootstrapRequest;

use crate::Api;
use crate::problem::Problem;
use crate::views::BootstrapView;

/// The client's address, when the server recorded it (`ConnectInfo`); requests of a server
/// that does not share one bucket.
fn client(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// The request of `docs/bootstrap.md`, as the OpenAPI document describes it; the handler
/// reads it as a [`BootstrapRequest`].
#[derive(utoipa::ToSchema)]
#[allow(
    dead_code,
    reason = "a description of the body for the OpenAPI document"
)]
pub(crate) struct BootstrapBody {
    /// The registration group's ID.
    #[schema(
        pattern = r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|\{[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}|urn:uuid:[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"
    )]
    group_id: String,
    /// The device's serial number.
    #[schema(pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    serial: String,
    /// Seconds since the Unix epoch when the request was made.
    timestamp: i64,
    /// The device's name, at first contact.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    name: Option<String>,
    /// The device's UTC offset, `±HH:MM`.
    #[schema(
        pattern = r"^(?:[+-](?:0[0-9]|1[01]):[0-5][0-9]|[+-]12:00|\+1[23]:[0-5][0-9]|\+14:00)$"
    )]
    timezone: Option<String>,
    /// Base64 of HMAC-SHA256 over the canonical string with the device key.
    signature: String,
}

fn rate_limited(wait: std::time::Duration) -> Problem {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many bootstrap requests; retry after the time Retry-After gives",
    )
    .retry_after(wait.as_secs_f64().ceil() as u64)
}

#[utoipa::path(
    post,
    path = "/v1/bootstrap",
    tag = "bootstrap",
    request_body = BootstrapBody,
    responses((status = 200, description = "where the device connects, with its credentials", body = crate::views::BootstrapView<'static>), crate::problem::Refused),
)]
pub(crate) async fn bootstrap(
    State(api): State<Api>,
    request: axum::extract::Request,
) -> Result<Response, Problem> {
    let result = answer(&api, request).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(p) => p.code(),
    };
    api.inner.metrics.bootstrap(outcome);
    result
}

async fn answer(api: &Api, request: axum::extract::Request) -> Result<Response, Problem> {
    let address = client(request.extensions());
    api.inner.per_address.take(&address).map_err(rate_limited)?;
    let super::JsonBody(body) = <super::JsonBody<BootstrapRequest> as axum::extract::FromRequest<
        Api,
    >>::from_request(request, api)
    .await?;
    api.inner
        .per_group
        .take(&body.claims.group_id)
        .map_err(rate_limited)?;
    let answer = api.provisioner().bootstrap(&body).await?;
    Ok(Json(BootstrapView::from(&answer)).into_response())
}
