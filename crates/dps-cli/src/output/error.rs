//! Errors in documents: `{"code", "message"}`.

use serde::Serialize;

use crate::Failure;

/// An error's stable code and its message.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorOut<'a> {
    code: &'a str,
    message: String,
}

impl<'a> ErrorOut<'a> {
    /// The error `code` saying `message`.
    pub(crate) fn new(code: &'a str, message: String) -> Self {
        Self { code, message }
    }
}

/// The document of a failed command: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorDoc<'a> {
    error: ErrorOut<'a>,
}

impl<'a> From<&'a Failure> for ErrorDoc<'a> {
    fn from(f: &'a Failure) -> Self {
        Self {
            error: ErrorOut::new(&f.code, f.message.clone()),
        }
    }
}
