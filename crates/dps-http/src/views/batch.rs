//! The report of a batch: `{"succeeded", "failed", "results"}`.

use dps_core::{BatchReport, Leased, RecoverReport, SerialNumber, lifecycle::Outcome};
use serde::Serialize;

use super::error::ErrorView;

/// What happened to the devices of a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchView<'a> {
    succeeded: usize,
    failed: usize,
    results: Vec<ResultView<'a>>,
}

impl<'a> From<&'a BatchReport> for BatchView<'a> {
    fn from(report: &'a BatchReport) -> Self {
        Self {
            succeeded: report.succeeded(),
            failed: report.failed(),
            results: report
                .outcomes
                .iter()
                .map(|o| match &o.result {
                    Ok(Outcome::Settled { status, version }) => ResultView {
                        serial: o.serial.as_str(),
                        ok: true,
                        status: Some(status.as_str()),
                        version: Some(version.get()),
                        error: None,
                    },
                    Ok(Outcome::Deleted) => ResultView {
                        serial: o.serial.as_str(),
                        ok: true,
                        status: Some("deleted"),
                        version: None,
                        error: None,
                    },
                    Err(e) => ResultView::failed(&o.serial, e.code(), e.to_string()),
                })
                .collect(),
        }
    }
}

/// One device of a batch: its status and version, or why it failed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResultView<'a> {
    serial: &'a str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorView<'a>>,
}

impl<'a> ResultView<'a> {
    /// A device that failed with `code` and `message`.
    pub fn failed(serial: &'a SerialNumber, code: &'a str, message: String) -> Self {
        Self {
            serial: serial.as_str(),
            ok: false,
            status: None,
            version: None,
            error: Some(ErrorView::new(code, message)),
        }
    }
}

/// A group deletion: the report on its devices, and whether the group is gone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupDeleteView<'a> {
    #[serde(flatten)]
    devices: BatchView<'a>,
    group_deleted: bool,
}

impl<'a> GroupDeleteView<'a> {
    /// The deletion whose devices fared as `report` says.
    pub fn new(report: &'a BatchReport, group_deleted: bool) -> Self {
        Self {
            devices: report.into(),
            group_deleted,
        }
    }
}

/// How many items succeeded and failed, without the items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountsView {
    succeeded: usize,
    failed: usize,
}

impl CountsView {
    /// `succeeded` and `failed` items.
    pub fn new(succeeded: usize, failed: usize) -> Self {
        Self { succeeded, failed }
    }
}

/// A recovery: the devices it completed, and the leases it found still held.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoverView<'a> {
    #[serde(flatten)]
    completed: BatchView<'a>,
    leased: LeasedView,
}

/// The pending devices that other drivers still own.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeasedView {
    count: usize,
    /// RFC 3339, UTC.
    earliest_expiry: Option<String>,
}

impl From<Leased> for LeasedView {
    fn from(leased: Leased) -> Self {
        Self {
            count: leased.count,
            earliest_expiry: leased.earliest_expiry.map(|t| t.to_string()),
        }
    }
}

impl<'a> From<&'a RecoverReport> for RecoverView<'a> {
    fn from(report: &'a RecoverReport) -> Self {
        Self {
            completed: BatchView::from(&report.completed),
            leased: report.leased.into(),
        }
    }
}
