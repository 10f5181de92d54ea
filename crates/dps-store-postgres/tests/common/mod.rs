//! Test databases: one fresh schema per test, dropped afterwards.
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::sync::atomic::{AtomicU64, Ordering};

use dps_store_postgres::{PgOptions, PgStore};
use dps_testkit::Guarded;

/// The test database URL, or `None` (with a printed note) when it is not set.
pub fn url() -> Option<String> {
    match std::env::var("DPS_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("skipped: DPS_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A schema name no other test uses.
pub fn unique_schema() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "dps_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Drops its schema when dropped.
#[derive(Debug)]
pub struct DropSchema {
    pub url: String,
    pub schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    let task = tokio::spawn(conn);
                    // A test that panicked may still hold a lock on the schema from its
                    // own runtime, which waits for this drop: give up rather than wait for
                    // ever, so that the test fails instead of hanging.
                    let _ = client
                        .batch_execute(&format!(
                            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                        ))
                        .await;
                    drop(client);
                    let _ = task.await;
                }
            });
        })
        .join();
    }
}

/// A store on a fresh schema, or `None` without a database.
pub async fn fresh() -> Option<Guarded<PgStore, DropSchema>> {
    let url = url()?;
    let schema = unique_schema();
    let store = PgStore::connect(
        &url,
        PgOptions::default()
            .with_schema(&schema)
            .expect("valid schema name"),
    )
    .await
    .expect("connect to the test database");
    Some(Guarded::new(store, DropSchema { url, schema }))
}

/// A raw client on the test database.
pub async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(conn);
    client
}
