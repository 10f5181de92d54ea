//! Opening the database together with the key file that seals its secrets, and sealing the
//! secrets that a database of an earlier release keeps in clear.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dps_core::inject::OsSecrets;
use dps_core::{Environment, Provisioner, RegistrationGroup, Store};
use dps_keys_file::{KeyFile, KeyFileError};
use dps_store_postgres::{PgOptions, PgStore};
use dps_store_sqlite::{SqliteOptions, SqliteStore};

use crate::context::Dps;
use crate::{CliResult, Failure};

/// An open database and its sealing keys.
pub(crate) struct Database {
    /// The store.
    pub(crate) store: Arc<dyn Store>,
    /// The same store when it is a SQLite file, which can be compacted.
    sqlite: Option<SqliteStore>,
    /// The key file, when there is one.
    pub(crate) keys: Option<KeyFile>,
    /// Where the key file is or would be; `None` for a PostgreSQL database without
    /// `--key-file`.
    pub(crate) key_path: Option<PathBuf>,
}

/// How many groups are read per query while looking for secrets.
const PAGE: usize = 1000;

impl Database {
    /// Opens the database named by `--db` (a `postgres://` URL or a SQLite file) and its key
    /// file (`key_file`, or beside a SQLite file: `<file>.keys`).
    ///
    /// A missing key file is created, with a new key, when the database holds no sealed
    /// secret yet (it is new, or an earlier release wrote it); otherwise the database opens
    /// without keys, and whatever needs a secret is refused (`key_unavailable`). With keys,
    /// secrets that an earlier release kept in clear are sealed now, and the SQLite file is
    /// compacted so that no copy in clear remains.
    pub(crate) async fn open(db: &str, key_file: Option<&Path>) -> CliResult<Self> {
        let mut database = Self::open_store(db).await?;
        database.key_path = key_file
            .map(Path::to_path_buf)
            .or_else(|| database.sqlite.is_some().then(|| default_key_path(db)));
        if let Some(path) = database.key_path.clone() {
            database.keys = database.load_keys(&path).await?;
        }
        database.seal_secrets_in_clear().await?;
        Ok(database)
    }

    async fn open_store(db: &str) -> CliResult<Self> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            let store = PgStore::connect(db, PgOptions::default())
                .await
                .map_err(|e| Failure::from(e).context("database"))?;
            Ok(Self {
                store: Arc::new(store),
                sqlite: None,
                keys: None,
                key_path: None,
            })
        } else {
            let store = SqliteStore::open(db, SqliteOptions::default())
                .map_err(|e| Failure::from(e).context(&format!("database {db}")))?;
            Ok(Self {
                store: Arc::new(store.clone()),
                sqlite: Some(store),
                keys: None,
                key_path: None,
            })
        }
    }

    /// Reads the key file at `path`, or creates it when no secret of the database is sealed
    /// (every record is read to make sure: a new key must not stand beside secrets that
    /// another key sealed).
    async fn load_keys(&self, path: &Path) -> CliResult<Option<KeyFile>> {
        match KeyFile::open(path) {
            Ok(file) => return Ok(Some(file)),
            Err(KeyFileError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(key_file_failure(e)),
        }
        let env = crate::context::Targets::default().environment(false)?;
        let counts = Provisioner::new(Arc::clone(&self.store), env)
            .secrets_by_key()
            .await?;
        if !counts.sealed.is_empty() {
            return Ok(None);
        }
        let file = match KeyFile::create(path, &OsSecrets) {
            // Another process created it meanwhile: use that one.
            Err(KeyFileError::Exists { .. }) => {
                return KeyFile::open(path).map(Some).map_err(key_file_failure);
            }
            created => created.map_err(key_file_failure)?,
        };
        eprintln!(
            "created the key file {} (key {}): it seals the database's secrets; keep it private and apart from the database's backups",
            path.display(),
            file.current_id()
        );
        Ok(Some(file))
    }

    /// Calls `f` with every group, a page at a time.
    async fn each_group(&self, mut f: impl FnMut(&RegistrationGroup)) -> CliResult<()> {
        let mut after = None;
        loop {
            let groups = self.store.groups(after, PAGE).await?;
            groups.iter().for_each(&mut f);
            if groups.len() < PAGE {
                return Ok(());
            }
            after = groups.last().map(RegistrationGroup::id);
        }
    }

    /// With keys, seals what an earlier release kept in clear. A reseal seals a group's
    /// devices before the group, so a group in clear means that there is work left. When
    /// that fails the database still opens, for listing and editing; `dps keys reseal` tries
    /// again and says why.
    async fn seal_secrets_in_clear(&self) -> CliResult<()> {
        let Some(keys) = &self.keys else {
            return Ok(());
        };
        let mut in_clear = false;
        self.each_group(|g| {
            in_clear |=
                !g.secret().is_sealed() || g.previous_secret().is_some_and(|s| !s.is_sealed());
        })
        .await?;
        if !in_clear {
            return Ok(());
        }
        let env = crate::context::Targets::default().environment(false)?;
        let dps = Provisioner::new(Arc::clone(&self.store), env).with_keys(keys.clone());
        let sealed = match dps.reseal(|_| {}).await {
            Ok(report) => report,
            Err(e) => {
                eprintln!(
                    "warning: the secrets that an earlier release kept in clear are not all sealed: {e}; run dps keys reseal"
                );
                return Ok(());
            }
        };
        self.compact().await?;
        eprintln!(
            "sealed {} secrets that an earlier release kept in clear, with key {}",
            sealed.secrets(),
            keys.current_id()
        );
        Ok(())
    }

    /// Compacts a SQLite file (so that no overwritten secret remains in its free pages) and
    /// makes it private; nothing for PostgreSQL.
    pub(crate) async fn compact(&self) -> CliResult<()> {
        if let Some(sqlite) = &self.sqlite {
            sqlite.compact().await?;
            sqlite.make_private()?;
        }
        Ok(())
    }

    /// The provisioner over this database and `env`, with its keys.
    pub(crate) fn provisioner(&self, env: Arc<dyn Environment>) -> Dps {
        let dps = crate::context::provisioner(Arc::clone(&self.store), env);
        match &self.keys {
            Some(keys) => dps.with_keys(keys.clone()),
            None => dps,
        }
    }

    /// What to tell a user whose command needed a key that this database was opened without.
    pub(crate) fn missing_key_hint(&self) -> String {
        match &self.key_path {
            Some(path) => format!(
                "the key file {} does not exist, and the database's secrets are sealed with another key: give its key file with --key-file or DPS_KEY_FILE",
                path.display()
            ),
            None => "a PostgreSQL database has no default key file: give one with --key-file or DPS_KEY_FILE".to_owned(),
        }
    }
}

/// The key file of a SQLite database at `db`: `<db>.keys`.
fn default_key_path(db: &str) -> PathBuf {
    PathBuf::from(format!("{db}.keys"))
}

/// A key file's failure: exit 3 when it cannot be read or written, 2 when it is refused.
pub(crate) fn key_file_failure(e: KeyFileError) -> Failure {
    match e {
        KeyFileError::Io { .. } => Failure::io(e.code(), e.to_string()),
        _ => Failure::invalid(e.code(), e.to_string()),
    }
}
