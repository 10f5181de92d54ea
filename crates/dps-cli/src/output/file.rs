//! Documents of the commands that write files: the path written, and what went into it.

use std::path::Path;

use serde::Serialize;

use dps_http::views::ResultView;

/// A file was written: `{"path"}`.
#[derive(Debug, Serialize)]
pub(crate) struct PathOut {
    path: String,
}

impl PathOut {
    /// `path` was written.
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.display().to_string(),
        }
    }
}

/// A CSV import template printed instead of written: `{"template"}`.
#[derive(Debug, Serialize)]
pub(crate) struct TemplateOut {
    template: String,
}

impl TemplateOut {
    /// The template `text`.
    pub(crate) fn new(template: String) -> Self {
        Self { template }
    }
}

/// A CSV export: where, how many rows, and the selected serials that are not in the group.
#[derive(Debug, Serialize)]
pub(crate) struct ExportOut<'a> {
    path: String,
    rows: u64,
    not_found: &'a [String],
}

impl<'a> ExportOut<'a> {
    /// `rows` devices written to `path`; the serials `not_found` were not.
    pub(crate) fn new(path: &Path, rows: u64, not_found: &'a [String]) -> Self {
        Self {
            path: path.display().to_string(),
            rows,
            not_found,
        }
    }
}

/// A label archive or sheet: where, how many labels (and pages, for a sheet), and the
/// devices without one.
#[derive(Debug, Serialize)]
pub(crate) struct QrOut<'a> {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pages: Option<usize>,
    succeeded: usize,
    failed: usize,
    results: Vec<ResultView<'a>>,
}

impl<'a> QrOut<'a> {
    /// `succeeded` labels written to `path`; `failed` are the devices without a label.
    pub(crate) fn new(path: &Path, succeeded: usize, failed: Vec<ResultView<'a>>) -> Self {
        Self {
            path: path.display().to_string(),
            pages: None,
            succeeded,
            failed: failed.len(),
            results: failed,
        }
    }

    /// These labels on `pages` pages of a sheet.
    pub(crate) fn with_pages(mut self, pages: usize) -> Self {
        self.pages = Some(pages);
        self
    }
}
