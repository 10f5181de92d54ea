//! Formula-injection guard: cells that a spreadsheet would run as a formula.
//!
//! A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`
//! on export, which spreadsheets show as text; import strips that prefix again. To keep round
//! trips exact for text that itself starts with apostrophes, the rule looks past leading
//! apostrophes: a value is guarded when, after its leading `'`s, it starts with one of those
//! characters, and import strips one `'` exactly when the rest would be guarded.
//!
//! ```
//! use dps::csv::formula::{guard, unguard};
//! assert_eq!(guard("=1+2"), "'=1+2");
//! assert_eq!(guard("-05:00"), "'-05:00");
//! assert_eq!(guard("'=x"), "''=x");
//! assert_eq!(guard("plain"), "plain");
//! for v in ["=1+2", "'=x", "''+y", "'quoted", "plain", "@sum", ""] {
//!     assert_eq!(unguard(&guard(v)), v);
//! }
//! ```

use std::borrow::Cow;

fn is_trigger(b: u8) -> bool {
    matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
}

/// Whether a cell with this text is guarded on export.
pub fn needs_guard(value: &str) -> bool {
    value.bytes().find(|&b| b != b'\'').is_some_and(is_trigger)
}

/// The text an export writes for `value`: `'` + `value` when a spreadsheet could run it.
pub fn guard(value: &str) -> Cow<'_, str> {
    if needs_guard(value) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// The value an import reads from a cell: the cell without the `'` that [`guard`] added.
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest,
        Some(_) | None => cell,
    }
}
