//! Batch Operations over the devices selected in the list: Export Device Info, Export QR
//! Code, Allocate, Reset Allocation Status and Delete (the last three after a
//! confirmation).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::job::JobKind;
use dps_core::{BatchReport, RegistrationGroup, Selection, SerialNumber};
use maud::{Markup, html};

use super::Refusal;
use super::devices::Filters;
use super::form::Form;
use super::layout::{csrf, notice, page};
use super::session::Signed;
use crate::Api;

/// The operations of the selection form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Export,
    Qr,
    Allocate,
    Reset,
    Delete,
}

impl Action {
    fn parse(text: Option<&str>) -> Option<Self> {
        Some(match text? {
            "export" => Self::Export,
            "qr" => Self::Qr,
            "allocate" => Self::Allocate,
            "reset" => Self::Reset,
            "delete" => Self::Delete,
            _ => return None,
        })
    }

    fn value(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Qr => "qr",
            Self::Allocate => "allocate",
            Self::Reset => "reset",
            Self::Delete => "delete",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Export => "Export Device Info",
            Self::Qr => "Export QR Code",
            Self::Allocate => "Allocate",
            Self::Reset => "Reset Allocation Status",
            Self::Delete => "Delete",
        }
    }

    /// What the confirmation says the operation does.
    fn consequence(self) -> &'static str {
        match self {
            Self::Allocate => {
                "Each device is allocated to its own environment/OU, else its group's. A device must be Not allocated: an allocated one is refused until its allocation status is reset."
            }
            Self::Reset => {
                "The Allocation Status of the devices changes to Not allocated. This disconnects them from their current environment/OU."
            }
            Self::Delete => {
                "The devices are removed from the group, and from their environment/OU when they are allocated."
            }
            Self::Export | Self::Qr => "",
        }
    }
}

/// The selection the form names: the ticked serials, or every device that matches the
/// list's filters.
fn selection(form: &Form, max_serials: usize) -> Result<(Selection, Filters), Refusal> {
    let filters = Filters {
        status: form.get("f.status").unwrap_or("").to_owned(),
        batch_tag: form.get("f.batch_tag").unwrap_or("").to_owned(),
        model_id: form.get("f.model_id").unwrap_or("").to_owned(),
        serial_prefix: form.get("f.serial_prefix").unwrap_or("").to_owned(),
        ..Filters::default()
    };
    if form.ticked("every") {
        let filter = filters
            .filter()
            .map_err(|m| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, m))?;
        return Ok((Selection::Filter(filter), filters));
    }
    let serials = form
        .all("serial")
        .into_iter()
        .map(SerialNumber::new)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    if serials.len() > max_serials {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Select at most {max_serials} devices, or every device that matches the filters."
            ),
        ));
    }
    if serials.is_empty() {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Select one or more devices first, or every device that matches the filters.",
        ));
    }
    Ok((Selection::Serials(serials), filters))
}

/// `POST /groups/{group}/devices`: the operation the pressed button names.
pub(crate) async fn selected(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path(reference): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let signed = signed?;
    let form = Form::parse(&body);
    signed
        .check(form.get("_csrf"))
        .map_err(IntoResponse::into_response)?;
    let action = Action::parse(form.get("action")).ok_or_else(|| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "Choose an operation of Batch Operations.",
        )
        .into_response()
    })?;
    let (selection, filters) =
        selection(&form, api.options().max_batch_serials).map_err(IntoResponse::into_response)?;
    let group = signed.group(&api, &reference).await?;
    let changes = matches!(action, Action::Allocate | Action::Reset | Action::Delete);
    if changes {
        signed
            .require(Role::Operator)
            .map_err(IntoResponse::into_response)?;
        if form.get("confirm") != Some("yes") {
            return Ok(
                confirm_page(&signed, &group, action, &form, &selection, &filters).into_response(),
            );
        }
    }
    let dps = signed.acting(&api);
    let kind = match action {
        Action::Export => JobKind::Export,
        Action::Qr => JobKind::Labels,
        Action::Allocate => JobKind::Allocate,
        Action::Reset => JobKind::Reset,
        Action::Delete => JobKind::Delete,
    };
    let job = api
        .job_if_large(&dps, kind, group.id(), &selection)
        .await
        .map_err(|p| Refusal::from(p).into_response())?;
    if let Some(job) = job {
        return Ok(signed
            .place
            .redirect(&format!("/groups/{}/jobs/{}", group.id(), job.id())));
    }
    let caller = signed.caller.clone();
    let reference = group.id().to_string();
    let report = match action {
        Action::Export => {
            let query = crate::routes::transfer::ExportQuery::default();
            return crate::routes::transfer::export_of(api, caller, reference, selection, query)
                .await
                .map_err(|p| Refusal::from(p).into_response());
        }
        Action::Qr => {
            return crate::routes::transfer::qr_of(api, caller, reference, selection)
                .await
                .map_err(|p| Refusal::from(p).into_response());
        }
        Action::Allocate => dps.allocate(group.id(), &selection).await,
        Action::Reset => dps.reset(group.id(), &selection).await,
        Action::Delete => dps.delete(group.id(), &selection).await,
    }
    .map_err(|e| Refusal::from(e).into_response())?;
    Ok(report_page(&signed, &group, action, &report).into_response())
}

/// The confirmation of an operation that changes devices: the same selection posted again
/// with `confirm=yes`.
fn confirm_page(
    signed: &Signed,
    group: &RegistrationGroup,
    action: Action,
    form: &Form,
    selection: &Selection,
    filters: &Filters,
) -> Markup {
    let id = group.id();
    let (what, serials) = match selection {
        Selection::Serials(serials) => (
            format!("the {} selected devices", serials.len()),
            serials.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        ),
        _ => (
            "every device that matches the filters".to_owned(),
            Vec::new(),
        ),
    };
    let content = html! {
        div role="dialog" aria-labelledby="confirm-title" class="dialog" {
            h2 id="confirm-title" { (action.label()) " " (what) "?" }
            p { (action.consequence()) }
            @if !serials.is_empty() {
                ul class="serials" { @for serial in &serials { li { (serial) } } }
            }
            form method="post" action=(signed.place.href(&format!("/groups/{id}/devices"))) {
                (csrf(signed))
                input type="hidden" name="action" value=(action.value());
                input type="hidden" name="confirm" value="yes";
                @if form.ticked("every") { input type="hidden" name="every" value="1"; }
                @for serial in &serials { input type="hidden" name="serial" value=(serial); }
                @for (name, value) in filters.pairs() {
                    input type="hidden" name=(format!("f.{name}")) value=(value);
                }
                button type="submit" class=(if action == Action::Delete { "danger" } else { "" }) { "Confirm" }
                " "
                a href=(signed.place.href(&format!("/groups/{id}/devices"))) { "Cancel" }
            }
        }
    };
    let trail = [
        (group.name().as_str(), format!("/groups/{id}")),
        ("Device Information", format!("/groups/{id}/devices")),
        (action.label(), format!("/groups/{id}/devices")),
    ];
    page(signed, &trail, content)
}

/// The outcome of an operation: how many succeeded, and each failed device with its reason.
fn report_page(
    signed: &Signed,
    group: &RegistrationGroup,
    action: Action,
    report: &BatchReport,
) -> Markup {
    let id = group.id();
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| (o.serial.as_str(), e)))
        .collect();
    let summary = format!(
        "{}: {} succeeded, {} failed.",
        action.label(),
        report.succeeded(),
        report.failed()
    );
    let content = html! {
        (notice(&summary, failed.is_empty()))
        @if !failed.is_empty() {
            table {
                caption { "Devices that failed" }
                thead { tr { th scope="col" { "Device Serial No." } th scope="col" { "Reason" } } }
                tbody {
                    @for (serial, error) in &failed {
                        tr { td { (serial) } td { (error.to_string()) } }
                    }
                }
            }
        }
        p { a href=(signed.place.href(&format!("/groups/{id}/devices"))) { "Back to Device Information" } }
    };
    let trail = [
        (group.name().as_str(), format!("/groups/{id}")),
        ("Device Information", format!("/groups/{id}/devices")),
        (action.label(), format!("/groups/{id}/devices")),
    ];
    page(signed, &trail, content)
}
