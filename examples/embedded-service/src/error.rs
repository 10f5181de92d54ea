//! Every failure as one HTTP answer.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dps::{Category, DpsError};
use serde::Serialize;

/// A failed request: the status, and the body `{"code": …, "message": …}` with the error's
/// stable code.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// The answer to any dps error: the status from its category, its code and message.
    pub fn from_dps(error: &dyn DpsError) -> Self {
        let status = match error.category() {
            Category::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Category::Usage if error.code() == "unauthorized" => StatusCode::UNAUTHORIZED,
            Category::Usage => StatusCode::BAD_REQUEST,
            Category::NotFound => StatusCode::NOT_FOUND,
            Category::Conflict => StatusCode::CONFLICT,
            Category::Environment | Category::Storage if error.is_retryable() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Category::Environment => StatusCode::BAD_GATEWAY,
            // Storage and configuration failures, and categories added later.
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // A server-side failure may name paths or hosts: its code is enough for the client.
        let message = if status.is_server_error() {
            "the service failed".to_owned()
        } else {
            error.to_string()
        };
        Self {
            status,
            code: error.code(),
            message,
        }
    }

    /// A request this service refuses before dps sees it.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// A failure of the service itself, such as a task that panicked.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal_error",
            message: message.into(),
        }
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code of the answer.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<dps::Error> for ApiError {
    fn from(error: dps::Error) -> Self {
        Self::from_dps(&error)
    }
}

impl From<dps::ValidationError> for ApiError {
    fn from(error: dps::ValidationError) -> Self {
        dps::Error::from(error).into()
    }
}

impl From<dps::csv::ImportError> for ApiError {
    fn from(error: dps::csv::ImportError) -> Self {
        match error {
            dps::csv::ImportError::Core(e) => Self::from_dps(&e),
            dps::csv::ImportError::Interrupted { cause, .. } => Self::from(*cause),
            // The file itself is unusable (header, encoding, limits): the caller's to fix.
            other => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: other.code(),
                message: other.to_string(),
            },
        }
    }
}

impl From<dps::qr::Error> for ApiError {
    fn from(error: dps::qr::Error) -> Self {
        match error {
            dps::qr::Error::Core(e) => Self::from_dps(&e),
            other => Self {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: other.code(),
                message: "the label archive failed".to_owned(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}
