//! Why an XLSX file cannot be read.

use dps_core::{Category, DpsError};

/// Why an XLSX file is refused before any of its rows is read; nothing was written.
///
/// Every variant has a stable code ([`XlsxError::code`]): `xlsx_invalid` for a file that is
/// not a readable workbook, `xlsx_too_large` for one that would take more memory than the
/// [`Limits`](crate::Limits) allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XlsxError {
    /// The file does not start with a ZIP signature: it is not an XLSX workbook (a CSV file
    /// named `.xlsx`, an old `.xls` file, an empty file).
    #[error("the file is not an XLSX workbook (no ZIP signature); import a CSV file as CSV")]
    NotXlsx,

    /// The file is a damaged or truncated ZIP archive, or its workbook cannot be read.
    #[error("the file is not a readable XLSX workbook: {reason}")]
    Invalid {
        /// What is wrong, in a few words.
        reason: String,
    },

    /// The workbook has no sheet.
    #[error("the workbook has no sheet")]
    NoSheet,

    /// The file would inflate past the bound derived from the limits, or has a cell past the
    /// last column or row a device file may use.
    #[error("the workbook is too large: {what} is {size}, at most {max} allowed")]
    TooLarge {
        /// What is too large: an entry of the archive, the inflated archive, a column, a row.
        what: String,
        /// Its size (bytes, or a column or row number).
        size: u64,
        /// The most allowed.
        max: u64,
    },
}

impl XlsxError {
    /// The stable snake_case code: `xlsx_too_large` for [`XlsxError::TooLarge`],
    /// `xlsx_invalid` for the others.
    pub fn code(&self) -> &'static str {
        match self {
            XlsxError::TooLarge { .. } => "xlsx_too_large",
            XlsxError::NotXlsx | XlsxError::Invalid { .. } | XlsxError::NoSheet => "xlsx_invalid",
        }
    }

    /// What kind of failure this is: always [`Category::Validation`], the file is at fault.
    pub fn category(&self) -> Category {
        Category::Validation
    }

    /// Whether the same call may succeed later without any change to its input: never.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// An [`XlsxError::Invalid`] with `reason`.
    pub(crate) fn invalid(reason: impl std::fmt::Display) -> Self {
        XlsxError::Invalid {
            reason: one_line(&reason.to_string()),
        }
    }
}

/// The first line of `text`, so that every message stays on one line.
fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

impl DpsError for XlsxError {
    fn code(&self) -> &'static str {
        XlsxError::code(self)
    }
    fn category(&self) -> Category {
        XlsxError::category(self)
    }
    fn is_retryable(&self) -> bool {
        XlsxError::is_retryable(self)
    }
}
