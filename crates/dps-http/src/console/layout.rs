//! The frame of every console page, and the pieces pages share.

use maud::{DOCTYPE, Markup, html};

use super::session::{Place, Signed};

/// The document around `content`: the head, the header with who is signed in, and the
/// navigation trail `trail` (label and path, the last one the page itself).
pub(crate) fn page(signed: &Signed, trail: &[(&str, String)], content: Markup) -> Markup {
    page_refreshed(signed, trail, content, None)
}

/// [`page`], reloaded by the browser every `refresh` seconds (a job's progress), without a
/// script.
pub(crate) fn page_refreshed(
    signed: &Signed,
    trail: &[(&str, String)],
    content: Markup,
    refresh: Option<u32>,
) -> Markup {
    let title = trail.last().map_or("dps console", |(label, _)| *label);
    let place = &signed.place;
    html! {
        (head(place, title, refresh))
        body {
            a class="skip" href="#main" { "Skip to the content" }
            header class="top" {
                a class="brand" href=(place.href("/")) { "Device Provisioning Service" }
                div class="who" {
                    span { "Signed in as " strong { (signed.token().name().as_str()) } " (" (signed.token().role().as_str()) ")" }
                    form method="post" action=(place.href("/sign-out")) {
                        (csrf(signed))
                        button type="submit" class="link" { "Sign out" }
                    }
                }
            }
            nav aria-label="Breadcrumb" class="trail" {
                ol {
                    li { a href=(place.href("/")) { "Registration Group Management" } }
                    @for (label, path) in trail {
                        li { a href=(place.href(path)) { (label) } }
                    }
                }
            }
            main id="main" {
                h1 { (title) }
                (content)
            }
        }
    }
}

fn head(place: &Place, title: &str, refresh: Option<u32>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en";
        head {
            meta charset="utf-8";
            @if let Some(seconds) = refresh {
                meta http-equiv="refresh" content=(seconds);
            }
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · dps console" }
            link rel="icon" href="data:,";
            link rel="stylesheet" href=(place.href("/console/console.css"));
            script src=(place.href("/console/console.js")) defer {}
        }
    }
}

/// A page of one message, for refusals: no session is needed to show it.
pub(crate) fn bare(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en";
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · dps console" }
        }
        body {
            main id="main" {
                h1 { (title) }
                p role="alert" { (message) }
                p { "Use your browser's Back button to return to the page." }
            }
        }
    }
}

/// The sign-in page, with `error` above the form when the last try failed.
pub(crate) fn sign_in(place: &Place, error: Option<&str>) -> Markup {
    html! {
        (head(place, "Sign in", None))
        body {
            main id="main" class="narrow" {
                h1 { "Sign in to the dps console" }
                @if let Some(error) = error {
                    p class="error" role="alert" { (error) }
                }
                form method="post" action=(place.href("/sign-in")) {
                    label for="token" { "Access token" }
                    input id="token" name="token" type="password" autocomplete="current-password" required;
                    p class="hint" { "A token that " code { "dps token create" } " made, or the admin token " code { "dps serve" } " printed." }
                    button type="submit" { "Sign in" }
                }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="_csrf" value=(signed.csrf); }
}

/// A notice at the top of a page: `ok` in green, otherwise as an error.
pub(crate) fn notice(text: &str, ok: bool) -> Markup {
    html! {
        @if ok {
            p class="notice" role="status" { (text) }
        } @else {
            p class="error" role="alert" { (text) }
        }
    }
}

/// The text of a notice code that a redirect carries in `?done=`; codes are fixed, so no
/// text of the request is ever shown.
pub(crate) fn done(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "group-saved" => "The group information was saved.",
        "device-saved" => "The device was saved.",
        "device-replaced" => {
            "The device was replaced: it keeps its asset ID and has a new device key and secret."
        }
        "device-deleted" => "The device was deleted.",
        _ => return None,
    })
}

/// A definition list of label and value rows; `None` values show as "—".
pub(crate) fn fields(rows: &[(&str, Option<String>)]) -> Markup {
    html! {
        dl class="fields" {
            @for (label, value) in rows {
                dt { (label) }
                dd { (value.as_deref().unwrap_or("—")) }
            }
        }
    }
}

/// The tabs of a group's pages.
pub(crate) fn tabs(place: &Place, group: &str, current: &str) -> Markup {
    let tab = |label: &'static str, path: String| {
        let here = label == current;
        html! {
            li {
                @if here {
                    a href=(place.href(&path)) aria-current="page" { (label) }
                } @else {
                    a href=(place.href(&path)) { (label) }
                }
            }
        }
    };
    html! {
        nav class="tabs" aria-label="Group pages" {
            ul {
                (tab("Group Information", format!("/groups/{group}")))
                (tab("Device Information", format!("/groups/{group}/devices")))
                (tab("Import", format!("/groups/{group}/import")))
                (tab("Events", format!("/groups/{group}/events")))
            }
        }
    }
}
