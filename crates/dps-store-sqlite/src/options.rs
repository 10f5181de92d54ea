//! Options of [`SqliteStore::open`](crate::SqliteStore::open).

use std::time::Duration;

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

/// Options for [`SqliteStore::open`](crate::SqliteStore::open).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Durability; see [`Synchronous`].
    pub synchronous: Synchronous,
    /// How long a call waits for another connection's write lock before it gives up with
    /// [`StoreError::Unavailable`](dps_core::StoreError::Unavailable). Default: 5 s.
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
