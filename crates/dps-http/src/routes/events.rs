//! `GET /v1/events`: the event log.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
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
    responses((status = 200, description = "a page of the event log; with `Accept: text/event-stream`, the log followed live as server-sent events (`id` the cursor, `event` the kind, `data` the event's JSON), resumed with `Last-Event-ID`", content((crate::views::PageView<crate::views::EventView<'static>> = "application/json"), (String = "text/event-stream"))), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(api): State<Api>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Query(query) = query?;
    let follow = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    if follow {
        // `Last-Event-ID` (a reconnecting client) takes precedence over `after`.
        let resume = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let after = resume.or(query.after).unwrap_or(0);
        return Ok(follow_log(api, caller, EventCursor::new(after)).into_response());
    }
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

/// How long the live log waits before it asks the store again when it found nothing new.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// The events after `after` as server-sent events, then each new one as it is committed:
/// `id` is the event's cursor (so a reconnecting client resumes with `Last-Event-ID`),
/// `event` its kind, `data` its JSON as the listing shows it. The store is read a page at a
/// time, and asked again every half second when there is nothing new.
fn follow_log(
    api: Api,
    caller: Caller,
    after: EventCursor,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let state = (api, caller, after, std::collections::VecDeque::new());
    let stream =
        futures_util::stream::unfold(state, |(api, caller, mut after, mut queue)| async move {
            loop {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), (api, caller, after, queue)));
                }
                match api
                    .provisioner()
                    .events(after, api.options().max_page)
                    .await
                {
                    Ok(page) if page.is_empty() => tokio::time::sleep(FOLLOW_POLL).await,
                    Ok(page) => {
                        for e in page {
                            after = e.cursor;
                            if !caller.reaches(e.group_id) {
                                continue;
                            }
                            let data = serde_json::to_string(&EventView::from(&e))
                                .unwrap_or_else(|_| "{}".to_owned());
                            queue.push_back(
                                SseEvent::default()
                                    .id(e.cursor.get().to_string())
                                    .event(e.kind.name())
                                    .data(data),
                            );
                        }
                    }
                    Err(e) => {
                        // The stream ends; the client reconnects with Last-Event-ID.
                        tracing::warn!(error = %e, "the live event log stopped");
                        return None;
                    }
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
