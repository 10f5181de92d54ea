//! The operators' console: the "Managing Devices" pages, rendered on the server.
//!
//! Every page works without JavaScript; `console.js` only adds conveniences (a
//! confirmation before a form that asks for one, "select all" on a page). Pages are
//! [maud] templates, so every value is escaped as it is written. Forms post with the
//! session's CSRF token; every answer carries a Content-Security-Policy that allows no
//! inline script or style.
//!
//! | page | what |
//! |---|---|
//! | `/sign-in` | sign in with a token (a session cookie: HttpOnly, SameSite=Strict, Secure under TLS) |
//! | `/` | Registration Group Management: the groups |
//! | `/groups/{group}` | Group Information, editable |
//! | `/groups/{group}/devices` | Device Information: filters, pages, selection, Batch Operations |
//! | `/groups/{group}/devices/{serial}` | a device: edit, replace, delete, its events |
//! | `/groups/{group}/import` | Import: the template, upload, Confirm, the errors |
//! | `/groups/{group}/events` | the group's event log |

mod batch;
mod device;
mod devices;
mod events;
mod form;
mod groups;
mod import;
mod jobs;
mod layout;
pub(crate) mod session;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::Api;
use crate::problem::Problem;

/// What the console keeps between requests: sessions, and uploads waiting for Confirm.
#[derive(Debug, Default)]
pub(crate) struct ConsoleState {
    pub(crate) sessions: session::Sessions,
    pub(crate) uploads: import::Uploads,
}

/// The Content-Security-Policy of every console answer: scripts, styles and forms only from
/// the console itself, nothing inline, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's stylesheet and script, compiled into the binary.
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The console's routes.
pub(crate) fn routes() -> Router<Api> {
    Router::new()
        .route("/", get(groups::list))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/console/console.css", get(css))
        .route("/console/console.js", get(js))
        .route("/groups/{group}", get(groups::show).post(groups::edit))
        .route(
            "/groups/{group}/devices",
            get(devices::list).post(batch::selected),
        )
        .route(
            "/groups/{group}/devices/{serial}",
            get(device::show).post(device::edit),
        )
        .route(
            "/groups/{group}/devices/{serial}/replace",
            post(device::replace),
        )
        .route(
            "/groups/{group}/devices/{serial}/delete",
            post(device::delete),
        )
        .route(
            "/groups/{group}/devices/{serial}/reveal",
            post(device::reveal),
        )
        .route("/groups/{group}/events", get(events::group))
        .route("/groups/{group}/jobs/{job}", get(jobs::show))
        .route("/groups/{group}/jobs/{job}/cancel", post(jobs::cancel))
        .route("/groups/{group}/jobs/{job}/file", get(jobs::file))
        .route("/groups/{group}/jobs/{job}/results.csv", get(jobs::results))
        .route(
            "/groups/{group}/import",
            get(import::page_get).post(import::upload),
        )
        .route("/groups/{group}/import/template.csv", get(import::template))
        .route("/groups/{group}/import/{upload}", post(import::confirm))
        .route(
            "/groups/{group}/import/{upload}/errors.csv",
            get(import::errors),
        )
        .route_layer(axum::middleware::from_fn(headers))
        .layer(axum::extract::DefaultBodyLimit::max(
            import::MAX_UPLOAD + 64 * 1024,
        ))
}

/// Adds the console's security headers to every answer of its routes.
async fn headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

/// A refusal shown as a page: its status and one line that says what to do.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    /// A refusal with `status` and `message`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The refusal of an API problem: its status and its one-line detail.
    pub(crate) fn from_problem(problem: &Problem) -> Self {
        Self::new(problem.status(), problem.detail())
    }
}

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Self {
        Self::from_problem(&problem)
    }
}

impl From<dps_core::Error> for Refusal {
    fn from(error: dps_core::Error) -> Self {
        Self::from_problem(&Problem::from_dps(&error))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let page = layout::bare("Not done", &self.message);
        (self.status, page).into_response()
    }
}

/// The sign-in page.
async fn sign_in_page(place: session::Place) -> Response {
    layout::sign_in(&place, None).into_response()
}

/// Whether a post comes from another site, as the browser's `Sec-Fetch-Site` (or, without
/// it, `Origin` against `Host`) tells: such a post could sign a victim in with someone
/// else's token.
fn cross_site(headers: &axum::http::HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .unwrap_or(origin);
            origin != host
        }
        _ => false,
    }
}

/// Signs in with the token of the form: a new session and its cookie (ending the session
/// the browser had).
async fn sign_in(
    State(api): State<Api>,
    place: session::Place,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if cross_site(&headers) {
        return Refusal::new(
            StatusCode::FORBIDDEN,
            "Sign in from the console's own sign-in page.",
        )
        .into_response();
    }
    if let Some(old) = session::cookie(&headers, session::COOKIE) {
        api.inner.console.sessions.end(old);
    }
    let form = form::Form::parse(&body);
    let text = form.get("token").unwrap_or("").trim();
    let hash = dps_core::access::TokenHash::of(text);
    let known = match api.provisioner().store().token_by_hash(&hash).await {
        Ok(token) => token.is_some() && !text.is_empty(),
        Err(e) => return Refusal::from_problem(&Problem::from_dps(&e)).into_response(),
    };
    if !known {
        let page = layout::sign_in(
            &place,
            Some(
                "That token is not known here: check it, or ask an admin for one (dps token create).",
            ),
        );
        return (StatusCode::UNAUTHORIZED, page).into_response();
    }
    let id = api.inner.console.sessions.start(hash);
    let mut response = place.redirect("/");
    response
        .headers_mut()
        .append(header::SET_COOKIE, place.session_cookie(Some(&id)).1);
    response
}

/// Signs out: ends the session and its cookie.
async fn sign_out(
    State(api): State<Api>,
    signed: Result<session::Signed, Response>,
    body: axum::body::Bytes,
) -> Response {
    let signed = match signed {
        Ok(signed) => signed,
        Err(to_sign_in) => return to_sign_in,
    };
    let form = form::Form::parse(&body);
    if let Err(refusal) = signed.check(form.get("_csrf")) {
        return refusal.into_response();
    }
    api.inner.console.sessions.end(&signed.session);
    let mut response = signed.place.redirect("/sign-in");
    response
        .headers_mut()
        .append(header::SET_COOKIE, signed.place.session_cookie(None).1);
    response
}
