//! Opening the store and the environment, resolving groups, writing files.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dps_core::{Actor, Environment, GroupId, Provisioner, RegistrationGroup, Store};

use crate::{CliResult, Failure};

/// The provisioner the commands use.
pub(crate) type Dps = Provisioner<Arc<dyn Store>, Arc<dyn Environment>>;

pub(crate) use crate::targets_file::{Targets, load as load_targets};

/// The provisioner over `store` and `env`.
pub(crate) fn provisioner(store: Arc<dyn Store>, env: Arc<dyn Environment>) -> Dps {
    // Every change made from the command line names `cli` as its actor.
    Provisioner::new(store, env)
        .with_actor(Actor::new("cli").unwrap_or_else(|_| unreachable!("`cli` is a valid actor")))
}

/// A group by ID or by unique name.
pub(crate) async fn resolve_group(dps: &Dps, reference: &str) -> CliResult<RegistrationGroup> {
    match dps.find_group(reference).await {
        Err(dps_core::Error::NotFound { .. }) if reference.parse::<GroupId>().is_err() => Err(
            Failure::invalid("not_found", format!("group {reference:?} not found")),
        ),
        Err(e @ dps_core::Error::AmbiguousGroup { .. }) => {
            Err(Failure::invalid(e.code(), e.to_string()))
        }
        other => Ok(other?),
    }
}

/// A file written under a temporary name and renamed into place when complete, so that a
/// failure never leaves a partial file behind.
pub(crate) struct AtomicFile {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl AtomicFile {
    /// Starts writing `path`, readable as any new file is (0666 less the umask).
    pub(crate) fn create(path: &Path) -> CliResult<Self> {
        Self::create_with(path, false)
    }

    /// Starts writing `path`, which holds secrets: readable and writable by its owner only
    /// (0600, whatever the umask).
    pub(crate) fn create_private(path: &Path) -> CliResult<Self> {
        Self::create_with(path, true)
    }

    fn create_with(path: &Path, private: bool) -> CliResult<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".dps-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Like any new file: read-write for all, less the umask; a file of secrets is
            // created for its owner only.
            let mode = if private { 0o600 } else { 0o666 };
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        let temp = builder.tempfile_in(&dir).map_err(|e| {
            Failure::io("io_error", format!("cannot write {}: {e}", path.display()))
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// A buffered writer into the temporary file.
    pub(crate) fn writer(&mut self) -> BufWriter<&mut std::fs::File> {
        BufWriter::new(self.temp.as_file_mut())
    }

    /// Renames the finished file into place.
    pub(crate) fn commit(self) -> CliResult<PathBuf> {
        let path = self.path;
        self.temp.persist(&path).map_err(|e| {
            Failure::io(
                "io_error",
                format!("cannot write {}: {}", path.display(), e.error),
            )
        })?;
        Ok(path)
    }
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> CliResult<PathBuf> {
    let mut file = AtomicFile::create(path)?;
    {
        let mut w = file.writer();
        w.write_all(bytes).and_then(|()| w.flush()).map_err(|e| {
            Failure::io("io_error", format!("cannot write {}: {e}", path.display()))
        })?;
    }
    file.commit()
}
