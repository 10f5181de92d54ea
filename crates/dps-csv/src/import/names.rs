//! The column headers of an imported file, for the row errors found while planning.

use std::io::Read;

use dps_core::{Error, SerialNumber, Version};

use crate::columns::Column;
use crate::error::RowError;
use crate::rows::DeviceReader;

/// Column headers of the file, for row errors found while planning.
pub(super) struct Names {
    serial: String,
    version: Option<String>,
    attributes: Vec<(String, String)>,
}

impl Names {
    pub(super) fn new<R: Read>(rows: &DeviceReader<R>) -> Self {
        Self {
            serial: rows.column_name(Column::Serial),
            version: rows
                .has_version()
                .then(|| rows.column_name(Column::Version)),
            attributes: rows
                .fields()
                .attributes
                .iter()
                .map(|id| (id.to_string(), rows.attribute_column_name(id.as_str())))
                .collect(),
        }
    }

    fn attribute(&self, id: &str) -> String {
        self.attributes
            .iter()
            .find(|(a, _)| a == id)
            .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    }

    pub(super) fn row_error(
        &self,
        line: u64,
        serial: &SerialNumber,
        version: Option<Version>,
        e: &Error,
    ) -> RowError {
        match e {
            Error::AlreadyRegistered { .. } => RowError::new(
                line,
                Some(self.serial.clone()),
                serial.as_str(),
                "already_registered",
                format!("serial {serial} is already registered in the group"),
            ),
            Error::UnknownSerial { .. } => RowError::new(
                line,
                Some(self.serial.clone()),
                serial.as_str(),
                "unknown_serial",
                format!(
                    "serial {serial} is not registered in the group; an update creates no device"
                ),
            ),
            Error::Conflict { .. } => match version {
                Some(v) => RowError::new(
                    line,
                    self.version.clone(),
                    &v.to_string(),
                    "version_conflict",
                    format!(
                        "device {serial} is no longer at version {v}; export it again and reapply the change"
                    ),
                ),
                None => RowError::new(
                    line,
                    None,
                    serial.as_str(),
                    "version_conflict",
                    format!("device {serial} was changed concurrently; import the row again"),
                ),
            },
            Error::MissingRequired { attribute } | Error::InvalidAttribute { attribute, .. } => {
                RowError::new(
                    line,
                    Some(self.attribute(attribute)),
                    "",
                    e.code(),
                    e.to_string(),
                )
            }
            other => RowError::new(line, None, serial.as_str(), other.code(), other.to_string()),
        }
    }
}
