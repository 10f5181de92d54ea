//! Scenarios of the `ratios` binary for dps-csv.

use crate::Measured;

/// The `csv_parse` scenario; `None` until it is implemented.
pub fn csv_parse(quick: bool) -> Option<Measured> {
    let _ = quick;
    None
}
