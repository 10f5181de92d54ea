//! The QR errors answer `DpsError`: one code, category and retry answer, the core error's
//! where one is inside.

use std::io;

use dps_core::{Category, DpsError, Entity, StoreError};
use dps_qr::{EcLevel, Error, PayloadError};

/// What an edge reads from any error, through the shared trait.
fn facts(e: &dyn DpsError) -> (&'static str, Category, bool) {
    (e.code(), e.category(), e.is_retryable())
}

#[test]
fn each_error_has_its_category_and_only_a_retryable_core_error_is_retryable() {
    let cases = [
        (
            Error::Payload(PayloadError::UnknownFormat),
            ("invalid_payload", Category::Validation, false),
        ),
        (
            Error::PayloadTooLong {
                len: 900,
                ec_level: EcLevel::H,
                max_version: 10,
            },
            ("payload_too_long", Category::Validation, false),
        ),
        (
            Error::InvalidOption {
                option: "module_size",
                range: "1 to 64",
            },
            ("invalid_option", Category::Validation, false),
        ),
        (
            Error::Render {
                message: "failed".into(),
            },
            ("render_failed", Category::Storage, false),
        ),
        (
            Error::Io(io::Error::new(io::ErrorKind::BrokenPipe, "gone")),
            ("io_error", Category::Storage, false),
        ),
        (
            Error::Core(dps_core::Error::NotFound {
                entity: Entity::Group,
                key: "g".into(),
            }),
            ("not_found", Category::NotFound, false),
        ),
        (
            Error::Core(dps_core::Error::Store(StoreError::Unavailable {
                message: "busy".into(),
                source: None,
            })),
            ("storage_unavailable", Category::Storage, true),
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(facts(&error), expected, "{error}");
        assert_eq!(
            (error.code(), error.category(), error.is_retryable()),
            expected
        );
    }
}

#[test]
fn a_payload_error_is_validation_and_not_retryable() {
    let errors = [
        PayloadError::UnknownFormat,
        PayloadError::UnsupportedVersion {
            version: "9".into(),
        },
        PayloadError::CheckMismatch {
            expected: 'A',
            found: 'B',
        },
    ];
    let facts: Vec<_> = errors.iter().map(|e| facts(e)).collect();
    assert_eq!(
        facts,
        [
            ("invalid_payload", Category::Validation, false),
            ("unsupported_payload_version", Category::Validation, false),
            ("payload_check_mismatch", Category::Validation, false),
        ]
    );
}
