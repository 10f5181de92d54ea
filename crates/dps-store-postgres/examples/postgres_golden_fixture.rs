//! Writes the golden scenario into a new PostgreSQL schema, from which the fixture of the
//! upgrade tests is dumped.
//!
//! `cargo run -p dps-store-postgres --example postgres_golden_fixture -- <url> <new schema>`, then run
//! the `pg_dump` pipeline it prints; see `dps_testkit::golden` for when to write a new
//! fixture.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use dps_store_postgres::{PgOptions, PgStore};
use dps_testkit::golden::SCHEMA_PLACEHOLDER;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, schema] = args.as_slice() else {
        eprintln!("usage: postgres_golden_fixture <postgres url> <new schema>");
        std::process::exit(2);
    };
    let store = PgStore::connect(url, PgOptions::default().with_schema(schema)?).await?;
    let mut events = dps_core::Store::events(&store, dps_core::EventCursor::new(0), 1).await?;
    if events.pop().is_some() {
        return Err(format!("schema {schema} is not empty; the fixture needs a new one").into());
    }
    dps_testkit::golden::scenario(Arc::new(store)).await;
    println!(
        "pg_dump --inserts --no-owner --no-privileges --schema={schema} '{url}' \\\n  \
         | grep -v '^\\\\restrict' | grep -v '^\\\\unrestrict' \\\n  \
         | sed 's/{schema}/{SCHEMA_PLACEHOLDER}/g' > crates/dps-store-postgres/tests/fixtures/vN.sql"
    );
    Ok(())
}
