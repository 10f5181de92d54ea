//! `POST /v1/bootstrap`: the device-facing call of `docs/bootstrap.md`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Json;
use axum::extract::rejection::JsonRejection;
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

fn rate_limited(wait: std::time::Duration) -> Problem {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many bootstrap requests; retry after the time Retry-After gives",
    )
    .retry_after(wait.as_secs_f64().ceil() as u64)
}

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
    let body: Result<Json<BootstrapRequest>, JsonRejection> =
        <Json<BootstrapRequest> as axum::extract::FromRequest<Api>>::from_request(request, api)
            .await;
    let Json(body) = body?;
    api.inner
        .per_group
        .take(&body.claims.group_id)
        .map_err(rate_limited)?;
    let answer = api.provisioner().bootstrap(&body).await?;
    Ok(Json(BootstrapView::from(&answer)).into_response())
}
