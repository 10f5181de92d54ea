//! `dps device template`: the group's import template, CSV or XLSX.

use std::io::Write;
use std::path::Path;

use dps_core::RegistrationGroup;

use super::export::output_format;
use crate::cli::{FileFormatArg, TemplateArgs};
use crate::context::{AtomicFile, Dps, resolve_group};
use crate::output::{PathOut, TemplateOut, print_json};
use crate::{CliResult, Failure};

/// Writes the template to the `--output` file, or prints it.
pub(crate) async fn run(dps: &Dps, args: TemplateArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    match &args.output {
        Some(path) => {
            let path = write(&g, path, &args)?;
            if json {
                print_json(&PathOut::new(&path))?;
            } else {
                println!("wrote {}", path.display());
            }
        }
        None if args.format == Some(FileFormatArg::Xlsx) => {
            return Err(Failure::invalid(
                "invalid_option",
                "an XLSX template is written to a file: add -o FILE.xlsx",
            ));
        }
        None => {
            // Printed text goes to a terminal or a pipe, which want no byte order mark.
            let out = dps_csv::write_template(
                g.attributes(),
                Vec::new(),
                &dps_csv::ExportOptions::default().without_bom(),
            )
            .map_err(|e| Failure::io("io_error", e.to_string()))?;
            let text = String::from_utf8_lossy(&out);
            if json {
                print_json(&TemplateOut::new(text.into_owned()))?;
            } else {
                print!("{text}");
            }
        }
    }
    Ok(0)
}

fn write(g: &RegistrationGroup, path: &Path, args: &TemplateArgs) -> CliResult<std::path::PathBuf> {
    let mut file = AtomicFile::create(path)?;
    let written = match output_format(args.format, path) {
        FileFormatArg::Xlsx => {
            dps_csv::xlsx::write_template(g.attributes(), file.writer()).and_then(|mut w| w.flush())
        }
        FileFormatArg::Csv => {
            let mut options = dps_csv::ExportOptions::default();
            if args.no_bom {
                options = options.without_bom();
            }
            dps_csv::write_template(g.attributes(), file.writer(), &options)
                .and_then(|mut w| w.flush())
        }
    };
    written.map_err(|e| Failure::io("io_error", format!("{}: {e}", path.display())))?;
    file.commit()
}
