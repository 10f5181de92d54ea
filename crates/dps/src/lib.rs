//! **dps**: device provisioning for Rust services.
#![deny(missing_docs)]

#[doc(inline)]
pub use dps_core::*;
