//! `/v1/groups`: list, create, show, edit, delete, rotate the secret.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::attribute::AttributeSchema;
use dps_core::bootstrap::SecretRotation;
use dps_core::{
    Description, GroupEdit, GroupId, GroupName, ModelType, NewGroup, ReprovisionMethod,
};
use serde::Deserialize;

use super::{etag, group_for, if_match, page_size, version_mismatch};
use crate::Api;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::views::{GroupDeleteView, GroupView, PageView};

/// `?limit=&cursor=` of a listing of groups.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// The most groups on the page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[param(
        pattern = r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|\{[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}|urn:uuid:[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"
    )]
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/groups",
    tag = "groups",
    params(ListQuery),
    responses((status = 200, description = "a page of the groups the token reaches", body = crate::views::PageView<crate::views::GroupView<'static>>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(api): State<Api>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query?;
    let limit = page_size(&api, query.limit)?;
    let mut after = match &query.cursor {
        Some(c) => Some(c.parse::<GroupId>().map_err(|_| {
            Problem::invalid(
                "invalid_cursor",
                "cursor must be a next_cursor of a listing",
            )
        })?),
        None => None,
    };
    // A group-limited token pages through the groups it reaches only.
    let mut items = Vec::new();
    let next = loop {
        let page = api.provisioner().groups(after, limit).await?;
        let more = page.next;
        for g in page.items {
            if caller.reaches(g.id()) && items.len() < limit {
                after = Some(g.id());
                items.push(g);
            }
        }
        match more {
            Some(next) if items.len() < limit => after = Some(next),
            Some(_) => break after,
            None => break None,
        }
    };
    let views = items.iter().map(GroupView::from).collect();
    Ok(Json(PageView::new(views, next.map(|g| g.to_string()))).into_response())
}

/// The body of `POST /v1/groups`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateGroup {
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    name: GroupName,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 512, pattern = r"^(?:[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?)?$")]
    description: Option<Description>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._:-]{1,64}/[A-Za-z0-9._:-]{1,64}$")]
    default_target: Option<super::TargetField>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(public|private)$")]
    model_type: Option<ModelType>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(migrate|initialize|disabled)$")]
    reprovision: Option<ReprovisionMethod>,
    #[serde(default)]
    auto_activation: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    attributes: Option<AttributeSchema>,
}

#[utoipa::path(
    post,
    path = "/v1/groups",
    tag = "groups",
    request_body = CreateGroup,
    responses((status = 201, description = "the new group", body = crate::views::GroupView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn create(
    State(api): State<Api>,
    caller: Caller,
    body: Result<super::JsonBody<CreateGroup>, Problem>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    if !caller.token().groups().is_empty() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a token limited to groups cannot create groups",
        ));
    }
    let super::JsonBody(body) = body?;
    let mut new = NewGroup::new(body.name);
    new.description = body.description;
    new.default_target = body.default_target.map(|t| t.0);
    if let Some(m) = body.model_type {
        new.model_type = m;
    }
    if let Some(r) = body.reprovision {
        new.reprovision = r;
    }
    if let Some(a) = body.auto_activation {
        new.auto_activation = a;
    }
    if let Some(a) = body.attributes {
        new.attributes = a;
    }
    let group = api.acting_for(&caller).create_group(new).await?;
    Ok((
        StatusCode::CREATED,
        [etag(group.version())],
        Json(GroupView::from(&group)),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group}",
    tag = "groups",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    responses((status = 200, description = "the group, its version in the ETag", body = crate::views::GroupView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn show(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
) -> Result<Response, Problem> {
    let group = group_for(api.provisioner(), &caller, &reference).await?;
    Ok(([etag(group.version())], Json(GroupView::from(&group))).into_response())
}

/// The body of `PATCH /v1/groups/{group}`: the fields to change; `null` clears an optional
/// one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditGroup {
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    name: Option<GroupName>,
    #[serde(default, deserialize_with = "super::devices::present")]
    #[schema(value_type = Option<String>, max_length = 512, pattern = r"^(?:[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?)?$")]
    description: Option<Option<Description>>,
    #[serde(default, deserialize_with = "super::devices::present")]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._:-]{1,64}/[A-Za-z0-9._:-]{1,64}$")]
    default_target: Option<Option<super::TargetField>>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(public|private)$")]
    model_type: Option<ModelType>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(migrate|initialize|disabled)$")]
    reprovision: Option<ReprovisionMethod>,
    #[serde(default)]
    auto_activation: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    attributes: Option<AttributeSchema>,
}

#[utoipa::path(
    patch,
    path = "/v1/groups/{group}",
    tag = "groups",
    params(("group" = String, Path, description = "a group ID or a unique group name"), ("If-Match" = Option<String>, Header, nullable = false, description = "the version the group must be at", pattern = r#"^(W/)?("[0-9]{1,15}"|[0-9]{1,15})$"#)),
    request_body = EditGroup,
    responses((status = 200, description = "the edited group", body = crate::views::GroupView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn edit(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Result<super::JsonBody<EditGroup>, Problem>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let super::JsonBody(body) = body?;
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let expected = if_match(&headers)?;
    if let Some(v) = expected
        && v != group.version()
    {
        return Err(version_mismatch(v, group.version()));
    }
    let edit = GroupEdit {
        name: body.name,
        description: body.description,
        default_target: body.default_target.map(|t| t.map(|t| t.0)),
        model_type: body.model_type,
        reprovision: body.reprovision,
        auto_activation: body.auto_activation,
        attributes: body.attributes,
        expected_version: Some(expected.unwrap_or(group.version())),
    };
    let edited = match dps.edit_group(group.id(), edit).await {
        Err(dps_core::Error::Conflict { .. }) if expected.is_some() => {
            let now = dps.group(group.id()).await?;
            return Err(version_mismatch(
                expected.unwrap_or(group.version()),
                now.version(),
            ));
        }
        other => other?,
    };
    Ok(([etag(edited.version())], Json(GroupView::from(&edited))).into_response())
}

/// `?cascade=true` of a group deletion.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    /// Delete the group's devices first (each through its target).
    cascade: Option<bool>,
}

#[utoipa::path(
    delete,
    path = "/v1/groups/{group}",
    tag = "groups",
    params(("group" = String, Path, description = "a group ID or a unique group name"), DeleteQuery),
    responses((status = 200, description = "the group and its devices are gone", body = crate::views::GroupDeleteView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn delete(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    query: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let Query(query) = query?;
    let cascade = query.cascade.unwrap_or(false);
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let report = dps.delete_group(group.id(), cascade).await?;
    let deleted = report.all_succeeded();
    let status = if deleted {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(GroupDeleteView::new(&report, deleted))).into_response())
}

/// The body of `POST /v1/groups/{group}/secret:rotate`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotate {
    /// Drop the previous secret at once instead of after the grace period.
    #[serde(default)]
    immediate: bool,
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/secret:rotate",
    tag = "groups",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    request_body = Option<Rotate>,
    responses((status = 200, description = "the group with its new secret (never shown)", body = crate::views::GroupView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn rotate(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    // No body, or `null`, rotates gracefully.
    let body: Rotate = if body.is_empty() {
        Rotate::default()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Null) => Rotate::default(),
            Ok(v @ serde_json::Value::Object(_)) => serde_json::from_value(v)
                .map_err(|e| Problem::invalid("invalid_body", e.to_string()))?,
            Ok(_) => {
                return Err(Problem::invalid(
                    "invalid_body",
                    "the request body must be a JSON object",
                ));
            }
            Err(e) => return Err(Problem::bad_request("malformed_json", e.to_string())),
        }
    };
    let rotation = if body.immediate {
        SecretRotation::Immediate
    } else {
        SecretRotation::Graceful
    };
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let rotated = dps.rotate_group_secret(group.id(), rotation).await?;
    Ok(([etag(rotated.version())], Json(GroupView::from(&rotated))).into_response())
}
