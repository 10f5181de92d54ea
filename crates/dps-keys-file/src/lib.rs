//! Sealing keys for **dps** kept in a file that only its owner can read: a
//! [`KeyProvider`] for the CLI, `dps serve` and any service that
//! keeps its keys beside its database rather than in a key service.
//!
//! The file holds one key per line, each 256 bits in hex, and names the current key, which
//! seals new secrets; the others only open what they sealed before a rotation:
//!
//! ```text
//! # dps sealing keys. Keep this file private and apart from the database and its backups.
//! current k-3f9a01c2
//! key k-3f9a01c2 9c1e…(64 hex digits)
//! key k-77b0d415 41aa…(64 hex digits)
//! ```
//!
//! Every write replaces the file whole (a temporary file in the same directory, synced, then
//! renamed over it), created with mode 0600 whatever the umask, so that a crash leaves either
//! the old file or the new one. Nothing of a key is ever written into the database.
//!
//! ```
//! use dps_core::seal::KeyProvider;
//! use dps_keys_file::KeyFile;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("dps.keys");
//! let mut file = KeyFile::create(&path, &dps_core::inject::OsSecrets)?;
//! let first = file.current_id().clone();
//! let second = file.rotate(&dps_core::inject::OsSecrets)?;
//! assert_ne!(first, second);
//!
//! // A reader sees both keys; the new one seals.
//! let again = KeyFile::open(&path)?;
//! assert_eq!(again.keys().current_id(), Some(&second));
//! assert!(again.key(&first).is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use dps_core::KeyId;
use dps_core::inject::SecretSource;
use dps_core::seal::{KeyProvider, Keys, SealingKey};

/// What the first line of a key file says.
const HEADER: &str =
    "# dps sealing keys. Keep this file private and apart from the database and its backups.";

/// Why a key file cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file cannot be read or written.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The file is not a key file.
    #[error("key file {}, line {line}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file names no current key, or a current key it does not hold.
    #[error("key file {} names no current key that it holds", path.display())]
    NoCurrentKey {
        /// The file.
        path: PathBuf,
    },
    /// A key that is still needed was to be removed.
    #[error("key {key} is the current key of {}; rotate first", path.display())]
    RemoveCurrent {
        /// The file.
        path: PathBuf,
        /// The key.
        key: KeyId,
    },
    /// A key that the file does not hold was named.
    #[error("key file {} holds no key {key}", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: KeyId,
    },
    /// A new key was to be created where a file exists already.
    #[error("key file {} exists already", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

impl KeyFileError {
    /// The stable snake_case code of this error: `key_file_unreadable`, `key_file_invalid`
    /// or `key_file_refused`.
    pub fn code(&self) -> &'static str {
        match self {
            KeyFileError::Io { .. } => "key_file_unreadable",
            KeyFileError::Format { .. } | KeyFileError::NoCurrentKey { .. } => "key_file_invalid",
            KeyFileError::RemoveCurrent { .. }
            | KeyFileError::UnknownKey { .. }
            | KeyFileError::Exists { .. } => "key_file_refused",
        }
    }
}

/// Sealing keys read from a file; see the [crate documentation](crate).
#[derive(Clone)]
pub struct KeyFile {
    path: PathBuf,
    keys: Keys,
    /// The identifiers in file order, the newest first.
    order: Vec<KeyId>,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("keys", &self.keys)
            .finish()
    }
}

impl KeyFile {
    /// Reads the key file at `path`.
    ///
    /// # Errors
    ///
    /// [`KeyFileError::Io`] when it cannot be read (a missing file is
    /// [`io::ErrorKind::NotFound`]), [`KeyFileError::Format`] or
    /// [`KeyFileError::NoCurrentKey`] when it is not a key file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        let path = path.as_ref().to_path_buf();
        let text = fs::read_to_string(&path).map_err(|source| KeyFileError::Io {
            path: path.clone(),
            source,
        })?;
        parse(path, &text)
    }

    /// Creates a key file at `path` with one new key from `source` (which must be
    /// cryptographically secure), readable and writable by its owner only.
    ///
    /// # Errors
    ///
    /// [`KeyFileError::Exists`] when there is a file at `path`, [`KeyFileError::Io`] when it
    /// cannot be written.
    pub fn create(path: impl AsRef<Path>, source: &dyn SecretSource) -> Result<Self, KeyFileError> {
        let path = path.as_ref().to_path_buf();
        let _lock = lock(&path)?;
        if path.exists() {
            return Err(KeyFileError::Exists { path });
        }
        let id = new_id(source, &[]);
        let file = Self {
            keys: Keys::new(id.clone(), SealingKey::generate(source)),
            order: vec![id],
            path,
        };
        file.save()?;
        Ok(file)
    }

    /// Reads the key file at `path`, or creates it with one new key from `source` when there
    /// is no file there: what a service does at start.
    ///
    /// Create it only together with the database whose secrets it will seal: a database whose
    /// secrets some other key sealed does not open with a new one.
    ///
    /// # Errors
    ///
    /// As [`KeyFile::open`] and [`KeyFile::create`].
    pub fn open_or_create(
        path: impl AsRef<Path>,
        source: &dyn SecretSource,
    ) -> Result<Self, KeyFileError> {
        let path = path.as_ref();
        match Self::open(path) {
            Err(KeyFileError::Io { source: e, .. }) if e.kind() == io::ErrorKind::NotFound => {
                Self::create(path, source)
            }
            other => other,
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys it holds.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The key that seals new secrets.
    pub fn current_id(&self) -> &KeyId {
        // A `KeyFile` is only built with a current key it holds.
        self.keys
            .current_id()
            .unwrap_or_else(|| unreachable!("a key file has a current key"))
    }

    /// Every key, the newest first.
    pub fn ids(&self) -> &[KeyId] {
        &self.order
    }

    /// Adds a new key from `source` and makes it the current one, keeping the others so that
    /// what they sealed still opens; writes the file. Returns the new key's identifier.
    ///
    /// # Errors
    ///
    /// [`KeyFileError::Io`] when the file cannot be written; the file is then unchanged.
    pub fn rotate(&mut self, source: &dyn SecretSource) -> Result<KeyId, KeyFileError> {
        let _lock = lock(&self.path)?;
        // What another process wrote meanwhile stays: start from the file as it is now.
        *self = Self::open(&self.path)?;
        let id = new_id(source, &self.order);
        let mut next = self.clone();
        let mut keys = Keys::new(id.clone(), SealingKey::generate(source));
        for old in &self.order {
            if let Some(key) = self.keys.key(old) {
                keys = keys.with_previous(old.clone(), key);
            }
        }
        next.keys = keys;
        next.order.insert(0, id.clone());
        next.save()?;
        *self = next;
        Ok(id)
    }

    /// Removes the key `id`, which must not be the current one; writes the file. Make sure
    /// first that it seals nothing any more (`dps keys list` counts what each key seals):
    /// what it sealed does not open without it.
    ///
    /// # Errors
    ///
    /// [`KeyFileError::RemoveCurrent`], [`KeyFileError::UnknownKey`], and
    /// [`KeyFileError::Io`] when the file cannot be written.
    pub fn remove(&mut self, id: &KeyId) -> Result<(), KeyFileError> {
        let _lock = lock(&self.path)?;
        *self = Self::open(&self.path)?;
        if id == self.current_id() {
            return Err(KeyFileError::RemoveCurrent {
                path: self.path.clone(),
                key: id.clone(),
            });
        }
        if !self.order.contains(id) {
            return Err(KeyFileError::UnknownKey {
                path: self.path.clone(),
                key: id.clone(),
            });
        }
        let current = self.current_id().clone();
        let mut keys = Keys::new(current.clone(), self.key_of(&current)?);
        for other in self.order.iter().filter(|k| *k != id && **k != current) {
            keys = keys.with_previous(other.clone(), self.key_of(other)?);
        }
        let mut next = self.clone();
        next.keys = keys;
        next.order.retain(|k| k != id);
        next.save()?;
        *self = next;
        Ok(())
    }

    fn key_of(&self, id: &KeyId) -> Result<SealingKey, KeyFileError> {
        self.keys.key(id).ok_or_else(|| KeyFileError::UnknownKey {
            path: self.path.clone(),
            key: id.clone(),
        })
    }

    /// The file's text.
    fn text(&self) -> String {
        let mut text = format!("{HEADER}\ncurrent {}\n", self.current_id());
        for id in &self.order {
            if let Some(key) = self.keys.key(id) {
                text.push_str(&format!("key {id} {}\n", key.to_hex()));
            }
        }
        text
    }

    /// Replaces the file whole: a temporary file beside it (mode 0600), synced, renamed over
    /// it, and the directory synced.
    fn save(&self) -> Result<(), KeyFileError> {
        let io_error = |source| KeyFileError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (temp, written) = write_temporary(&dir, &name, self.text().as_bytes());
        let written = written.and_then(|()| fs::rename(&temp, &self.path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_error(e));
        }
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl KeyProvider for KeyFile {
    fn current(&self) -> Option<(KeyId, SealingKey)> {
        self.keys.current()
    }
    fn key(&self, id: &KeyId) -> Option<SealingKey> {
        self.keys.key(id)
    }
}

/// Takes the lock that every writer of the key file at `path` holds while it reads, changes
/// and writes it: an exclusive lock on `<path>.lock` (created with mode 0600 and left in
/// place), released when the returned file is dropped.
fn lock(path: &Path) -> Result<fs::File, KeyFileError> {
    let io_error = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(PathBuf::from(name)).map_err(io_error)?;
    file.lock().map_err(io_error)?;
    Ok(file)
}

/// Writes `bytes` to a new temporary file in `dir` named after `name`, and returns its path
/// with the outcome (the name has the process ID and a counter; an existing file is never
/// reused).
fn write_temporary(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, io::Result<()>) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut attempt = 0u32;
    loop {
        let temp = dir.join(format!(
            ".{name}.{}.{nanos}.{attempt}.tmp",
            std::process::id()
        ));
        match write_private(&temp, bytes) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            outcome => return (temp, outcome),
        }
    }
}

/// A key file that a long-running service keeps reading: a [`KeyProvider`] whose keys follow
/// the file, so that a rotation made by another process (`dps keys rotate`) is taken up by
/// [`LiveKeyFile::refresh`] without a restart, and the service neither keeps sealing with the
/// old key nor fails to open what the new one sealed.
///
/// Clones share the keys. Call `refresh` every few seconds.
#[derive(Debug, Clone)]
pub struct LiveKeyFile {
    path: PathBuf,
    keys: Arc<RwLock<Keys>>,
}

impl LiveKeyFile {
    /// Follows the file that `file` was read from, starting with its keys.
    pub fn new(file: KeyFile) -> Self {
        Self {
            path: file.path.clone(),
            keys: Arc::new(RwLock::new(file.keys)),
        }
    }

    /// Reads the file again; returns whether its keys changed. When it cannot be read (it is
    /// being replaced, say) the keys stay as they were and the error says why.
    ///
    /// # Errors
    ///
    /// As [`KeyFile::open`].
    pub fn refresh(&self) -> Result<bool, KeyFileError> {
        let read = KeyFile::open(&self.path)?;
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let same = keys.current_id() == read.keys.current_id()
            && keys.ids().eq(read.keys.ids())
            && read
                .order
                .iter()
                .all(|id| keys.key(id) == read.keys.key(id));
        if !same {
            *keys = read.keys;
        }
        Ok(!same)
    }

    /// The keys as last read.
    pub fn keys(&self) -> Keys {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl KeyProvider for LiveKeyFile {
    fn current(&self) -> Option<(KeyId, SealingKey)> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current()
    }
    fn key(&self, id: &KeyId) -> Option<SealingKey> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .key(id)
    }
}

/// Writes `bytes` to a new file at `path`, readable and writable by its owner only, and syncs
/// it.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // The mode given to `open` is filtered by the umask; set it whatever the umask.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// A new key identifier, `k-` and 8 random hex digits, that is not among `taken`.
fn new_id(source: &dyn SecretSource, taken: &[KeyId]) -> KeyId {
    loop {
        let mut bytes = [0u8; 4];
        source.fill(&mut bytes);
        let text = format!("k-{:08x}", u32::from_be_bytes(bytes));
        // `k-` and hex digits are a valid key ID.
        let id = KeyId::new(&text).unwrap_or_else(|_| unreachable!("{text} is a valid key ID"));
        if !taken.contains(&id) {
            return id;
        }
    }
}

/// Reads a key file's text.
fn parse(path: PathBuf, text: &str) -> Result<KeyFile, KeyFileError> {
    let format = |line: usize, reason: &str| KeyFileError::Format {
        path: path.clone(),
        line,
        reason: reason.to_owned(),
    };
    let mut current = None;
    let mut keys: Vec<(KeyId, SealingKey)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["current", id] => {
                let id: KeyId = id.parse().map_err(|_| format(n, "not a key ID"))?;
                if current.replace(id).is_some() {
                    return Err(format(n, "a second `current` line"));
                }
            }
            ["key", id, hex] => {
                let id: KeyId = id.parse().map_err(|_| format(n, "not a key ID"))?;
                let key = SealingKey::from_hex(hex).map_err(|e| format(n, &e.to_string()))?;
                if keys.iter().any(|(k, _)| *k == id) {
                    return Err(format(n, "a key ID given twice"));
                }
                keys.push((id, key));
            }
            _ => return Err(format(n, "expected `current ID` or `key ID HEX`")),
        }
    }
    let no_current = || KeyFileError::NoCurrentKey { path: path.clone() };
    let current = current.ok_or_else(no_current)?;
    let key = keys
        .iter()
        .find(|(id, _)| *id == current)
        .map(|(_, k)| k.clone())
        .ok_or_else(no_current)?;
    let mut all = Keys::new(current.clone(), key);
    for (id, key) in &keys {
        if *id != current {
            all = all.with_previous(id.clone(), key.clone());
        }
    }
    Ok(KeyFile {
        path,
        keys: all,
        order: keys.into_iter().map(|(id, _)| id).collect(),
    })
}

#[cfg(test)]
mod tests;
