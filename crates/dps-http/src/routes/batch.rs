//! Batches over a selection of a group's devices, and recovery.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
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
    filter: Option<DeviceFilter>,
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
            (None, Some(filter), None) => Ok(Selection::Filter(filter)),
            (None, None, Some(true)) => Ok(Selection::all()),
            _ => Err(invalid()),
        }
    }
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
    body: Result<Json<SelectionBody>, JsonRejection>,
    op: Op,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let Json(body) = body?;
    let selection = body.selection(api.options().max_batch_serials)?;
    let dps: DynProvisioner = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
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

pub(crate) async fn allocate(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<Json<SelectionBody>, JsonRejection>,
) -> Result<Response, Problem> {
    run(api, caller, reference, body, Op::Allocate).await
}

pub(crate) async fn reset(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<Json<SelectionBody>, JsonRejection>,
) -> Result<Response, Problem> {
    run(api, caller, reference, body, Op::Reset).await
}

pub(crate) async fn delete(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<Json<SelectionBody>, JsonRejection>,
) -> Result<Response, Problem> {
    run(api, caller, reference, body, Op::Delete).await
}

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
