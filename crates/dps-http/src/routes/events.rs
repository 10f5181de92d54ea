//! `GET /v1/events`: the event log.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use dps_core::EventCursor;
use serde::Deserialize;

use super::page_size;
use crate::Api;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::views::{EventView, PageView};

/// The largest cursor a client can name: the largest integer a JSON number holds exactly.
const MAX_CURSOR: u64 = (1 << 53) - 1;

/// `?after=&limit=` of the event log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only events after this cursor (the `next_cursor` of the previous page).
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    after: Option<u64>,
    /// The most events on the page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(ListQuery),
    responses((status = 200, description = "a page of the event log", body = crate::views::PageView<crate::views::EventView<'static>>), (status = "default", description = "a refusal or failure", body = crate::problem::ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(api): State<Api>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query?;
    let limit = page_size(&api, query.limit)?;
    let after = query.after.unwrap_or(0);
    if after > MAX_CURSOR {
        return Err(Problem::invalid(
            "invalid_query",
            format!("after must be at most {MAX_CURSOR}"),
        ));
    }
    let mut after = EventCursor::new(after);
    // A group-limited token reads the events of its groups only; the cursor moves past the
    // others, so that the next page starts where this one looked.
    let mut items = Vec::new();
    let next = loop {
        let page = api.provisioner().events(after, limit).await?;
        let full = page.len() == limit;
        for e in page {
            after = e.cursor;
            if caller.reaches(e.group_id) {
                items.push(e);
                if items.len() == limit {
                    break;
                }
            }
        }
        if items.len() == limit || !full {
            break after;
        }
    };
    let views = items.iter().map(EventView::from).collect();
    Ok(Json(PageView::new(views, Some(next.get().to_string()))).into_response())
}
