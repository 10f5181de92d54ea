//! The report of a batch command: `{"succeeded", "failed", "results"}`.

use dps_core::{BatchReport, Leased, RecoverReport, SerialNumber, lifecycle::Outcome};
use serde::Serialize;

use super::error::ErrorOut;
use crate::CliResult;

/// What happened to the devices of a batch.
#[derive(Debug, Serialize)]
pub(crate) struct BatchOut<'a> {
    succeeded: usize,
    failed: usize,
    results: Vec<ResultOut<'a>>,
}

impl<'a> From<&'a BatchReport> for BatchOut<'a> {
    fn from(report: &'a BatchReport) -> Self {
        Self {
            succeeded: report.succeeded(),
            failed: report.failed(),
            results: report
                .outcomes
                .iter()
                .map(|o| match &o.result {
                    Ok(Outcome::Settled { status, version }) => ResultOut {
                        serial: o.serial.as_str(),
                        ok: true,
                        status: Some(status.as_str()),
                        version: Some(version.get()),
                        error: None,
                    },
                    Ok(Outcome::Deleted) => ResultOut {
                        serial: o.serial.as_str(),
                        ok: true,
                        status: Some("deleted"),
                        version: None,
                        error: None,
                    },
                    Err(e) => ResultOut::failed(&o.serial, e.code(), e.to_string()),
                })
                .collect(),
        }
    }
}

/// One device of a batch: its status and version, or why it failed.
#[derive(Debug, Serialize)]
pub(crate) struct ResultOut<'a> {
    serial: &'a str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorOut<'a>>,
}

impl<'a> ResultOut<'a> {
    /// A device that failed with `code` and `message`.
    pub(crate) fn failed(serial: &'a SerialNumber, code: &'a str, message: String) -> Self {
        Self {
            serial: serial.as_str(),
            ok: false,
            status: None,
            version: None,
            error: Some(ErrorOut::new(code, message)),
        }
    }
}

/// A group deletion: the report on its devices, and whether the group is gone.
#[derive(Debug, Serialize)]
pub(crate) struct GroupDeleteOut<'a> {
    #[serde(flatten)]
    devices: BatchOut<'a>,
    group_deleted: bool,
}

impl<'a> GroupDeleteOut<'a> {
    /// The deletion whose devices fared as `report` says.
    pub(crate) fn new(report: &'a BatchReport, group_deleted: bool) -> Self {
        Self {
            devices: report.into(),
            group_deleted,
        }
    }
}

/// How many items succeeded and failed, without the items.
#[derive(Debug, Serialize)]
pub(crate) struct CountsOut {
    succeeded: usize,
    failed: usize,
}

impl CountsOut {
    /// `succeeded` and `failed` items.
    pub(crate) fn new(succeeded: usize, failed: usize) -> Self {
        Self { succeeded, failed }
    }
}

/// Prints a batch report: the JSON document, or a summary and one line per failure.
pub(crate) fn print_batch(json: bool, verb: &str, report: &BatchReport) -> CliResult<()> {
    if json {
        return super::print_json(&BatchOut::from(report));
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

/// A recovery: the devices it completed, and the leases it found still held.
#[derive(Debug, Serialize)]
struct RecoverOut<'a> {
    #[serde(flatten)]
    completed: BatchOut<'a>,
    leased: LeasedOut,
}

/// The pending devices that other drivers still own.
#[derive(Debug, Serialize)]
struct LeasedOut {
    count: usize,
    /// RFC 3339, UTC.
    earliest_expiry: Option<String>,
}

impl From<Leased> for LeasedOut {
    fn from(leased: Leased) -> Self {
        Self {
            count: leased.count,
            earliest_expiry: leased.earliest_expiry.map(|t| t.to_string()),
        }
    }
}

/// Prints a recovery report: the batch report, then the leases still held and when the
/// first runs out.
pub(crate) fn print_recover(json: bool, report: &RecoverReport) -> CliResult<()> {
    if json {
        return super::print_json(&RecoverOut {
            completed: BatchOut::from(&report.completed),
            leased: report.leased.into(),
        });
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
