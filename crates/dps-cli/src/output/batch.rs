//! Batch reports as the commands print them.

use dps_core::{BatchReport, RecoverReport};
use dps_http::views::{BatchView, RecoverView};

use crate::CliResult;

/// Prints a batch report: the JSON document, or a summary and one line per failure.
pub(crate) fn print_batch(json: bool, verb: &str, report: &BatchReport) -> CliResult<()> {
    if json {
        return super::print_json(&BatchView::from(report));
    }
    println!(
        "{verb}: {} succeeded, {} failed",
        report.succeeded(),
        report.failed()
    );
    for o in &report.outcomes {
        if let Err(e) = &o.result {
            println!("  {}: {} ({})", o.serial, e, e.code());
        }
    }
    Ok(())
}

/// Prints a recovery report: the batch report, then the leases still held and when the
/// first runs out.
pub(crate) fn print_recover(json: bool, report: &RecoverReport) -> CliResult<()> {
    if json {
        return super::print_json(&RecoverView::from(report));
    }
    print_batch(false, "recovered", &report.completed)?;
    if let (n, Some(expiry)) = (report.leased.count, report.leased.earliest_expiry) {
        let devices = match n {
            1 => "1 device is".to_owned(),
            n => format!("{n} devices are"),
        };
        println!(
            "  {devices} still pending under another driver's lease; the first lease runs out at \
             {expiry}: run `dps recover` again then, or `dps recover --wait`"
        );
    }
    Ok(())
}

/// The exit code of a batch: 0 when everything succeeded, 1 otherwise.
pub(crate) fn batch_exit(report: &BatchReport) -> u8 {
    u8::from(!report.all_succeeded())
}
