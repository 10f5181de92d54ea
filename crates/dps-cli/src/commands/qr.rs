//! `dps device qr`: write the devices' QR labels into a ZIP file or onto a PDF label sheet.

use std::io::Write;
use std::path::{Path, PathBuf};

use dps_core::{GroupId, Selection};
use dps_qr::LabelReport;

use super::args::selection;
use crate::cli::{ImageFormatArg, PaperArg, QrArgs};
use crate::context::{AtomicFile, Dps, resolve_group};
use crate::output::{Progress, QrOut, ResultView, print_json};
use crate::{CliResult, Failure};

/// Writes the labels of the selected devices; exits 1 when a device has no label.
pub(crate) async fn run(dps: &Dps, args: QrArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let sel = selection(&args.selection)?;
    let (path, report, pages) = match args.format {
        ImageFormatArg::Pdf => {
            let (path, sheet) =
                write_sheet(dps, g.id(), &sel, &args.output, args.paper, json).await?;
            (path, sheet.labels, Some(sheet.pages))
        }
        format => {
            let (path, report) =
                write_labels(dps, g.id(), &sel, &args.output, format, json).await?;
            (path, report, None)
        }
    };
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|o| {
            let e = o.result.as_ref().err()?;
            Some(ResultView::failed(&o.serial, e.code(), e.to_string()))
        })
        .collect();
    let written = report.outcomes.len() - failed.len();
    if json {
        let out = QrOut::new(&path, written, failed);
        print_json(&match pages {
            Some(pages) => out.with_pages(pages),
            None => out,
        })?;
    } else {
        match pages {
            Some(pages) => println!(
                "wrote {written} labels on {pages} {} to {}",
                if pages == 1 { "page" } else { "pages" },
                path.display()
            ),
            None => println!("wrote {written} labels to {}", path.display()),
        }
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
        ImageFormatArg::Pdf => {
            return Err(Failure::invalid(
                "invalid_option",
                "a PDF label sheet is not a ZIP archive",
            ));
        }
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

/// Writes the label sheet of the selected devices of `group` to the PDF file `output`,
/// atomically: a sheet without a label is an error and leaves no file.
async fn write_sheet(
    dps: &Dps,
    group: GroupId,
    sel: &Selection,
    output: &Path,
    paper: PaperArg,
    quiet: bool,
) -> CliResult<(PathBuf, dps_qr::SheetReport)> {
    let paper = match paper {
        PaperArg::A4 => dps_qr::Paper::A4,
        PaperArg::Letter => dps_qr::Paper::Letter,
    };
    let options = dps_qr::SheetOptions::default().with_paper(paper);
    let mut file = AtomicFile::create(output)?;
    let report = {
        let _p = Progress::start(quiet, "laying out labels");
        let mut w = file.writer();
        let report = dps_qr::export_pdf(dps, group, sel, &mut w, options).await?;
        w.flush()
            .map_err(|e| Failure::io("io_error", format!("{}: {e}", output.display())))?;
        report
    };
    Ok((file.commit()?, report))
}
