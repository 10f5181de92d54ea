//! Test kit.
#![deny(missing_docs)]
