//! `dps device qr`: write the devices' QR labels into a ZIP file.

use std::io::Write;
use std::path::{Path, PathBuf};

use dps_core::{GroupId, Selection};
use dps_qr::LabelReport;

use super::args::selection;
use crate::cli::{ImageFormatArg, QrArgs};
use crate::context::{AtomicFile, Dps, resolve_group};
use crate::output::{Progress, QrOut, ResultOut, print_json};
use crate::{CliResult, Failure};

/// Writes the labels of the selected devices; exits 1 when a device has no label.
pub(crate) async fn run(dps: &Dps, args: QrArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let sel = selection(&args.selection)?;
    let (path, report) = write_labels(dps, g.id(), &sel, &args.output, args.format, json).await?;
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|o| {
            let e = o.result.as_ref().err()?;
            Some(ResultOut::failed(&o.serial, e.code(), e.to_string()))
        })
        .collect();
    let written = report.outcomes.len() - failed.len();
    if json {
        print_json(&QrOut::new(&path, written, failed))?;
    } else {
        println!("wrote {written} labels to {}", path.display());
        // The serial and the message as JSON strings: quoted, special characters escaped.
        for o in &report.outcomes {
            if let Err(e) = &o.result {
                let serial = serde_json::Value::from(o.serial.as_str());
                let message = serde_json::Value::from(e.to_string());
                println!("  {serial}: {message}");
            }
        }
    }
    Ok(u8::from(written < report.outcomes.len()))
}

/// Writes the labels of the selected devices of `group` to the ZIP file `output`, atomically.
pub(crate) async fn write_labels(
    dps: &Dps,
    group: GroupId,
    sel: &Selection,
    output: &Path,
    format: ImageFormatArg,
    quiet: bool,
) -> CliResult<(PathBuf, LabelReport)> {
    let format = match format {
        ImageFormatArg::Png => dps_qr::ImageFormat::Png,
        ImageFormatArg::Svg => dps_qr::ImageFormat::Svg,
    };
    let options = dps_qr::ArchiveOptions::default().with_format(format);
    let mut file = AtomicFile::create(output)?;
    let report = {
        let _p = Progress::start(quiet, "rendering labels");
        let mut w = file.writer();
        let report = dps_qr::export_zip(dps, group, sel, &mut w, options).await?;
        w.flush()
            .map_err(|e| Failure::io("io_error", format!("{}: {e}", output.display())))?;
        report
    };
    Ok((file.commit()?, report))
}
