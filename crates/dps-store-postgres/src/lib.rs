//! `PgStore`: the [`Store`](dps_core::Store) of **dps** on PostgreSQL, for several service
//! instances sharing one database.
//!
//! A service uses it through the `dps` crate, as `dps::postgres::PgStore` (feature `postgres`,
//! and `postgres-tls` for this crate's `tls`); the page of `dps::postgres` covers everything
//! here.
//!
//! ```no_run
//! use dps_store_postgres::{PgOptions, PgStore};
//!
//! # async fn open() -> Result<(), dps_core::StoreError> {
//! let store = PgStore::connect(
//!     "postgres://dps@db.internal:5432/provisioning",
//!     PgOptions::default().with_schema("tenant_a")?,
//! )
//! .await?;
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---------|--------------|
//! | `tls`   | TLS with rustls (no OpenSSL): [`PgStore::connect`] follows the URL's `sslmode` and `sslrootcert` as libpq does, `PgStore::connect_with_tls` takes your own `rustls::ClientConfig` |
//!
//! Without `tls`, connections are plain: `disable`, `allow` and `prefer` connect without TLS,
//! and `require`, `verify-ca` and `verify-full` are refused with
//! [`StoreError::Configuration`].
//!
//! # TLS
//!
//! `sslmode` and `sslrootcert` are read from the URL's query or from a key-value connection
//! string, with libpq's meaning:
//!
//! | `sslmode` | TLS | server certificate |
//! |-----------|-----|--------------------|
//! | `disable` | never | — |
//! | `allow` | tried first, plain if the server offers none (libpq tries plain first) | not verified |
//! | `prefer` (default) | tried first, plain if the server offers none | not verified |
//! | `require` | always; a server without TLS is refused | not verified |
//! | `verify-ca` | always | chains to a trusted root; the host name is not checked |
//! | `verify-full` | always | chains to a trusted root and names the host |
//!
//! The trusted roots of `verify-ca` and `verify-full`: the PEM file `sslrootcert` names;
//! for `sslrootcert=system` the system's certificate store; without `sslrootcert`,
//! `~/.postgresql/root.crt` (`%APPDATA%\postgresql\root.crt` on Windows) if it exists, else the
//! system's store. The system's store is read with `rustls-native-certs` (on Linux it honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`); where it holds no certificate, the webpki (Mozilla)
//! roots are used. `prefer` and `require` never verify, even when a root file exists: ask for
//! `verify-ca` or `verify-full`. Connections over a Unix socket are plain whatever the mode,
//! as in libpq.
//!
//! A `sslrootcert` file that does not exist or holds no certificate, an unknown `sslmode`, a
//! certificate the mode does not trust and a server without TLS for `require` and stronger
//! are [`StoreError::Configuration`] errors whose one-line message names the file, or the
//! mode and the cause.
//!
//! # What the store relies on
//!
//! If you run it on a Postgres-compatible distributed database, check that it supports these:
//!
//! - **Transactions** at `READ COMMITTED`, with row locks held until commit: a commit is one
//!   transaction; an update applies only `WHERE version = <expected>`, so of two writers
//!   racing from one version exactly one changes a row and the other sees zero rows and gets
//!   [`StoreError::Conflict`].
//! - **Unique and foreign-key constraints** (`23505`, `23503`): unique serials per group,
//!   devices that need their group, and access tokens unique by name and by hash.
//! - **`INSERT … ON CONFLICT DO NOTHING`** that waits for a concurrent insert of the same key
//!   to end: of two requests claiming one idempotency key at once, exactly one inserts it.
//! - **`COPY … FROM STDIN (FORMAT binary)`**: a changeset with many new devices is written with
//!   one binary COPY.
//! - **`pg_advisory_xact_lock`**: migrations run under a transaction-level advisory lock, so
//!   instances starting together do not race.
//! - **`SELECT … FOR UPDATE` at `READ COMMITTED`**: a statement that follows the lock sees
//!   every transaction committed before the lock was granted; event numbering relies on it.
//! - **The `"C"` collation**, so that serials sort by bytes as the keyset cursor expects.
//!
//! # The event log never skips
//!
//! A sequence value taken by a transaction that commits after one with a higher value would let
//! a reader that follows `seq > cursor` skip an event forever. So a commit does not number its
//! events: it writes them as one *batch* (a row of `dps_event_batches` and its events in
//! `dps_events`) that shares no row with any other commit, and concurrent commits never wait
//! for each other. [`Store::events`](dps_core::Store::events) numbers batches once they are
//! committed: when it finds committed batches without numbers, it first runs one short
//! transaction that locks the one-row counter (`dps_event_counter`, the last number handed
//! out) and gives each of them the next range of cursors, in batch order. Numbering steps run
//! one at a time and each sees every step before it, so no event becomes visible with a cursor
//! at or below one a reader was given, and a reader following the last cursor it saw never
//! misses one. The events of a commit are returned by the first `events` call after the
//! commit returns, and a commit that starts after another returned gets the larger cursors.
//! Reading events therefore needs a role that may write the event tables.
//!
//! # Connections
//!
//! A `deadpool` pool of `tokio-postgres` connections; a connection is verified when it is
//! taken from the pool, so one the server dropped is never handed out again. A connection
//! dropped during a commit rolls the transaction back on the server, and the call returns the
//! retryable [`StoreError::Unavailable`].
//!
//! # Several instances
//!
//! `Provisioner::recover` claims a pending device with a versioned update and a lease before it
//! calls the environment, so two instances recovering at once never drive one device twice;
//! the loser of the claim gets a conflict and moves on. This is the same effect as
//! `FOR UPDATE SKIP LOCKED` and works on every backend.
//!
//! # Schema
//!
//! All tables live in one schema (default `dps`), so tenants and tests isolate by schema: the
//! groups (`dps_groups`), the devices (`dps_devices`), the event log (`dps_events`,
//! `dps_event_batches` and `dps_event_counter`), the access tokens (`dps_tokens`: by name and
//! by the SHA-256 hash of their text, never the text), the idempotency records of requests
//! (`dps_idempotency`: each key with its request's fingerprint, when it was first used and
//! the answer once there is one) and the schema version (`dps_schema_version`). The
//! schema is created and migrated on connect; a schema written by a newer version of this crate
//! is refused with [`StoreError::SchemaTooNew`] and left untouched.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod access;
mod apply;
mod batch;
mod error;
mod jobs;
mod options;
mod query;
mod row;
mod schema;
mod sql;
mod ssl;
#[cfg(feature = "tls")]
mod tls;

use std::fmt;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use dps_core::StoreError;
#[cfg(not(feature = "tls"))]
use tokio_postgres::NoTls;
use tokio_postgres::config::SslNegotiation;

use crate::error::pool_error;
use crate::sql::Sql;

pub use options::PgOptions;

/// New devices in one changeset from which on they are written with one binary COPY.
pub const COPY_THRESHOLD: usize = 32;

/// A [`Store`](dps_core::Store) on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    sql: Arc<Sql>,
    schema: String,
    #[cfg(feature = "tls")]
    tls: tls::TlsContext,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Connections are verified when taken from the pool.
fn manager_config() -> ManagerConfig {
    ManagerConfig {
        recycling_method: RecyclingMethod::Verified,
    }
}

impl PgStore {
    /// Connects with a pool to the database at `url` (a `postgres://` URL or a key-value
    /// connection string) and creates or migrates the schema.
    ///
    /// The URL's `sslmode` (default `prefer`) and `sslrootcert` mean what they mean to libpq;
    /// see the crate documentation.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the database cannot be reached,
    /// [`StoreError::SchemaTooNew`] for a schema of a newer version,
    /// [`StoreError::Configuration`] for a malformed URL, an unknown `sslmode`, a
    /// `sslrootcert` file that does not exist or holds no certificate, a server certificate
    /// that `verify-ca` or `verify-full` does not trust, a server without TLS for `require`
    /// and stronger (or, without the `tls` feature, any of those modes), a refused user or
    /// password, or a database that does not exist.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let conninfo = ssl::split(url)?;
        #[cfg(feature = "tls")]
        {
            let (config, context) = tls::client_config(&conninfo)?;
            Self::start(&conninfo, options, config, context).await
        }
        #[cfg(not(feature = "tls"))]
        {
            if conninfo.mode.needs_tls() {
                return Err(ssl::misconfigured(format!(
                    "sslmode={} needs TLS, which this build leaves out: enable the tls feature of dps-store-postgres (postgres-tls of dps)",
                    conninfo.mode.as_str()
                )));
            }
            let config = Self::config(&conninfo, &options)?;
            Self::with_manager(
                Manager::from_config(config, NoTls, manager_config()),
                options,
            )
            .await
        }
    }

    /// Connects like [`PgStore::connect`], with TLS configured by `tls` (your root
    /// certificates, client certificates). The URL's `sslmode` decides only whether TLS is
    /// used (`verify-ca` and `verify-full` as `require`): what is trusted is up to `tls`, and
    /// `sslrootcert` is not read.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use dps_store_postgres::{PgOptions, PgStore};
    /// use rustls::pki_types::{CertificateDer, pem::PemObject};
    ///
    /// # async fn open() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut roots = rustls::RootCertStore::empty();
    /// for cert in CertificateDer::pem_file_iter("/etc/dps/db-ca.pem")? {
    ///     roots.add(cert?)?;
    /// }
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let tls = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let store = PgStore::connect_with_tls(
    ///     "postgres://dps@db.internal:5432/provisioning?sslmode=require",
    ///     PgOptions::default(),
    ///     tls,
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect`].
    #[cfg(feature = "tls")]
    pub async fn connect_with_tls(
        url: &str,
        options: PgOptions,
        tls: rustls::ClientConfig,
    ) -> Result<Self, StoreError> {
        let conninfo = ssl::split(url)?;
        let context = tls::TlsContext::custom(conninfo.mode);
        Self::start(&conninfo, options, tls, context).await
    }

    #[cfg(feature = "tls")]
    async fn start(
        conninfo: &ssl::Conninfo,
        options: PgOptions,
        config: rustls::ClientConfig,
        context: tls::TlsContext,
    ) -> Result<Self, StoreError> {
        let pg = Self::config(conninfo, &options)?;
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(config);
        let manager = Manager::from_config(pg, connector, manager_config());
        Self::with_manager(manager, options, context).await
    }

    /// The tokio-postgres configuration: the connection string without its TLS parameters,
    /// and whether TLS is tried or required.
    fn config(
        conninfo: &ssl::Conninfo,
        options: &PgOptions,
    ) -> Result<tokio_postgres::Config, StoreError> {
        let mut config: tokio_postgres::Config = conninfo.rest.parse().map_err(|e| {
            StoreError::configuration(format!("invalid PostgreSQL connection string: {e}"), e)
        })?;
        config.application_name(&options.application_name);
        let mode = if cfg!(feature = "tls") {
            conninfo.mode
        } else {
            ssl::SslMode::Disable
        };
        if !mode.needs_tls()
            && mode != ssl::SslMode::Disable
            && config.get_ssl_negotiation() == SslNegotiation::Direct
        {
            return Err(ssl::misconfigured(format!(
                "sslnegotiation=direct needs sslmode=require, verify-ca or verify-full, not {}",
                mode.as_str()
            )));
        }
        config.ssl_mode(mode.negotiation());
        // As in libpq, sslmode does not apply to Unix sockets.
        #[cfg(unix)]
        if !config.get_hosts().is_empty()
            && config
                .get_hosts()
                .iter()
                .all(|h| matches!(h, tokio_postgres::config::Host::Unix(_)))
        {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        }
        Ok(config)
    }

    async fn with_manager(
        manager: Manager,
        options: PgOptions,
        #[cfg(feature = "tls")] tls: tls::TlsContext,
    ) -> Result<Self, StoreError> {
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .build()
            .map_err(|e| StoreError::backend("build the connection pool", e))?;
        let store = Self {
            pool,
            sql: Arc::new(Sql::new(&options.schema)),
            schema: options.schema,
            #[cfg(feature = "tls")]
            tls,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A connection from the pool; a TLS failure is a configuration error that names the
    /// mode and the cause.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            #[cfg(feature = "tls")]
            let e = match self.tls.explain(e) {
                Ok(explained) => return explained,
                Err(e) => e,
            };
            pool_error(e)
        })
    }
}

/// Test hooks for the benchmarks: the raw rows, the binary COPY and a raw connection, for
/// baselines that write the same rows without the store. Not part of the API.
#[doc(hidden)]
pub mod __bench {
    pub use crate::row::{DEVICE_COLUMN_TYPES, copy_sql, device_row, device_values, write_copy};

    /// A connection from the store's pool.
    ///
    /// # Errors
    ///
    /// [`dps_core::StoreError::Unavailable`] when no connection can be had.
    pub async fn client(
        store: &crate::PgStore,
    ) -> Result<deadpool_postgres::Object, dps_core::StoreError> {
        store.client().await
    }
}
