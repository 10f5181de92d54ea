//! The JSON this service answers: its own shapes, built field by field from the domain types,
//! so that what a response says is decided here and no secret reaches it.

use std::collections::BTreeMap;

use dps::csv::ImportReport;
use dps::{Device, Event, RegistrationGroup};
use serde::Serialize;

/// A group.
#[derive(Debug, Serialize)]
pub(crate) struct GroupView {
    id: String,
    name: String,
    default_target: Option<String>,
    attributes: Vec<AttributeView>,
    devices: u64,
    version: u64,
}

#[derive(Debug, Serialize)]
struct AttributeView {
    id: String,
    #[serde(rename = "type")]
    ty: &'static str,
    required: bool,
}

impl GroupView {
    pub(crate) fn new(group: &RegistrationGroup, devices: u64) -> Self {
        Self {
            id: group.id().to_string(),
            name: group.name().to_string(),
            default_target: group.default_target().map(ToString::to_string),
            attributes: group
                .attributes()
                .attributes()
                .iter()
                .map(|a| AttributeView {
                    id: a.id.to_string(),
                    ty: a.ty.name(),
                    required: a.required,
                })
                .collect(),
            devices,
            version: group.version().get(),
        }
    }
}

/// A device, without its secret: the device secret leaves the service only at bootstrap.
#[derive(Debug, Serialize)]
pub(crate) struct DeviceView {
    id: String,
    serial: String,
    model_id: String,
    name: Option<String>,
    batch_tag: Option<String>,
    status: &'static str,
    allocation: Option<AllocationView>,
    attributes: BTreeMap<String, String>,
    replaced_serials: Vec<String>,
    last_error: Option<String>,
    version: u64,
}

#[derive(Debug, Serialize)]
struct AllocationView {
    target: String,
    asset_id: String,
    product_key: String,
    device_key: String,
}

impl From<&Device> for DeviceView {
    fn from(device: &Device) -> Self {
        Self {
            id: device.id().to_string(),
            serial: device.serial().to_string(),
            model_id: device.model_id().to_string(),
            name: device.name().map(ToString::to_string),
            batch_tag: device.batch_tag().map(ToString::to_string),
            status: device.status().as_str(),
            allocation: device.state().allocated().map(|a| AllocationView {
                target: a.target().to_string(),
                asset_id: a.asset_id().to_string(),
                product_key: a.credentials().product_key.to_string(),
                device_key: a.credentials().device_key.to_string(),
            }),
            attributes: device
                .attributes()
                .iter()
                .map(|(id, value)| (id.to_string(), value.to_string()))
                .collect(),
            replaced_serials: device
                .replacements()
                .iter()
                .map(|r| r.old_serial.to_string())
                .collect(),
            last_error: device.last_error().map(|e| e.code.clone()),
            version: device.version().get(),
        }
    }
}

/// What an import did: the counts and every refused row with its line, column and code.
#[derive(Debug, Serialize)]
pub(crate) struct ImportView {
    rows: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    failed: u64,
    errors: Vec<RowErrorView>,
}

#[derive(Debug, Serialize)]
struct RowErrorView {
    line: u64,
    column: Option<String>,
    value: String,
    code: &'static str,
    message: String,
}

impl From<&ImportReport> for ImportView {
    fn from(report: &ImportReport) -> Self {
        let s = &report.summary;
        Self {
            rows: s.rows,
            created: s.created,
            updated: s.updated,
            unchanged: s.unchanged,
            failed: s.failed,
            errors: report
                .errors()
                .map(|e| RowErrorView {
                    line: e.line,
                    column: e.column.clone(),
                    value: e.value.clone(),
                    code: e.code,
                    message: e.message.clone(),
                })
                .collect(),
        }
    }
}

/// An event of the log.
#[derive(Debug, Serialize)]
pub(crate) struct EventView {
    cursor: u64,
    at: String,
    kind: &'static str,
    group_id: String,
    serial: Option<String>,
}

impl From<&Event> for EventView {
    fn from(event: &Event) -> Self {
        Self {
            cursor: event.cursor.get(),
            at: event.at.to_string(),
            kind: event.kind.name(),
            group_id: event.group_id.to_string(),
            serial: event.serial.as_ref().map(ToString::to_string),
        }
    }
}
