//! Test support for **dps**: the [`Store`](dps_core::Store) conformance suite that every
//! backend runs, [`FakeEnvironment`] with fault injection and call recording, and
//! deterministic [`Fixtures`].
//!
//! A backend's test file needs one line per store flavour:
//!
//! ```
//! use dps_store_memory::InMemoryStore;
//!
//! async fn fresh() -> InMemoryStore {
//!     InMemoryStore::new()
//! }
//!
//! dps_testkit::store_conformance_tests!(fresh);
//! # fn main() {}
//! ```
//!
//! which generates one test per contract point, once on the store and once through
//! `Arc<dyn Store>`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod conformance;
mod fake_env;
mod fixtures;
pub mod golden;
mod guarded;

pub use fake_env::{Call, CallKind, FakeEnvironment, Fault};
pub use fixtures::{
    EPOCH, Fixtures, bootstrap_key, credentials, group_secret, sealed, test_keys, test_sealer,
};
pub use guarded::Guarded;

#[doc(hidden)]
pub mod __private {
    pub use dps_core::Store;
}
