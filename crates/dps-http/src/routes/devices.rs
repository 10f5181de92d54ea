//! `/v1/groups/{group}/devices`: list, register, generate, show, edit, delete, replace, and
//! the import template.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::attribute::{AttributeSchema, AttributeValue, AttributeValues};
use dps_core::state::AllocationStatus;
use dps_core::{
    AttributeId, BatchTag, Description, Device, DeviceEdit, DeviceFilter, DeviceName, DeviceQuery,
    GenerateSpec, ModelId, NewDevice, NewSerial, ReplaceRequest, SerialNumber, Target, Timezone,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{etag, group_for, if_match, page_size, version_mismatch};
use crate::auth::Caller;
use crate::problem::Problem;
use crate::views::{DeviceView, PageView};
use crate::{Api, DynProvisioner};

/// Deserialises a field that is present, `null` included, as `Some`: `Some(None)` clears it.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The filters of a device listing, an export or a QR archive.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FilterQuery {
    /// Only devices in this status.
    #[param(pattern = "^(not_allocated|pending|allocated)$")]
    status: Option<String>,
    /// Only devices with this batch tag.
    #[param(
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$",
        max_length = 64
    )]
    batch_tag: Option<String>,
    /// Only devices of this model.
    #[param(pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    model_id: Option<String>,
    /// Only devices whose own target is this `environment/ou`.
    #[param(pattern = r"^[A-Za-z0-9._:-]{1,64}/[A-Za-z0-9._:-]{1,64}$")]
    target: Option<String>,
    /// Only devices allocated to this `environment/ou`.
    #[param(pattern = r"^[A-Za-z0-9._:-]{1,64}/[A-Za-z0-9._:-]{1,64}$")]
    allocated_to: Option<String>,
    /// Only devices whose serial starts with this.
    #[param(pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    serial_prefix: Option<String>,
}

/// `limit`, `cursor` and `include_secrets` of a device listing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// The most devices on the page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    cursor: Option<String>,
    /// Include device secrets (admin only).
    pub(crate) include_secrets: Option<bool>,
}

impl FilterQuery {
    /// The filter of the query's parameters, each validated.
    pub(crate) fn filter(&self) -> Result<DeviceFilter, Problem> {
        Ok(DeviceFilter {
            status: self
                .status
                .as_deref()
                .map(str::parse::<AllocationStatus>)
                .transpose()?,
            batch_tag: self.batch_tag.as_deref().map(BatchTag::new).transpose()?,
            model_id: self.model_id.as_deref().map(ModelId::new).transpose()?,
            target: self
                .target
                .as_deref()
                .map(str::parse::<Target>)
                .transpose()?,
            allocated_to: self
                .allocated_to
                .as_deref()
                .map(str::parse::<Target>)
                .transpose()?,
            serial_prefix: self
                .serial_prefix
                .as_deref()
                .map(SerialNumber::new)
                .transpose()?,
        })
    }
}

/// Whether the caller asked for device secrets, refusing a caller who may not read them.
fn secrets_wanted(caller: &Caller, value: Option<bool>) -> Result<bool, Problem> {
    let wanted = value.unwrap_or(false);
    if wanted && !caller.sees_secrets() {
        return Err(Problem::forbidden(Role::Admin));
    }
    Ok(wanted)
}

/// The view of `device`, with its device secret opened when `secrets` are wanted.
fn view<'d>(
    dps: &DynProvisioner,
    device: &'d Device,
    secrets: bool,
) -> Result<DeviceView<'d>, Problem> {
    Ok(if secrets {
        DeviceView::with_secret(device, dps.credentials(device)?)
    } else {
        DeviceView::from(device)
    })
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group}/devices",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), FilterQuery, ListQuery),
    responses((status = 200, description = "a page of devices", body = crate::views::PageView<crate::views::DeviceView<'static>>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    filter: Result<Query<FilterQuery>, QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query?;
    let secrets = secrets_wanted(&caller, query.include_secrets)?;
    let filter = filter?.0.filter()?;
    let after = query
        .cursor
        .as_deref()
        .map(SerialNumber::new)
        .transpose()
        .map_err(|_| {
            Problem::invalid(
                "invalid_cursor",
                "cursor must be a next_cursor of a listing",
            )
        })?;
    let dps = api.provisioner();
    let group = group_for(dps, &caller, &reference).await?;
    let page = dps
        .devices(
            &DeviceQuery::new(group.id(), filter),
            after,
            page_size(&api, query.limit)?,
        )
        .await?;
    let views = page
        .items
        .iter()
        .map(|d| view(dps, d, secrets))
        .collect::<Result<_, _>>()?;
    Ok(Json(PageView::new(
        views,
        page.next.map(SerialNumber::into_string),
    ))
    .into_response())
}

/// Attribute values of a request body, as text (a number is taken as its text), each
/// checked against the group's schema; `null` where the caller may clear a value.
fn attribute_values(
    schema: &AttributeSchema,
    given: BTreeMap<String, Value>,
) -> Result<BTreeMap<AttributeId, Option<AttributeValue>>, Problem> {
    let mut values = BTreeMap::new();
    for (id, value) in given {
        let def = schema.get(&id).ok_or_else(|| {
            Problem::invalid(
                "invalid_attribute",
                format!("attribute {id:?} is not in the group's schema"),
            )
        })?;
        let text = match value {
            Value::Null => {
                values.insert(def.id.clone(), None);
                continue;
            }
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => {
                return Err(Problem::invalid(
                    "invalid_attribute",
                    format!("attribute {id:?} must be text or a number, not {other}"),
                ));
            }
        };
        values.insert(def.id.clone(), Some(def.parse_value(&text)?));
    }
    Ok(values)
}

/// The body of `POST /v1/groups/{group}/devices`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Register {
    #[schema(value_type = String, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    serial: SerialNumber,
    #[schema(value_type = String, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    model_id: ModelId,
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    name: Option<DeviceName>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^(?:[+-](?:0[0-9]|1[01]):[0-5][0-9]|[+-]12:00|\+1[23]:[0-5][0-9]|\+14:00)$")]
    timezone: Option<Timezone>,
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    batch_tag: Option<BatchTag>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 512, pattern = r"^(?:[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?)?$")]
    description: Option<Description>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._:-]{1,64}/[A-Za-z0-9._:-]{1,64}$")]
    target: Option<super::TargetField>,
    #[serde(default)]
    #[schema(value_type = Object)]
    attributes: BTreeMap<String, Value>,
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    request_body = Register,
    responses((status = 201, description = "the new device", body = crate::views::DeviceView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn register(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<super::JsonBody<Register>, Problem>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let super::JsonBody(body) = body?;
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let mut new = NewDevice::new(body.serial, body.model_id);
    new.name = body.name;
    new.timezone = body.timezone;
    new.batch_tag = body.batch_tag;
    new.description = body.description;
    new.target = body.target.map(|t| t.0);
    let mut values = AttributeValues::default();
    for (id, value) in attribute_values(group.attributes(), body.attributes)? {
        if let Some(value) = value {
            values.insert(id, value);
        }
    }
    new.attributes = values;
    let device = dps.register(group.id(), new).await?;
    Ok((
        StatusCode::CREATED,
        [etag(device.version())],
        Json(DeviceView::from(&device)),
    )
        .into_response())
}

/// The body of `POST /v1/groups/{group}/devices:generate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Generate {
    #[schema(value_type = u64, minimum = 1, maximum = 10_000)]
    count: usize,
    #[schema(value_type = String, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    model_id: ModelId,
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    batch_tag: Option<BatchTag>,
}

/// The answer of `devices:generate`: how many were registered, and why others were not.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct Generated<'a> {
    registered: usize,
    rejected: usize,
    errors: Vec<crate::views::ErrorView<'a>>,
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices:generate",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    request_body = Generate,
    responses((status = 201, description = "how many were registered", body = Generated<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn generate(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<super::JsonBody<Generate>, Problem>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let super::JsonBody(body) = body?;
    let max = api.options().max_generate;
    if body.count == 0 || body.count > max {
        return Err(Problem::invalid(
            "invalid_count",
            format!("count must be from 1 to {max}"),
        ));
    }
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let spec = GenerateSpec {
        model_id: body.model_id,
        batch_tag: body.batch_tag,
    };
    let report = dps.generate(group.id(), body.count, spec).await?;
    let doc = Generated {
        registered: report.registered(),
        rejected: report.rejected(),
        errors: report
            .refused
            .iter()
            .map(|e| crate::views::ErrorView::new(e.code(), e.to_string()))
            .collect(),
    };
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

/// `?include_secrets=true` of one device.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ShowQuery {
    /// Include the device secret (admin only).
    include_secrets: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group}/devices/{serial}",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), ("serial" = String, Path, description = "a serial number, percent-encoded", pattern = r"^[A-Za-z0-9._:-]{1,64}$"), ShowQuery),
    responses((status = 200, description = "the device, its version in the ETag", body = crate::views::DeviceView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn show(
    State(api): State<Api>,
    caller: Caller,
    Path((reference, serial)): Path<(String, String)>,
    query: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query?;
    let secrets = secrets_wanted(&caller, query.include_secrets)?;
    let serial = SerialNumber::new(&serial)?;
    let dps = api.provisioner();
    let group = group_for(dps, &caller, &reference).await?;
    let device = dps.device_by_serial(group.id(), &serial).await?;
    let view = view(dps, &device, secrets)?;
    Ok(([etag(device.version())], Json(view)).into_response())
}

/// The body of `PATCH …/devices/{serial}`: the fields to change (every field but the
/// serial); `null` clears an optional field or an attribute.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Edit {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    name: Option<Option<DeviceName>>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    model_id: Option<ModelId>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = r"^(?:[+-](?:0[0-9]|1[01]):[0-5][0-9]|[+-]12:00|\+1[23]:[0-5][0-9]|\+14:00)$")]
    timezone: Option<Option<Timezone>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    batch_tag: Option<Option<BatchTag>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 512, pattern = r"^(?:[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?)?$")]
    description: Option<Option<Description>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._:-]{1,64}/[A-Za-z0-9._:-]{1,64}$")]
    target: Option<Option<super::TargetField>>,
    #[serde(default)]
    #[schema(value_type = Object)]
    attributes: BTreeMap<String, Value>,
}

#[utoipa::path(
    patch,
    path = "/v1/groups/{group}/devices/{serial}",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), ("serial" = String, Path, description = "a serial number, percent-encoded", pattern = r"^[A-Za-z0-9._:-]{1,64}$"), ("If-Match" = Option<String>, Header, nullable = false, description = "the version the device must be at", pattern = r#"^(W/)?("[0-9]{1,15}"|[0-9]{1,15})$"#)),
    request_body = Edit,
    responses((status = 200, description = "the edited device", body = crate::views::DeviceView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn edit(
    State(api): State<Api>,
    caller: Caller,
    Path((reference, serial)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<super::JsonBody<Edit>, Problem>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let super::JsonBody(body) = body?;
    let serial = SerialNumber::new(&serial)?;
    let expected = if_match(&headers)?;
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let current = dps.device_by_serial(group.id(), &serial).await?;
    if let Some(v) = expected
        && v != current.version()
    {
        return Err(version_mismatch(v, current.version()));
    }
    let edit = DeviceEdit {
        name: body.name,
        model_id: body.model_id,
        timezone: body.timezone,
        batch_tag: body.batch_tag,
        description: body.description,
        target: body.target.map(|t| t.map(|t| t.0)),
        attributes: attribute_values(group.attributes(), body.attributes)?,
        expected_version: Some(expected.unwrap_or(current.version())),
    };
    let edited = match dps.edit_device(group.id(), &serial, &edit).await {
        Err(dps_core::Error::Conflict { .. }) if expected.is_some() => {
            let now = dps.device_by_serial(group.id(), &serial).await?;
            return Err(version_mismatch(
                expected.unwrap_or(current.version()),
                now.version(),
            ));
        }
        other => other?,
    };
    Ok(([etag(edited.version())], Json(DeviceView::from(&edited))).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/groups/{group}/devices/{serial}",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), ("serial" = String, Path, description = "a serial number, percent-encoded", pattern = r"^[A-Za-z0-9._:-]{1,64}$"), ("If-Match" = Option<String>, Header, nullable = false, description = "the version the device must be at", pattern = r#"^(W/)?("[0-9]{1,15}"|[0-9]{1,15})$"#)),
    responses((status = 204, description = "the device is gone"), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn delete(
    State(api): State<Api>,
    caller: Caller,
    Path((reference, serial)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let serial = SerialNumber::new(&serial)?;
    let expected = if_match(&headers)?;
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    if let Some(v) = expected {
        let current = dps.device_by_serial(group.id(), &serial).await?;
        if v != current.version() {
            return Err(version_mismatch(v, current.version()));
        }
    }
    dps.delete_device(group.id(), &serial, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of `POST …/devices/{serial}/replace`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Replace {
    /// The new hardware's serial; a generated one when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    new_serial: Option<SerialNumber>,
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    batch_tag: BatchTag,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 512, pattern = r"^(?:[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?)?$")]
    description: Option<Description>,
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices/{serial}/replace",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), ("serial" = String, Path, description = "a serial number, percent-encoded", pattern = r"^[A-Za-z0-9._:-]{1,64}$")),
    request_body = Replace,
    responses((status = 200, description = "the device on its new hardware", body = crate::views::DeviceView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn replace(
    State(api): State<Api>,
    caller: Caller,
    Path((reference, serial)): Path<(String, String)>,
    body: Result<super::JsonBody<Replace>, Problem>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let super::JsonBody(body) = body?;
    let serial = SerialNumber::new(&serial)?;
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let request = ReplaceRequest {
        new_serial: body
            .new_serial
            .map_or(NewSerial::Generated, NewSerial::Given),
        batch_tag: body.batch_tag,
        description: body.description,
    };
    let device = dps.replace(group.id(), &serial, request).await?;
    Ok(([etag(device.version())], Json(DeviceView::from(&device))).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group}/devices:template",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    responses((status = 200, description = "the import template", body = String, content_type = "text/csv"), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn template(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
) -> Result<Response, Problem> {
    let group = group_for(api.provisioner(), &caller, &reference).await?;
    let csv = dps_csv::write_template(
        group.attributes(),
        Vec::new(),
        &dps_csv::ExportOptions::default(),
    )
    .map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )
    })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"register-device-template.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}
