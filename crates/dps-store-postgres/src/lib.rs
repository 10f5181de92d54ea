//! `PgStore`: the [`Store`] of **dps** on PostgreSQL, for several service instances sharing
//! one database.
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
//! | `tls`   | TLS with rustls: [`PgStore::connect`] trusts the webpki root certificates, `PgStore::connect_with_tls` takes your own `rustls::ClientConfig`; the URL's `sslmode` (`disable`, `prefer`, `require`) decides whether TLS is used |
//!
//! Without `tls`, connections are plain and a URL with `sslmode=require` is refused.
//!
//! # What the store relies on
//!
//! If you run it on a Postgres-compatible distributed database, check that it supports these:
//!
//! - **Transactions** at `READ COMMITTED`, with row locks held until commit: a commit is one
//!   transaction; an update applies only `WHERE version = <expected>`, so of two writers
//!   racing from one version exactly one changes a row and the other sees zero rows and gets
//!   [`StoreError::Conflict`].
//! - **Unique and foreign-key constraints** (`23505`, `23503`): unique serials per group, and
//!   devices that need their group.
//! - **`COPY … FROM STDIN (FORMAT binary)`**: a changeset with many new devices is written with
//!   one binary COPY.
//! - **`pg_advisory_xact_lock`**: migrations run under a transaction-level advisory lock, so
//!   instances starting together do not race.
//! - **The `"C"` collation**, so that serials sort by bytes as the keyset cursor expects.
//!
//! # The event log never skips
//!
//! A sequence value taken by a transaction that commits after one with a higher value would let
//! a reader that follows `seq > cursor` skip an event forever. Here each commit numbers its
//! events by incrementing a one-row counter (`dps_event_counter`) as its last statement; the
//! row lock serialises the numbering of concurrent commits and is held until commit, so events
//! become visible in cursor order and a reader following the last cursor it saw never misses
//! one. The cost is that commits with events serialise for the short tail of their
//! transaction.
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
//! All tables live in one schema (default `dps`), so tenants and tests isolate by schema. The
//! schema is created and migrated on connect; a schema written by a newer version of this crate
//! is refused with [`StoreError::SchemaTooNew`] and left untouched.
#![deny(missing_docs)]

mod schema;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use dps_core::{
    Change, Changeset, Device, DeviceId, DeviceQuery, Entity, Event, EventCursor, GroupId,
    NewEvent, RegistrationGroup, SerialNumber, Store, StoreError, Uuid,
};
use futures_util::pin_mut;
use tokio_postgres::CopyInSink;
#[cfg(not(feature = "tls"))]
use tokio_postgres::NoTls;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

/// New devices in one changeset from which on they are written with one binary COPY.
pub const COPY_THRESHOLD: usize = 32;

/// Options for [`PgStore::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    schema: String,
    /// The most connections in the pool. Default: 8.
    pub pool_size: usize,
    /// The `application_name` the connections report. Default: `dps`.
    pub application_name: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: "dps".to_owned(),
            pool_size: 8,
            application_name: "dps".to_owned(),
        }
    }
}

impl PgOptions {
    /// These options with another schema: 1 to 63 lowercase ASCII letters, digits and `_`,
    /// not starting with a digit.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] naming the rule when the name breaks it.
    pub fn with_schema(mut self, schema: &str) -> Result<Self, StoreError> {
        let ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !schema.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(StoreError::Backend {
                message: format!(
                    "invalid schema name {schema:?}: use 1 to 63 lowercase ASCII letters, digits and _, not starting with a digit"
                ),
                source: None,
            });
        }
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// These options with another pool size (at least 1).
    #[must_use]
    pub fn with_pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// These options with another application name.
    #[must_use]
    pub fn with_application_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.application_name);
        self
    }
}

/// A [`Store`] on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    sql: Arc<Sql>,
    schema: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The statements, with the schema name filled in.
struct Sql {
    group: String,
    groups: String,
    insert_group: String,
    update_group: String,
    delete_group: String,
    device: String,
    device_by_serial: String,
    devices_by_serials: String,
    insert_device: String,
    copy_devices: String,
    update_device: String,
    delete_device: String,
    device_version: String,
    group_version: String,
    pending: String,
    events: String,
    bump_counter: String,
    insert_events: String,
    devices_table: String,
}

impl Sql {
    fn new(s: &str) -> Self {
        let cols = "id, group_id, serial, version, status, model_id, batch_tag, target, allocated_to, data";
        Self {
            group: format!("SELECT data FROM \"{s}\".dps_groups WHERE id = $1"),
            groups: format!(
                "SELECT data FROM \"{s}\".dps_groups WHERE id > $1 ORDER BY id LIMIT $2"
            ),
            insert_group: format!(
                "INSERT INTO \"{s}\".dps_groups (id, version, data) VALUES ($1, $2, $3)"
            ),
            update_group: format!(
                "UPDATE \"{s}\".dps_groups SET version = $2, data = $3 WHERE id = $1 AND version = $4"
            ),
            delete_group: format!("DELETE FROM \"{s}\".dps_groups WHERE id = $1 AND version = $2"),
            device: format!("SELECT data FROM \"{s}\".dps_devices WHERE id = $1"),
            device_by_serial: format!(
                "SELECT data FROM \"{s}\".dps_devices WHERE group_id = $1 AND serial = $2"
            ),
            devices_by_serials: format!(
                "SELECT data FROM \"{s}\".dps_devices WHERE group_id = $1 AND serial = ANY($2)"
            ),
            insert_device: format!(
                "INSERT INTO \"{s}\".dps_devices ({cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            copy_devices: format!("COPY \"{s}\".dps_devices ({cols}) FROM STDIN (FORMAT binary)"),
            update_device: format!(
                "UPDATE \"{s}\".dps_devices SET serial = $3, version = $4, status = $5, model_id = $6, \
                 batch_tag = $7, target = $8, allocated_to = $9, data = $10 \
                 WHERE id = $1 AND group_id = $2 AND version = $11"
            ),
            delete_device: format!(
                "DELETE FROM \"{s}\".dps_devices WHERE id = $1 AND version = $2"
            ),
            device_version: format!("SELECT version FROM \"{s}\".dps_devices WHERE id = $1"),
            group_version: format!("SELECT version FROM \"{s}\".dps_groups WHERE id = $1"),
            pending: format!(
                "SELECT data FROM \"{s}\".dps_devices WHERE status = 1 AND id > $1 ORDER BY id LIMIT $2"
            ),
            events: format!(
                "SELECT seq, data FROM \"{s}\".dps_events WHERE seq > $1 ORDER BY seq LIMIT $2"
            ),
            bump_counter: format!(
                "UPDATE \"{s}\".dps_event_counter SET last = last + $1 WHERE id = 1 RETURNING last"
            ),
            insert_events: format!(
                "INSERT INTO \"{s}\".dps_events (seq, data) SELECT * FROM UNNEST($1::bigint[], $2::text[])"
            ),
            devices_table: format!("\"{s}\".dps_devices"),
        }
    }
}

fn manager_config() -> ManagerConfig {
    ManagerConfig {
        recycling_method: RecyclingMethod::Verified,
    }
}

/// Maps a PostgreSQL error to the store's error kinds.
fn pg_error(context: &str, e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() || e.code().is_none() {
        return StoreError::Unavailable {
            message: format!("{context}: {e}"),
            source: Some(Box::new(e)),
        };
    }
    let code = e.code().cloned();
    match code {
        Some(c)
            if c == SqlState::T_R_SERIALIZATION_FAILURE
                || c == SqlState::T_R_DEADLOCK_DETECTED
                || c == SqlState::ADMIN_SHUTDOWN
                || c == SqlState::CRASH_SHUTDOWN
                || c == SqlState::CANNOT_CONNECT_NOW
                || c == SqlState::TOO_MANY_CONNECTIONS
                || c.code().starts_with("08") =>
        {
            StoreError::Unavailable {
                message: format!("{context}: {e}"),
                source: Some(Box::new(e)),
            }
        }
        _ => StoreError::Backend {
            message: format!("{context}: {e}"),
            source: Some(Box::new(e)),
        },
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable {
        message: format!("no database connection: {e}"),
        source: Some(Box::new(e)),
    }
}

use dps_core::stored::{self, DeviceColumns, GroupColumns, status_code, version_column as version};

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The column values of a device row, in `dps_devices` column order.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// `id`.
    pub id: Uuid,
    /// `group_id`.
    pub group_id: Uuid,
    /// `serial`.
    pub serial: String,
    /// `version`.
    pub version: i64,
    /// `status`.
    pub status: i16,
    /// `model_id`.
    pub model_id: String,
    /// `batch_tag`.
    pub batch_tag: Option<String>,
    /// `target`.
    pub target: Option<String>,
    /// `allocated_to`.
    pub allocated_to: Option<String>,
    /// `data`.
    pub data: String,
}

/// The column types of a device row, for binary COPY.
#[doc(hidden)]
pub const DEVICE_COLUMN_TYPES: [Type; 10] = [
    Type::UUID,
    Type::UUID,
    Type::TEXT,
    Type::INT8,
    Type::INT2,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

impl From<DeviceColumns> for DeviceRow {
    fn from(c: DeviceColumns) -> Self {
        Self {
            id: c.id,
            group_id: c.group_id,
            serial: c.serial,
            version: c.version,
            status: c.status,
            model_id: c.model_id,
            batch_tag: c.batch_tag,
            target: c.target,
            allocated_to: c.allocated_to,
            data: c.data,
        }
    }
}

impl DeviceRow {
    /// The row of `d`.
    ///
    /// # Errors
    ///
    /// When the device does not serialise, which does not happen for valid devices.
    pub fn of(d: &Device) -> Result<Self, StoreError> {
        DeviceColumns::of(d).map(Self::from)
    }

    /// The values, in column order.
    pub fn values(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.id,
            &self.group_id,
            &self.serial,
            &self.version,
            &self.status,
            &self.model_id,
            &self.batch_tag,
            &self.target,
            &self.allocated_to,
            &self.data,
        ]
    }

    /// The binary `COPY … FROM STDIN` statement for `table` (`"schema".dps_devices`).
    pub fn copy_sql(table: &str) -> String {
        format!(
            "COPY {table} (id, group_id, serial, version, status, model_id, batch_tag, target, allocated_to, data) FROM STDIN (FORMAT binary)"
        )
    }

    /// Writes rows into a sink opened with [`DeviceRow::copy_sql`].
    ///
    /// # Errors
    ///
    /// The database's errors.
    pub async fn write_copy(
        sink: CopyInSink<bytes::Bytes>,
        rows: &[DeviceRow],
    ) -> Result<u64, tokio_postgres::Error> {
        let writer = BinaryCopyInWriter::new(sink, &DEVICE_COLUMN_TYPES);
        pin_mut!(writer);
        for row in rows {
            writer.as_mut().write(&row.values()).await?;
        }
        writer.finish().await
    }
}

/// The serial named in a unique-violation detail such as
/// `Key (group_id, serial)=(…, SN-1) already exists.`
fn duplicate_serial_in(detail: &str) -> Option<SerialNumber> {
    let start = detail.find(")=(")? + 3;
    let rest = &detail[start..];
    let end = rest.find(')')?;
    let (_, serial) = rest[..end].split_once(", ")?;
    serial.parse().ok()
}

impl PgStore {
    /// Connects with a pool to the database at `url` (a `postgres://` URL or a key-value
    /// connection string) and creates or migrates the schema.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the database cannot be reached,
    /// [`StoreError::SchemaTooNew`] for a schema of a newer version, [`StoreError::Backend`]
    /// for a malformed URL.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        #[cfg(feature = "tls")]
        {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::backend("configure TLS", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Self::connect_with_tls(url, options, config).await
        }
        #[cfg(not(feature = "tls"))]
        {
            let config = Self::config(url, &options)?;
            Self::with_manager(
                Manager::from_config(config, NoTls, manager_config()),
                options,
            )
            .await
        }
    }

    /// Connects like [`PgStore::connect`], with TLS configured by `tls` (your root
    /// certificates, client certificates).
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
        let config = Self::config(url, &options)?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
        Self::with_manager(Manager::from_config(config, tls, manager_config()), options).await
    }

    fn config(url: &str, options: &PgOptions) -> Result<tokio_postgres::Config, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Backend {
            message: "invalid PostgreSQL connection string".to_owned(),
            source: Some(Box::new(e)),
        })?;
        config.application_name(&options.application_name);
        Ok(config)
    }

    async fn with_manager(manager: Manager, options: PgOptions) -> Result<Self, StoreError> {
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .build()
            .map_err(|e| StoreError::backend("build the connection pool", e))?;
        let store = Self {
            pool,
            sql: Arc::new(Sql::new(&options.schema)),
            schema: options.schema,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The connection pool, for diagnostics and tests.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error("begin migration", e))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&schema::lock_key(&self.schema)],
        )
        .await
        .map_err(|e| pg_error("take the migration lock", e))?;
        let s = &self.schema;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{s}\"; \
             CREATE TABLE IF NOT EXISTS \"{s}\".dps_schema_version (version integer NOT NULL)"
        ))
        .await
        .map_err(|e| pg_error("create the schema", e))?;
        let current: i64 = tx
            .query_opt(
                &format!("SELECT version::bigint FROM \"{s}\".dps_schema_version"),
                &[],
            )
            .await
            .map_err(|e| pg_error("read the schema version", e))?
            .map(|r| r.get(0))
            .unwrap_or(0);
        if current > schema::VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported: schema::VERSION,
            });
        }
        for (i, m) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.batch_execute(&m.replace("{s}", s))
                .await
                .map_err(|e| pg_error(&format!("apply migration {}", i + 1), e))?;
        }
        if current < schema::VERSION {
            tx.execute(&format!("DELETE FROM \"{s}\".dps_schema_version"), &[])
                .await
                .map_err(|e| pg_error("record the schema version", e))?;
            tx.execute(
                &format!("INSERT INTO \"{s}\".dps_schema_version VALUES ($1)"),
                &[&(schema::VERSION as i32)],
            )
            .await
            .map_err(|e| pg_error("record the schema version", e))?;
        }
        tx.commit()
            .await
            .map_err(|e| pg_error("commit migration", e))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    async fn query_devices(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Device>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let rows = client
            .query(&stmt, params)
            .await
            .map_err(|e| pg_error("query devices", e))?;
        rows.iter()
            .map(|r| stored::decode_device(r.get(0)))
            .collect()
    }

    async fn apply(&self, tx: &Transaction<'_>, changes: Vec<Change>) -> Result<(), StoreError> {
        let mut changes = changes.into_iter().peekable();
        while let Some(change) = changes.next() {
            match change {
                Change::InsertDevice(first) => {
                    let mut batch = vec![first];
                    while let Some(Change::InsertDevice(_)) = changes.peek() {
                        if let Some(Change::InsertDevice(d)) = changes.next() {
                            batch.push(d);
                        }
                    }
                    self.insert_devices(tx, batch).await?;
                }
                other => self.apply_one(tx, other).await?,
            }
        }
        Ok(())
    }

    async fn insert_devices(
        &self,
        tx: &Transaction<'_>,
        batch: Vec<Device>,
    ) -> Result<(), StoreError> {
        let rows = batch
            .iter()
            .map(DeviceRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        if batch.len() >= COPY_THRESHOLD {
            let copied = match tx.copy_in(&self.sql.copy_devices).await {
                Ok(sink) => DeviceRow::write_copy(sink, &rows).await,
                Err(e) => Err(e),
            };
            return match copied {
                Ok(_) => Ok(()),
                Err(e) => Err(self
                    .insert_error(&e, &batch)
                    .unwrap_or_else(|| pg_error("copy devices", e))),
            };
        }
        let stmt = tx
            .prepare_cached(&self.sql.insert_device)
            .await
            .map_err(|e| pg_error("prepare insert", e))?;
        for (row, d) in rows.iter().zip(&batch) {
            if let Err(e) = tx.execute(&stmt, &row.values()).await {
                return Err(self
                    .insert_error(&e, std::slice::from_ref(d))
                    .unwrap_or_else(|| pg_error("insert device", e)));
            }
        }
        Ok(())
    }

    /// The store error for a failed device insert, when it is a constraint violation.
    fn insert_error(&self, e: &tokio_postgres::Error, batch: &[Device]) -> Option<StoreError> {
        let db = e.as_db_error()?;
        let group = batch.first().map(|d| d.group_id())?;
        match db.code() {
            c if *c == SqlState::UNIQUE_VIOLATION => {
                if db.constraint() == Some("dps_devices_serial") {
                    let serial = duplicate_serial_in(db.detail().unwrap_or(""))
                        .or_else(|| (batch.len() == 1).then(|| batch[0].serial().clone()))?;
                    Some(StoreError::DuplicateSerial { group, serial })
                } else {
                    Some(StoreError::AlreadyExists {
                        entity: Entity::Device,
                        key: db.detail().unwrap_or("device").to_owned(),
                    })
                }
            }
            c if *c == SqlState::FOREIGN_KEY_VIOLATION => Some(StoreError::NotFound {
                entity: Entity::Group,
                key: group.to_string(),
            }),
            _ => None,
        }
    }

    async fn missing_or_conflict(
        &self,
        tx: &Transaction<'_>,
        sql: &str,
        entity: Entity,
        id: &Uuid,
        key: String,
    ) -> StoreError {
        match tx.query_opt(sql, &[id]).await {
            Ok(None) => StoreError::NotFound {
                entity,
                key: id.to_string(),
            },
            Ok(Some(_)) => StoreError::Conflict { entity, key },
            Err(e) => pg_error("read version", e),
        }
    }

    async fn apply_one(&self, tx: &Transaction<'_>, change: Change) -> Result<(), StoreError> {
        let sql = &self.sql;
        match change {
            Change::InsertGroup(g) => {
                let row = GroupColumns::of(&g)?;
                let r = tx
                    .execute(&sql.insert_group, &[&row.id, &row.version, &row.data])
                    .await;
                match r {
                    Ok(_) => Ok(()),
                    Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                        Err(StoreError::AlreadyExists {
                            entity: Entity::Group,
                            key: g.id().to_string(),
                        })
                    }
                    Err(e) => Err(pg_error("insert group", e)),
                }
            }
            Change::UpdateGroup { expected, group } => {
                let row = GroupColumns::of(&group)?;
                let n = tx
                    .execute(
                        &sql.update_group,
                        &[&row.id, &row.version, &row.data, &version(expected)],
                    )
                    .await
                    .map_err(|e| pg_error("update group", e))?;
                if n == 0 {
                    return Err(self
                        .missing_or_conflict(
                            tx,
                            &sql.group_version,
                            Entity::Group,
                            group.id().as_uuid(),
                            group.id().to_string(),
                        )
                        .await);
                }
                Ok(())
            }
            Change::DeleteGroup { id, expected } => {
                let r = tx
                    .execute(&sql.delete_group, &[id.as_uuid(), &version(expected)])
                    .await;
                let n = match r {
                    Ok(n) => n,
                    Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                        return Err(StoreError::Conflict {
                            entity: Entity::Group,
                            key: id.to_string(),
                        });
                    }
                    Err(e) => return Err(pg_error("delete group", e)),
                };
                if n == 0 {
                    return Err(self
                        .missing_or_conflict(
                            tx,
                            &sql.group_version,
                            Entity::Group,
                            id.as_uuid(),
                            id.to_string(),
                        )
                        .await);
                }
                Ok(())
            }
            Change::InsertDevice(d) => self.insert_devices(tx, vec![d]).await,
            Change::UpdateDevice { expected, device } => {
                let row = DeviceRow::of(&device)?;
                let v = row.values();
                let expected = version(expected);
                let params: [&(dyn ToSql + Sync); 11] = [
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], &expected,
                ];
                let r = tx.execute(&sql.update_device, &params).await;
                match r {
                    Ok(0) => Err(self
                        .missing_or_conflict(
                            tx,
                            &sql.device_version,
                            Entity::Device,
                            device.id().as_uuid(),
                            device.serial().to_string(),
                        )
                        .await),
                    Ok(_) => Ok(()),
                    Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                        Err(StoreError::DuplicateSerial {
                            group: device.group_id(),
                            serial: device.serial().clone(),
                        })
                    }
                    Err(e) => Err(pg_error("update device", e)),
                }
            }
            Change::DeleteDevice { id, expected } => {
                let n = tx
                    .execute(&sql.delete_device, &[id.as_uuid(), &version(expected)])
                    .await
                    .map_err(|e| pg_error("delete device", e))?;
                if n == 0 {
                    return Err(self
                        .missing_or_conflict(
                            tx,
                            &sql.device_version,
                            Entity::Device,
                            id.as_uuid(),
                            id.to_string(),
                        )
                        .await);
                }
                Ok(())
            }
        }
    }

    async fn append_events(
        &self,
        tx: &Transaction<'_>,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let n = limit(events.len());
        let last: i64 = tx
            .query_one(&self.sql.bump_counter, &[&n])
            .await
            .map_err(|e| pg_error("number events", e))?
            .get(0);
        let seqs: Vec<i64> = (last - n + 1..=last).collect();
        let data = events
            .iter()
            .map(stored::encode_event)
            .collect::<Result<Vec<_>, _>>()?;
        tx.execute(&self.sql.insert_events, &[&seqs, &data])
            .await
            .map_err(|e| pg_error("append events", e))?;
        Ok(())
    }
}

/// The WHERE clause of a device query and its parameters, numbered from `$1`.
fn query_sql(
    query: &DeviceQuery,
    after: Option<&SerialNumber>,
) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut sql = String::from(" WHERE group_id = $1");
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(*query.group.as_uuid())];
    let mut push = |sql: &mut String, cond: &str, v: Box<dyn ToSql + Sync + Send>| {
        params.push(v);
        sql.push_str(&format!(" AND {cond} ${}", params.len()));
    };
    let f = &query.filter;
    if let Some(after) = after {
        push(&mut sql, "serial >", Box::new(after.to_string()));
    }
    if let Some(p) = &f.serial_prefix {
        // Serials are ASCII below 0x7f and compare bytewise ("C" collation), so every serial
        // with this prefix sorts in [prefix, prefix || chr(127)).
        push(&mut sql, "serial >=", Box::new(p.to_string()));
        push(&mut sql, "serial <", Box::new(format!("{p}\u{7f}")));
    }
    if let Some(s) = f.status {
        push(&mut sql, "status =", Box::new(status_code(s)));
    }
    if let Some(t) = &f.batch_tag {
        push(&mut sql, "batch_tag =", Box::new(t.to_string()));
    }
    if let Some(m) = &f.model_id {
        push(&mut sql, "model_id =", Box::new(m.to_string()));
    }
    if let Some(t) = &f.target {
        push(&mut sql, "target =", Box::new(t.to_string()));
    }
    if let Some(t) = &f.allocated_to {
        push(&mut sql, "allocated_to =", Box::new(t.to_string()));
    }
    (sql, params)
}

#[async_trait]
impl Store for PgStore {
    async fn group(&self, id: GroupId) -> Result<Option<RegistrationGroup>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&self.sql.group, &[id.as_uuid()])
            .await
            .map_err(|e| pg_error("read group", e))?;
        row.map(|r| stored::decode_group(r.get(0))).transpose()
    }

    async fn groups(
        &self,
        after: Option<GroupId>,
        limit_n: usize,
    ) -> Result<Vec<RegistrationGroup>, StoreError> {
        let client = self.client().await?;
        let after = after.map(|g| *g.as_uuid()).unwrap_or(Uuid::nil());
        let rows = client
            .query(&self.sql.groups, &[&after, &limit(limit_n)])
            .await
            .map_err(|e| pg_error("list groups", e))?;
        rows.iter()
            .map(|r| stored::decode_group(r.get(0)))
            .collect()
    }

    async fn device(&self, id: DeviceId) -> Result<Option<Device>, StoreError> {
        Ok(self
            .query_devices(&self.sql.device, &[id.as_uuid()])
            .await?
            .pop())
    }

    async fn device_by_serial(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        Ok(self
            .query_devices(
                &self.sql.device_by_serial,
                &[group.as_uuid(), &serial.as_str()],
            )
            .await?
            .pop())
    }

    async fn devices_by_serials(
        &self,
        group: GroupId,
        serials: &[SerialNumber],
    ) -> Result<Vec<Device>, StoreError> {
        let serials: Vec<&str> = serials.iter().map(|s| s.as_str()).collect();
        self.query_devices(&self.sql.devices_by_serials, &[group.as_uuid(), &serials])
            .await
    }

    async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit_n: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let (clause, mut params) = query_sql(query, after.as_ref());
        params.push(Box::new(limit(limit_n)));
        let sql = format!(
            "SELECT data FROM {}{clause} ORDER BY serial LIMIT ${}",
            self.sql.devices_table,
            params.len()
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
        self.query_devices(&sql, &refs).await
    }

    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64, StoreError> {
        let (clause, params) = query_sql(query, None);
        let sql = format!("SELECT count(*) FROM {}{clause}", self.sql.devices_table);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&sql)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let n: i64 = client
            .query_one(&stmt, &refs)
            .await
            .map_err(|e| pg_error("count devices", e))?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn pending_devices(
        &self,
        after: Option<DeviceId>,
        limit_n: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let after = after.map(|d| *d.as_uuid()).unwrap_or(Uuid::nil());
        self.query_devices(&self.sql.pending, &[&after, &limit(limit_n)])
            .await
    }

    async fn events(&self, after: EventCursor, limit_n: usize) -> Result<Vec<Event>, StoreError> {
        let client = self.client().await?;
        let after = i64::try_from(after.get()).unwrap_or(i64::MAX);
        let rows = client
            .query(&self.sql.events, &[&after, &limit(limit_n)])
            .await
            .map_err(|e| pg_error("read events", e))?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.get(0);
                let cursor = EventCursor::new(u64::try_from(seq).unwrap_or(0));
                stored::decode_event(cursor, r.get(1))
            })
            .collect()
    }

    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        let (changes, events) = changeset.into_parts();
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error("begin", e))?;
        self.apply(&tx, changes).await?;
        // Last, so that the counter's row lock is held only for the tail of the transaction.
        self.append_events(&tx, events).await?;
        tx.commit().await.map_err(|e| pg_error("commit", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_serials_are_read_from_the_detail() {
        let d = "Key (group_id, serial)=(0190e5a4-0000-7000-8000-000000000001, SN-1:a.b) already exists.";
        assert_eq!(
            duplicate_serial_in(d).map(|s| s.to_string()),
            Some("SN-1:a.b".to_owned())
        );
        assert_eq!(duplicate_serial_in("garbage"), None);
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(PgOptions::default().with_schema("tenant_1").is_ok());
        for bad in ["", "1abc", "Tenant", "a-b", "a\"b", &"a".repeat(64)] {
            assert!(PgOptions::default().with_schema(bad).is_err(), "{bad:?}");
        }
    }
}
