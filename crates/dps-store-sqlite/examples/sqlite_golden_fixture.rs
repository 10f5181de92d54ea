//! Writes the golden scenario into a new SQLite file, the fixture of the upgrade tests.
//!
//! `cargo run -p dps-store-sqlite --example sqlite_golden_fixture -- <new file>`; see
//! `dps_testkit::golden` for when to write a new fixture.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use dps_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: sqlite_golden_fixture <new SQLite file>");
        std::process::exit(2);
    };
    if std::path::Path::new(&path).exists() {
        return Err(format!("{} exists; the fixture must be a new file", path.display()).into());
    }
    let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default())?);
    dps_testkit::golden::scenario(Arc::clone(&store)).await;
    drop(store);
    // Fold the WAL into the main file, so that the one file holds every record.
    let conn = rusqlite::Connection::open(&path)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    drop(conn);
    println!("wrote {}", std::path::Path::new(&path).display());
    Ok(())
}
