//! Batches over a selection of a group's devices, and recovery.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::job::JobKind;
use dps_core::{BatchReport, DeviceFilter, Selection, SerialNumber};
use serde::Deserialize;

use super::group_for;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::views::{BatchView, RecoverView};
use crate::{Api, DynProvisioner};

/// The body of a batch: exactly one of `{"serials": […]}`, `{"filter": {…}}` and
/// `{"all": true}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectionBody {
    #[serde(default)]
    serials: Option<Vec<SerialNumber>>,
    #[serde(default)]
    filter: Option<serde_json::Value>,
    #[serde(default)]
    all: Option<bool>,
}

impl SelectionBody {
    /// The selection, refusing a body that names none or more than one.
    pub(crate) fn selection(self, max_serials: usize) -> Result<Selection, Problem> {
        let invalid = || {
            Problem::invalid(
                "invalid_selection",
                "the body names exactly one of \"serials\", \"filter\" and \"all\": true",
            )
        };
        match (self.serials, self.filter, self.all) {
            (Some(serials), None, None) => {
                if serials.len() > max_serials {
                    return Err(Problem::invalid(
                        "too_many_serials",
                        format!("a batch names at most {max_serials} serials; use a filter"),
                    ));
                }
                Ok(Selection::Serials(serials))
            }
            (None, Some(filter), None) if filter.is_object() => DeviceFilter::deserialize(filter)
                .map(Selection::Filter)
                .map_err(|e| Problem::invalid("invalid_filter", e.to_string())),
            (None, None, Some(true)) => Ok(Selection::all()),
            // `{"all": false}` selects nothing.
            (None, None, Some(false)) => Ok(Selection::Serials(Vec::new())),
            _ => Err(invalid()),
        }
    }
}

/// The selection body as the OpenAPI document describes it: exactly one of three shapes.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "a description of the body for the OpenAPI document"
)]
pub(crate) enum SelectionDoc {
    /// These serials, in this order; unknown ones are reported as not found.
    #[schema(title = "serials")]
    Serials {
        /// The serials.
        serials: Vec<SerialText>,
    },
    /// Every device that matches the filter.
    #[schema(title = "filter")]
    Filter {
        /// The filter.
        filter: FilterDoc,
    },
    /// Every device of the group (`true`), or none (`false`).
    #[schema(title = "all")]
    All {
        /// Whether every device is selected.
        all: bool,
    },
}

/// A serial number, as the OpenAPI document describes it.
#[derive(serde::Serialize)]
#[allow(
    dead_code,
    reason = "a description of the body for the OpenAPI document"
)]
pub(crate) struct SerialText(String);

impl utoipa::PartialSchema for SerialText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[A-Za-z0-9._:-]{1,64}$"))
            .into()
    }
}

impl utoipa::ToSchema for SerialText {}

/// A device filter: every field is optional, and a device matches all that are given.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "a description of the body for the OpenAPI document"
)]
pub(crate) struct FilterDoc {
    /// `not_allocated`, `pending` or `allocated`.
    #[schema(pattern = "^(not_allocated|pending|allocated)$")]
    status: Option<String>,
    /// The batch tag.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    batch_tag: Option<String>,
    /// The model.
    #[schema(pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    model_id: Option<String>,
    /// The device's own target, `{"environment", "ou"}`.
    #[schema(value_type = Option<Object>)]
    target: Option<()>,
    /// The target the device is allocated to, `{"environment", "ou"}`.
    #[schema(value_type = Option<Object>)]
    allocated_to: Option<()>,
    /// A serial prefix.
    #[schema(pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    serial_prefix: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Allocate,
    Reset,
    Delete,
}

async fn run(
    api: Api,
    caller: Caller,
    reference: String,
    body: Result<super::JsonBody<SelectionBody>, Problem>,
    op: Op,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let super::JsonBody(body) = body?;
    let selection = body.selection(api.options().max_batch_serials)?;
    let dps: DynProvisioner = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let kind = match op {
        Op::Allocate => JobKind::Allocate,
        Op::Reset => JobKind::Reset,
        Op::Delete => JobKind::Delete,
    };
    if let Some(job) = api.job_if_large(&dps, kind, group.id(), &selection).await? {
        return Ok(crate::jobs::accepted(&job));
    }
    let report: BatchReport = match op {
        Op::Allocate => dps.allocate(group.id(), &selection).await?,
        Op::Reset => dps.reset(group.id(), &selection).await?,
        Op::Delete => dps.delete(group.id(), &selection).await?,
    };
    let name = match op {
        Op::Allocate => "allocate",
        Op::Reset => "reset",
        Op::Delete => "delete",
    };
    api.inner.metrics.batch(name, report.outcomes.len());
    Ok(Json(BatchView::from(&report)).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices:allocate",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    request_body = SelectionDoc,
    responses((status = 200, description = "one outcome per device", body = crate::views::BatchView<'static>), (status = 202, description = "a selection over the job threshold: the job that runs it, at the Location", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn allocate(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<super::JsonBody<SelectionBody>, Problem>,
) -> Result<Response, Problem> {
    run(api, caller, reference, body, Op::Allocate).await
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices:reset",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    request_body = SelectionDoc,
    responses((status = 200, description = "one outcome per device", body = crate::views::BatchView<'static>), (status = 202, description = "a selection over the job threshold: the job that runs it, at the Location", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn reset(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<super::JsonBody<SelectionBody>, Problem>,
) -> Result<Response, Problem> {
    run(api, caller, reference, body, Op::Reset).await
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices:delete",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    request_body = SelectionDoc,
    responses((status = 200, description = "one outcome per device", body = crate::views::BatchView<'static>), (status = 202, description = "a selection over the job threshold: the job that runs it, at the Location", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn delete(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<super::JsonBody<SelectionBody>, Problem>,
) -> Result<Response, Problem> {
    run(api, caller, reference, body, Op::Delete).await
}

#[utoipa::path(
    post,
    path = "/v1/recover",
    tag = "operations",
    responses((status = 200, description = "the operations completed and the leases still held", body = crate::views::RecoverView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn recover(State(api): State<Api>, caller: Caller) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    if !caller.token().groups().is_empty() {
        return Err(Problem::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "recovery works on every group; a token limited to groups cannot run it",
        ));
    }
    let report = api.acting_for(&caller).recover().await?;
    Ok(Json(RecoverView::from(&report)).into_response())
}
