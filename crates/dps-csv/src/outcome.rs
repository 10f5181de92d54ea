//! What an import reports: one outcome per row, the counts, and both together.

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use dps_core::SerialNumber;
use dps_core::import::ImportAction;

use crate::error::RowError;

/// What happened to one row (or, in a dry run or a refused all-or-nothing import, what would
/// have happened).
///
/// It serialises as an object with the line, the serial (`null` when the row has no valid
/// one) and either the `action` (`create`, `update` or `unchanged`) or the `error` (a
/// [`RowError`]):
///
/// ```json
/// {"line": 2, "serial": "SN-1", "action": "create"}
/// ```
///
/// ```json
/// {
///   "line": 3,
///   "serial": null,
///   "error": {
///     "line": 3,
///     "column": "Device Serial No.",
///     "value": "SN 2",
///     "code": "invalid_serial",
///     "message": "invalid serial: contains ' '; allowed are ASCII letters, digits and - _ . :"
///   }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOutcome {
    /// The line the row starts on.
    pub line: u64,
    /// The row's serial, when it has a valid one.
    pub serial: Option<SerialNumber>,
    /// The action, or why the row was refused.
    pub result: Result<ImportAction, RowError>,
}

/// Counts of an import's rows.
///
/// It serialises (and deserialises) as an object of its fields:
///
/// ```json
/// {"rows": 3, "created": 2, "updated": 0, "unchanged": 0, "failed": 1, "committed": true}
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    /// Rows read (blank rows are not counted).
    pub rows: u64,
    /// Rows that create a device.
    pub created: u64,
    /// Rows that update a device.
    pub updated: u64,
    /// Rows that match their device already.
    pub unchanged: u64,
    /// Rows refused.
    pub failed: u64,
    /// Whether the changes were written: false for a dry run and for an all-or-nothing import
    /// with a refused row, where the counts say what would have happened.
    pub committed: bool,
}

impl Serialize for RowOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("RowOutcome", 3)?;
        out.serialize_field("line", &self.line)?;
        out.serialize_field("serial", &self.serial.as_ref().map(SerialNumber::as_str))?;
        match &self.result {
            Ok(action) => out.serialize_field("action", action.as_str())?,
            Err(error) => out.serialize_field("error", error)?,
        }
        out.end()
    }
}

impl ImportSummary {
    pub(crate) fn count(&mut self, outcome: &RowOutcome) {
        self.rows += 1;
        match outcome.result {
            Ok(ImportAction::Create) => self.created += 1,
            Ok(ImportAction::Update) => self.updated += 1,
            Ok(ImportAction::Unchanged) => self.unchanged += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// The outcome of [`import`](fn@crate::import): the counts and one outcome per row, in file order.
///
/// It serialises as an object of the [`ImportSummary`] and the [`RowOutcome`]s:
///
/// ```json
/// {
///   "summary": {"rows": 1, "created": 1, "updated": 0, "unchanged": 0, "failed": 0, "committed": true},
///   "rows": [{"line": 2, "serial": "SN-1", "action": "create"}]
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The counts.
    pub summary: ImportSummary,
    /// One outcome per row, in file order.
    pub rows: Vec<RowOutcome>,
}

impl ImportReport {
    /// The refused rows' errors, in file order.
    pub fn errors(&self) -> impl Iterator<Item = &RowError> {
        self.rows.iter().filter_map(|r| r.result.as_ref().err())
    }
}
