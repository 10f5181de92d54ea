//! An error inside a document: `{"code", "message"}`.

use serde::Serialize;

/// An error's stable code and its message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorView<'a> {
    code: &'a str,
    message: String,
}

impl<'a> ErrorView<'a> {
    /// The error `code` saying `message`.
    pub fn new(code: &'a str, message: String) -> Self {
        Self { code, message }
    }
}
