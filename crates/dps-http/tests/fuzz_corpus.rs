//! The corpora of the HTTP fuzz targets (`fuzz/corpus/http_bootstrap`, `http_import`),
//! replayed on stable through the same harness and properties as the fuzzers
//! ([`dps_http::fuzzing`]), so that every `cargo test` checks them.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;

use axum::http::StatusCode;

use std::sync::Arc;

use dps_core::{Environment, Store};
use dps_http::fuzzing::{BootstrapFuzz, ImportFuzz, signed_bootstrap_body};

/// An in-memory store and a fake environment with the target the harness expects.
fn parts() -> (Arc<dyn Store>, Arc<dyn Environment>) {
    let target = "prod-eu/acme".parse().unwrap();
    let env = dps_testkit::FakeEnvironment::with_target(&target, &["m1", "m2"]);
    (
        Arc::new(dps_store_memory::InMemoryStore::new()),
        Arc::new(env),
    )
}

/// The files of `fuzz/corpus/<target>`, sorted, with their names.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// `run(data)`, naming the file when a property fails.
fn replay(name: &str, run: impl FnOnce() -> StatusCode) -> StatusCode {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(status) => status,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if message.is_empty() {
                resume_unwind(panic)
            }
            panic!("seed {name}: {message}")
        }
    }
}

#[test]
fn every_bootstrap_seed_keeps_the_properties_and_the_signed_one_is_accepted() {
    let files = corpus("http_bootstrap");
    assert!(files.len() >= 20, "only {} seeds", files.len());
    let fuzz = BootstrapFuzz::new(parts).unwrap();
    let mut accepted = Vec::new();
    for (name, data) in &files {
        let status = replay(name, || fuzz.run(data));
        if status.is_success() {
            accepted.push(name.as_str());
        }
    }
    assert_eq!(
        accepted,
        ["extra-fields.json", "valid-signed.json", "whitespace.json"]
    );
}

#[test]
fn the_signed_bootstrap_seed_is_the_harness_s_signed_request() {
    // The seed is the fixture's signed request; when the fixture changes, write the new one:
    // the message holds it.
    let expected = signed_bootstrap_body(parts);
    let (_, seed) = corpus("http_bootstrap")
        .into_iter()
        .find(|(name, _)| name == "valid-signed.json")
        .expect("fuzz/corpus/http_bootstrap/valid-signed.json");
    assert!(
        seed == expected,
        "fuzz/corpus/http_bootstrap/valid-signed.json should be {}",
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn every_import_seed_keeps_the_properties() {
    let files = corpus("http_import");
    assert!(files.len() >= 20, "only {} seeds", files.len());
    let fuzz = ImportFuzz::new(parts).unwrap();
    let mut accepted = 0;
    for (name, data) in &files {
        if replay(name, || fuzz.run(data)).is_success() {
            accepted += 1;
        }
    }
    // The corpus reaches the report, not only the refusals.
    assert!(accepted >= 5, "only {accepted} seeds reach a report");
}
