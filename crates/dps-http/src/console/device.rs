//! One device: its details, Edit (every field but the serial), Replace and Delete.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::{
    BatchTag, Description, Device, DeviceEdit, DeviceName, ModelId, NewSerial, RegistrationGroup,
    ReplaceRequest, SerialNumber, Timezone, Version,
};
use maud::{Markup, html};

use super::Refusal;
use super::devices::{status_label, target_of};
use super::events;
use super::form::Form;
use super::layout::{self, csrf, fields, notice, page};
use super::session::Signed;
use crate::Api;

/// `?done=` after a change.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// The group and the device a page is about, each checked against the signed-in token.
async fn find(
    api: &Api,
    signed: &Signed,
    reference: &str,
    serial: &str,
) -> Result<(RegistrationGroup, Device), Response> {
    let group = signed.group(api, reference).await?;
    let serial = SerialNumber::new(serial).map_err(|e| {
        Refusal::new(StatusCode::NOT_FOUND, format!("no such device: {e}")).into_response()
    })?;
    let device = api
        .provisioner()
        .device_by_serial(group.id(), &serial)
        .await
        .map_err(|e| Refusal::from(e).into_response())?;
    Ok((group, device))
}

/// `/groups/{group}/devices/{serial}`.
pub(crate) async fn show(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, serial)): Path<(String, String)>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, Response> {
    let signed = signed?;
    let (group, device) = find(&api, &signed, &reference, &serial).await?;
    let note = layout::done(query.done.as_deref()).map(|t| notice(t, true));
    let log = events::of_device(api.provisioner(), &device).await?;
    Ok(device_page(&signed, &group, &device, note, None, log).into_response())
}

fn device_page(
    signed: &Signed,
    group: &RegistrationGroup,
    device: &Device,
    note: Option<Markup>,
    posted: Option<&Form>,
    log: Markup,
) -> Markup {
    let serial = device.serial().as_str();
    let allocated = device.state().allocated();
    let last_error = device
        .last_error()
        .map(|e| format!("{} ({}, {})", e.message, e.code, e.at));
    let mut rows = vec![
        ("Device Serial No.", Some(serial.to_owned())),
        (
            "Allocation Status",
            Some(status_label(device.status()).to_owned()),
        ),
        ("Environment/OU", Some(target_of(device, group))),
        (
            "Allocated Environment/OU",
            allocated.map(|a| a.target().to_string()),
        ),
        (
            "Asset ID",
            allocated.map(|a| a.asset_id().as_str().to_owned()),
        ),
        (
            "Product Key",
            allocated.map(|a| a.credentials().product_key.as_str().to_owned()),
        ),
        (
            "Device Key",
            allocated.map(|a| a.credentials().device_key.as_str().to_owned()),
        ),
        ("Last error", last_error),
        ("Version", Some(device.version().get().to_string())),
        ("Created", Some(device.created_at().to_string())),
        ("Updated", Some(device.updated_at().to_string())),
    ];
    let replaced: Vec<&str> = device
        .replacements()
        .iter()
        .map(|r| r.old_serial.as_str())
        .collect();
    if !replaced.is_empty() {
        rows.push(("Replaced serials", Some(replaced.join(", "))));
    }
    let content = html! {
        @if let Some(note) = note { (note) }
        (fields(&rows))
        @if signed.caller.sees_secrets() && allocated.is_some() {
            form method="post" action=(signed.place.href(&format!("/groups/{}/devices/{serial}/reveal", group.id()))) {
                (csrf(signed))
                button type="submit" { "Reveal Device Secret" }
                span class="hint" { " The event log records who revealed it." }
            }
        }
        @if signed.may_change() {
            (edit_form(signed, group, device, posted))
            (replace_form(signed, group, device))
            (delete_form(signed, group, device))
        } @else {
            (read_only(group, device))
        }
        h2 { "Events" }
        (log)
    };
    let trail = [
        (group.name().as_str(), format!("/groups/{}", group.id())),
        (
            "Device Information",
            format!("/groups/{}/devices", group.id()),
        ),
        (serial, format!("/groups/{}/devices/{serial}", group.id())),
    ];
    page(signed, &trail, content)
}

/// A field's value as the form shows it: what was posted, else the device's.
fn value<'a>(posted: Option<&'a Form>, name: &str, current: &'a str) -> &'a str {
    posted.and_then(|f| f.get(name)).unwrap_or(current)
}

fn edit_form(
    signed: &Signed,
    group: &RegistrationGroup,
    device: &Device,
    posted: Option<&Form>,
) -> Markup {
    let serial = device.serial().as_str();
    let timezone = device.timezone().map(|t| t.to_string()).unwrap_or_default();
    let (env, ou) = device.target().map_or((String::new(), String::new()), |t| {
        (t.environment.as_str().to_owned(), t.ou.as_str().to_owned())
    });
    let attributes: BTreeMap<String, String> = device
        .attributes()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let text = |id: &str, label: &str, name: &str, current: &str, max: u32| {
        html! {
            label for=(id) { (label) }
            input id=(id) name=(name) maxlength=(max) value=(value(posted, name, current));
        }
    };
    html! {
        h2 { "Edit" }
        form method="post" action=(signed.place.href(&format!("/groups/{}/devices/{serial}", group.id()))) class="edit" {
            (csrf(signed))
            input type="hidden" name="version" value=(device.version().get());
            p class="hint" { "All fields except Device Serial No. can be edited." }
            (text("d-name", "Device Name", "name", device.name().map_or("", |n| n.as_str()), 64))
            (text("d-model", "Model ID", "model_id", device.model_id().as_str(), 64))
            (text("d-timezone", "Timezone (such as +08:00)", "timezone", &timezone, 6))
            (text("d-batch", "Batch Tag", "batch_tag", device.batch_tag().map_or("", |t| t.as_str()), 64))
            label for="d-description" { "Description" }
            textarea id="d-description" name="description" maxlength="512" { (value(posted, "description", device.description().map_or("", |d| d.as_str()))) }
            fieldset {
                legend { "Environment/OU of the device (empty: the group's)" }
                (text("d-env", "Environment", "environment", &env, 64))
                (text("d-ou", "OU", "ou", &ou, 64))
            }
            @for def in group.attributes().attributes() {
                @let name = format!("attr.{}", def.id.as_str());
                @let current = attributes.get(def.id.as_str()).map_or("", String::as_str);
                label for=(format!("d-{name}")) { (def.name.as_str()) " (" (def.ty.name()) ")" }
                input id=(format!("d-{name}")) name=(name) value=(value(posted, &name, current));
            }
            button type="submit" { "Save" }
        }
    }
}

fn replace_form(signed: &Signed, group: &RegistrationGroup, device: &Device) -> Markup {
    let serial = device.serial().as_str();
    html! {
        h2 { "Replace" }
        form method="post" action=(signed.place.href(&format!("/groups/{}/devices/{serial}/replace", group.id()))) class="edit" {
            (csrf(signed))
            p class="hint" { "For hardware that has malfunctioned or is upgraded: the device keeps its asset ID and gets a new device key and secret. It must be allocated." }
            fieldset {
                legend { "New Device Serial No." }
                div class="check" {
                    input type="radio" id="r-manual" name="serial_source" value="manual" checked;
                    label for="r-manual" { "Manual Input" }
                }
                label for="r-serial" { "Device Serial No. (1 - 64 characters)" }
                input id="r-serial" name="new_serial" maxlength="64";
                div class="check" {
                    input type="radio" id="r-generated" name="serial_source" value="generated";
                    label for="r-generated" { "System Generated" }
                }
            }
            label for="r-batch" { "Batch Tag (1 - 64 characters)" }
            input id="r-batch" name="batch_tag" required maxlength="64";
            label for="r-description" { "Description (max 512 characters)" }
            textarea id="r-description" name="description" maxlength="512" {}
            button type="submit" { "Confirm" }
        }
    }
}

fn delete_form(signed: &Signed, group: &RegistrationGroup, device: &Device) -> Markup {
    let serial = device.serial().as_str();
    html! {
        h2 { "Delete" }
        form method="post" action=(signed.place.href(&format!("/groups/{}/devices/{serial}/delete", group.id()))) data-confirm=(format!("Delete device {serial}? It is removed from its environment/OU too.")) {
            (csrf(signed))
            input type="hidden" name="version" value=(device.version().get());
            div class="check" {
                input type="checkbox" id="x-sure" name="sure" value="1" required;
                label for="x-sure" { "Yes, delete " (serial) }
            }
            button type="submit" class="danger" { "Delete" }
        }
    }
}

fn read_only(group: &RegistrationGroup, device: &Device) -> Markup {
    let mut rows = vec![
        ("Device Name", device.name().map(|n| n.as_str().to_owned())),
        ("Model ID", Some(device.model_id().as_str().to_owned())),
        ("Timezone", device.timezone().map(|t| t.to_string())),
        (
            "Batch Tag",
            device.batch_tag().map(|t| t.as_str().to_owned()),
        ),
        (
            "Description",
            device.description().map(|d| d.as_str().to_owned()),
        ),
    ];
    for def in group.attributes().attributes() {
        let value = device
            .attributes()
            .iter()
            .find(|(k, _)| k.as_str() == def.id.as_str())
            .map(|(_, v)| v.to_string());
        rows.push((def.name.as_str(), value));
    }
    fields(&rows)
}

/// The edit of the posted form, or the one line that says which field is wrong.
fn device_edit(form: &Form, group: &RegistrationGroup) -> Result<DeviceEdit, String> {
    let e = |e: dps_core::ValidationError| e.to_string();
    let version = form
        .text("version")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or("The form lacks the device's version: reload the page.")?;
    let target = form.target()?;
    let mut attributes = BTreeMap::new();
    for def in group.attributes().attributes() {
        let given = form.text(&format!("attr.{}", def.id.as_str()));
        let value = given
            .map(|text| def.parse_value(text))
            .transpose()
            .map_err(|e| e.to_string())?;
        attributes.insert(def.id.clone(), value);
    }
    Ok(DeviceEdit {
        name: Some(
            form.text("name")
                .map(DeviceName::new)
                .transpose()
                .map_err(e)?,
        ),
        model_id: Some(ModelId::new(form.text("model_id").unwrap_or("")).map_err(e)?),
        timezone: Some(
            form.text("timezone")
                .map(str::parse::<Timezone>)
                .transpose()
                .map_err(|e| e.to_string())?,
        ),
        batch_tag: Some(
            form.text("batch_tag")
                .map(BatchTag::new)
                .transpose()
                .map_err(e)?,
        ),
        description: Some(
            form.text("description")
                .map(Description::new)
                .transpose()
                .map_err(e)?,
        ),
        target: Some(target),
        attributes,
        expected_version: Some(Version::new(version)),
    })
}

/// `POST /groups/{group}/devices/{serial}`: Save, unless the device changed since the form
/// was shown.
pub(crate) async fn edit(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, serial)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let signed = signed?;
    let form = signed.form(&body, Role::Operator)?;
    let dps = signed.acting(&api);
    let (group, device) = find(&api, &signed, &reference, &serial).await?;
    let refused =
        |status: StatusCode, message: &str, device: &Device, posted: Option<&Form>, log| {
            (
                status,
                device_page(
                    &signed,
                    &group,
                    device,
                    Some(notice(message, false)),
                    posted,
                    log,
                ),
            )
                .into_response()
        };
    let edit = match device_edit(&form, &group) {
        Ok(edit) => edit,
        Err(message) => {
            let log = events::of_device(&dps, &device).await?;
            return Ok(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                &message,
                &device,
                Some(&form),
                log,
            ));
        }
    };
    match dps.edit_device(group.id(), device.serial(), &edit).await {
        Ok(_) => Ok(signed.place.redirect(&format!(
            "/groups/{}/devices/{}?done=device-saved",
            group.id(),
            device.serial()
        ))),
        Err(dps_core::Error::Conflict { .. }) => {
            let now = dps
                .device_by_serial(group.id(), device.serial())
                .await
                .map_err(|e| Refusal::from(e).into_response())?;
            let log = events::of_device(&dps, &now).await?;
            let message = "Someone else changed this device since you opened it; your changes were not saved. The form shows the current values: edit again.";
            Ok(refused(StatusCode::CONFLICT, message, &now, None, log))
        }
        Err(e) => {
            let log = events::of_device(&dps, &device).await?;
            Ok(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                &e.to_string(),
                &device,
                Some(&form),
                log,
            ))
        }
    }
}

/// `POST …/replace`: Replace with a manual or generated serial.
pub(crate) async fn replace(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, serial)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let signed = signed?;
    let form = signed.form(&body, Role::Operator)?;
    let dps = signed.acting(&api);
    let (group, device) = find(&api, &signed, &reference, &serial).await?;
    let request = replace_request(&form);
    let outcome = match request {
        Ok(request) => dps
            .replace(group.id(), device.serial(), request)
            .await
            .map_err(|e| e.to_string()),
        Err(message) => Err(message),
    };
    match outcome {
        Ok(replaced) => Ok(signed.place.redirect(&format!(
            "/groups/{}/devices/{}?done=device-replaced",
            group.id(),
            replaced.serial()
        ))),
        Err(message) => {
            let log = events::of_device(&dps, &device).await?;
            let page = device_page(
                &signed,
                &group,
                &device,
                Some(notice(&message, false)),
                None,
                log,
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

fn replace_request(form: &Form) -> Result<ReplaceRequest, String> {
    let e = |e: dps_core::ValidationError| e.to_string();
    let new_serial = if form.get("serial_source") == Some("generated") {
        NewSerial::Generated
    } else {
        let given = form.text("new_serial").ok_or(
            "Enter the new Device Serial No. (1 - 64 characters), or choose System Generated.",
        )?;
        NewSerial::Given(SerialNumber::new(given).map_err(e)?)
    };
    Ok(ReplaceRequest {
        new_serial,
        batch_tag: BatchTag::new(form.text("batch_tag").unwrap_or("")).map_err(e)?,
        description: form
            .text("description")
            .map(Description::new)
            .transpose()
            .map_err(e)?,
    })
}

/// `POST …/delete`: deletes the device, through its environment when it is allocated.
pub(crate) async fn delete(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, serial)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let signed = signed?;
    let form = signed.form(&body, Role::Operator)?;
    let dps = signed.acting(&api);
    let (group, device) = find(&api, &signed, &reference, &serial).await?;
    let expected = form
        .text("version")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Version::new);
    if let Err(e) = dps
        .delete_device(group.id(), device.serial(), expected)
        .await
    {
        let log = events::of_device(&dps, &device).await?;
        let page = device_page(
            &signed,
            &group,
            &device,
            Some(notice(&e.to_string(), false)),
            None,
            log,
        );
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    Ok(signed.place.redirect(&format!(
        "/groups/{}/devices?done=device-deleted",
        group.id()
    )))
}

/// `POST …/reveal`: shows an admin the device secret, recorded in the event log first.
pub(crate) async fn reveal(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path((reference, serial)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let signed = signed?;
    signed.form(&body, Role::Admin)?;
    let dps = signed.acting(&api);
    let (group, device) = find(&api, &signed, &reference, &serial).await?;
    let credentials = dps
        .reveal_credentials(&device)
        .await
        .map_err(|e| Refusal::from(e).into_response())?
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::CONFLICT,
                "The device is not allocated, so it has no device secret yet.",
            )
            .into_response()
        })?;
    let secret = String::from(credentials.device_secret);
    let shown = html! {
        section class="dialog" aria-labelledby="secret-title" {
            h2 id="secret-title" { "Device Secret" }
            p { code class="secret" { (secret) } }
            p class="hint" { "Shown once, for this page: copy it now. Its reveal is in the event log." }
        }
    };
    let log = events::of_device(&dps, &device).await?;
    Ok(device_page(&signed, &group, &device, Some(shown), None, log).into_response())
}
