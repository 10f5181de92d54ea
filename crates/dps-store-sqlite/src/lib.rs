//! dps-store-sqlite.
#![deny(missing_docs)]
