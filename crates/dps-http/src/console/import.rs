//! Import: Register Device Template (.csv), Upload File, a check of every row, Confirm, and
//! the rows that were refused, on the page and as a CSV.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dps_core::GroupId;
use dps_core::access::Role;
use dps_csv::{ImportMode, ImportOptions, ImportReport};
use maud::{Markup, html};

use super::Refusal;
use super::form::Form;
use super::layout::{csrf, notice, page, tabs};
use super::session::Signed;
use crate::Api;

/// The largest upload: the console's 2 MB.
pub(crate) const MAX_UPLOAD: usize = 2 * 1024 * 1024;

/// How long an upload waits for its Confirm, and its error CSV for its download.
const KEPT: Duration = Duration::from_secs(60 * 60);

/// The most uploads held at once; beyond it the oldest is dropped.
const MAX_HELD: usize = 32;

/// Uploads between their check and their Confirm, in memory.
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    by_id: Mutex<HashMap<String, Held>>,
}

#[derive(Debug, Clone)]
struct Held {
    session: String,
    group: GroupId,
    mode: ImportMode,
    file: Bytes,
    errors_csv: Option<Bytes>,
    at: Instant,
}

impl Uploads {
    fn put(&self, id: String, held: Held) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, h| h.at.elapsed() < KEPT);
        if map.len() >= MAX_HELD
            && let Some(oldest) = map.iter().min_by_key(|(_, h)| h.at).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id, held);
    }

    /// The upload `id` of `session` for `group`.
    fn get(&self, id: &str, session: &str, group: GroupId) -> Option<Held> {
        let map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id)
            .filter(|h| h.session == session && h.group == group && h.at.elapsed() < KEPT)
            .cloned()
    }

    /// The upload `id` of `session` for `group` for its Confirm: taken, so that a second
    /// Confirm (a double click) finds nothing to import.
    fn take(&self, id: &str, session: &str, group: GroupId) -> Option<Held> {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let held = map
            .get_mut(id)
            .filter(|h| h.session == session && h.group == group && h.at.elapsed() < KEPT)?;
        if held.file.is_empty() {
            return None;
        }
        let taken = held.clone();
        held.file = Bytes::new();
        Some(taken)
    }

    fn set_errors(&self, id: &str, csv: Bytes) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = map.get_mut(id) {
            held.errors_csv = Some(csv);
            held.file = Bytes::new();
        }
    }
}

fn mode_of(text: Option<&str>) -> ImportMode {
    match text {
        Some("upsert") => ImportMode::Upsert,
        Some("update") => ImportMode::Update,
        _ => ImportMode::Create,
    }
}

fn mode_value(mode: ImportMode) -> &'static str {
    match mode {
        ImportMode::Upsert => "upsert",
        ImportMode::Update => "update",
        _ => "create",
    }
}

/// `/groups/{group}/import`.
pub(crate) async fn page_of(
    api: &Api,
    signed: &Signed,
    reference: &str,
    extra: Option<Markup>,
) -> Result<Markup, Response> {
    let group = signed.group(api, reference).await?;
    let id = group.id();
    let place = &signed.place;
    let content = html! {
        (tabs(place, &id.to_string(), "Import"))
        @if let Some(extra) = extra { (extra) }
        p { a href=(place.href(&format!("/groups/{id}/import/template.csv"))) download { "Register Device Template (.csv)" } }
        p class="hint" { "Fill in the device information in the template, then upload it. The maximum file size is 2M and the maximum records per file is 1000." }
        @if signed.may_change() {
            form method="post" action=(place.href(&format!("/groups/{id}/import"))) enctype="multipart/form-data" class="edit" {
                (csrf(signed))
                label for="i-file" { "CSV file" }
                input id="i-file" type="file" name="file" accept=".csv,text/csv" required;
                label for="i-mode" { "Devices already registered" }
                select id="i-mode" name="mode" {
                    option value="create" selected { "are refused (register new devices only)" }
                    option value="upsert" { "are updated" }
                    option value="update" { "are updated; new serials are refused" }
                }
                button type="submit" { "Upload File" }
            }
        }
    };
    let trail = [
        (group.name().as_str(), format!("/groups/{id}")),
        ("Import", format!("/groups/{id}/import")),
    ];
    Ok(page(signed, &trail, content))
}

/// `GET /groups/{group}/import`.
pub(crate) async fn page_get(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path(reference): Path<String>,
) -> Result<Response, Response> {
    let signed = signed?;
    Ok(page_of(&api, &signed, &reference, None)
        .await?
        .into_response())
}

/// `GET …/import/template.csv`: the group's template.
pub(crate) async fn template(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path(reference): Path<String>,
) -> Result<Response, Response> {
    let signed = signed?;
    crate::routes::devices::template(State(api), signed.caller, Path(reference))
        .await
        .map_err(|p| Refusal::from(p).into_response())
}

/// The upload's fields: its CSRF token, mode and file.
async fn read_upload(mut multipart: Multipart) -> Result<(Form, Bytes), Refusal> {
    let invalid = |e: axum::extract::multipart::MultipartError| {
        Refusal::new(
            e.status(),
            format!("The upload could not be read: {}", e.body_text()),
        )
    };
    let mut fields = Vec::new();
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(invalid)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let bytes = field.bytes().await.map_err(invalid)?;
            if bytes.len() > MAX_UPLOAD {
                return Err(Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The file is larger than 2M: split it into smaller files.",
                ));
            }
            file = Some(bytes);
        } else {
            let text = field.text().await.map_err(invalid)?;
            fields.push((name, text));
        }
    }
    let form = Form::from_pairs(fields);
    let file = file.filter(|f| !f.is_empty()).ok_or_else(|| {
        Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a CSV file to upload.",
        )
    })?;
    Ok((form, file))
}

/// Runs the import of `file` into `group`.
async fn run(
    api: &Api,
    signed: &Signed,
    group: GroupId,
    file: &Bytes,
    options: &ImportOptions,
) -> Result<ImportReport, Refusal> {
    let dps = signed.acting(api);
    let reader = std::io::Cursor::new(file.clone());
    match dps_csv::import_async(&dps, group, reader, options).await {
        Ok(report) => Ok(report),
        Err(dps_csv::ImportError::Interrupted { cause, .. }) => {
            Err(Refusal::from_problem(&crate::Problem::from_dps(&*cause)))
        }
        Err(e) => Err(Refusal::from_problem(&crate::Problem::from_dps(&e))),
    }
}

/// `POST /groups/{group}/import`: checks every row of the upload and shows what Confirm
/// would do.
pub(crate) async fn upload(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path(reference): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Response> {
    let signed = signed?;
    let multipart = multipart.map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("The upload could not be read: {}", e.body_text()),
        )
        .into_response()
    })?;
    let (form, file) = read_upload(multipart)
        .await
        .map_err(IntoResponse::into_response)?;
    signed
        .check(form.get("_csrf"))
        .map_err(IntoResponse::into_response)?;
    signed
        .require(Role::Operator)
        .map_err(IntoResponse::into_response)?;
    let group = signed.group(&api, &reference).await?;
    let mode = mode_of(form.get("mode"));
    let options = ImportOptions::default().with_mode(mode).dry_run();
    let report = match run(&api, &signed, group.id(), &file, &options).await {
        Ok(report) => report,
        Err(refusal) => {
            let page = page_of(
                &api,
                &signed,
                &reference,
                Some(notice(&refusal.message, false)),
            )
            .await?;
            return Ok((refusal.status, page).into_response());
        }
    };
    let id = super::session::random_hex();
    api.inner.console.uploads.put(
        id.clone(),
        Held {
            session: signed.session.clone(),
            group: group.id(),
            mode,
            file,
            errors_csv: None,
            at: Instant::now(),
        },
    );
    let s = &report.summary;
    let place = &signed.place;
    let gid = group.id();
    let extra = html! {
        section aria-labelledby="check-title" class="dialog" {
            h2 id="check-title" { "Check of the file" }
            p { (s.rows) " records: " (s.created) " to register, " (s.updated) " to update, " (s.unchanged) " unchanged, " (s.failed) " refused." }
            (errors_table(&report))
            form method="post" action=(place.href(&format!("/groups/{gid}/import/{id}"))) {
                (csrf(&signed))
                input type="hidden" name="mode" value=(mode_value(mode));
                button type="submit" { "Confirm" }
                " "
                a href=(place.href(&format!("/groups/{gid}/import"))) { "Cancel" }
            }
        }
    };
    Ok(page_of(&api, &signed, &reference, Some(extra))
        .await?
        .into_response())
}

fn errors_table(report: &ImportReport) -> Markup {
    let errors: Vec<_> = report.errors().collect();
    html! {
        @if !errors.is_empty() {
            table {
                caption { "Refused records" }
                thead { tr { th scope="col" { "Line" } th scope="col" { "Column" } th scope="col" { "Value" } th scope="col" { "Reason" } } }
                tbody {
                    @for e in &errors {
                        tr {
                            td class="number" { (e.line) }
                            td { (e.column.as_deref().unwrap_or("")) }
                            td { (e.value) }
                            td { (e.message) }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /groups/{group}/import/{upload}`: Confirm: imports the checked upload.
pub(crate) async fn confirm(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, upload)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Response> {
    let signed = signed?;
    signed.form(&body, Role::Operator)?;
    let group = signed.group(&api, &reference).await?;
    let gid = group.id();
    let held = api
        .inner
        .console
        .uploads
        .take(&upload, &signed.session, gid)
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "This upload was already imported or has expired: upload the file again.",
            )
            .into_response()
        })?;
    // A file of more records than the job threshold is imported by a job, whose page shows
    // its progress and then its refused records.
    let dps = signed.acting(&api);
    let mut spool = crate::jobs::import::Spool::new(api.options().job_threshold);
    let spooled = async {
        spool.push(&dps, &held.file).await?;
        spool.finish(&dps).await
    }
    .await;
    spooled.map_err(|e| Refusal::from(e).into_response())?;
    if let crate::jobs::import::Spooled::Job { input, records } = spool.into_outcome() {
        let job = crate::jobs::import::start(&api, &dps, input, gid, held.mode, records)
            .await
            .map_err(|e| Refusal::from(e).into_response())?;
        return Ok(signed
            .place
            .redirect(&format!("/groups/{gid}/jobs/{}", job.id())));
    }
    let options = ImportOptions::default().with_mode(held.mode);
    let report = run(&api, &signed, gid, &held.file, &options)
        .await
        .map_err(IntoResponse::into_response)?;
    let csv = dps_csv::write_error_report(Vec::new(), report.errors()).unwrap_or_default();
    api.inner
        .console
        .uploads
        .set_errors(&upload, Bytes::from(csv));
    let s = &report.summary;
    let summary = format!(
        "Imported: {} registered, {} updated, {} unchanged, {} refused.",
        s.created, s.updated, s.unchanged, s.failed
    );
    let place = &signed.place;
    let extra = html! {
        (notice(&summary, s.failed == 0))
        @if s.failed > 0 {
            p { a href=(place.href(&format!("/groups/{gid}/import/{upload}/errors.csv"))) download { "Download the refused records (.csv)" } }
        }
        (errors_table(&report))
        p { a href=(place.href(&format!("/groups/{gid}/devices"))) { "See the devices under Device Information" } }
    };
    Ok(page_of(&api, &signed, &reference, Some(extra))
        .await?
        .into_response())
}

/// `GET …/import/{upload}/errors.csv`: the refused records of a confirmed import.
pub(crate) async fn errors(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, upload)): Path<(String, String)>,
) -> Result<Response, Response> {
    let signed = signed?;
    let group = signed.group(&api, &reference).await?;
    let csv = api
        .inner
        .console
        .uploads
        .get(&upload, &signed.session, group.id())
        .and_then(|h| h.errors_csv)
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "These import errors have expired: import the file again to see them.",
            )
            .into_response()
        })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"import-errors.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}
