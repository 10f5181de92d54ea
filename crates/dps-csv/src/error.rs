//! Whole-file errors, row errors and the errors of import and export.

use std::fmt;
use std::io;

use dps_core::{Category, DpsError};
use serde::{Deserialize, Serialize};

use crate::import::ImportReport;
use crate::limits::Limit;

/// Where the reader was in the file.
///
/// It serialises (and deserialises) as an object of its three counts:
///
/// ```json
/// {"line": 3, "byte": 58, "record": 1}
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Position {
    /// The line, counting from 1 (the header is line 1 unless blank lines precede it).
    pub line: u64,
    /// The byte offset from the start of the file, byte order mark included.
    pub byte: u64,
    /// How many data records had been read completely.
    pub record: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, byte {}", self.line, self.byte)
    }
}

/// An error that makes the whole file unusable; reading stops at once.
///
/// Each variant has a stable [`code`](CsvError::code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// The file has no header row.
    #[error("the file is empty: it has no header row")]
    Empty,

    /// A required column is missing from the header.
    #[error("required column {column:?} is missing from the header")]
    MissingColumn {
        /// The column's name as the template writes it.
        column: String,
    },

    /// A header names a column that is neither a template column, an export column nor an
    /// attribute of the group's schema.
    #[error("column {index} {column:?} is not a known column or an attribute of the group")]
    UnknownColumn {
        /// The header as written in the file.
        column: String,
        /// The column's position, counting from 1.
        index: usize,
    },

    /// Two headers name the same column.
    #[error("columns {first} and {second} both name {column:?}")]
    DuplicateColumn {
        /// The second header as written in the file.
        column: String,
        /// The first column's position, counting from 1.
        first: usize,
        /// The second column's position, counting from 1.
        second: usize,
    },

    /// The header is not UTF-8 text (or the file is UTF-16).
    #[error("the header is not UTF-8 text: {reason}")]
    InvalidEncoding {
        /// What is wrong.
        reason: &'static str,
    },

    /// A limit was crossed; nothing after the position was read.
    #[error("{limit} limit of {max} exceeded at {position}")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// Its value.
        max: u64,
        /// Where the reader was.
        position: Position,
    },

    /// Reading the file failed.
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
}

impl CsvError {
    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            CsvError::Empty => "empty_file",
            CsvError::MissingColumn { .. } => "missing_column",
            CsvError::UnknownColumn { .. } => "unknown_column",
            CsvError::DuplicateColumn { .. } => "duplicate_column",
            CsvError::InvalidEncoding { .. } => "invalid_utf8",
            CsvError::LimitExceeded { .. } => "limit_exceeded",
            CsvError::Io(_) => "io_error",
        }
    }

    /// Where the reader was, for errors that happen after the header.
    pub fn position(&self) -> Option<Position> {
        match self {
            CsvError::LimitExceeded { position, .. } => Some(*position),
            CsvError::Empty
            | CsvError::MissingColumn { .. }
            | CsvError::UnknownColumn { .. }
            | CsvError::DuplicateColumn { .. }
            | CsvError::InvalidEncoding { .. }
            | CsvError::Io(_) => None,
        }
    }

    /// What kind of failure this is: [`Category::Storage`] when reading failed, else
    /// [`Category::Validation`] (the file itself is unusable).
    pub fn category(&self) -> Category {
        match self {
            CsvError::Io(_) => Category::Storage,
            CsvError::Empty
            | CsvError::MissingColumn { .. }
            | CsvError::UnknownColumn { .. }
            | CsvError::DuplicateColumn { .. }
            | CsvError::InvalidEncoding { .. }
            | CsvError::LimitExceeded { .. } => Category::Validation,
        }
    }

    /// Whether the same call may succeed later without any change to its input: never, since
    /// a file that cannot be read or parsed stays so.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl DpsError for CsvError {
    fn code(&self) -> &'static str {
        CsvError::code(self)
    }
    fn category(&self) -> Category {
        CsvError::category(self)
    }
    fn is_retryable(&self) -> bool {
        CsvError::is_retryable(self)
    }
}

/// The most characters of an offending value that a [`RowError`] keeps.
pub const MAX_VALUE_CHARS: usize = 64;

/// Why one row was refused: where, which value, a stable code and a message.
///
/// Row codes are those of [`dps::Error::code`](dps_core::Error::code) where one applies (`invalid_serial`,
/// `too_long`, `invalid_timezone`, `missing_required`, `invalid_attribute`,
/// `already_registered`, …) plus the file-level ones of this crate: `duplicate_in_file`,
/// `version_conflict`, `wrong_field_count`, `invalid_utf8`, `invalid_version`,
/// `unterminated_quote`.
///
/// It serialises as an object of its fields; `column` is `null` when the row as a whole is
/// at fault:
///
/// ```json
/// {
///   "line": 3,
///   "column": "Timezone",
///   "value": "+25:00",
///   "code": "invalid_timezone",
///   "message": "invalid timezone"
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error, Serialize)]
#[error("line {line}{}: {message}", column_suffix(.column.as_deref()))]
pub struct RowError {
    /// The line the row starts on, counting from 1.
    pub line: u64,
    /// The column's header as written in the file (or the template's name when the column is
    /// not in the file); `None` when the row as a whole is at fault.
    pub column: Option<String>,
    /// The offending value, cut to [`MAX_VALUE_CHARS`] characters.
    pub value: String,
    /// The stable snake_case code.
    pub code: &'static str,
    /// A human-readable message.
    pub message: String,
}

fn column_suffix(column: Option<&str>) -> String {
    column
        .map(|c| format!(", column {c:?}"))
        .unwrap_or_default()
}

impl RowError {
    /// A row error; `value` is cut to [`MAX_VALUE_CHARS`] characters.
    pub fn new(
        line: u64,
        column: Option<String>,
        value: &str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            line,
            column,
            value: cut(value),
            code,
            message: message.into(),
        }
    }

    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

pub(crate) fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE_CHARS) {
        Some((i, _)) => value[..i].to_owned(),
        None => value.to_owned(),
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is unusable; nothing was written.
    #[error(transparent)]
    File(#[from] CsvError),

    /// The group does not exist, or the store failed; nothing was written.
    #[error(transparent)]
    Core(#[from] dps_core::Error),

    /// The XLSX file is unusable: not a workbook, damaged, or too large once inflated;
    /// nothing was written.
    #[cfg(feature = "xlsx")]
    #[cfg_attr(docsrs, doc(cfg(feature = "xlsx")))]
    #[error(transparent)]
    Xlsx(#[from] crate::xlsx::XlsxError),

    /// A best-effort import stopped after earlier chunks had been written; `report` says what
    /// landed and what was refused before the stop.
    #[error("import stopped after earlier rows had been written: {cause}")]
    Interrupted {
        /// Why it stopped: a [`ImportError::File`] or [`ImportError::Core`] error.
        cause: Box<ImportError>,
        /// The rows handled before the stop.
        report: Box<ImportReport>,
    },
}

impl ImportError {
    /// The stable snake_case code of this error (the cause's, for an interruption).
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::File(e) => e.code(),
            ImportError::Core(e) => e.code(),
            #[cfg(feature = "xlsx")]
            ImportError::Xlsx(e) => e.code(),
            ImportError::Interrupted { cause, .. } => cause.code(),
        }
    }

    /// What kind of failure this is: the core error's category, [`CsvError::category`] for an
    /// unusable file, the cause's for an interruption.
    pub fn category(&self) -> Category {
        match self {
            ImportError::File(e) => e.category(),
            ImportError::Core(e) => e.category(),
            #[cfg(feature = "xlsx")]
            ImportError::Xlsx(e) => e.category(),
            ImportError::Interrupted { cause, .. } => cause.category(),
        }
    }

    /// Whether the same call may succeed later without any change to its input: as the core
    /// error says (a store that was unavailable, a concurrent change), never for a file that
    /// cannot be read or parsed, and as the cause says for an interruption. Retry an
    /// interrupted import in upsert mode: in create mode the rows that landed before the stop
    /// are refused as `already_registered`.
    pub fn is_retryable(&self) -> bool {
        match self {
            ImportError::File(e) => e.is_retryable(),
            ImportError::Core(e) => e.is_retryable(),
            #[cfg(feature = "xlsx")]
            ImportError::Xlsx(e) => e.is_retryable(),
            ImportError::Interrupted { cause, .. } => cause.is_retryable(),
        }
    }
}

impl DpsError for ImportError {
    fn code(&self) -> &'static str {
        ImportError::code(self)
    }
    fn category(&self) -> Category {
        ImportError::category(self)
    }
    fn is_retryable(&self) -> bool {
        ImportError::is_retryable(self)
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Writing failed.
    #[error("cannot write the file: {0}")]
    Io(#[from] io::Error),

    /// The group does not exist, or the store failed.
    #[error(transparent)]
    Core(#[from] dps_core::Error),
}

impl ExportError {
    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Io(_) => "io_error",
            ExportError::Core(e) => e.code(),
        }
    }

    /// What kind of failure this is: [`Category::Storage`] when writing failed, else the core
    /// error's category.
    pub fn category(&self) -> Category {
        match self {
            ExportError::Io(_) => Category::Storage,
            ExportError::Core(e) => e.category(),
        }
    }

    /// Whether the same call may succeed later without any change to its input: as the core
    /// error says; never when writing failed (the writer is spent).
    pub fn is_retryable(&self) -> bool {
        match self {
            ExportError::Io(_) => false,
            ExportError::Core(e) => e.is_retryable(),
        }
    }
}

impl DpsError for ExportError {
    fn code(&self) -> &'static str {
        ExportError::code(self)
    }
    fn category(&self) -> Category {
        ExportError::category(self)
    }
    fn is_retryable(&self) -> bool {
        ExportError::is_retryable(self)
    }
}
