//! Scenarios of the `ratios` binary for dps-qr.

use crate::Measured;

/// The `qr_zip` scenario; `None` until it is implemented.
pub fn qr_zip(quick: bool) -> Option<Measured> {
    let _ = quick;
    None
}

/// The `qr_zip_parallel` scenario; `None` until it is implemented.
pub fn qr_zip_parallel(quick: bool) -> Option<Measured> {
    let _ = quick;
    None
}
