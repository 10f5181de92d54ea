//! Errors and their stable codes.

use dps_core::{Category, DpsError, ValidationError};

use crate::render::EcLevel;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a text is not a label payload, from [`Payload::parse`](crate::Payload::parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The text is not a dps label payload: it does not start with `DPS` and a version.
    #[error("not a dps label payload")]
    UnknownFormat,

    /// The text is a dps label payload of a version this library does not read.
    #[error("unsupported label payload version {version}; this library reads version 1")]
    UnsupportedVersion {
        /// The version the payload names.
        version: String,
    },

    /// The text does not have the shape of a version 1 payload.
    #[error("malformed label payload at character {position}: {reason}")]
    Malformed {
        /// The zero-based character position where the problem was found.
        position: usize,
        /// What is wrong, in words.
        reason: &'static str,
    },

    /// The check character does not match the rest of the payload: a character was misread
    /// or mistyped.
    #[error("label payload check character is {found:?} but the payload needs {expected:?}")]
    CheckMismatch {
        /// The check character the payload's content gives.
        expected: char,
        /// The check character found.
        found: char,
    },

    /// A field decoded but breaks its rule, such as a serial longer than 64 characters.
    #[error("label payload field: {0}")]
    Field(#[from] ValidationError),
}

impl PayloadError {
    /// The stable snake_case code: `invalid_payload`, `unsupported_payload_version`,
    /// `payload_check_mismatch`, or the field's validation code (such as `invalid_serial` or
    /// `too_long`).
    pub fn code(&self) -> &'static str {
        match self {
            PayloadError::UnknownFormat | PayloadError::Malformed { .. } => "invalid_payload",
            PayloadError::UnsupportedVersion { .. } => "unsupported_payload_version",
            PayloadError::CheckMismatch { .. } => "payload_check_mismatch",
            PayloadError::Field(e) => e.code(),
        }
    }
}

/// Every payload error is [`Category::Validation`] and not retryable: the text stays what it
/// is.
impl DpsError for PayloadError {
    fn code(&self) -> &'static str {
        PayloadError::code(self)
    }
    fn category(&self) -> Category {
        Category::Validation
    }
    fn is_retryable(&self) -> bool {
        false
    }
}

/// The error type of this crate: rendering, packaging and exporting labels.
///
/// In a [`LabelReport`](crate::LabelReport), a device's outcome holds one of these when its
/// label could not be made (for example [`Error::PayloadTooLong`]); an export that returns one
/// itself has stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A payload text did not parse.
    #[error(transparent)]
    Payload(#[from] PayloadError),

    /// The payload does not fit in a QR code of at most `max_version` at this
    /// error-correction level.
    #[error(
        "label payload of {len} characters does not fit a QR code of version {max_version} or \
         smaller at error-correction level {ec_level}"
    )]
    PayloadTooLong {
        /// The payload's length in characters.
        len: usize,
        /// The error-correction level.
        ec_level: EcLevel,
        /// The largest QR version allowed.
        max_version: u8,
    },

    /// A rendering or archive option is out of its range.
    #[error("invalid option {option}: must be {range}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// The allowed range, in words.
        range: &'static str,
    },

    /// The image encoder failed on a label.
    #[error("cannot render the label: {message}")]
    Render {
        /// What happened.
        message: String,
    },

    /// Writing the archive failed.
    #[error("cannot write the label archive: {0}")]
    Io(#[from] std::io::Error),

    /// The ZIP writer refused an entry or failed to finish the archive.
    #[error("cannot write the label archive: {message}")]
    Archive {
        /// What happened.
        message: String,
        /// The ZIP writer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Reading the devices failed, or a selected device does not exist.
    #[error(transparent)]
    Core(#[from] dps_core::Error),

    /// A label sheet was finished without a single label on it: no device was selected, or
    /// none of them has a label. Nothing was written.
    #[cfg(feature = "pdf")]
    #[error("no label to print: {selected} devices selected, none with a label")]
    EmptySheet {
        /// How many devices were selected.
        selected: usize,
    },
}

impl Error {
    /// The stable snake_case code of this error: `payload_too_long`, `invalid_option`,
    /// `render_failed`, `io_error`, `archive_error`, `empty_sheet`, a [`PayloadError::code`],
    /// or the domain error's code (such as `not_found`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Payload(e) => e.code(),
            Error::PayloadTooLong { .. } => "payload_too_long",
            Error::InvalidOption { .. } => "invalid_option",
            Error::Render { .. } => "render_failed",
            Error::Io(_) => "io_error",
            Error::Archive { .. } => "archive_error",
            Error::Core(e) => e.code(),
            #[cfg(feature = "pdf")]
            Error::EmptySheet { .. } => "empty_sheet",
        }
    }

    /// What kind of failure this is: the domain error's category for [`Error::Core`];
    /// [`Category::Validation`] for a payload, a payload too long, an option out of range or
    /// an empty sheet;
    /// [`Category::Storage`] when writing the archive or the image encoder failed (the service
    /// failed, not the request).
    pub fn category(&self) -> Category {
        match self {
            Error::Core(e) => e.category(),
            Error::Payload(_) | Error::PayloadTooLong { .. } | Error::InvalidOption { .. } => {
                Category::Validation
            }
            Error::Render { .. } | Error::Io(_) | Error::Archive { .. } => Category::Storage,
            #[cfg(feature = "pdf")]
            Error::EmptySheet { .. } => Category::Validation,
        }
    }

    /// Whether retrying the same call later may succeed without any change to the input.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Core(e) => e.is_retryable(),
            Error::Payload(_)
            | Error::PayloadTooLong { .. }
            | Error::InvalidOption { .. }
            | Error::Render { .. }
            | Error::Io(_)
            | Error::Archive { .. } => false,
            #[cfg(feature = "pdf")]
            Error::EmptySheet { .. } => false,
        }
    }

    pub(crate) fn archive(e: zip::result::ZipError) -> Self {
        match e {
            zip::result::ZipError::Io(io) => Error::Io(io),
            other => Error::Archive {
                message: other.to_string(),
                source: Box::new(other),
            },
        }
    }
}

impl DpsError for Error {
    fn code(&self) -> &'static str {
        Error::code(self)
    }
    fn category(&self) -> Category {
        Error::category(self)
    }
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }
}
