//! A job's page: its progress bar while it runs, then its outcome with the failed devices
//! and their reasons; Cancel stops it between two pages.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::job::{Job, JobKind, JobState};
use maud::html;

use super::Refusal;
use super::layout::{csrf, notice, page_refreshed};
use super::session::Signed;
use crate::Api;

fn label(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Allocate => "Allocate",
        JobKind::Reset => "Reset Allocation Status",
        JobKind::Delete => "Delete",
        JobKind::Export => "Export Device Info",
        JobKind::Labels => "Export QR Code",
        JobKind::Import => "Import",
        _ => "Job",
    }
}

/// The link to a finished job's file, if it has one worth a download.
fn file_label(kind: JobKind, failed: u64) -> Option<&'static str> {
    match kind {
        JobKind::Labels => Some("Download QR Codes (ZIP)"),
        JobKind::Export => Some("Download Device Info (CSV)"),
        JobKind::Import if failed > 0 => Some("Download the refused records (.csv)"),
        _ => None,
    }
}

/// The job `id` of the group `reference`, both reached by the signed-in token.
async fn find(
    api: &Api,
    signed: &Signed,
    reference: &str,
    id: &str,
) -> Result<(dps_core::RegistrationGroup, Job), Response> {
    let group = signed.group(api, reference).await?;
    let job = crate::routes::jobs::job_for(api, &signed.caller, id)
        .await
        .map_err(|p| Refusal::from(p).into_response())?;
    if job.group_id() != group.id() {
        return Err(
            Refusal::new(StatusCode::NOT_FOUND, format!("job {id} not found")).into_response(),
        );
    }
    Ok((group, job))
}

/// `/groups/{group}/jobs/{job}`.
pub(crate) async fn show(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, id)): Path<(String, String)>,
) -> Result<Response, Response> {
    let signed = signed?;
    let (group, job) = find(&api, &signed, &reference, &id).await?;
    let gid = group.id();
    let running = job.state() == JobState::Running;
    let summary = format!(
        "{} of {} devices done: {} succeeded, {} failed.",
        job.done(),
        job.total(),
        job.succeeded(),
        job.failed()
    );
    let state = match job.state() {
        JobState::Running if job.cancel_requested() => "Cancelling after the page in flight",
        JobState::Running => "Running",
        JobState::Finished => "Finished",
        JobState::Cancelled => "Cancelled",
        _ => "Failed",
    };
    let content = html! {
        p { strong { (state) } }
        label for="progress" { "Progress" }
        progress id="progress" max=(job.total().max(1)) value=(job.done().min(job.total())) { (job.done()) " of " (job.total()) }
        (notice(&summary, job.failed() == 0))
        @if let Some(error) = job.error() { (notice(error, false)) }
        @if running && signed.may_change() && !job.cancel_requested() {
            form method="post" action=(signed.place.href(&format!("/groups/{gid}/jobs/{}/cancel", job.id()))) {
                (csrf(&signed))
                button type="submit" class="danger" { "Cancel" }
            }
        }
        @if running { p class="hint" { "This page reloads itself every 2 seconds while the job runs." } }
        @if let (Some(file), JobState::Finished) = (file_label(job.kind(), job.failed()), job.state()) {
            p { a class="button" href=(signed.place.href(&format!("/groups/{gid}/jobs/{}/file", job.id()))) download { (file) } }
        }
        p { a href=(signed.place.href(&format!("/groups/{gid}/jobs/{}/results.csv", job.id()))) download { "Download the result of each device (CSV)" } }
        @if !job.failures().is_empty() {
            table {
                caption { "Devices that failed" }
                thead { tr { th scope="col" { "Device Serial No." } th scope="col" { "Reason" } } }
                tbody {
                    @for f in job.failures() {
                        tr { td { (f.serial.as_str()) } td { (f.message) " (" (f.code) ")" } }
                    }
                }
            }
        }
        p { a href=(signed.place.href(&format!("/groups/{gid}/devices"))) { "Back to Device Information" } }
    };
    let trail = [
        (group.name().as_str(), format!("/groups/{gid}")),
        ("Device Information", format!("/groups/{gid}/devices")),
        (
            label(job.kind()),
            format!("/groups/{gid}/jobs/{}", job.id()),
        ),
    ];
    Ok(page_refreshed(&signed, &trail, content, running.then_some(2)).into_response())
}

/// `POST /groups/{group}/jobs/{job}/cancel`.
pub(crate) async fn cancel(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let signed = signed?;
    signed.form(&body, Role::Operator)?;
    let (group, job) = find(&api, &signed, &reference, &id).await?;
    api.provisioner()
        .cancel_job(job.id())
        .await
        .map_err(|e| Refusal::from(e).into_response())?;
    Ok(signed
        .place
        .redirect(&format!("/groups/{}/jobs/{}", group.id(), job.id())))
}

/// `/groups/{group}/jobs/{job}/file`: the file of a finished export or label job.
pub(crate) async fn file(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, id)): Path<(String, String)>,
) -> Result<Response, Response> {
    let signed = signed?;
    let (_, job) = find(&api, &signed, &reference, &id).await?;
    crate::routes::jobs::file_of(api, job).map_err(|p| Refusal::from(p).into_response())
}

/// `/groups/{group}/jobs/{job}/results.csv`: each device's result.
pub(crate) async fn results(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, id)): Path<(String, String)>,
) -> Result<Response, Response> {
    let signed = signed?;
    let (_, job) = find(&api, &signed, &reference, &id).await?;
    Ok(crate::routes::jobs::results_of(api, job))
}
