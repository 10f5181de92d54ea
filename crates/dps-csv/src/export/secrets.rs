//! The secrets an export writes when it is asked to: device secrets, opened with the
//! provisioner's keys, and bootstrap keys, derived from the group's opened secret.

use dps_core::bootstrap::DeviceBootstrapKey;
use dps_core::seal::{Sealer, SecretOf};
use dps_core::{Device, RegistrationGroup, Secret};

use crate::error::ExportError;
use crate::export::ExportOptions;

/// What the secret columns of an export are written from.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowSecrets {
    /// Opens device secrets, when the export has the `Device Secret` column.
    devices: Option<Sealer>,
    /// The group's current secret, when it has the `Device Bootstrap Key` column.
    group_secret: Option<Secret>,
}

impl RowSecrets {
    /// No secret columns.
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// The secret columns that `options` ask for, for devices of `group`: opening the
    /// group's secret now, and making sure there are keys, so that an export without them
    /// fails before its first row.
    pub(crate) fn new(
        group: &RegistrationGroup,
        sealer: &Sealer,
        options: &ExportOptions,
    ) -> Result<Self, ExportError> {
        let group_secret = if options.include_bootstrap_keys {
            let secret = sealer
                .open(group.secret(), SecretOf::Group(group.id()))
                .map_err(dps_core::Error::from)?;
            Some(secret)
        } else {
            None
        };
        if options.include_secrets {
            // Without any key no device secret opens: refuse before the first row.
            sealer.current_key().map_err(dps_core::Error::from)?;
        }
        Ok(Self {
            devices: options.include_secrets.then(|| sealer.clone()),
            group_secret,
        })
    }

    /// Whether the export has the `Device Secret` column.
    pub(crate) fn has_device_secrets(&self) -> bool {
        self.devices.is_some()
    }

    /// The device's secret, opened; `None` when it has none (it is not allocated).
    pub(crate) fn device_secret(&self, device: &Device) -> Result<Option<Secret>, ExportError> {
        let (Some(sealer), Some(allocated)) = (&self.devices, device.state().allocated()) else {
            return Ok(None);
        };
        let sealed = &allocated.credentials().device_secret;
        let secret = sealer
            .open(sealed, SecretOf::Device(device.id()))
            .map_err(dps_core::Error::from)?;
        Ok(Some(secret))
    }

    /// The device's bootstrap key, when the export has that column.
    pub(crate) fn bootstrap_key(&self, device: &Device) -> Option<DeviceBootstrapKey> {
        let secret = self.group_secret.as_ref()?;
        Some(DeviceBootstrapKey::derive(secret, device.serial()))
    }
}
