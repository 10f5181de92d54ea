//! The event log of a group and of a device: who did what, when.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use dps_core::{Device, Event, EventCursor, EventKind, GroupId};
use maud::{Markup, html};

use super::Refusal;
use super::layout::{page, tabs};
use super::session::Signed;
use crate::{Api, DynProvisioner};

/// The most events a page shows: the newest ones.
const SHOWN: usize = 200;

/// How many events one read of the log takes.
const READ: usize = 1000;

/// The newest [`SHOWN`] events that `keep` keeps, newest first. The log is read from its
/// start, so this takes time in proportion to its length.
async fn newest(
    dps: &DynProvisioner,
    keep: impl Fn(&Event) -> bool,
) -> Result<Vec<Event>, Response> {
    let mut kept = std::collections::VecDeque::with_capacity(SHOWN);
    let mut after = EventCursor::START;
    loop {
        let events = dps
            .events(after, READ)
            .await
            .map_err(|e| Refusal::from(e).into_response())?;
        let Some(last) = events.last() else { break };
        after = last.cursor;
        let done = events.len() < READ;
        for event in events.into_iter().filter(|e| keep(e)) {
            if kept.len() == SHOWN {
                kept.pop_front();
            }
            kept.push_back(event);
        }
        if done {
            break;
        }
    }
    Ok(kept.into_iter().rev().collect())
}

/// What an event says beyond its kind.
fn detail(kind: &EventKind) -> String {
    match kind {
        EventKind::AllocationStarted { target, .. } => format!("to {target}"),
        EventKind::Allocated {
            target, asset_id, ..
        } => format!("to {target}, asset {}", asset_id.as_str()),
        EventKind::AllocationFailed { code, message, .. }
        | EventKind::OperationFailed { code, message, .. } => format!("{message} ({code})"),
        EventKind::Reset { initialized, .. } => {
            if *initialized {
                "initialized".to_owned()
            } else {
                String::new()
            }
        }
        EventKind::ReplaceStarted { old_serial, .. } | EventKind::Replaced { old_serial, .. } => {
            format!("replacing {}", old_serial.as_str())
        }
        EventKind::OperationDeferred { message, .. } => message.clone(),
        EventKind::OperationResumed { attempt, .. } => format!("attempt {attempt}"),
        EventKind::BootstrapRefused { reason, .. } => format!("{reason:?}"),
        EventKind::GroupSecretRotated { previous_kept } => {
            if *previous_kept {
                "the previous secret still works".to_owned()
            } else {
                "the previous secret no longer works".to_owned()
            }
        }
        _ => String::new(),
    }
}

/// The table of `events`.
fn table(events: &[Event], with_serial: bool) -> Markup {
    html! {
        @if events.is_empty() {
            p { "No events yet." }
        } @else {
            table class="events" {
                thead {
                    tr {
                        th scope="col" { "When" }
                        th scope="col" { "Who" }
                        th scope="col" { "What" }
                        @if with_serial { th scope="col" { "Device Serial No." } }
                        th scope="col" { "Details" }
                    }
                }
                tbody {
                    @for event in events {
                        tr {
                            td { (event.at.to_string()) }
                            td { (event.actor.as_ref().map_or("—", |a| a.as_str())) }
                            td { (event.kind.name()) }
                            @if with_serial { td { (event.serial.as_ref().map_or("", |s| s.as_str())) } }
                            td { (detail(&event.kind)) }
                        }
                    }
                }
            }
        }
    }
}

/// The events of `device` (under its serials, past ones included), for its page.
pub(crate) async fn of_device(dps: &DynProvisioner, device: &Device) -> Result<Markup, Response> {
    let id = device.id();
    let events = newest(dps, |e| e.device_id == Some(id)).await?;
    Ok(table(&events, true))
}

/// `/groups/{group}/events`.
pub(crate) async fn group(
    State(api): State<Api>,
    signed: Result<Signed, Response>,
    Path(reference): Path<String>,
) -> Result<Response, Response> {
    let signed = signed?;
    let dps = api.provisioner();
    let group = signed.group(&api, &reference).await?;
    let id: GroupId = group.id();
    let events = newest(dps, |e| e.group_id == id).await?;
    let content = html! {
        (tabs(&signed.place, &id.to_string(), "Events"))
        p class="hint" { "The newest " (SHOWN) " events of the group and its devices, newest first." }
        (table(&events, true))
    };
    let trail = [
        (group.name().as_str(), format!("/groups/{id}")),
        ("Events", format!("/groups/{id}/events")),
    ];
    Ok(page(&signed, &trail, content).into_response())
}
