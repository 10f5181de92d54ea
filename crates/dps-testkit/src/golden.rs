//! The golden scenario: one deterministic history that leaves behind every record shape a
//! store persists, and the comparison of a store's records with the reference's, record by
//! record.
//!
//! Upgrade tests keep a database written by an earlier release of a backend (a fixture), open
//! it with today's code and check with [`assert_reads_back`] that it reads back exactly what
//! [`scenario`] produces today on the reference `InMemoryStore`. A record that decodes
//! differently, or not at all, fails the test naming the record.
//!
//! # Regenerating the fixtures
//!
//! A fixture stands for the databases that users already have, so it is written once per
//! stored format and never rewritten. When a release changes what is stored, add new fixtures
//! (`v2.sqlite`, `v2.sql`, …) next to the old ones, with their own tests, and keep the old
//! ones passing.
//!
//! - SQLite: `cargo run -p dps-store-sqlite --example sqlite_golden_fixture -- <new file>` runs the
//!   scenario on a fresh file and checkpoints its WAL, so that the single file holds
//!   everything. Copy the file to `crates/dps-store-sqlite/tests/fixtures/v<N>.sqlite`.
//! - PostgreSQL: `cargo run -p dps-store-postgres --example postgres_golden_fixture -- <url> <schema>`
//!   runs the scenario on a fresh schema and prints the `pg_dump` command that turns it into
//!   `crates/dps-store-postgres/tests/fixtures/v<N>.sql`: `pg_dump --inserts --no-owner
//!   --no-privileges --schema=<schema>`, without the `\restrict`/`\unrestrict` lines (psql
//!   meta-commands of newer `pg_dump`s) and with the schema name replaced by
//!   [`SCHEMA_PLACEHOLDER`].

mod compare;
mod scenario;

pub use compare::{Snapshot, assert_covers_every_shape, assert_reads_back, expected, snapshot};
pub use scenario::scenario;

/// What stands for the schema name in a PostgreSQL fixture dump.
pub const SCHEMA_PLACEHOLDER: &str = "__SCHEMA__";
