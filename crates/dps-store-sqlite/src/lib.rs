//! `SqliteStore`: the embedded default [`Store`](dps_core::Store) of **dps**, one SQLite file
//! with nothing to install (SQLite is compiled in).
//!
//! A service uses it through the `dps` crate, as `dps::sqlite::SqliteStore` (feature `sqlite`);
//! the page of `dps::sqlite` covers everything here.
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
//! - **One writer connection** behind a lock. Every [`Store::commit`](dps_core::Store::commit) is one
//!   `BEGIN IMMEDIATE … COMMIT` transaction on it: the write lock is taken up front (waiting up
//!   to the busy timeout), so version checks inside see the latest data and a stale version is
//!   [`StoreError::Conflict`], never "database is locked". The writes of access tokens and
//!   idempotency records are single statements on it; a claim of an idempotency key is one
//!   `BEGIN IMMEDIATE` transaction that inserts the record unless its key is stored and else
//!   reads the stored one, so of two claims of one key exactly one succeeds.
//! - **A small pool of reader connections**, so that reads run beside a commit in progress.
//!
//! A point read or a small commit costs microseconds, far less than handing the work to another
//! thread and back (tens of microseconds), so such calls run on the calling task's thread. Work
//! that grows with its input — a changeset of more than [`OFFLOAD_THRESHOLD`] changes, a page
//! of more than [`OFFLOAD_THRESHOLD`] rows, a purge of idempotency records — runs on a separate
//! thread while the calling task awaits it, so the async runtime is never blocked for long and
//! a bulk import pays one thread hop per chunk, not per row. An in-memory database
//! (`:memory:`) has no separate readers: every call uses the single connection.
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
//! The file keeps the groups (`dps_groups`), the devices (`dps_devices`), the event log
//! (`dps_events`), the access tokens (`dps_tokens`: by name and by the SHA-256 hash of their
//! text, never the text) and the idempotency records of requests (`dps_idempotency`: each
//! key with its request's fingerprint, when it was first used and the answer once there is
//! one).
//!
//! The schema is embedded and migrated when the store opens, inside a write transaction, so two
//! processes opening one file at once do not race. A database written by a newer version of
//! this crate is refused with [`StoreError::SchemaTooNew`] and left untouched; a file that is not
//! a SQLite database, or is one of another application, is refused with
//! [`StoreError::Corrupt`] and left untouched.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod access;
mod apply;
mod error;
mod jobs;
mod options;
mod query;
mod row;
mod schema;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use options::{SqliteOptions, Synchronous};

use dps_core::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::error::sql_error;
use crate::schema::{check_file, migrate};

/// Changesets with more changes, and pages with more rows, than this run on a separate thread.
pub const OFFLOAD_THRESHOLD: usize = 256;

/// A [`Store`](dps_core::Store) in one SQLite file (or in memory).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// The connections, shared by the clones of a store.
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

/// Locks `m`, recovering the data of a poisoned lock (a panic elsewhere leaves it intact).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path` and migrates its schema. A new file,
    /// and the WAL and shared-memory files beside it, may be read and written by their owner
    /// only (mode 0600 on Unix), since they hold group and device secrets.
    ///
    /// `path` names a file. For a database in memory use [`SqliteStore::open_in_memory`]:
    /// SQLite's name `:memory:` here would give each reader connection a database of its own,
    /// which does not see what the writer commits.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] for a file that is not a dps database (it is left untouched),
    /// [`StoreError::SchemaTooNew`] for a database of a newer version (left untouched),
    /// [`StoreError::Configuration`] when the file cannot be opened (its directory does not
    /// exist, or it may not be read or written), [`StoreError::Unavailable`] when it stays
    /// locked.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private(&path);
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
        writer
            .pragma_update(None, "wal_autocheckpoint", 8000)
            .map_err(|e| sql_error("set the checkpoint interval", e))?;
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

    /// Rewrites the database file without its free pages (`VACUUM`) and empties its WAL, so
    /// that nothing that was overwritten or deleted (secrets that were resealed, say) stays
    /// behind in the file. Takes as long as writing the whole database once, during which
    /// writes wait.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the database stays busy or another connection (of
    /// another process) is reading, so that the WAL cannot be emptied; try again.
    /// [`StoreError::Backend`] when SQLite fails.
    pub async fn compact(&self) -> Result<(), StoreError> {
        self.run(usize::MAX, |inner| {
            let conn = lock(&inner.writer);
            checkpoint(&conn)?;
            conn.execute_batch("VACUUM")
                .map_err(|e| sql_error("vacuum", e))?;
            checkpoint(&conn)
        })
        .await
    }

    /// Gives the database file, and its WAL and shared-memory files where they exist, mode
    /// 0600 (readable and writable by their owner only), as [`SqliteStore::open`] creates a
    /// new file: for a database created by an earlier release, readable by everyone. Does
    /// nothing for a database in memory, or where files have no Unix modes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] when a file's mode cannot be changed (it belongs to
    /// another user).
    pub fn make_private(&self) -> Result<(), StoreError> {
        #[cfg(unix)]
        if let Some(path) = &self.inner.path {
            use std::os::unix::fs::PermissionsExt;
            let mut names = vec![path.clone()];
            for suffix in ["-wal", "-shm"] {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                names.push(PathBuf::from(name));
            }
            for name in names.iter().filter(|n| n.exists()) {
                std::fs::set_permissions(name, std::fs::Permissions::from_mode(0o600)).map_err(
                    |e| StoreError::Configuration {
                        message: format!("cannot make {} private: {e}", name.display()),
                        source: Some(Box::new(e)),
                    },
                )?;
            }
        }
        Ok(())
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

/// Copies the WAL into the database file and truncates it to nothing.
///
/// # Errors
///
/// [`StoreError::Unavailable`] when a reader kept SQLite from copying all of it.
fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .map_err(|e| sql_error("checkpoint", e))?;
    if busy != 0 {
        return Err(StoreError::Unavailable {
            message: "the WAL cannot be emptied while another connection reads; try again".into(),
            source: None,
        });
    }
    Ok(())
}

/// Creates the database file, when it does not exist yet, readable and writable by its owner
/// only (0600, whatever the umask): it holds group and device secrets. SQLite gives the WAL
/// and shared-memory files it creates beside it the database file's mode. A file that exists
/// keeps its mode; a file that cannot be created is left for SQLite to report.
fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Ok(file) = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            // The umask may have taken bits from the mode; set it as asked.
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Opens a connection to the file with the store's busy timeout.
pub(crate) fn open_connection(
    path: &Path,
    options: &SqliteOptions,
) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| sql_error(&format!("open {}", path.display()), e))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| sql_error("set busy timeout", e))?;
    Ok(conn)
}

/// Test hooks for the benchmarks: the raw rows and statements, for baselines that write the
/// same rows without the store. Not part of the API.
#[doc(hidden)]
pub mod __bench {
    pub use crate::row::{INSERT_DEVICE_SQL, device_row, device_values};
}
