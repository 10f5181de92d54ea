//! The document of a failed command.

use dps_http::views::ErrorView;
use serde::Serialize;

use crate::Failure;

/// The document of a failed command: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorDoc<'a> {
    error: ErrorView<'a>,
}

impl<'a> From<&'a Failure> for ErrorDoc<'a> {
    fn from(f: &'a Failure) -> Self {
        Self {
            error: ErrorView::new(&f.code, f.message.clone()),
        }
    }
}
