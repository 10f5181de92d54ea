//! The errors of import and export answer `DpsError`: one code, category and retry answer,
//! the core error's where one is inside.

use std::io;

use dps_core::{Category, DpsError, Entity, Error, StoreError};
use dps_csv::{CsvError, ExportError, ImportError, ImportReport, Limit, Position};

fn io_error() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "gone")
}

fn unavailable() -> Error {
    Error::Store(StoreError::Unavailable {
        message: "busy".into(),
        source: None,
    })
}

/// What an edge reads from any error, through the shared trait.
fn facts(e: &dyn DpsError) -> (&'static str, Category, bool) {
    (e.code(), e.category(), e.is_retryable())
}

#[test]
fn whole_file_errors_are_validation_or_storage_and_never_retryable() {
    let cases = [
        (CsvError::Empty, "empty_file", Category::Validation),
        (
            CsvError::MissingColumn {
                column: "Model ID".into(),
            },
            "missing_column",
            Category::Validation,
        ),
        (
            CsvError::UnknownColumn {
                column: "x".into(),
                index: 3,
            },
            "unknown_column",
            Category::Validation,
        ),
        (
            CsvError::DuplicateColumn {
                column: "model".into(),
                first: 2,
                second: 4,
            },
            "duplicate_column",
            Category::Validation,
        ),
        (
            CsvError::InvalidEncoding { reason: "utf-16" },
            "invalid_utf8",
            Category::Validation,
        ),
        (
            CsvError::LimitExceeded {
                limit: Limit::Bytes,
                max: 10,
                position: Position::default(),
            },
            "limit_exceeded",
            Category::Validation,
        ),
        (CsvError::Io(io_error()), "io_error", Category::Storage),
    ];
    for (error, code, category) in cases {
        assert_eq!(facts(&error), (code, category, false), "{error}");
        let import = ImportError::File(error);
        assert_eq!(facts(&import), (code, category, false), "{import}");
        assert_eq!(
            (import.category(), import.is_retryable()),
            (category, false)
        );
    }
}

#[test]
fn an_import_error_from_the_core_answers_as_the_core_error() {
    let cases = [
        (
            Error::NotFound {
                entity: Entity::Group,
                key: "g".into(),
            },
            ("not_found", Category::NotFound, false),
        ),
        (
            Error::Conflict {
                entity: Entity::Device,
                key: "SN-1".into(),
            },
            ("conflict", Category::Conflict, true),
        ),
        (
            unavailable(),
            ("storage_unavailable", Category::Storage, true),
        ),
        (
            Error::Unauthorized,
            ("unauthorized", Category::Usage, false),
        ),
    ];
    for (core, expected) in cases {
        let import = ImportError::Core(core);
        assert_eq!(facts(&import), expected, "{import}");
        assert_eq!(
            (import.code(), import.category(), import.is_retryable()),
            expected
        );
    }
}

#[test]
fn an_interrupted_import_answers_as_its_cause() {
    let interrupted = |cause: ImportError| ImportError::Interrupted {
        cause: Box::new(cause),
        report: Box::new(ImportReport::default()),
    };
    let store = interrupted(ImportError::Core(unavailable()));
    assert_eq!(
        facts(&store),
        ("storage_unavailable", Category::Storage, true)
    );
    let file = interrupted(ImportError::File(CsvError::Io(io_error())));
    assert_eq!(facts(&file), ("io_error", Category::Storage, false));
    let limit = interrupted(ImportError::File(CsvError::LimitExceeded {
        limit: Limit::Records,
        max: 1,
        position: Position::default(),
    }));
    assert_eq!(
        (limit.category(), limit.is_retryable()),
        (Category::Validation, false)
    );
}

#[test]
fn an_export_error_is_storage_when_writing_fails_and_the_core_error_otherwise() {
    let write = ExportError::Io(io_error());
    assert_eq!(facts(&write), ("io_error", Category::Storage, false));
    assert_eq!(
        (write.category(), write.is_retryable()),
        (Category::Storage, false)
    );
    let store = ExportError::Core(unavailable());
    assert_eq!(
        facts(&store),
        ("storage_unavailable", Category::Storage, true)
    );
    let missing = ExportError::Core(Error::NotFound {
        entity: Entity::Group,
        key: "g".into(),
    });
    assert_eq!(facts(&missing), ("not_found", Category::NotFound, false));
}

#[test]
fn the_errors_box_into_a_shared_trait_object() {
    let errors: Vec<Box<dyn DpsError>> = vec![
        Box::new(CsvError::Empty),
        Box::new(ImportError::File(CsvError::Empty)),
        Box::new(ExportError::Io(io_error())),
    ];
    let codes: Vec<&str> = errors.iter().map(|e| e.code()).collect();
    assert_eq!(codes, ["empty_file", "empty_file", "io_error"]);
}
