//! `/v1/groups`: list, create, show, edit, delete, rotate the secret.

use axum::Json;
use axum::extract::rejection::JsonRejection;
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

use super::{etag, flag, group_for, if_match, page_size, version_mismatch};
use crate::Api;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::views::{GroupDeleteView, GroupView, PageView};

/// `?limit=&cursor=` of a listing of groups.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(crate) async fn list(
    State(api): State<Api>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query?;
    let limit = page_size(&api, query.limit);
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateGroup {
    name: GroupName,
    #[serde(default)]
    description: Option<Description>,
    #[serde(default)]
    default_target: Option<super::TargetField>,
    #[serde(default)]
    model_type: Option<ModelType>,
    #[serde(default)]
    reprovision: Option<ReprovisionMethod>,
    #[serde(default)]
    auto_activation: Option<bool>,
    #[serde(default)]
    attributes: Option<AttributeSchema>,
}

pub(crate) async fn create(
    State(api): State<Api>,
    caller: Caller,
    body: Result<Json<CreateGroup>, JsonRejection>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    if !caller.token().groups().is_empty() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a token limited to groups cannot create groups",
        ));
    }
    let Json(body) = body?;
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
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditGroup {
    #[serde(default)]
    name: Option<GroupName>,
    #[serde(default, deserialize_with = "super::devices::present")]
    description: Option<Option<Description>>,
    #[serde(default, deserialize_with = "super::devices::present")]
    default_target: Option<Option<super::TargetField>>,
    #[serde(default)]
    model_type: Option<ModelType>,
    #[serde(default)]
    reprovision: Option<ReprovisionMethod>,
    #[serde(default)]
    auto_activation: Option<bool>,
    #[serde(default)]
    attributes: Option<AttributeSchema>,
}

pub(crate) async fn edit(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Result<Json<EditGroup>, JsonRejection>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let Json(body) = body?;
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
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteQuery {
    cascade: Option<String>,
}

pub(crate) async fn delete(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    query: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let Query(query) = query?;
    let cascade = flag(query.cascade.as_deref(), "cascade")?;
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
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotate {
    /// Drop the previous secret at once instead of after the grace period.
    #[serde(default)]
    immediate: bool,
}

pub(crate) async fn rotate(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Option<Json<Rotate>>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let rotation = if body.is_some_and(|Json(b)| b.immediate) {
        SecretRotation::Immediate
    } else {
        SecretRotation::Graceful
    };
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let rotated = dps.rotate_group_secret(group.id(), rotation).await?;
    Ok(([etag(rotated.version())], Json(GroupView::from(&rotated))).into_response())
}
