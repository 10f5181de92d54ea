//! The label export of a `Provisioner`'s devices.

use std::collections::HashMap;
use std::io::Write;

use dps_core::{
    Device, DeviceQuery, Entity, Environment, GroupId, Provisioner, Selection, SerialNumber, Store,
};

use tokio::io::AsyncWrite;

use crate::archive::{ArchiveOptions, AsyncLabelArchive, LabelArchive, LabelReport};
use crate::error::Result;
#[cfg(feature = "pdf")]
use crate::sheet::{AsyncSheet, LabelSheet, SheetOptions, SheetReport};

/// Writes a ZIP of the QR labels of a group's selected devices to `writer`, one outcome per
/// device (see [`LabelArchive`] for the archive).
///
/// With [`Selection::Serials`], labels come in the order of the serials, and a serial that
/// is not in the group gets a `not_found` outcome; with [`Selection::Filter`], they come in
/// ascending serial order, read page by page ([`Config::page_size`](dps_core::Config)), so
/// that any number of devices streams through bounded memory.
///
/// Rendering runs on [`ArchiveOptions::threads`] threads, this one included, and `writer` is
/// a blocking [`Write`]: this call blocks while it renders and writes. Use it where blocking
/// is allowed: a command-line tool, a file, a buffer, or a blocking thread of an async
/// service (`tokio::task::spawn_blocking` with a runtime handle's `block_on` inside). To
/// stream the archive into an HTTP response from an async task, use [`export_zip_async`].
///
/// # Errors
///
/// [`Error::Core`](crate::Error::Core) when the group does not exist (`not_found`) or the
/// store fails; [`Error::Io`](crate::Error::Io) or [`Error::Archive`](crate::Error::Archive)
/// when writing fails; [`Error::InvalidOption`](crate::Error::InvalidOption) for options out
/// of range. A device whose label cannot be made is an outcome in the report, not an error.
///
/// ```
/// use std::sync::Arc;
/// use dps::inject::OsSecrets;
/// use dps::memory::InMemoryStore;
/// use dps::qr::{ArchiveOptions, export_zip};
/// use dps::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A provisioner with a group of one device.
/// let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(OsSecrets));
/// let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
/// let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
/// dps.register(group.id(), NewDevice::new("SN-0001".parse()?, "thermostat".parse()?)).await?;
///
/// let mut zip = Vec::new();
/// let selection = Selection::Serials(vec!["SN-0001".parse()?, "SN-0404".parse()?]);
/// let report = export_zip(&dps, group.id(), &selection, &mut zip, ArchiveOptions::default())
///     .await?;
/// assert!(zip.starts_with(b"PK"));
/// assert_eq!(report.outcomes[0].result.as_deref().ok(), Some("SN-0001.png"));
/// let missing = report.outcomes[1].result.as_ref().err().map(|e| e.code());
/// assert_eq!(missing, Some("not_found"));
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
    let mut archive = LabelArchive::new(writer, options)?;
    push_selection(dps, group, selection, &mut archive).await?;
    archive.finish()
}

/// Writes a ZIP of the QR labels of a group's selected devices to an async writer, like
/// [`export_zip`]: the same labels, outcomes and bytes.
///
/// Labels render on [`ArchiveOptions::effective_threads`] threads of their own (never on
/// this task, unless not one thread can be started), while this task awaits the store, the
/// finished labels and `writer`: it never blocks, neither on the writer nor on the renderers.
/// The archive's bytes go on to `writer` after every label, so that memory stays bounded as
/// in [`export_zip`]: at most 16 labels per rendering thread in flight, plus what a ZIP needs
/// at its end (a few hundred bytes a label), which is written at the end in one piece.
/// `writer` is flushed at the end but not shut down. This is the form for an HTTP response:
/// write to one end of a [`tokio::io::duplex`] and stream the other end as the body.
///
/// # Errors
///
/// As [`export_zip`]; a failed write to `writer` is [`Error::Io`](crate::Error::Io).
///
/// ```
/// use std::sync::Arc;
/// use dps::inject::OsSecrets;
/// use dps::memory::InMemoryStore;
/// use dps::qr::{ArchiveOptions, export_zip_async};
/// use dps::*;
/// use tokio::io::AsyncReadExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(OsSecrets));
/// let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
/// let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
/// dps.register(group.id(), NewDevice::new("SN-0001".parse()?, "thermostat".parse()?)).await?;
///
/// // The archive streams into one end of a pipe while the other end is read, as an HTTP
/// // server would send it.
/// let (mut body, mut client) = tokio::io::duplex(8 * 1024);
/// let export = async move {
///     let report =
///         export_zip_async(&dps, group.id(), &Selection::all(), &mut body, ArchiveOptions::default())
///             .await;
///     drop(body); // ends the stream
///     report
/// };
/// let mut zip = Vec::new();
/// let (report, read) = tokio::join!(export, client.read_to_end(&mut zip));
/// read?;
/// assert_eq!(report?.succeeded(), 1);
/// assert!(zip.starts_with(b"PK"));
/// # Ok(())
/// # }
/// ```
pub async fn export_zip_async<S, E, W>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    selection: &Selection,
    writer: W,
    options: ArchiveOptions,
) -> Result<LabelReport>
where
    S: Store,
    E: Environment,
    W: AsyncWrite + Unpin + Send,
{
    let group = dps.group(group).await?.id();
    let mut archive = AsyncLabelArchive::new(writer, options)?;
    push_selection(dps, group, selection, &mut archive).await?;
    archive.finish().await
}

/// Writes a PDF label sheet of a group's selected devices to `writer`: a grid of labels a
/// page (see [`SheetOptions`]), each with the code, the serial and the model, one outcome
/// per device, and the page count.
///
/// The devices are selected and ordered as by [`export_zip`], read page by page, and the
/// sheet goes out page by page (see [`LabelSheet`]), so that any number of devices streams
/// through bounded memory. The call blocks on `writer`; in an async task, use
/// [`export_pdf_async`].
///
/// # Errors
///
/// [`Error::EmptySheet`](crate::Error::EmptySheet) when no selected device has a label
/// (nothing is written then); otherwise as [`export_zip`].
///
/// ```
/// use std::sync::Arc;
/// use dps::inject::OsSecrets;
/// use dps::memory::InMemoryStore;
/// use dps::qr::{Paper, SheetOptions, export_pdf};
/// use dps::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = StaticEnvironment::new(StaticConfig::default(), Arc::new(OsSecrets));
/// let dps = Provisioner::new(InMemoryStore::new(), env).with_keys(dps::seal::Keys::ephemeral());
/// let group = dps.create_group(NewGroup::new("Building 7".parse()?)).await?;
/// dps.register(group.id(), NewDevice::new("SN-0001".parse()?, "thermostat".parse()?)).await?;
///
/// let mut pdf = Vec::new();
/// let options = SheetOptions::default().with_paper(Paper::Letter);
/// let report = export_pdf(&dps, group.id(), &Selection::all(), &mut pdf, options).await?;
/// assert_eq!(report.pages, 1);
/// assert!(pdf.starts_with(b"%PDF-"));
///
/// // No device, no sheet.
/// let empty = Selection::Serials(vec!["SN-0404".parse()?]);
/// let error = export_pdf(&dps, group.id(), &empty, Vec::new(), SheetOptions::default()).await;
/// assert_eq!(error.map_err(|e| e.code()).err(), Some("empty_sheet"));
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "pdf")]
#[cfg_attr(docsrs, doc(cfg(feature = "pdf")))]
pub async fn export_pdf<S, E, W>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    selection: &Selection,
    writer: W,
    options: SheetOptions,
) -> Result<SheetReport>
where
    S: Store,
    E: Environment,
    W: Write,
{
    let group = dps.group(group).await?.id();
    let mut sheet = LabelSheet::new(writer, options)?;
    push_selection(dps, group, selection, &mut sheet).await?;
    sheet.finish()
}

/// Writes a PDF label sheet of a group's selected devices to an async writer, like
/// [`export_pdf`]: the same pages, outcomes and bytes.
///
/// Each full page goes on to `writer` as soon as it is done, awaited on this task; the codes
/// are encoded on this task too (a few microseconds a label). `writer` is flushed at the end
/// but not shut down.
///
/// # Errors
///
/// As [`export_pdf`].
#[cfg(feature = "pdf")]
#[cfg_attr(docsrs, doc(cfg(feature = "pdf")))]
pub async fn export_pdf_async<S, E, W>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    selection: &Selection,
    writer: W,
    options: SheetOptions,
) -> Result<SheetReport>
where
    S: Store,
    E: Environment,
    W: AsyncWrite + Unpin + Send,
{
    let group = dps.group(group).await?.id();
    let mut sheet = AsyncSheet::new(writer, options)?;
    push_selection(dps, group, selection, &mut sheet).await?;
    sheet.finish().await
}

#[cfg(feature = "pdf")]
impl<W: Write> Labels for LabelSheet<W> {
    async fn device(&mut self, device: &Device) -> Result<()> {
        self.push_device(device)
    }

    async fn missing(&mut self, serial: &SerialNumber) -> Result<()> {
        self.push_failure(serial.clone(), None, not_found(serial));
        Ok(())
    }
}

#[cfg(feature = "pdf")]
impl<W: AsyncWrite + Unpin> Labels for AsyncSheet<W> {
    async fn device(&mut self, device: &Device) -> Result<()> {
        self.push_device(device).await
    }

    async fn missing(&mut self, serial: &SerialNumber) -> Result<()> {
        self.push_failure(serial.clone(), None, not_found(serial));
        Ok(())
    }
}

/// Where an export's labels go: a [`LabelArchive`], or one whose bytes go on to an async
/// writer.
trait Labels {
    /// Adds the label of `device`.
    async fn device(&mut self, device: &Device) -> Result<()>;

    /// Records that `serial` was selected but is not in the group.
    async fn missing(&mut self, serial: &SerialNumber) -> Result<()>;
}

/// The outcome of a selected serial that is not in the group.
fn not_found(serial: &SerialNumber) -> crate::Error {
    dps_core::Error::NotFound {
        entity: Entity::Device,
        key: serial.to_string(),
    }
    .into()
}

impl<W: Write> Labels for LabelArchive<W> {
    async fn device(&mut self, device: &Device) -> Result<()> {
        self.push_device(device)
    }

    async fn missing(&mut self, serial: &SerialNumber) -> Result<()> {
        self.push_failure(serial.clone(), None, not_found(serial))
    }
}

impl<W: AsyncWrite + Unpin> Labels for AsyncLabelArchive<W> {
    async fn device(&mut self, device: &Device) -> Result<()> {
        self.push_device(device).await
    }

    async fn missing(&mut self, serial: &SerialNumber) -> Result<()> {
        self.push_failure(serial.clone(), None, not_found(serial))
            .await
    }
}

/// Adds the labels of the selected devices of `group` to `labels`, a page at a time.
async fn push_selection<S, E, L>(
    dps: &Provisioner<S, E>,
    group: GroupId,
    selection: &Selection,
    labels: &mut L,
) -> Result<()>
where
    S: Store,
    E: Environment,
    L: Labels,
{
    let page_size = dps.config().page_size.max(1);
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
                        Some(device) => labels.device(&device).await?,
                        None => labels.missing(serial).await?,
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
                    labels.device(device).await?;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    Ok(())
}
