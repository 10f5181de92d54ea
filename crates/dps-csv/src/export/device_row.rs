//! One device as a row of export cells, for the CSV and the XLSX writers alike.

use dps_core::{Device, attribute::AttributeSchema};

use super::secrets::RowSecrets;
use crate::error::ExportError;
use crate::write::RowCells;

/// Writes `device` as one row of the export columns
/// ([`export_columns`](crate::export_columns)) to `w`.
pub(crate) fn write_device<C: RowCells>(
    w: &mut C,
    device: &Device,
    schema: &AttributeSchema,
    secrets: &RowSecrets,
) -> Result<(), ExportError> {
    // Opened before the first cell, so that a secret that does not open writes nothing.
    let secret = secrets.device_secret(device)?;
    let bootstrap_key = secrets.bootstrap_key(device);
    w.value(device.serial().as_str())?;
    w.opt(device.name().map(|n| n.as_str()))?;
    w.value(device.model_id().as_str())?;
    match device.timezone() {
        Some(tz) => w.value(&tz.to_string())?,
        None => w.absent()?,
    }
    w.opt(device.batch_tag().map(|t| t.as_str()))?;
    w.opt(device.description().map(|d| d.as_str()))?;
    w.opt(device.target().map(|t| t.environment.as_str()))?;
    w.opt(device.target().map(|t| t.ou.as_str()))?;
    let mut text = String::new();
    for def in schema.attributes() {
        match device.attributes().get(&def.id) {
            Some(v) => {
                text.clear();
                std::fmt::Write::write_fmt(&mut text, format_args!("{v}"))
                    .map_err(std::io::Error::other)?;
                w.value(&text)?;
            }
            None => w.absent()?,
        }
    }
    let allocated = device.state().allocated();
    w.value(device.status().as_str())?;
    w.opt(allocated.map(|a| a.target().environment.as_str()))?;
    w.opt(allocated.map(|a| a.target().ou.as_str()))?;
    w.opt(allocated.map(|a| a.asset_id().as_str()))?;
    w.opt(allocated.map(|a| a.credentials().product_key.as_str()))?;
    w.opt(allocated.map(|a| a.credentials().device_key.as_str()))?;
    if secrets.has_device_secrets() {
        w.opt(secret.as_ref().map(|s| s.expose()))?;
    }
    if let Some(key) = bootstrap_key {
        w.value(&key.expose_base64())?;
    }
    match device.last_error() {
        Some(e) => w.value(&format!("{}: {}", e.code, e.message))?,
        None => w.absent()?,
    }
    w.value(&device.created_at().to_string())?;
    w.value(&device.updated_at().to_string())?;
    w.value(&device.version().to_string())?;
    Ok(w.end_record()?)
}
