//! `/v1/jobs`: the batch operations, exports and label archives that run in the background,
//! their progress and outcome, each device's result, the file they made, and their
//! cancellation.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::job::{Job, JobId, JobKind, JobState};
use serde::Deserialize;

use super::page_size;
use crate::Api;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::views::{JobView, PageView};

/// The job `id` if the caller reaches its group; 404 otherwise, as for a missing one.
pub(crate) async fn job_for(api: &Api, caller: &Caller, id: &str) -> Result<Job, Problem> {
    let missing = || {
        Problem::from_dps(&dps_core::Error::NotFound {
            entity: dps_core::Entity::Job,
            key: id.to_owned(),
        })
    };
    let id: JobId = id.parse().map_err(|_| missing())?;
    let job = api.provisioner().job(id).await?;
    if caller.reaches(job.group_id()) {
        Ok(job)
    } else {
        Err(missing())
    }
}

/// `limit` and `cursor` of the job list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// The most jobs on the page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[param(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(ListQuery),
    responses((status = 200, description = "the jobs, newest first", body = crate::views::PageView<crate::views::JobView<'static>>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(api): State<Api>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query?;
    let limit = page_size(&api, query.limit)?;
    let before = query
        .cursor
        .as_deref()
        .map(str::parse::<JobId>)
        .transpose()
        .map_err(|_| {
            Problem::invalid(
                "invalid_cursor",
                "cursor must be a next_cursor of a listing",
            )
        })?;
    let jobs = api.provisioner().jobs(before, limit).await?;
    let next = (jobs.len() == limit)
        .then(|| jobs.last().map(|j| j.id().to_string()))
        .flatten();
    let views = jobs
        .iter()
        .filter(|j| caller.reaches(j.group_id()))
        .map(JobView::from)
        .collect();
    Ok(Json(PageView::new(views, next)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/jobs/{job}",
    tag = "jobs",
    params(("job" = String, Path, description = "a job ID", pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    responses((status = 200, description = "the job's progress and outcome", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn show(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let job = job_for(&api, &caller, &id).await?;
    Ok(Json(JobView::from(&job)).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/jobs/{job}/cancel",
    tag = "jobs",
    params(("job" = String, Path, description = "a job ID", pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    responses((status = 200, description = "the job, which stops after the page in flight", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn cancel(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let job = job_for(&api, &caller, &id).await?;
    let job = api.provisioner().cancel_job(job.id()).await?;
    Ok(Json(JobView::from(&job)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/jobs/{job}/results",
    tag = "jobs",
    params(("job" = String, Path, description = "a job ID", pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    responses((status = 200, description = "the result of every device done so far: Device Serial No., Result (succeeded or failed), Code, Message", body = String, content_type = "text/csv"), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn results(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let job = job_for(&api, &caller, &id).await?;
    Ok(results_of(api, job))
}

/// The CSV of each device's result of `job`.
pub(crate) fn results_of(api: Api, job: Job) -> Response {
    let name = format!("job-{}-results.csv", job.id());
    let body = crate::jobs::files::results_body(api, job);
    super::transfer::file_response(body, "text/csv; charset=utf-8", &name)
}

#[utoipa::path(
    get,
    path = "/v1/jobs/{job}/file",
    tag = "jobs",
    params(("job" = String, Path, description = "a job ID", pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    responses((status = 200, description = "the file of a finished job: the CSV of an export, the ZIP of a label archive, the refused records of an import (CSV)", content((String = "text/csv"), (Vec<u8> = "application/zip"))), (status = "default", description = "a refusal or failure: 409 job_not_finished while it runs or when it was cancelled or failed, 404 no_file for a job that makes none", body = crate::problem::ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = [])),
)]
pub(crate) async fn file(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let job = job_for(&api, &caller, &id).await?;
    file_of(api, job)
}

/// The file of `job`; refused unless it is a finished export, label or import job (an
/// import's file is its refused records).
pub(crate) fn file_of(api: Api, job: Job) -> Result<Response, Problem> {
    let (content_type, name) = match job.kind() {
        JobKind::Export => ("text/csv; charset=utf-8", "devices.csv"),
        JobKind::Labels => ("application/zip", "labels.zip"),
        JobKind::Import => ("text/csv; charset=utf-8", "import-errors.csv"),
        _ => {
            return Err(Problem::new(
                axum::http::StatusCode::NOT_FOUND,
                "no_file",
                format!(
                    "job {} is a {} job, which makes no file",
                    job.id(),
                    job.kind().as_str()
                ),
            ));
        }
    };
    if job.state() != JobState::Finished {
        let detail = if job.state() == JobState::Running {
            format!(
                "job {} is running; its file is there once it has finished",
                job.id()
            )
        } else {
            format!(
                "job {} {}, so it has no file",
                job.id(),
                if job.state() == JobState::Cancelled {
                    "was cancelled"
                } else {
                    "failed"
                }
            )
        };
        return Err(Problem::new(
            axum::http::StatusCode::CONFLICT,
            "job_not_finished",
            detail,
        ));
    }
    let body = crate::jobs::files::file_body(api, job);
    Ok(super::transfer::file_response(body, content_type, name))
}
