//! `dps`: device provisioning from the command line, on an embedded SQLite file by default or
//! a PostgreSQL database.
//!
//! Exit codes: 0 everything succeeded; 1 some items failed; 2 the command itself is invalid
//! (usage, validation, unknown group); 3 storage or environment failure.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod commands;
mod context;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

/// A failed command: what to say, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: u8,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Failure {
    /// The command itself is invalid (exit code 2).
    pub(crate) fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self {
            exit: 2,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// Storage, environment or file-system failure (exit code 3).
    pub(crate) fn io(code: &str, message: impl Into<String>) -> Self {
        Self {
            exit: 3,
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// The exit code for a library error code.
pub(crate) fn exit_for(code: &str) -> u8 {
    if code.starts_with("storage_")
        || code.starts_with("environment_")
        || code == "io_error"
        || code == "conflict"
        || code == "operation_in_progress"
        || code == "try_again"
    {
        3
    } else {
        2
    }
}

impl From<dps_core::Error> for Failure {
    fn from(e: dps_core::Error) -> Self {
        Self {
            exit: exit_for(e.code()),
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

impl From<dps_core::StoreError> for Failure {
    fn from(e: dps_core::StoreError) -> Self {
        dps_core::Error::from(e).into()
    }
}

impl From<dps_core::ValidationError> for Failure {
    fn from(e: dps_core::ValidationError) -> Self {
        Self::invalid(e.code(), e.to_string())
    }
}

pub(crate) type CliResult<T> = Result<T, Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": {"code": f.code, "message": f.message}})
                );
            }
            eprintln!("error: {}", f.message);
            ExitCode::from(f.exit)
        }
    }
}
