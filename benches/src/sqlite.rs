//! Scenarios of the `ratios` binary for dps-store-sqlite.

use crate::Measured;

/// The `sqlite_import` scenario; `None` until it is implemented.
pub fn sqlite_import(quick: bool) -> Option<Measured> {
    let _ = quick;
    None
}

/// The `sqlite_lookup` scenario; `None` until it is implemented.
pub fn sqlite_lookup(quick: bool) -> Option<Measured> {
    let _ = quick;
    None
}
