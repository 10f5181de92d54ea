//! `dps`: device provisioning from the command line, on an embedded SQLite file by default or
//! a PostgreSQL database.
//!
//! Exit codes: 0 everything succeeded; 1 some items failed; 2 the command itself is invalid
//! (usage, validation, unknown group); 3 storage or environment failure.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod commands;
mod context;
mod database;
mod failure;
mod output;
mod targets_file;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
pub(crate) use crate::failure::{CliResult, Failure};

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
            return ExitCode::from(failure::EXIT_FAILED);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if json && let Err(e) = output::print_json(&output::ErrorDoc::from(&f)) {
                eprintln!("error: {}", e.message);
            }
            eprintln!("error: {}", f.message);
            ExitCode::from(f.exit)
        }
    }
}
