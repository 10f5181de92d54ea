//! A CSV import's report.

use dps_csv::{ImportReport, RowError};
use serde::Serialize;

/// What an import did: its counts and every refused row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportView<'a> {
    /// Rows created, updated or unchanged.
    accepted: u64,
    /// Rows refused.
    rejected: u64,
    dry_run: bool,
    committed: bool,
    created: u64,
    updated: u64,
    unchanged: u64,
    rows: Vec<RowOut<'a>>,
}

impl<'a> ImportView<'a> {
    /// The document of `report`, of a dry run or not.
    pub fn new(report: &'a ImportReport, dry_run: bool) -> Self {
        let s = &report.summary;
        Self {
            accepted: s.created + s.updated + s.unchanged,
            rejected: s.failed,
            dry_run,
            committed: s.committed,
            created: s.created,
            updated: s.updated,
            unchanged: s.unchanged,
            rows: report.errors().map(RowOut::from).collect(),
        }
    }
}

/// A refused row: where, which value, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RowOut<'a> {
    line: u64,
    column: Option<&'a str>,
    value: &'a str,
    code: &'a str,
    message: &'a str,
}

impl<'a> From<&'a RowError> for RowOut<'a> {
    fn from(e: &'a RowError) -> Self {
        Self {
            line: e.line,
            column: e.column.as_deref(),
            value: &e.value,
            code: e.code,
            message: &e.message,
        }
    }
}
