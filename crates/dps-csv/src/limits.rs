//! Upload limits, enforced while the file is read.

use std::fmt;

/// Size limits of an import, checked while reading so that memory never grows past them.
///
/// The defaults match the console's limits for untrusted uploads: 2 MiB, 1000 records and
/// 4 KiB per field. [`Limits::unbounded`] lifts the file and record limits for bulk jobs but
/// keeps the per-field cap, so that one runaway field (an unclosed quote, a binary file)
/// still stops the import after a few kilobytes.
///
/// ```
/// use dps::csv::Limits;
/// let console = Limits::default();
/// assert_eq!((console.max_bytes, console.max_records, console.max_field_bytes), (2 << 20, 1000, 4096));
/// let bulk = Limits::unbounded();
/// assert_eq!(bulk.max_field_bytes, 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// The most bytes the file may have, byte order mark included.
    pub max_bytes: u64,
    /// The most data records (rows after the header; blank rows are not counted).
    pub max_records: u64,
    /// The most bytes one field may hold after unquoting.
    pub max_field_bytes: usize,
}

impl Limits {
    /// The console's limits for untrusted uploads: 2 MiB, 1000 records, 4 KiB per field.
    pub const CONSOLE: Limits = Limits {
        max_bytes: 2 * 1024 * 1024,
        max_records: 1000,
        max_field_bytes: 4096,
    };

    /// No limit on the file size or the record count; the per-field cap of 4 KiB stays.
    pub const fn unbounded() -> Self {
        Limits {
            max_bytes: u64::MAX,
            max_records: u64::MAX,
            max_field_bytes: Self::CONSOLE.max_field_bytes,
        }
    }

    /// These limits with another file size limit.
    #[must_use]
    pub const fn with_max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    /// These limits with another record limit.
    #[must_use]
    pub const fn with_max_records(mut self, n: u64) -> Self {
        self.max_records = n;
        self
    }

    /// These limits with another per-field cap (at least 1 byte).
    #[must_use]
    pub const fn with_max_field_bytes(mut self, n: usize) -> Self {
        self.max_field_bytes = if n == 0 { 1 } else { n };
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::CONSOLE
    }
}

/// Which limit was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_bytes`].
    Bytes,
    /// [`Limits::max_records`].
    Records,
    /// [`Limits::max_field_bytes`].
    FieldBytes,
    /// The number of columns a header may have ([`MAX_COLUMNS`](crate::MAX_COLUMNS)).
    Columns,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Bytes => "file size",
            Limit::Records => "record count",
            Limit::FieldBytes => "field size",
            Limit::Columns => "column count",
        })
    }
}
