//! The OpenAPI 3.1 document of the routes, generated from the handlers and their types.

use utoipa::Modify;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routes::{batch, bootstrap, devices, events, groups, jobs, ops, transfer};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "dps",
        description = "Device provisioning: registration groups, devices, allocation, CSV and QR labels, and the device-facing bootstrap call. Errors are application/problem+json with a stable `code`.",
    ),
    paths(
        groups::list, groups::create, groups::show, groups::edit, groups::delete, groups::rotate,
        devices::list, devices::register, devices::generate, devices::show, devices::edit,
        devices::delete, devices::replace, devices::template,
        transfer::import, transfer::export, transfer::export_selected, transfer::qr,
        transfer::qr_selected,
        batch::allocate, batch::reset, batch::delete, batch::recover,
        jobs::list, jobs::show, jobs::cancel, jobs::results, jobs::file,
        events::list, bootstrap::bootstrap, ops::healthz, ops::readyz,
    ),
    modifiers(&Bearer),
)]
struct Document;

/// The bearer token scheme of the management routes.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of the service, as `GET /openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Document::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The document as pretty-printed JSON with a final line feed, as `docs/openapi.json` holds
/// it.
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// `GET /openapi.json`.
pub(crate) async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json(),
    )
        .into_response()
}
