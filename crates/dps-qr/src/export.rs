//! The label export of a `Provisioner`'s devices.

use std::collections::HashMap;
use std::io::Write;

use dps_core::{
    Device, DeviceQuery, Entity, Environment, GroupId, Provisioner, Selection, SerialNumber, Store,
};

use crate::archive::{ArchiveOptions, LabelArchive, LabelReport};
use crate::error::Result;

/// Writes a ZIP of the QR labels of a group's selected devices to `writer`, one outcome per
/// device (see [`LabelArchive`] for the archive).
///
/// With [`Selection::Serials`], labels come in the order of the serials, and a serial that
/// is not in the group gets a `not_found` outcome; with [`Selection::Filter`], they come in
/// ascending serial order, read page by page ([`Config::page_size`](dps_core::Config)), so
/// that any number of devices streams through bounded memory.
///
/// Rendering runs on [`ArchiveOptions::threads`] threads while this task awaits the store and
/// writes entries, and `writer` is a blocking [`Write`]: in an async service, run the export
/// where blocking is allowed (for example inside `tokio::task::block_in_place`, or on a thread
/// of its own).
///
/// # Errors
///
/// [`Error::Core`](crate::Error::Core) when the group does not exist or the store fails;
/// [`Error::Io`](crate::Error::Io) or [`Error::Archive`](crate::Error::Archive) when writing
/// fails; [`Error::InvalidOption`](crate::Error::InvalidOption) for options out of range.
/// A device whose label cannot be made is an outcome in the report, not an error.
///
/// ```
/// use std::sync::Arc;
/// use dps_core::inject::{ManualClock, SeededSecrets, SequentialIds};
/// use dps_core::*;
/// use dps_qr::{ArchiveOptions, export_zip};
/// use dps_store_memory::InMemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let injected = Injected {
/// #     clock: Arc::new(ManualClock::new(Timestamp::from_unix_millis(0))),
/// #     ids: Arc::new(SequentialIds::new(1)),
/// #     secrets: Arc::new(SeededSecrets::new(7)),
/// # };
/// # use dps_env_static::{StaticConfig, StaticEnvironment};
/// # let env = StaticEnvironment::new(StaticConfig { targets: vec![] }, Arc::new(SeededSecrets::new(7)));
/// // A provisioner with a group of one device.
/// let dps = Provisioner::with_parts(InMemoryStore::new(), env, injected, Config::default());
/// let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
/// dps.register(group.id(), NewDevice::new("SN-0001".parse()?, "thermostat".parse()?)).await?;
///
/// let mut zip = Vec::new();
/// let selection = Selection::Serials(vec!["SN-0001".parse()?, "SN-0404".parse()?]);
/// let report = export_zip(&dps, group.id(), &selection, &mut zip, ArchiveOptions::default())
///     .await?;
/// assert_eq!(report.outcomes[0].result.as_deref().ok(), Some("SN-0001.png"));
/// assert_eq!(report.outcomes[1].result.as_ref().unwrap_err().code(), "not_found");
/// # Ok(())
/// # }
/// ```
pub async fn export_zip<S, E, W>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    selection: &Selection,
    writer: W,
    options: ArchiveOptions,
) -> Result<LabelReport>
where
    S: Store,
    E: Environment,
    W: Write,
{
    let group = dps.group(group).await?.id();
    let page_size = dps.config().page_size.max(1);
    let mut archive = LabelArchive::new(writer, options)?;
    match selection {
        Selection::Serials(serials) => {
            for chunk in serials.chunks(page_size) {
                let found = dps
                    .store()
                    .devices_by_serials(group, chunk)
                    .await
                    .map_err(dps_core::Error::from)?;
                let mut by_serial: HashMap<SerialNumber, Device> =
                    found.into_iter().map(|d| (d.serial().clone(), d)).collect();
                for serial in chunk {
                    match by_serial.remove(serial) {
                        Some(device) => archive.push_device(&device)?,
                        None => {
                            let error = dps_core::Error::NotFound {
                                entity: Entity::Device,
                                key: serial.to_string(),
                            };
                            archive.push_failure(serial.clone(), None, error.into())?;
                        }
                    }
                }
            }
        }
        Selection::Filter(filter) => {
            let query = DeviceQuery::new(group, filter.clone());
            let mut after = None;
            loop {
                let page = dps.devices(&query, after.take(), page_size).await?;
                for device in &page.items {
                    archive.push_device(device)?;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    archive.finish()
}
