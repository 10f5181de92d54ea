//! Files in and out: the CSV import (a `text/csv` body or a `multipart/form-data` upload,
//! both streamed), the CSV export and the ZIP of QR labels (both streamed as they are made,
//! or, over the job threshold, made by a job whose file is downloaded when it has finished).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::job::JobKind;
use dps_core::{DpsError, Selection};
use dps_csv::{ImportMode, ImportOptions, ImportReport, Limits};
use futures_util::TryStreamExt;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};

use super::batch::SelectionBody;
use super::devices::FilterQuery;
use super::group_for;
use crate::Api;
use crate::auth::Caller;
use crate::idempotency::{Hashed, Upload};
use crate::problem::Problem;
use crate::views::ImportView;

/// The bytes a streamed file holds in flight between its producer and the client.
const PIPE_BYTES: usize = 64 * 1024;

/// `?mode=&dry_run=&all_or_nothing=` of an import.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportQuery {
    /// `create` (the default) refuses known serials, `upsert` updates them too, `update`
    /// only updates.
    #[param(pattern = "^(create|upsert|update)$")]
    mode: Option<String>,
    /// Check every row, write nothing.
    dry_run: Option<bool>,
    /// One refused row and nothing is written.
    all_or_nothing: Option<bool>,
}

impl ImportQuery {
    fn options(&self, caller: &Caller) -> Result<ImportOptions, Problem> {
        let mode = match self.mode.as_deref() {
            None | Some("create") => ImportMode::Create,
            Some("upsert") => ImportMode::Upsert,
            Some("update") => ImportMode::Update,
            Some(other) => {
                return Err(Problem::invalid(
                    "invalid_query",
                    format!("mode must be create, upsert or update, not {other:?}"),
                ));
            }
        };
        let mut options = ImportOptions::default().with_mode(mode);
        if self.dry_run.unwrap_or(false) {
            options = options.dry_run();
        }
        if self.all_or_nothing.unwrap_or(false) {
            options = options.all_or_nothing();
        }
        // The console's limits (2 MB, 1000 records) hold unless the token may import in bulk.
        if caller.token().may_bulk_import() {
            options = options.with_limits(Limits::unbounded());
        }
        Ok(options)
    }
}

/// An async reader over a stream of body chunks.
fn reader<S>(stream: S) -> impl AsyncRead + Unpin + Send
where
    S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send,
{
    tokio_util::io::StreamReader::new(stream)
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices:import",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), ImportQuery),
    request_body(content((String = "text/csv"), (String = "multipart/form-data"))),
    responses((status = 200, description = "the import report (or, with Accept: text/csv, the error CSV)", body = crate::views::ImportView<'static>), (status = 202, description = "a bulk import of more records than the job threshold: the job that imports it, at the Location", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn import(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    query: Result<Query<ImportQuery>, QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let Query(query) = query?;
    let options = query.options(&caller)?;
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?.id();
    let multipart = is_multipart(&headers)?;
    let run = ImportRun {
        api: &api,
        dps: &dps,
        group,
        options: &options,
        wants_csv: wants_csv(&headers),
        spools: spools(&caller, &options),
    };
    let uri = request.uri().clone();
    let guard = match Upload::claim(&api, &headers, &uri, &[u8::from(run.wants_csv)]).await {
        Ok(guard) => guard,
        Err(refusal) => return Ok(refusal),
    };
    if !multipart {
        let stream = request
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        return Ok(run.guarded(guard, stream).await);
    }
    let mut multipart = match Multipart::from_request(request, &api).await {
        Ok(multipart) => multipart,
        Err(e) => {
            return Ok(guard
                .refuse(Problem::bad_request("invalid_multipart", e.body_text()))
                .await);
        }
    };
    // The first part that is a file (or the first part at all) is the CSV.
    let field = loop {
        match multipart.next_field().await {
            Ok(Some(f)) if f.file_name().is_some() || f.name() == Some("file") => break f,
            Ok(Some(_)) => {}
            Ok(None) => {
                return Ok(guard
                    .refuse(Problem::invalid(
                        "missing_file",
                        "the upload has no file part",
                    ))
                    .await);
            }
            Err(e) => {
                return Ok(guard
                    .refuse(Problem::bad_request("invalid_multipart", e.body_text()))
                    .await);
            }
        }
    };
    Ok(run
        .guarded(guard, field.map_err(std::io::Error::other))
        .await)
}

/// Whether an import's body is a multipart form (else it is the CSV itself); a body of
/// another type is refused.
fn is_multipart(headers: &HeaderMap) -> Result<bool, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let multipart = content_type.starts_with("multipart/form-data");
    if multipart
        || content_type.starts_with("text/csv")
        || content_type.starts_with("application/octet-stream")
        || content_type.is_empty()
    {
        Ok(multipart)
    } else {
        Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as text/csv or as multipart/form-data",
        ))
    }
}

/// Whether an import may run as a job when its file is large: a bulk import that writes and
/// may write part of the file. Other imports keep their limits and run in the request.
fn spools(caller: &Caller, options: &ImportOptions) -> bool {
    caller.token().may_bulk_import()
        && !options.dry_run
        && options.atomicity == dps_core::Atomicity::BestEffort
}

/// An import to run over an upload's stream.
struct ImportRun<'a> {
    api: &'a Api,
    dps: &'a crate::DynProvisioner,
    group: dps_core::GroupId,
    options: &'a ImportOptions,
    wants_csv: bool,
    spools: bool,
}

impl ImportRun<'_> {
    /// Runs the import as its `Idempotency-Key` allows: once, with its answer kept for the
    /// repeats, or not at all for a repeat, whose upload is only checked.
    async fn guarded<S>(&self, guard: Upload, stream: S) -> Response
    where
        S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send,
    {
        match guard {
            Upload::Unguarded => self.run(stream).await.into_response(),
            Upload::Repeat { tally, answer } => {
                crate::idempotency::repeat(&tally, &answer, stream).await
            }
            Upload::First(first) => {
                let mut hashed = Hashed::new(stream);
                let response = self.run(&mut hashed).await.into_response();
                first.settle(response, hashed.tally()).await
            }
        }
    }

    async fn run<S>(&self, stream: S) -> Result<Response, Problem>
    where
        S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send,
    {
        if self.spools {
            return self.spooled(stream).await;
        }
        let result =
            dps_csv::import_async(self.dps, self.group, reader(stream), self.options).await;
        self.answer(result)
    }

    /// Reads the upload into a spool: a file of more records than the job threshold becomes
    /// an import job (`202 Accepted`), a smaller one is imported here.
    async fn spooled<S>(&self, mut stream: S) -> Result<Response, Problem>
    where
        S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send,
    {
        use futures_util::StreamExt as _;
        let mut spool = crate::jobs::import::Spool::new(self.api.options().job_threshold);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Problem::bad_request("unreadable_body", format!("the upload broke off: {e}"))
            })?;
            spool.push(self.dps, &chunk).await?;
        }
        spool.finish(self.dps).await?;
        if spool.is_job() {
            // The header is checked before the job starts, as an import in the request does.
            let check = self.options.clone().dry_run();
            if let Err(e) = dps_csv::import(self.dps, self.group, spool.header(), &check).await {
                return Err(Problem::from_dps(&e));
            }
        }
        match spool.into_outcome() {
            crate::jobs::import::Spooled::Small(file) => {
                let result = dps_csv::import(self.dps, self.group, &file[..], self.options).await;
                self.answer(result)
            }
            crate::jobs::import::Spooled::Job { input, records } => {
                let job = crate::jobs::import::start(
                    self.api,
                    self.dps,
                    input,
                    self.group,
                    self.options.mode,
                    records,
                )
                .await?;
                Ok(crate::jobs::accepted(&job))
            }
        }
    }

    /// The answer to an import's outcome.
    fn answer(
        &self,
        result: Result<ImportReport, dps_csv::ImportError>,
    ) -> Result<Response, Problem> {
        let report = match result {
            Ok(report) => report,
            // Rows before the failure were written; the listing shows which. The answer is
            // the failure, so that a client does not take a partial import for a whole one.
            Err(dps_csv::ImportError::Interrupted { cause, report }) => {
                tracing::warn!(
                    error = %cause,
                    written = report.summary.created + report.summary.updated,
                    "an import stopped after earlier rows were written"
                );
                return Err(Problem::from_dps(&*cause));
            }
            Err(e) => return Err(Problem::from_dps(&e)),
        };
        answer_import(self.wants_csv, &report, self.options.dry_run)
    }
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"))
}

/// What an export includes beside the devices' fields.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// Add the `Device Secret` column (admin only).
    include_secrets: Option<bool>,
    /// Add the `Device Bootstrap Key` column, for factories (admin only).
    include_bootstrap_keys: Option<bool>,
}

/// The report as JSON, or as the error CSV when the client asks for `text/csv`.
fn answer_import(
    wants_csv: bool,
    report: &ImportReport,
    dry_run: bool,
) -> Result<Response, Problem> {
    if wants_csv {
        let csv = dps_csv::write_error_report(Vec::new(), report.errors()).map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            )
        })?;
        return Ok(csv_response(Body::from(csv), "import-errors.csv"));
    }
    Ok(Json(ImportView::new(report, dry_run)).into_response())
}

fn csv_response(body: Body, file_name: &str) -> Response {
    file_response(body, "text/csv; charset=utf-8", file_name)
}

pub(crate) fn file_response(body: Body, content_type: &'static str, file_name: &str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// Runs `produce` on a writer in its own task and answers the bytes it writes as the body,
/// as they come. A failure after the first byte ends the body early, which the client sees
/// as a broken transfer.
pub(crate) fn streamed<F, Fut, E>(produce: F) -> Body
where
    F: FnOnce(tokio::io::DuplexStream) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: DpsError + Send + 'static,
{
    let (writer, reader) = tokio::io::duplex(PIPE_BYTES);
    let task = produce(writer);
    tokio::spawn(async move {
        if let Err(e) = task.await {
            tracing::warn!(code = e.code(), error = %e, "a streamed file stopped early");
        }
    });
    Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        reader, PIPE_BYTES,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group}/devices:export",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), FilterQuery, ExportQuery),
    responses((status = 200, description = "the CSV of the devices that match the filters", body = String, content_type = "text/csv"), (status = 202, description = "a selection over the job threshold: the job that makes the file, at the Location", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn export(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    filter: Result<Query<FilterQuery>, QueryRejection>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let selection = Selection::Filter(filter?.0.filter()?);
    export_of(api, caller, reference, selection, query?.0).await
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices:export",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), ExportQuery),
    request_body = super::batch::SelectionDoc,
    responses((status = 200, description = "the CSV of the selected devices", body = String, content_type = "text/csv"), (status = 202, description = "a selection over the job threshold: the job that makes the file, at the Location", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn export_selected(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    query: Result<Query<ExportQuery>, QueryRejection>,
    body: Result<super::JsonBody<SelectionBody>, Problem>,
) -> Result<Response, Problem> {
    let query = query?.0;
    let selection = body?.0.selection(api.options().max_batch_serials)?;
    export_of(api, caller, reference, selection, query).await
}

/// Streams the CSV of `selection`.
pub(crate) async fn export_of(
    api: Api,
    caller: Caller,
    reference: String,
    selection: Selection,
    query: ExportQuery,
) -> Result<Response, Problem> {
    let secrets = query.include_secrets.unwrap_or(false);
    let keys = query.include_bootstrap_keys.unwrap_or(false);
    if secrets || keys {
        caller.require(Role::Admin)?;
    }
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    // An export with secrets is never kept in the store: it streams, whatever its size.
    if !(secrets || keys) {
        let job = api
            .job_if_large(&dps, JobKind::Export, group.id(), &selection)
            .await?;
        if let Some(job) = job {
            return Ok(crate::jobs::accepted(&job));
        }
    }
    let mut options = dps_csv::ExportOptions::default();
    if secrets {
        options = options.with_secrets();
    }
    if keys {
        options = options.with_bootstrap_keys();
    }
    let id = group.id();
    let body = streamed(move |writer| async move {
        dps_csv::export_async(&dps, id, &selection, writer, &options)
            .await
            .map(drop)
    });
    Ok(csv_response(body, "devices.csv"))
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group}/devices:qr",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name"), FilterQuery),
    responses((status = 200, description = "the ZIP of the QR labels of the devices that match the filters", body = Vec<u8>, content_type = "application/zip"), (status = 202, description = "a selection over the job threshold: the job that makes the file, at the Location", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn qr(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    filter: Result<Query<FilterQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let selection = Selection::Filter(filter?.0.filter()?);
    qr_of(api, caller, reference, selection).await
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/devices:qr",
    tag = "devices",
    params(("group" = String, Path, description = "a group ID or a unique group name")),
    request_body = super::batch::SelectionDoc,
    responses((status = 200, description = "the ZIP of the selected devices' QR labels", body = Vec<u8>, content_type = "application/zip"), (status = 202, description = "a selection over the job threshold: the job that makes the file, at the Location", body = crate::views::JobView<'static>), crate::problem::Refused),
    security(("bearer" = [])),
)]
pub(crate) async fn qr_selected(
    State(api): State<Api>,
    caller: Caller,
    Path(reference): Path<String>,
    body: Result<super::JsonBody<SelectionBody>, Problem>,
) -> Result<Response, Problem> {
    let selection = body?.0.selection(api.options().max_batch_serials)?;
    qr_of(api, caller, reference, selection).await
}

/// Streams the ZIP of `selection`'s labels.
pub(crate) async fn qr_of(
    api: Api,
    caller: Caller,
    reference: String,
    selection: Selection,
) -> Result<Response, Problem> {
    let dps = api.acting_for(&caller);
    let group = group_for(&dps, &caller, &reference).await?;
    let id = group.id();
    if let Some(job) = api
        .job_if_large(&dps, JobKind::Labels, id, &selection)
        .await?
    {
        return Ok(crate::jobs::accepted(&job));
    }
    let body = streamed(move |writer| async move { qr_zip(&dps, id, &selection, writer).await });
    Ok(file_response(body, "application/zip", "labels.zip"))
}

async fn qr_zip<W: AsyncWrite + Unpin + Send>(
    dps: &crate::DynProvisioner,
    group: dps_core::GroupId,
    selection: &Selection,
    writer: W,
) -> Result<(), dps_qr::Error> {
    let options = dps_qr::ArchiveOptions::default();
    dps_qr::export_zip_async(dps, group, selection, writer, options)
        .await
        .map(drop)
}
