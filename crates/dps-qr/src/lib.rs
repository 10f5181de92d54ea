//! dps-qr.
#![deny(missing_docs)]
