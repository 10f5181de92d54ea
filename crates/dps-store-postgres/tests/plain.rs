//! Without the `tls` feature connections are plain, and modes that need TLS are refused
//! before any connection is made.
#![cfg(not(feature = "tls"))]

use dps_store_postgres::{PgOptions, PgStore};

#[tokio::test]
async fn modes_that_need_tls_are_refused_naming_the_feature() {
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = format!("postgres://dps@db.invalid/provisioning?sslmode={mode}");
        let Err(e) = PgStore::connect(&url, PgOptions::default()).await else {
            panic!("{mode} connected")
        };
        assert_eq!(e.code(), "storage_misconfigured");
        assert_eq!(
            e.to_string(),
            format!(
                "storage misconfigured: sslmode={mode} needs TLS, which this build leaves out: enable the tls feature of dps-store-postgres (postgres-tls of dps)"
            )
        );
    }
}
