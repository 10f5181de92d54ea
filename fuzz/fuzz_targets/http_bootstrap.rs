//! Arbitrary bytes as the `application/json` body of `POST /v1/bootstrap`, sent in process to
//! the router of an `Api` over an in-memory store with one group and one device, whose clock
//! and secrets are fixed. Properties (checked by `dps_http::fuzzing::BootstrapFuzz`, which
//! the stable test `crates/dps-http/tests/fuzz_corpus.rs` runs over the corpus too):
//!
//! - it never panics, and the status is 200, 400, 401, 413, 415, 422 or 429, never 5xx;
//! - every other answer than 200 is `application/problem+json` with a snake_case `code`;
//! - 200 only for a request that the device's key signed within the window (the corpus seed
//!   `valid-signed.json` is one).
//!
//! Run it with nightly: `cargo +nightly fuzz run http_bootstrap fuzz/corpus/http_bootstrap`.
#![no_main]

use std::sync::{Arc, LazyLock};

use dps_core::{Environment, Store};

use dps_http::fuzzing::BootstrapFuzz;
use libfuzzer_sys::fuzz_target;

/// An in-memory store and a fake environment with the target the harness expects.
fn parts() -> (Arc<dyn Store>, Arc<dyn Environment>) {
    let target = "prod-eu/acme".parse().expect("a target");
    let env = dps_testkit::FakeEnvironment::with_target(&target, &["m1", "m2"]);
    (Arc::new(dps_store_memory::InMemoryStore::new()), Arc::new(env))
}

static HARNESS: LazyLock<BootstrapFuzz> =
    LazyLock::new(|| BootstrapFuzz::new(parts).expect("a tokio runtime"));

fuzz_target!(|data: &[u8]| {
    HARNESS.run(data);
});
