//! Every refusal and failure as one `application/problem+json` answer (RFC 9457).

use std::fmt;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dps_core::{Category, DpsError};
use serde::Serialize;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A failed request: its status and the body
/// `{"type", "title", "status", "code", "detail"}`, where `code` is the stable error code
/// of `docs/errors.md`, or one of this crate's own (`malformed_json`, `invalid_body`,
/// `forbidden`, `version_mismatch`, `body_too_large`, `rate_limited`, …), which its section
/// "Codes of the HTTP service" lists.
///
/// ```
/// use axum::http::StatusCode;
/// use dps_http::Problem;
///
/// let p = Problem::from_dps(&dps_core::Error::Unauthorized);
/// assert_eq!(p.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(p.code(), "unauthorized");
/// ```
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after: Option<u64>,
}

/// The body of every error answer, as the OpenAPI document names it (`Problem`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub(crate) struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
}

/// The answer of every operation to a refusal or failure, as its OpenAPI entry lists it.
#[derive(utoipa::IntoResponses)]
#[response(
    status = "default",
    description = "a refusal or failure",
    content_type = "application/problem+json"
)]
pub(crate) struct Refused<'a>(
    #[expect(
        dead_code,
        reason = "it names the body's schema; no answer is built from it"
    )]
    ProblemBody<'a>,
);

/// Seconds a client waits before retrying a retryable failure.
const RETRY_AFTER_SECONDS: u64 = 1;

impl Problem {
    /// A problem with this status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The answer to any dps error: the status from its category and code, its code, and
    /// its message (a generic one for a failure of the service itself, whose message may
    /// name hosts or paths). A retryable failure answers 503 with `Retry-After`.
    pub fn from_dps(error: &dyn DpsError) -> Self {
        let code = error.code();
        let status = match (error.category(), code) {
            (_, "unauthorized") => StatusCode::UNAUTHORIZED,
            (_, "limit_exceeded") => StatusCode::PAYLOAD_TOO_LARGE,
            (_, "try_again") => StatusCode::SERVICE_UNAVAILABLE,
            (
                _,
                "group_not_empty" | "invalid_state" | "not_allocated" | "already_registered"
                | "ambiguous_group",
            ) => StatusCode::CONFLICT,
            (Category::Validation, _) => StatusCode::UNPROCESSABLE_ENTITY,
            (Category::Usage, _) => StatusCode::BAD_REQUEST,
            (Category::NotFound, _) => StatusCode::NOT_FOUND,
            (Category::Conflict, _) => StatusCode::CONFLICT,
            (Category::Environment | Category::Storage, _) if error.is_retryable() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            (Category::Environment, _) => StatusCode::BAD_GATEWAY,
            // Storage and configuration failures, and categories added later.
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(code, error = %error, "request failed");
            "the service failed; its log has the details".to_owned()
        } else {
            error.to_string()
        };
        let retry_after = (error.is_retryable() || status == StatusCode::SERVICE_UNAVAILABLE)
            .then_some(RETRY_AFTER_SECONDS);
        Self {
            status,
            code,
            detail,
            retry_after,
        }
    }

    /// 401: no token, or one the store does not know.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    /// 403: the token's role does not allow the request.
    pub fn forbidden(needed: dps_core::access::Role) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this request needs a token with the {needed} role"),
        )
    }

    /// 422: a request field or parameter that breaks its rule.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 400: a request this service cannot read.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 429 or 503 with the seconds to wait in `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code of the answer.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What went wrong, in words.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED && self.code == "unauthorized" {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<dps_core::Error> for Problem {
    fn from(e: dps_core::Error) -> Self {
        Self::from_dps(&e)
    }
}

impl From<dps_core::StoreError> for Problem {
    fn from(e: dps_core::StoreError) -> Self {
        Self::from_dps(&e)
    }
}

impl From<dps_core::ValidationError> for Problem {
    fn from(e: dps_core::ValidationError) -> Self {
        Self::invalid(e.code(), e.to_string())
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match &rejection {
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            _ => "unreadable_body",
        };
        Self::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid("invalid_query", rejection.body_text())
    }
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        Self::new(rejection.status(), "invalid_path", rejection.body_text())
    }
}
