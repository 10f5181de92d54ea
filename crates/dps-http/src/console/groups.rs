//! Registration Group Management: the list of groups, and a group's information.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dps_core::access::Role;
use dps_core::attribute::AttributeSchema;
use dps_core::{Description, DeviceQuery, GroupEdit, GroupId, GroupName, RegistrationGroup};
use dps_core::{ModelType, ReprovisionMethod};
use maud::{Markup, html};

use super::Refusal;
use super::form::Form;
use super::layout::{self, csrf, fields, notice, page, tabs};
use super::session::Signed;
use crate::Api;

/// `?after=` of the group list, `?done=` after a change.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ListQuery {
    after: Option<String>,
    done: Option<String>,
}

/// The most groups on one page of the list.
const GROUPS_PER_PAGE: usize = 50;

/// `/`: the groups the signed-in token reaches.
pub(crate) async fn list(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Response> {
    let signed = signed?;
    let dps = api.provisioner();
    let after = query
        .after
        .as_deref()
        .and_then(|a| a.parse::<GroupId>().ok());
    let groups = dps
        .groups(after, GROUPS_PER_PAGE)
        .await
        .map_err(|e| Refusal::from(e).into_response())?;
    let mut rows = Vec::new();
    for group in groups
        .items
        .iter()
        .filter(|g| signed.caller.reaches(g.id()))
    {
        let devices = dps
            .count(&DeviceQuery::group(group.id()))
            .await
            .map_err(|e| Refusal::from(e).into_response())?;
        rows.push((group, devices));
    }
    let place = &signed.place;
    let content = html! {
        @if let Some(text) = layout::done(query.done.as_deref()) { (notice(text, true)) }
        table {
            caption { "Registration groups" }
            thead { tr { th scope="col" { "Group Name" } th scope="col" { "Description" } th scope="col" { "Default Environment/OU" } th scope="col" { "Devices" } th scope="col" { "Actions" } } }
            tbody {
                @for (group, devices) in &rows {
                    tr {
                        td { (group.name().as_str()) }
                        td { (group.description().map_or("", |d| d.as_str())) }
                        td { (group.default_target().map(ToString::to_string).unwrap_or_else(|| "—".into())) }
                        td class="number" { (devices) }
                        td { a href=(place.href(&format!("/groups/{}/devices", group.id()))) aria-label=(format!("View Details of {}", group.name().as_str())) { "View Details" } }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="5" { "No registration groups yet. Create one with " code { "dps group create" } " or the API." } }
                }
            }
        }
        @if let Some(next) = groups.next {
            p { a href=(place.href(&format!("/?after={next}"))) { "Next page" } }
        }
    };
    Ok(page(&signed, &[], content).into_response())
}

/// `?done=` after a change.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// `/groups/{group}`: Group Information, with its edit form for an operator.
pub(crate) async fn show(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path(reference): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, Response> {
    let signed = signed?;
    let group = signed.group(&api, &reference).await?;
    let note = layout::done(query.done.as_deref()).map(|t| notice(t, true));
    Ok(info_page(&signed, &group, note, None).into_response())
}

/// The values a form shows: the group's, or what the operator posted when it was refused.
struct Shown {
    name: String,
    description: String,
    environment: String,
    ou: String,
    model_type: &'static str,
    reprovision: &'static str,
    auto_activation: bool,
    attributes: String,
}

impl Shown {
    fn of(group: &RegistrationGroup) -> Self {
        Self {
            name: group.name().as_str().to_owned(),
            description: group.description().map_or("", |d| d.as_str()).to_owned(),
            environment: group
                .default_target()
                .map_or("", |t| t.environment.as_str())
                .to_owned(),
            ou: group
                .default_target()
                .map_or("", |t| t.ou.as_str())
                .to_owned(),
            model_type: group.model_type().as_str(),
            reprovision: group.reprovision().as_str(),
            auto_activation: group.auto_activation(),
            attributes: serde_json::to_string_pretty(group.attributes())
                .unwrap_or_else(|_| "[]".into()),
        }
    }

    fn posted(form: &Form, group: &RegistrationGroup) -> Self {
        let mut shown = Self::of(group);
        let take = |name: &str| form.get(name).unwrap_or("").to_owned();
        shown.name = take("name");
        shown.description = take("description");
        shown.environment = take("environment");
        shown.ou = take("ou");
        shown.auto_activation = form.ticked("auto_activation");
        shown.attributes = take("attributes");
        shown
    }
}

fn info_page(
    signed: &Signed,
    group: &RegistrationGroup,
    note: Option<Markup>,
    posted: Option<Shown>,
) -> Markup {
    let place = &signed.place;
    let id = group.id().to_string();
    let shown = posted.unwrap_or_else(|| Shown::of(group));
    let select = |name: &str, label: &str, current: &str, options: &[&str]| {
        html! {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                @for option in options {
                    @if *option == current { option value=(option) selected { (option) } }
                    @else { option value=(option) { (option) } }
                }
            }
        }
    };
    let content = html! {
        (tabs(place, &id, "Group Information"))
        @if let Some(note) = note { (note) }
        (fields(&[
            ("Group ID", Some(id.clone())),
            ("Created", Some(group.created_at().to_string())),
            ("Version", Some(group.version().get().to_string())),
        ]))
        @if signed.may_change() {
            form method="post" action=(place.href(&format!("/groups/{id}"))) class="edit" {
                (csrf(signed))
                input type="hidden" name="version" value=(group.version().get());
                label for="name" { "Group Name" }
                input id="name" name="name" required maxlength="64" value=(shown.name);
                label for="description" { "Description" }
                textarea id="description" name="description" maxlength="512" { (shown.description) }
                fieldset {
                    legend { "Default Environment/OU" }
                    label for="environment" { "Environment" }
                    input id="environment" name="environment" maxlength="64" value=(shown.environment);
                    label for="ou" { "OU" }
                    input id="ou" name="ou" maxlength="64" value=(shown.ou);
                    p class="hint" { "Devices without an environment/OU of their own are allocated here. Leave both empty for none." }
                }
                (select("model_type", "Model Type", shown.model_type, &["public", "private"]))
                (select("reprovision", "Reprovision Method", shown.reprovision, &["migrate", "initialize", "disabled"]))
                div class="check" {
                    @if shown.auto_activation { input id="auto_activation" type="checkbox" name="auto_activation" value="1" checked; }
                    @else { input id="auto_activation" type="checkbox" name="auto_activation" value="1"; }
                    label for="auto_activation" { "Auto-activation" }
                }
                label for="attributes" { "Attribute schema (JSON)" }
                textarea id="attributes" name="attributes" rows="8" class="code" { (shown.attributes) }
                p class="hint" { "A list of attributes: " code { r#"[{"id": "floor", "name": "Floor", "type": "integer", "required": false, "default": null}]"# } }
                button type="submit" { "Save" }
            }
        } @else {
            (fields(&[
                ("Group Name", Some(shown.name)),
                ("Description", Some(shown.description).filter(|d| !d.is_empty())),
                ("Default Environment/OU", group.default_target().map(ToString::to_string)),
                ("Model Type", Some(shown.model_type.to_owned())),
                ("Reprovision Method", Some(shown.reprovision.to_owned())),
                ("Auto-activation", Some(if shown.auto_activation { "on" } else { "off" }.to_owned())),
            ]))
            h2 { "Attribute schema" }
            pre class="code" { (shown.attributes) }
        }
    };
    page(
        signed,
        &[(group.name().as_str(), format!("/groups/{id}"))],
        content,
    )
}

/// `POST /groups/{group}`: saves the group information, unless the group changed since the
/// form was shown.
pub(crate) async fn edit(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path(reference): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let signed = signed?;
    let form = signed.form(&body, Role::Operator)?;
    let dps = signed.acting(&api);
    let group = signed.group(&api, &reference).await?;
    let edit = match group_edit(&form) {
        Ok(edit) => edit,
        Err(message) => {
            let page = info_page(
                &signed,
                &group,
                Some(notice(&message, false)),
                Some(Shown::posted(&form, &group)),
            );
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    match dps.edit_group(group.id(), edit).await {
        Ok(_) => Ok(signed
            .place
            .redirect(&format!("/groups/{}?done=group-saved", group.id()))),
        Err(dps_core::Error::Conflict { .. }) => {
            let now = dps
                .group(group.id())
                .await
                .map_err(|e| Refusal::from(e).into_response())?;
            let message = "Someone else changed this group since you opened it; your changes were not saved. The form shows the current values: edit again.";
            let page = info_page(&signed, &now, Some(notice(message, false)), None);
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => {
            let message = e.to_string();
            let page = info_page(
                &signed,
                &group,
                Some(notice(&message, false)),
                Some(Shown::posted(&form, &group)),
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// The edit of the posted form, or the one line that says which field is wrong.
fn group_edit(form: &Form) -> Result<GroupEdit, String> {
    let version = form
        .text("version")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or("The form lacks the group's version: reload the page.")?;
    let name = GroupName::new(form.text("name").unwrap_or("")).map_err(|e| e.to_string())?;
    let description = form
        .text("description")
        .map(Description::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    let target = form.target()?;
    let model_type = form
        .get("model_type")
        .unwrap_or("public")
        .parse::<ModelType>()
        .map_err(|e| e.to_string())?;
    let reprovision = form
        .get("reprovision")
        .unwrap_or("migrate")
        .parse::<ReprovisionMethod>()
        .map_err(|e| e.to_string())?;
    let attributes: Option<AttributeSchema> = match form.text("attributes") {
        None => Some(AttributeSchema::default()),
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| format!("The attribute schema is not valid: {e}"))?,
        ),
    };
    Ok(GroupEdit {
        name: Some(name),
        description: Some(description),
        default_target: Some(target),
        model_type: Some(model_type),
        reprovision: Some(reprovision),
        auto_activation: Some(form.ticked("auto_activation")),
        attributes,
        expected_version: Some(dps_core::Version::new(version)),
    })
}
