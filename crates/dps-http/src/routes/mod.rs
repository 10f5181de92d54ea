//! The routes, one module per resource.

pub(crate) mod batch;
pub(crate) mod bootstrap;
pub(crate) mod devices;
pub(crate) mod events;
pub(crate) mod groups;
pub(crate) mod jobs;
pub(crate) mod ops;
pub(crate) mod transfer;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::routing::{get, post};
use dps_core::{RegistrationGroup, Version};

use crate::auth::Caller;
use crate::problem::Problem;
use crate::{Api, DynProvisioner};

/// Every route of the service. The routes that change state take an `Idempotency-Key`.
pub(crate) fn routes(api: &Api) -> Router<Api> {
    let changing = Router::new()
        .route("/v1/groups", post(groups::create))
        .route(
            "/v1/groups/{group}",
            axum::routing::patch(groups::edit).delete(groups::delete),
        )
        .route("/v1/groups/{group}/secret:rotate", post(groups::rotate))
        .route("/v1/groups/{group}/devices", post(devices::register))
        .route(
            "/v1/groups/{group}/devices:generate",
            post(devices::generate),
        )
        .route("/v1/groups/{group}/devices:allocate", post(batch::allocate))
        .route("/v1/groups/{group}/devices:reset", post(batch::reset))
        .route("/v1/groups/{group}/devices:delete", post(batch::delete))
        .route(
            "/v1/groups/{group}/devices/{serial}",
            axum::routing::patch(devices::edit).delete(devices::delete),
        )
        .route(
            "/v1/groups/{group}/devices/{serial}/replace",
            post(devices::replace),
        )
        .route("/v1/recover", post(batch::recover))
        .route("/v1/jobs/{job}/cancel", post(jobs::cancel))
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            crate::idempotency::layer,
        ));
    let reading = Router::new()
        .route("/v1/groups", get(groups::list))
        .route("/v1/groups/{group}", get(groups::show))
        .route("/v1/groups/{group}/devices", get(devices::list))
        .route(
            "/v1/groups/{group}/devices:template",
            get(devices::template),
        )
        .route(
            "/v1/groups/{group}/devices:export",
            get(transfer::export).post(transfer::export_selected),
        )
        .route(
            "/v1/groups/{group}/devices:qr",
            get(transfer::qr).post(transfer::qr_selected),
        )
        .route("/v1/groups/{group}/devices/{serial}", get(devices::show))
        .route("/v1/events", get(events::list))
        .route("/v1/jobs", get(jobs::list))
        .route("/v1/jobs/{job}", get(jobs::show))
        .route("/v1/jobs/{job}/results", get(jobs::results))
        .route("/v1/jobs/{job}/file", get(jobs::file))
        // An upload streams through the import and is never buffered whole, so neither the
        // body limit of JSON requests nor the buffering of idempotent requests applies; the
        // import's own limits do.
        .route(
            "/v1/groups/{group}/devices:import",
            post(transfer::import).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/v1/bootstrap", post(bootstrap::bootstrap))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(crate::metrics::metrics))
        .route("/openapi.json", get(crate::openapi::serve));
    let routes = changing.merge(reading);
    #[cfg(feature = "console")]
    let routes = routes.merge(crate::console::routes());
    routes.fallback(ops::not_found)
}

/// The group that `reference` (an ID or a unique name) names among the groups `caller`
/// reaches; 404 for any other, exactly as for a missing one.
pub(crate) async fn group_for(
    dps: &DynProvisioner,
    caller: &Caller,
    reference: &str,
) -> Result<RegistrationGroup, Problem> {
    Ok(dps
        .find_group_in(reference, |id| caller.reaches(id))
        .await?)
}

/// The `ETag` of a record at `version`: the version in quotes.
pub(crate) fn etag(version: Version) -> (header::HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(&format!("\"{}\"", version.get()))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    (header::ETAG, value)
}

/// The version of `If-Match` (`"3"`, `W/"3"` or `3`), when the request has one.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<Version>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        Problem::bad_request(
            "invalid_if_match",
            "If-Match must be the version of the record, as its ETag gives it",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let n: u64 = text.parse().map_err(|_| invalid())?;
    Ok(Some(Version::new(n)))
}

/// The 412 of an `If-Match` that names another version than the record's.
pub(crate) fn version_mismatch(expected: Version, actual: Version) -> Problem {
    Problem::new(
        axum::http::StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
        format!(
            "If-Match names version {}, but the record is at version {}",
            expected.get(),
            actual.get()
        ),
    )
}

/// A page size: `limit` (1 to the service's maximum), 100 when absent.
pub(crate) fn page_size(api: &Api, limit: Option<u64>) -> Result<usize, Problem> {
    let max = api.options().max_page;
    match limit {
        None => Ok(100.min(max)),
        Some(n) if n >= 1 && n <= max as u64 => Ok(n as usize),
        Some(_) => Err(Problem::invalid(
            "invalid_query",
            format!("limit must be from 1 to {max}"),
        )),
    }
}

/// A target in a request body: `"environment/ou"` or `{"environment", "ou"}`.
#[derive(Debug, Clone)]
pub(crate) struct TargetField(pub(crate) dps_core::Target);

impl<'de> serde::Deserialize<'de> for TargetField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TargetField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a target as \"environment/ou\" or {\"environment\", \"ou\"}")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<TargetField, E> {
                s.parse().map(TargetField).map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TargetField, A::Error> {
                serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TargetField)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A JSON request body that must be an object: read as axum's `Json` reads it (content
/// type, size limit, syntax), refused with 422 `invalid_body` when it is not an object or
/// does not fit `T`. A number written with a zero fraction (`5.0`) is the integer it equals,
/// as JSON Schema has it.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<Api> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, api: &Api) -> Result<Self, Problem> {
        let axum::Json(mut value) = <axum::Json<serde_json::Value> as axum::extract::FromRequest<
            Api,
        >>::from_request(request, api)
        .await?;
        if !value.is_object() {
            return Err(Problem::invalid(
                "invalid_body",
                "the request body must be a JSON object",
            ));
        }
        let options = api.options();
        check_shape(&value, 1, options.max_json_depth, options.max_json_string)?;
        whole_numbers(&mut value);
        T::deserialize(value)
            .map(JsonBody)
            .map_err(|e| Problem::invalid("invalid_body", e.to_string()))
    }
}

/// Refuses a body nested deeper than `max_depth` (the body itself is at depth 1) or with a
/// string (a value or a field name) longer than `max_string` bytes.
fn check_shape(
    value: &serde_json::Value,
    depth: usize,
    max_depth: usize,
    max_string: usize,
) -> Result<(), Problem> {
    use serde_json::Value;
    let long = |s: &str| {
        if s.len() > max_string {
            Err(Problem::invalid(
                "field_too_large",
                format!("a string of the body is longer than {max_string} bytes"),
            ))
        } else {
            Ok(())
        }
    };
    let nested = matches!(value, Value::Array(_) | Value::Object(_));
    if nested && depth > max_depth {
        return Err(Problem::invalid(
            "json_too_deep",
            format!("the body nests arrays and objects deeper than {max_depth} levels"),
        ));
    }
    match value {
        Value::String(s) => long(s),
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| check_shape(v, depth + 1, max_depth, max_string)),
        Value::Object(fields) => fields.iter().try_for_each(|(k, v)| {
            long(k)?;
            check_shape(v, depth + 1, max_depth, max_string)
        }),
        _ => Ok(()),
    }
}

/// Turns every number of `value` that has a zero fraction and fits an integer into that
/// integer.
fn whole_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= 9_007_199_254_740_992.0
            {
                // Exact: |f| is at most 2^53.
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}
