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

/// `?after=&limit=` of the event log.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

pub(crate) async fn list(
    State(api): State<Api>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query?;
    let limit = page_size(&api, query.limit);
    let mut after = EventCursor::new(query.after.unwrap_or(0));
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
