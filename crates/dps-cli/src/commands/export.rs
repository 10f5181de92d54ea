//! `dps device export`: export devices to a CSV or XLSX file.

use std::io::Write;
use std::path::{Path, PathBuf};

use dps_core::{GroupId, Selection};
use dps_csv::ExportOptions;

use super::args::selection;
use crate::cli::{ExportArgs, FileFormatArg};
use crate::context::{AtomicFile, Dps, resolve_group};
use crate::output::{ExportOut, Progress, print_json};
use crate::{CliResult, Failure};

/// A finished CSV export.
pub(crate) struct Exported {
    /// The file written.
    pub(crate) path: PathBuf,
    /// How many devices it holds.
    pub(crate) rows: u64,
    /// The selected serials that are not in the group.
    pub(crate) not_found: Vec<String>,
}

/// Exports the selected devices; exits 1 when a selected serial is not in the group.
pub(crate) async fn run(dps: &Dps, args: ExportArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let sel = selection(&args.selection)?;
    let mut options = ExportOptions::default();
    if args.no_bom {
        options = options.without_bom();
    }
    if args.include_secrets {
        options = options.with_secrets();
    }
    if args.include_bootstrap_keys {
        options = options.with_bootstrap_keys();
    }
    let exported = match output_format(args.format, &args.output) {
        FileFormatArg::Csv => write_csv(dps, g.id(), &sel, &args.output, &options, json).await?,
        FileFormatArg::Xlsx => write_xlsx(dps, g.id(), &sel, &args.output, &options, json).await?,
    };
    if json {
        print_json(&ExportOut::new(
            &exported.path,
            exported.rows,
            &exported.not_found,
        ))?;
    } else {
        println!(
            "exported {} devices to {}",
            exported.rows,
            exported.path.display()
        );
        for s in &exported.not_found {
            println!("  {s}: not found");
        }
    }
    Ok(u8::from(!exported.not_found.is_empty()))
}

/// The format to write `output` in: the one asked for, else xlsx for a `.xlsx` name, else
/// csv.
pub(crate) fn output_format(asked: Option<FileFormatArg>, output: &Path) -> FileFormatArg {
    asked.unwrap_or_else(|| {
        if has_xlsx_extension(output) {
            FileFormatArg::Xlsx
        } else {
            FileFormatArg::Csv
        }
    })
}

/// Whether `path` ends in `.xlsx` (in any case).
pub(crate) fn has_xlsx_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

/// Starts the file `output`; a file with device secrets or bootstrap keys is its owner's
/// only.
fn create(output: &Path, options: &ExportOptions) -> CliResult<AtomicFile> {
    if options.include_secrets || options.include_bootstrap_keys {
        AtomicFile::create_private(output)
    } else {
        AtomicFile::create(output)
    }
}

/// Writes the selected devices of `group` to the XLSX file `output`, atomically.
async fn write_xlsx(
    dps: &Dps,
    group: GroupId,
    sel: &Selection,
    output: &Path,
    options: &ExportOptions,
    quiet: bool,
) -> CliResult<Exported> {
    let mut file = create(output, options)?;
    let summary = {
        let _p = Progress::start(quiet, "exporting");
        let (_, summary) = dps_csv::xlsx::export(dps, group, sel, file.writer(), options)
            .await
            .map_err(|e| Failure::from(e).context(&output.display().to_string()))?;
        summary
    };
    let path = file.commit()?;
    Ok(Exported {
        path,
        rows: summary.rows,
        not_found: summary.not_found.iter().map(|s| s.to_string()).collect(),
    })
}

/// Writes the selected devices of `group` to the CSV file `output`, atomically.
pub(crate) async fn write_csv(
    dps: &Dps,
    group: GroupId,
    sel: &Selection,
    output: &Path,
    options: &ExportOptions,
    quiet: bool,
) -> CliResult<Exported> {
    let mut file = create(output, options)?;
    let summary = {
        let _p = Progress::start(quiet, "exporting");
        let (mut w, summary) = dps_csv::export(dps, group, sel, file.writer(), options).await?;
        w.flush()
            .map_err(|e| Failure::io("io_error", format!("{}: {e}", output.display())))?;
        summary
    };
    let path = file.commit()?;
    Ok(Exported {
        path,
        rows: summary.rows,
        not_found: summary.not_found.iter().map(|s| s.to_string()).collect(),
    })
}
