//! Device Information: a group's devices, filtered and paged, with the selection that
//! Batch Operations work on.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use dps_core::state::AllocationStatus;
use dps_core::{
    BatchTag, Device, DeviceFilter, DeviceQuery, ModelId, RegistrationGroup, SerialNumber,
};
use maud::{Markup, html};

use super::Refusal;
use super::form::query;
use super::layout::{self, csrf, notice, page, tabs};
use super::session::Signed;
use crate::Api;

/// The devices on one page of the list.
const DEVICES_PER_PAGE: usize = 50;

/// The filters of the list (the same names as the API's), its cursor, and `?done=`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) batch_tag: String,
    #[serde(default)]
    pub(crate) model_id: String,
    #[serde(default)]
    pub(crate) serial_prefix: String,
    #[serde(default)]
    pub(crate) cursor: String,
    #[serde(default)]
    pub(crate) done: String,
}

impl Filters {
    /// The store's filter of these fields, or the one line that says which is wrong.
    pub(crate) fn filter(&self) -> Result<DeviceFilter, String> {
        let given = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
        let mut filter = DeviceFilter::default();
        if let Some(status) = given(&self.status) {
            filter.status = Some(
                status
                    .parse::<AllocationStatus>()
                    .map_err(|e| e.to_string())?,
            );
        }
        if let Some(tag) = given(&self.batch_tag) {
            filter.batch_tag = Some(BatchTag::new(tag).map_err(|e| e.to_string())?);
        }
        if let Some(model) = given(&self.model_id) {
            filter.model_id = Some(ModelId::new(model).map_err(|e| e.to_string())?);
        }
        if let Some(prefix) = given(&self.serial_prefix) {
            filter.serial_prefix = Some(SerialNumber::new(prefix).map_err(|e| e.to_string())?);
        }
        Ok(filter)
    }

    /// The filters as query pairs (empty ones left out), for links and hidden fields.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("status", self.status.as_str()),
            ("batch_tag", self.batch_tag.as_str()),
            ("model_id", self.model_id.as_str()),
            ("serial_prefix", self.serial_prefix.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
    }
}

/// An allocation status as the console's words say it.
pub(crate) fn status_label(status: AllocationStatus) -> &'static str {
    match status {
        AllocationStatus::NotAllocated => "Not allocated",
        AllocationStatus::Pending => "Pending",
        AllocationStatus::Allocated => "Allocated",
    }
}

/// The target a device is allocated to when it is next allocated: its own, else its group's,
/// and which of the two it is.
pub(crate) fn target_of(device: &Device, group: &RegistrationGroup) -> String {
    match (device.target(), group.default_target()) {
        (Some(own), _) => own.to_string(),
        (None, Some(default)) => format!("{default} (group)"),
        (None, None) => "none: set one on the device or the group".to_owned(),
    }
}

/// `/groups/{group}/devices`: the list.
pub(crate) async fn list(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path(reference): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Response, Response> {
    let signed = signed?;
    let dps = api.provisioner();
    let group = signed.group(&api, &reference).await?;
    let (devices, next, total, error) = match filters.filter() {
        Ok(filter) => {
            let after = SerialNumber::new(filters.cursor.trim()).ok();
            let query = DeviceQuery::new(group.id(), filter);
            let page = dps
                .devices(&query, after, DEVICES_PER_PAGE)
                .await
                .map_err(|e| Refusal::from(e).into_response())?;
            let total = dps
                .count(&query)
                .await
                .map_err(|e| Refusal::from(e).into_response())?;
            (page.items, page.next, total, None)
        }
        Err(message) => (Vec::new(), None, 0, Some(message)),
    };
    let done = layout::done(Some(filters.done.as_str())).map(|t| notice(t, true));
    let error = error.map(|e| notice(&e, false));
    let content = html! {
        (tabs(&signed.place, &group.id().to_string(), "Device Information"))
        @if let Some(done) = done { (done) }
        @if let Some(error) = error { (error) }
        (filter_form(&signed, &group, &filters))
        (selection_form(&signed, &group, &filters, &devices, total))
        (pager(&signed, &group, &filters, next.as_ref()))
    };
    let trail = [
        (group.name().as_str(), format!("/groups/{}", group.id())),
        (
            "Device Information",
            format!("/groups/{}/devices", group.id()),
        ),
    ];
    Ok(page(&signed, &trail, content).into_response())
}

fn filter_form(signed: &Signed, group: &RegistrationGroup, filters: &Filters) -> Markup {
    let statuses = [
        ("", "Any"),
        ("not_allocated", "Not allocated"),
        ("pending", "Pending"),
        ("allocated", "Allocated"),
    ];
    html! {
        form method="get" action=(signed.place.href(&format!("/groups/{}/devices", group.id()))) class="filters" role="search" {
            div {
                label for="f-status" { "Allocation Status" }
                select id="f-status" name="status" {
                    @for (value, label) in statuses {
                        @if value == filters.status { option value=(value) selected { (label) } }
                        @else { option value=(value) { (label) } }
                    }
                }
            }
            div {
                label for="f-batch" { "Batch Tag" }
                input id="f-batch" name="batch_tag" maxlength="64" value=(filters.batch_tag);
            }
            div {
                label for="f-model" { "Model ID" }
                input id="f-model" name="model_id" maxlength="64" value=(filters.model_id);
            }
            div {
                label for="f-prefix" { "Serial No. starts with" }
                input id="f-prefix" name="serial_prefix" maxlength="64" value=(filters.serial_prefix);
            }
            button type="submit" { "Filter" }
        }
    }
}

fn selection_form(
    signed: &Signed,
    group: &RegistrationGroup,
    filters: &Filters,
    devices: &[Device],
    total: u64,
) -> Markup {
    let place = &signed.place;
    let id = group.id();
    html! {
        form method="post" action=(place.href(&format!("/groups/{id}/devices"))) id="selection" {
            (csrf(signed))
            @for (name, value) in filters.pairs() {
                input type="hidden" name=(format!("f.{name}")) value=(value);
            }
            fieldset class="batch" {
                legend { "Batch Operations" }
                div class="check" {
                    input type="checkbox" id="every" name="every" value="1";
                    label for="every" { "Select every device that matches the filters (" (total) ")" }
                }
                div class="actions" {
                    button type="submit" name="action" value="export" { "Export Device Info" }
                    button type="submit" name="action" value="qr" { "Export QR Code" }
                    @if signed.may_change() {
                        button type="submit" name="action" value="allocate" { "Allocate" }
                        button type="submit" name="action" value="reset" { "Reset Allocation Status" }
                        button type="submit" name="action" value="delete" class="danger" { "Delete" }
                    }
                }
                p class="hint" { "A device must be Not allocated to be allocated; reset an allocated device first. Each device goes to its own environment/OU, else its group's." }
            }
            table {
                caption { "Devices (" (total) " match)" }
                thead {
                    tr {
                        th scope="col" { input type="checkbox" id="page-all" aria-label="Select every device on this page" data-selects="serial"; }
                        th scope="col" { "Device Serial No." }
                        th scope="col" { "Device Name" }
                        th scope="col" { "Model ID" }
                        th scope="col" { "Batch Tag" }
                        th scope="col" { "Allocation Status" }
                        th scope="col" { "Environment/OU" }
                        th scope="col" { "Allocated Environment/OU" }
                        th scope="col" { "Asset ID" }
                        th scope="col" { "Actions" }
                    }
                }
                tbody {
                    @for device in devices {
                        (row(signed, group, device))
                    }
                    @if devices.is_empty() {
                        tr { td colspan="10" { "No devices match." } }
                    }
                }
            }
        }
    }
}

fn row(signed: &Signed, group: &RegistrationGroup, device: &Device) -> Markup {
    let serial = device.serial().as_str();
    let allocated = device.state().allocated();
    let href = signed
        .place
        .href(&format!("/groups/{}/devices/{serial}", group.id()));
    html! {
        tr {
            td { input type="checkbox" name="serial" value=(serial) aria-label=(format!("Select {serial}")); }
            td { (serial) }
            td { (device.name().map_or("", |n| n.as_str())) }
            td { (device.model_id().as_str()) }
            td { (device.batch_tag().map_or("", |t| t.as_str())) }
            td { span class=(format!("status {}", device.status().as_str())) { (status_label(device.status())) } }
            td { (target_of(device, group)) }
            td { (allocated.map(|a| a.target().to_string()).unwrap_or_default()) }
            td { (allocated.map_or("", |a| a.asset_id().as_str())) }
            td { a href=(href) aria-label=(format!("View Details of {serial}")) { "View Details" } }
        }
    }
}

fn pager(
    signed: &Signed,
    group: &RegistrationGroup,
    filters: &Filters,
    next: Option<&SerialNumber>,
) -> Markup {
    let base = format!("/groups/{}/devices", group.id());
    let first = format!("{base}?{}", query(filters.pairs()));
    let next = next.map(|cursor| {
        let mut pairs = filters.pairs();
        pairs.push(("cursor", cursor.as_str()));
        format!("{base}?{}", query(pairs))
    });
    html! {
        nav class="pager" aria-label="Pages" {
            @if !filters.cursor.is_empty() { a href=(signed.place.href(&first)) { "First page" } }
            @if let Some(next) = next { a href=(signed.place.href(&next)) rel="next" { "Next page" } }
        }
    }
}
