//! `SqliteStore`: the embedded default [`Store`] of **dps**, one SQLite file with nothing to
//! install (SQLite is compiled in).
//!
//! ```no_run
//! use dps_store_sqlite::{SqliteStore, SqliteOptions};
//!
//! # async fn open() -> Result<(), dps_core::StoreError> {
//! let store = SqliteStore::open("dps.sqlite", SqliteOptions::default())?;
//! # Ok(()) }
//! ```
//!
//! # Connections and threads
//!
//! SQLite allows one writer at a time and, in WAL mode, any number of readers that do not block
//! it. The store follows that shape:
//!
//! - **One writer connection** behind a lock. Every [`Store::commit`] is one
//!   `BEGIN IMMEDIATE … COMMIT` transaction on it: the write lock is taken up front (waiting up
//!   to the busy timeout), so version checks inside see the latest data and a stale version is
//!   [`StoreError::Conflict`], never "database is locked".
//! - **A small pool of reader connections**, so that reads run beside a commit in progress.
//!
//! A point read or a small commit costs microseconds, far less than handing the work to another
//! thread and back (tens of microseconds), so such calls run on the calling task's thread. Work
//! that grows with its input — a changeset of more than [`OFFLOAD_THRESHOLD`] changes, a page
//! of more than [`OFFLOAD_THRESHOLD`] rows — runs on a separate thread while the calling task
//! awaits it, so the async runtime is never blocked for long and a bulk import pays one thread
//! hop per chunk, not per row. An in-memory database (`:memory:`) has no separate readers: every
//! call uses the single connection.
//!
//! # Durability
//!
//! The file runs in WAL mode. [`Synchronous::Normal`] (the default) syncs the WAL at
//! checkpoints: a committed transaction survives a crash of the process, and a power loss may
//! lose the last transactions but never corrupts the file. [`Synchronous::Full`] syncs the WAL at
//! every commit, so a committed transaction also survives a power loss, at the cost of one
//! fsync per commit.
//!
//! # Schema
//!
//! The schema is embedded and migrated when the store opens, inside a write transaction, so two
//! processes opening one file at once do not race. A database written by a newer version of
//! this crate is refused with [`StoreError::SchemaTooNew`] and left untouched; a file that is not
//! a SQLite database, or is one of another application, is refused with
//! [`StoreError::Corrupt`] and left untouched.
#![deny(missing_docs)]

mod schema;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use dps_core::{
    AllocationStatus, Change, Changeset, Device, DeviceId, DeviceQuery, Entity, Event, EventCursor,
    GroupId, RegistrationGroup, SerialNumber, Store, StoreError, Uuid,
};
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

/// Changesets with more changes, and pages with more rows, than this run on a separate thread.
pub const OFFLOAD_THRESHOLD: usize = 256;

/// How SQLite syncs committed transactions to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Sync the WAL at checkpoints: survives process crashes; a power loss may lose the most
    /// recent transactions but not corrupt the database.
    #[default]
    Normal,
    /// Sync the WAL at every commit: committed transactions also survive a power loss.
    Full,
}

/// Options for [`SqliteStore::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Durability; see [`Synchronous`].
    pub synchronous: Synchronous,
    /// How long a call waits for another connection's write lock before it gives up with
    /// [`StoreError::Unavailable`]. Default: 5 s.
    pub busy_timeout: Duration,
    /// The most reader connections kept open. Default: 4.
    pub max_readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            max_readers: 4,
        }
    }
}

impl SqliteOptions {
    /// These options with another durability.
    #[must_use]
    pub fn with_synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// These options with another busy timeout.
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}

/// A [`Store`] in one SQLite file (or in memory).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: Option<PathBuf>,
    options: SqliteOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Maps a SQLite error to the store's error kinds.
fn sql_error(context: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable {
            message: format!("{context}: the database is locked by another connection"),
            source: Some(Box::new(e)),
        },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            message: format!("{context}: {e}"),
            source: Some(Box::new(e)),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
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

fn status_code(s: AllocationStatus) -> i64 {
    i64::from(stored::status_code(s))
}

fn id_bytes(u: &Uuid) -> Vec<u8> {
    u.as_bytes().to_vec()
}

/// The column values of a device row, in `dps_devices` column order.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// `id`.
    pub id: Vec<u8>,
    /// `group_id`.
    pub group_id: Vec<u8>,
    /// `serial`.
    pub serial: String,
    /// `version`.
    pub version: i64,
    /// `status`.
    pub status: i64,
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

impl DeviceRow {
    /// The values, in column order.
    pub fn values(&self) -> [&dyn rusqlite::ToSql; 10] {
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
}

/// Encodes a device as its row.
///
/// # Errors
///
/// When the device does not serialise, which does not happen for valid devices.
#[doc(hidden)]
pub fn device_row(d: &Device) -> Result<DeviceRow, StoreError> {
    DeviceColumns::of(d).map(DeviceRow::from)
}

impl From<DeviceColumns> for DeviceRow {
    fn from(c: DeviceColumns) -> Self {
        Self {
            id: id_bytes(&c.id),
            group_id: id_bytes(&c.group_id),
            serial: c.serial,
            version: c.version,
            status: i64::from(c.status),
            model_id: c.model_id,
            batch_tag: c.batch_tag,
            target: c.target,
            allocated_to: c.allocated_to,
            data: c.data,
        }
    }
}

/// The SQL that inserts a device row.
#[doc(hidden)]
pub const INSERT_DEVICE_SQL: &str = "INSERT INTO dps_devices \
    (id, group_id, serial, version, status, model_id, batch_tag, target, allocated_to, data) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const UPDATE_DEVICE_SQL: &str = "UPDATE dps_devices SET serial = ?3, version = ?4, status = ?5, \
    model_id = ?6, batch_tag = ?7, target = ?8, allocated_to = ?9, data = ?10 \
    WHERE id = ?1 AND group_id = ?2 AND version = ?11";

use dps_core::stored::{self, DeviceColumns, GroupColumns, decode_device, decode_group};

impl SqliteStore {
    /// Opens (or creates) the database file at `path` and migrates its schema.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] for a file that is not a dps database (it is left untouched),
    /// [`StoreError::SchemaTooNew`] for a database of a newer version (left untouched),
    /// [`StoreError::Unavailable`] when the file cannot be opened or stays locked.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let writer = open_connection(&path, &options)?;
        check_file(&writer)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| sql_error("enable WAL", e))?;
        let sync = match options.synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        writer
            .pragma_update(None, "synchronous", sync)
            .map_err(|e| sql_error("set synchronous", e))?;
        let mut writer = writer;
        migrate(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: Some(path),
                options,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Opens a private in-memory database; nothing survives the store.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when SQLite cannot create it.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut conn =
            Connection::open_in_memory().map_err(|e| sql_error("open in-memory database", e))?;
        migrate(&mut conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: None,
                options: SqliteOptions::default(),
                writer: Mutex::new(conn),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Runs `PRAGMA integrity_check` and returns its verdict (`"ok"` for a sound file).
    ///
    /// # Errors
    ///
    /// When the check itself cannot run.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.inner.read(|c| {
            c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                .map_err(|e| sql_error("integrity check", e))
        })
    }

    /// Runs `f` inline when `size` is small, else on a separate thread.
    async fn run<T, F>(&self, size: usize, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        if size <= OFFLOAD_THRESHOLD {
            return f(&self.inner);
        }
        let inner = Arc::clone(&self.inner);
        let (tx, rx) = futures_channel::oneshot::channel();
        std::thread::Builder::new()
            .name("dps-sqlite".into())
            .spawn(move || {
                let _ = tx.send(f(&inner));
            })
            .map_err(|e| StoreError::backend("start a database thread", e))?;
        rx.await.map_err(|_| StoreError::Backend {
            message: "the database thread stopped unexpectedly".into(),
            source: None,
        })?
    }
}

fn open_connection(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| sql_error(&format!("open {}", path.display()), e))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| sql_error("set busy timeout", e))?;
    Ok(conn)
}

/// Refuses files that are not SQLite, belong to another application, or are newer, before
/// anything is written to them.
fn check_file(conn: &Connection) -> Result<(), StoreError> {
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| sql_error("read the database header", e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_error("read the schema version", e))?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| sql_error("read the schema", e))?;
    if app_id != 0 && app_id != schema::APPLICATION_ID {
        return Err(StoreError::Corrupt {
            message: format!(
                "the file belongs to another application (application_id {app_id:#x})"
            ),
            source: None,
        });
    }
    if app_id == 0 && tables > 0 {
        return Err(StoreError::Corrupt {
            message: "the file is a SQLite database of another application".into(),
            source: None,
        });
    }
    if version > schema::VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: schema::VERSION,
        });
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error("begin migration", e))?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_error("read the schema version", e))?;
    if current > schema::VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: schema::VERSION,
        });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)
            .map_err(|e| sql_error(&format!("apply migration {}", i + 1), e))?;
    }
    if current < schema::VERSION {
        tx.pragma_update(None, "application_id", schema::APPLICATION_ID)
            .map_err(|e| sql_error("set the application id", e))?;
        tx.pragma_update(None, "user_version", schema::VERSION)
            .map_err(|e| sql_error("set the schema version", e))?;
    }
    tx.commit().map_err(|e| sql_error("commit migration", e))
}

impl Inner {
    /// Runs `f` on a reader connection (the single connection when in memory).
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(path) = &self.path else {
            return f(&lock(&self.writer));
        };
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = open_connection(path, &self.options)?;
                c.pragma_update(None, "query_only", true)
                    .map_err(|e| sql_error("open a reader", e))?;
                c
            }
        };
        let result = f(&conn);
        let mut readers = lock(&self.readers);
        if readers.len() < self.options.max_readers {
            readers.push(conn);
        }
        result
    }

    fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        let (changes, events) = changeset.into_parts();
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error("begin", e))?;
        let mut known_groups: HashSet<GroupId> = HashSet::new();
        for change in changes {
            apply(&tx, change, &mut known_groups)?;
        }
        if !events.is_empty() {
            let mut stmt = tx
                .prepare_cached("INSERT INTO dps_events (data) VALUES (?1)")
                .map_err(|e| sql_error("prepare event insert", e))?;
            for event in &events {
                let data = stored::encode_event(event)?;
                stmt.execute([data])
                    .map_err(|e| sql_error("append event", e))?;
            }
        }
        tx.commit().map_err(|e| sql_error("commit", e))
    }
}

fn group_exists(
    tx: &rusqlite::Transaction<'_>,
    id: GroupId,
    known: &mut HashSet<GroupId>,
) -> Result<bool, StoreError> {
    if known.contains(&id) {
        return Ok(true);
    }
    let exists = tx
        .prepare_cached("SELECT 1 FROM dps_groups WHERE id = ?1")
        .and_then(|mut s| s.exists([id_bytes(id.as_uuid())]))
        .map_err(|e| sql_error("look up group", e))?;
    if exists {
        known.insert(id);
    }
    Ok(exists)
}

fn stored_version(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    id: &Uuid,
) -> Result<Option<i64>, StoreError> {
    tx.prepare_cached(&format!("SELECT version FROM {table} WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id_bytes(id)], |r| r.get(0)).optional())
        .map_err(|e| sql_error("read version", e))
}

fn missing_or_conflict(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    entity: Entity,
    id: &Uuid,
    key: String,
) -> StoreError {
    match stored_version(tx, table, id) {
        Ok(None) => StoreError::NotFound {
            entity,
            key: id.to_string(),
        },
        Ok(Some(_)) => StoreError::Conflict { entity, key },
        Err(e) => e,
    }
}

/// Deletes the record `id` of `table` if it is at version `expected`.
fn delete_at_version(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    entity: Entity,
    id: &Uuid,
    expected: dps_core::Version,
) -> Result<(), StoreError> {
    let n = tx
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE id = ?1 AND version = ?2"
        ))
        .and_then(|mut s| s.execute(rusqlite::params![id_bytes(id), expected.get() as i64]))
        .map_err(|e| sql_error("delete", e))?;
    if n == 0 {
        return Err(missing_or_conflict(tx, table, entity, id, id.to_string()));
    }
    Ok(())
}

fn is_constraint(e: &rusqlite::Error, extended: i32) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == extended)
}

const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;

fn apply(
    tx: &rusqlite::Transaction<'_>,
    change: Change,
    known_groups: &mut HashSet<GroupId>,
) -> Result<(), StoreError> {
    match change {
        Change::InsertGroup(g) => {
            let row = GroupColumns::of(&g)?;
            let r = tx
                .prepare_cached("INSERT INTO dps_groups (id, version, data) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| {
                    s.execute(rusqlite::params![id_bytes(&row.id), row.version, row.data])
                });
            match r {
                Ok(_) => {
                    known_groups.insert(g.id());
                    Ok(())
                }
                Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_PRIMARYKEY) => {
                    Err(StoreError::AlreadyExists {
                        entity: Entity::Group,
                        key: g.id().to_string(),
                    })
                }
                Err(e) => Err(sql_error("insert group", e)),
            }
        }
        Change::UpdateGroup { expected, group } => {
            let row = GroupColumns::of(&group)?;
            let n = tx
                .prepare_cached(
                    "UPDATE dps_groups SET version = ?2, data = ?3 WHERE id = ?1 AND version = ?4",
                )
                .and_then(|mut s| {
                    s.execute(rusqlite::params![
                        id_bytes(&row.id),
                        row.version,
                        row.data,
                        stored::version_column(expected)
                    ])
                })
                .map_err(|e| sql_error("update group", e))?;
            if n == 0 {
                return Err(missing_or_conflict(
                    tx,
                    "dps_groups",
                    Entity::Group,
                    group.id().as_uuid(),
                    group.id().to_string(),
                ));
            }
            Ok(())
        }
        Change::DeleteGroup { id, expected } => {
            let has_devices = tx
                .prepare_cached("SELECT 1 FROM dps_devices WHERE group_id = ?1 LIMIT 1")
                .and_then(|mut s| s.exists([id_bytes(id.as_uuid())]))
                .map_err(|e| sql_error("count group devices", e))?;
            if has_devices {
                return Err(StoreError::Conflict {
                    entity: Entity::Group,
                    key: id.to_string(),
                });
            }
            delete_at_version(tx, "dps_groups", Entity::Group, id.as_uuid(), expected)?;
            known_groups.remove(&id);
            Ok(())
        }
        Change::InsertDevice(d) => {
            if !group_exists(tx, d.group_id(), known_groups)? {
                return Err(StoreError::NotFound {
                    entity: Entity::Group,
                    key: d.group_id().to_string(),
                });
            }
            let row = device_row(&d)?;
            let r = tx
                .prepare_cached(INSERT_DEVICE_SQL)
                .and_then(|mut s| s.execute(&row.values()[..]));
            match r {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_UNIQUE) => {
                    Err(StoreError::DuplicateSerial {
                        group: d.group_id(),
                        serial: d.serial().clone(),
                    })
                }
                Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_PRIMARYKEY) => {
                    Err(StoreError::AlreadyExists {
                        entity: Entity::Device,
                        key: d.id().to_string(),
                    })
                }
                Err(e) => Err(sql_error("insert device", e)),
            }
        }
        Change::UpdateDevice { expected, device } => {
            let row = device_row(&device)?;
            let expected = expected.get() as i64;
            let mut params = row.values().to_vec();
            params.push(&expected);
            let r = tx
                .prepare_cached(UPDATE_DEVICE_SQL)
                .and_then(|mut s| s.execute(&params[..]));
            match r {
                Ok(0) => Err(missing_or_conflict(
                    tx,
                    "dps_devices",
                    Entity::Device,
                    device.id().as_uuid(),
                    device.serial().to_string(),
                )),
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e, SQLITE_CONSTRAINT_UNIQUE) => {
                    Err(StoreError::DuplicateSerial {
                        group: device.group_id(),
                        serial: device.serial().clone(),
                    })
                }
                Err(e) => Err(sql_error("update device", e)),
            }
        }
        Change::DeleteDevice { id, expected } => {
            delete_at_version(tx, "dps_devices", Entity::Device, id.as_uuid(), expected)
        }
    }
}

/// The WHERE clause and parameters of a device query, from `?1` on.
fn query_sql(query: &DeviceQuery, after: Option<&SerialNumber>) -> (String, Vec<Value>) {
    let mut sql = String::from(" WHERE group_id = ?");
    let mut params = vec![Value::Blob(id_bytes(query.group.as_uuid()))];
    let f = &query.filter;
    if let Some(after) = after {
        sql.push_str(" AND serial > ?");
        params.push(Value::Text(after.to_string()));
    }
    if let Some(prefix) = &f.serial_prefix {
        // Serials are ASCII below 0x7f, so every serial with this prefix sorts in
        // [prefix, prefix + "\x7f").
        sql.push_str(" AND serial >= ? AND serial < ?");
        params.push(Value::Text(prefix.to_string()));
        params.push(Value::Text(format!("{prefix}\u{7f}")));
    }
    if let Some(s) = f.status {
        sql.push_str(" AND status = ?");
        params.push(Value::Integer(status_code(s)));
    }
    if let Some(t) = &f.batch_tag {
        sql.push_str(" AND batch_tag = ?");
        params.push(Value::Text(t.to_string()));
    }
    if let Some(m) = &f.model_id {
        sql.push_str(" AND model_id = ?");
        params.push(Value::Text(m.to_string()));
    }
    if let Some(t) = &f.target {
        sql.push_str(" AND target = ?");
        params.push(Value::Text(t.to_string()));
    }
    if let Some(t) = &f.allocated_to {
        sql.push_str(" AND allocated_to = ?");
        params.push(Value::Text(t.to_string()));
    }
    (sql, params)
}

fn collect_devices(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<Device>, StoreError> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| sql_error("prepare query", e))?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(|e| sql_error("query devices", e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| sql_error("read devices", e))? {
        let data = row
            .get_ref(0)
            .and_then(|v| v.as_str().map_err(Into::into))
            .map_err(|e| sql_error("read device", e))?;
        out.push(decode_device(data)?);
    }
    Ok(out)
}

#[async_trait]
impl Store for SqliteStore {
    async fn group(&self, id: GroupId) -> Result<Option<RegistrationGroup>, StoreError> {
        self.inner.read(|c| {
            let data: Option<String> = c
                .prepare_cached("SELECT data FROM dps_groups WHERE id = ?1")
                .and_then(|mut s| {
                    s.query_row([id_bytes(id.as_uuid())], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| sql_error("read group", e))?;
            data.map(|d| decode_group(&d)).transpose()
        })
    }

    async fn groups(
        &self,
        after: Option<GroupId>,
        limit: usize,
    ) -> Result<Vec<RegistrationGroup>, StoreError> {
        self.run(limit, move |inner| {
            inner.read(|c| {
                let after = after.map(|g| id_bytes(g.as_uuid())).unwrap_or_default();
                let mut stmt = c
                    .prepare_cached(
                        "SELECT data FROM dps_groups WHERE id > ?1 ORDER BY id LIMIT ?2",
                    )
                    .map_err(|e| sql_error("prepare groups", e))?;
                let rows = stmt
                    .query_map(rusqlite::params![after, limit as i64], |r| {
                        r.get::<_, String>(0)
                    })
                    .map_err(|e| sql_error("query groups", e))?;
                let mut out = Vec::new();
                for data in rows {
                    out.push(decode_group(
                        &data.map_err(|e| sql_error("read group", e))?,
                    )?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn device(&self, id: DeviceId) -> Result<Option<Device>, StoreError> {
        self.inner.read(|c| {
            let data: Option<String> = c
                .prepare_cached("SELECT data FROM dps_devices WHERE id = ?1")
                .and_then(|mut s| {
                    s.query_row([id_bytes(id.as_uuid())], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| sql_error("read device", e))?;
            data.map(|d| decode_device(&d)).transpose()
        })
    }

    async fn device_by_serial(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        self.inner.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM dps_devices WHERE group_id = ?1 AND serial = ?2")
                .map_err(|e| sql_error("prepare device lookup", e))?;
            let mut rows = stmt
                .query(rusqlite::params![
                    id_bytes(group.as_uuid()),
                    serial.as_str()
                ])
                .map_err(|e| sql_error("look up device", e))?;
            match rows.next().map_err(|e| sql_error("read device", e))? {
                Some(row) => {
                    let data = row
                        .get_ref(0)
                        .and_then(|v| v.as_str().map_err(Into::into))
                        .map_err(|e| sql_error("read device", e))?;
                    decode_device(data).map(Some)
                }
                None => Ok(None),
            }
        })
    }

    async fn devices_by_serials(
        &self,
        group: GroupId,
        serials: &[SerialNumber],
    ) -> Result<Vec<Device>, StoreError> {
        let serials: Vec<String> = serials.iter().map(|s| s.to_string()).collect();
        self.run(serials.len(), move |inner| {
            inner.read(|c| {
                let mut out = Vec::with_capacity(serials.len());
                for chunk in serials.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let sql = format!(
                        "SELECT data FROM dps_devices WHERE group_id = ? AND serial IN ({marks})"
                    );
                    let mut params = vec![Value::Blob(id_bytes(group.as_uuid()))];
                    params.extend(chunk.iter().map(|s| Value::Text(s.clone())));
                    out.extend(collect_devices(c, &sql, params)?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let (clause, mut params) = query_sql(query, after.as_ref());
        let sql = format!("SELECT data FROM dps_devices{clause} ORDER BY serial LIMIT ?");
        params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        self.run(limit, move |inner| {
            inner.read(|c| collect_devices(c, &sql, params))
        })
        .await
    }

    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64, StoreError> {
        let (clause, params) = query_sql(query, None);
        let sql = format!("SELECT count(*) FROM dps_devices{clause}");
        self.inner.read(|c| {
            let n: i64 = c
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row(rusqlite::params_from_iter(params), |r| r.get(0)))
                .map_err(|e| sql_error("count devices", e))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    async fn pending_devices(
        &self,
        after: Option<DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError> {
        let after = after.map(|d| id_bytes(d.as_uuid())).unwrap_or_default();
        self.run(limit, move |inner| {
            inner.read(|c| {
                collect_devices(
                    c,
                    "SELECT data FROM dps_devices WHERE status = 1 AND id > ? ORDER BY id LIMIT ?",
                    vec![
                        Value::Blob(after),
                        Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
                    ],
                )
            })
        })
        .await
    }

    async fn events(&self, after: EventCursor, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.run(limit, move |inner| {
            inner.read(|c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT seq, data FROM dps_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    )
                    .map_err(|e| sql_error("prepare events", e))?;
                let rows = stmt
                    .query_map(
                        rusqlite::params![
                            i64::try_from(after.get()).unwrap_or(i64::MAX),
                            i64::try_from(limit).unwrap_or(i64::MAX)
                        ],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                    )
                    .map_err(|e| sql_error("query events", e))?;
                let mut out = Vec::new();
                for row in rows {
                    let (seq, data) = row.map_err(|e| sql_error("read event", e))?;
                    let cursor = EventCursor::new(u64::try_from(seq).unwrap_or(0));
                    out.push(stored::decode_event(cursor, &data)?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        let size = changeset.changes().len() + changeset.events().len();
        self.run(size, move |inner| inner.commit(changeset)).await
    }
}
