//! Arbitrary bytes as the CSV of `POST /v1/groups/{group}/devices:import` with an operator
//! token, sent in process to the router of an `Api` over an in-memory store with one group
//! and one device. The first byte picks how: bit 0 adds `?dry_run=true`, bit 1 sends a
//! `multipart/form-data` upload (fixed boundary) rather than a `text/csv` body, bit 2 adds
//! `?mode=upsert`. Properties (checked by `dps_http::fuzzing::ImportFuzz`, which the stable
//! test `crates/dps-http/tests/fuzz_corpus.rs` runs over the corpus too):
//!
//! - it never panics and never answers 5xx; every refusal is `application/problem+json` with
//!   a snake_case `code`;
//! - a 200 report's `accepted + rejected` is the number of data rows the reader reads from
//!   the same file, and `rejected` the number of rows it lists;
//! - the devices it created are listed afterwards (none for a dry run).
//!
//! Run it with nightly: `cargo +nightly fuzz run http_import fuzz/corpus/http_import`.
#![no_main]

use std::sync::{Arc, LazyLock};

use dps_core::{Environment, Store};

use dps_http::fuzzing::ImportFuzz;
use libfuzzer_sys::fuzz_target;

/// An in-memory store and a fake environment with the target the harness expects.
fn parts() -> (Arc<dyn Store>, Arc<dyn Environment>) {
    let target = "prod-eu/acme".parse().expect("a target");
    let env = dps_testkit::FakeEnvironment::with_target(&target, &["m1", "m2"]);
    (Arc::new(dps_store_memory::InMemoryStore::new()), Arc::new(env))
}

static HARNESS: LazyLock<ImportFuzz> =
    LazyLock::new(|| ImportFuzz::new(parts).expect("a tokio runtime"));

fuzz_target!(|data: &[u8]| {
    HARNESS.run(data);
});
