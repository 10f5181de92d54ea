//! `dps device import`: import devices from a CSV or XLSX file.

use std::io::{BufRead, Write};
use std::path::Path;

use dps_csv::{ImportOptions, ImportReport, Limits};

use super::export::has_xlsx_extension;
use crate::cli::{FileFormatArg, ImportArgs, ImportModeArg};
use crate::context::{AtomicFile, Dps, resolve_group};
use crate::output::{ImportView, Progress, print_json};
use crate::{CliResult, Failure};

/// At most this many refused rows are listed in the human-readable report.
const ROWS_SHOWN: usize = 20;

/// Imports the file, writes the error report if asked, and prints the outcome; exits 1 when
/// a row was refused.
pub(crate) async fn run(dps: &Dps, args: ImportArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let file = &args.file;
    let reader = std::fs::File::open(file).map_err(|e| {
        Failure::invalid("io_error", format!("cannot read {}: {e}", file.display()))
    })?;
    let mut reader = std::io::BufReader::new(reader);
    let format = match args.format {
        Some(f) => f,
        None if has_xlsx_extension(file) => FileFormatArg::Xlsx,
        None => {
            let head = reader.fill_buf().map_err(|e| {
                Failure::invalid("io_error", format!("cannot read {}: {e}", file.display()))
            })?;
            if dps_csv::xlsx::is_xlsx(head) {
                FileFormatArg::Xlsx
            } else {
                FileFormatArg::Csv
            }
        }
    };
    let report = {
        let _p = Progress::start(json, "importing");
        let options = options(&args);
        match format {
            FileFormatArg::Csv => dps_csv::import(dps, g.id(), reader, &options).await,
            FileFormatArg::Xlsx => dps_csv::xlsx::import(dps, g.id(), reader, &options).await,
        }
        .map_err(|e| Failure::from(e).context(&file.display().to_string()))?
    };
    if let Some(path) = &args.errors {
        write_error_report(&report, path)?;
    }
    if json {
        print_json(&ImportView::new(&report, args.dry_run))?;
    } else {
        print_human(&report, args.errors.as_deref());
    }
    Ok(u8::from(report.summary.failed > 0))
}

fn options(args: &ImportArgs) -> ImportOptions {
    let mut options = ImportOptions::default();
    match args.mode {
        ImportModeArg::Create => {}
        ImportModeArg::Upsert => options = options.upsert(),
        ImportModeArg::Update => options = options.update(),
    }
    if args.dry_run {
        options = options.dry_run();
    }
    if args.all_or_nothing {
        options = options.all_or_nothing();
    }
    if args.no_limits {
        options = options.with_limits(Limits::unbounded());
    }
    options
}

fn write_error_report(report: &ImportReport, path: &Path) -> CliResult<()> {
    let mut out = AtomicFile::create(path)?;
    dps_csv::write_error_report(out.writer(), report.errors())
        .and_then(|mut w| w.flush())
        .map_err(|e| Failure::io("io_error", format!("{}: {e}", path.display())))?;
    out.commit()?;
    Ok(())
}

fn print_human(report: &ImportReport, errors: Option<&Path>) {
    let s = &report.summary;
    let verb = if s.committed {
        "imported"
    } else {
        "checked (nothing written)"
    };
    println!(
        "{verb}: {} created, {} updated, {} unchanged, {} rejected",
        s.created, s.updated, s.unchanged, s.failed
    );
    for e in report.errors().take(ROWS_SHOWN) {
        println!(
            "  line {} {}: {} ({})",
            e.line,
            e.column.as_deref().unwrap_or(""),
            e.message,
            e.code
        );
    }
    if s.failed > ROWS_SHOWN as u64 {
        println!("  … {} more", s.failed - ROWS_SHOWN as u64);
    }
    if let Some(path) = errors {
        println!("error report: {}", path.display());
    }
}
