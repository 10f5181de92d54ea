//! dps-csv.
#![deny(missing_docs)]
