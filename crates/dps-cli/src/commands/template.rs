//! `dps device template`: the group's CSV import template.

use std::io::Write;
use std::path::Path;

use dps_core::RegistrationGroup;

use crate::cli::TemplateArgs;
use crate::context::{AtomicFile, Dps, resolve_group};
use crate::output::{PathOut, TemplateOut, print_json};
use crate::{CliResult, Failure};

/// Writes the template to the `--output` file, or prints it.
pub(crate) async fn run(dps: &Dps, args: TemplateArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    match &args.output {
        Some(path) => {
            let path = write(&g, path)?;
            if json {
                print_json(&PathOut::new(&path))?;
            } else {
                println!("wrote {}", path.display());
            }
        }
        None => {
            let out = dps_csv::write_template(
                g.attributes(),
                Vec::new(),
                &dps_csv::ExportOptions::default(),
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

fn write(g: &RegistrationGroup, path: &Path) -> CliResult<std::path::PathBuf> {
    let mut file = AtomicFile::create(path)?;
    dps_csv::write_template(
        g.attributes(),
        file.writer(),
        &dps_csv::ExportOptions::default(),
    )
    .and_then(|mut w| w.flush())
    .map_err(|e| Failure::io("io_error", format!("{}: {e}", path.display())))?;
    file.commit()
}
