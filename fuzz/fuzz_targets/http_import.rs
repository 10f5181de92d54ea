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

use std::sync::LazyLock;

use dps_http::fuzzing::ImportFuzz;
use libfuzzer_sys::fuzz_target;

static HARNESS: LazyLock<ImportFuzz> =
    LazyLock::new(|| ImportFuzz::new().expect("a tokio runtime"));

fuzz_target!(|data: &[u8]| {
    HARNESS.run(data);
});
