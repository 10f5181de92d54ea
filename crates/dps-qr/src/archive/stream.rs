//! The label archive written to an async writer: the archive writes into a buffer, and the
//! task hands the buffer to the writer after every label, so that it never blocks on the
//! writer; it awaits the rendering threads instead of waiting for them.

use std::future::poll_fn;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use dps_core::{Device, DeviceId, SerialNumber};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{ArchiveOptions, LabelArchive, LabelReport};
use crate::error::{Error, Result};
use crate::payload::Payload;

/// The bytes the archive has written and the async writer has not taken yet.
#[derive(Debug, Clone, Default)]
struct Spill(Arc<Mutex<Vec<u8>>>);

impl Spill {
    /// Swaps the spilled bytes with `out`, which is empty.
    fn take_into(&self, out: &mut Vec<u8>) {
        let mut spilled = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *spilled, out);
    }
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut spilled = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spilled.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`LabelArchive`] whose bytes go on to an [`AsyncWrite`], for an async task: it never
/// blocks on the writer, and awaits the rendering threads instead of waiting for them.
///
/// ```
/// use dps::qr::{ArchiveOptions, AsyncLabelArchive, ImageFormat, Payload, RenderOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let group = "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse()?;
/// let payload = Payload::new(group, "SN-0001".parse()?, "thermostat".parse()?);
/// // A label rendered earlier, such as one a job stored.
/// let image = ImageFormat::Png.render(&payload, &RenderOptions::default())?;
///
/// let mut zip = Vec::new();
/// let mut archive = AsyncLabelArchive::new(&mut zip, ArchiveOptions::default())?;
/// archive.push_image(payload, None, image).await?;
/// let report = archive.finish().await?;
/// assert_eq!(report.succeeded(), 1);
/// assert!(zip.starts_with(b"PK"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncLabelArchive<W> {
    archive: LabelArchive<Spill>,
    bytes: Bytes<W>,
}

/// The way from the archive's buffer to the writer.
#[derive(Debug)]
struct Bytes<W> {
    spill: Spill,
    /// The buffer being written, kept for its capacity.
    out: Vec<u8>,
    writer: W,
}

impl<W: AsyncWrite + Unpin> Bytes<W> {
    /// Writes what the archive has written so far on to the writer.
    async fn drain(&mut self) -> Result<()> {
        self.spill.take_into(&mut self.out);
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }
}

impl<W: AsyncWrite + Unpin> AsyncLabelArchive<W> {
    /// Starts an archive on `writer`. Every label renders on one of
    /// [`ArchiveOptions::effective_threads`] threads (on this task only when not one can be
    /// started); this task writes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for rendering options out of range.
    pub fn new(writer: W, options: ArchiveOptions) -> Result<Self> {
        let spill = Spill::default();
        let workers = options.effective_threads();
        let archive = LabelArchive::start(spill.clone(), options, workers, 0)?;
        Ok(Self {
            archive,
            bytes: Bytes {
                spill,
                out: Vec::new(),
                writer,
            },
        })
    }

    /// Adds the label of `device`, as [`LabelArchive::push_device`] does; awaits the
    /// rendering threads while as many labels as may be are in flight.
    ///
    /// # Errors
    ///
    /// Writing failed ([`Error::Io`], [`Error::Archive`]).
    pub async fn push_device(&mut self, device: &Device) -> Result<()> {
        while self.archive.is_full() {
            self.receive().await?;
        }
        self.archive
            .submit(Payload::of(device), Some(device.id()))?;
        self.archive.collect();
        self.archive.write_ready()?;
        self.bytes.drain().await
    }

    /// Adds a label rendered earlier, as [`LabelArchive::push_image`] does.
    ///
    /// # Errors
    ///
    /// Writing failed ([`Error::Io`], [`Error::Archive`]).
    pub async fn push_image(
        &mut self,
        payload: Payload,
        device_id: Option<DeviceId>,
        image: Vec<u8>,
    ) -> Result<()> {
        while self.archive.is_full() {
            self.receive().await?;
        }
        self.archive.push_image(payload, device_id, image)?;
        self.bytes.drain().await
    }

    /// Records a label that cannot be made, as [`LabelArchive::push_failure`] does.
    ///
    /// # Errors
    ///
    /// Writing failed ([`Error::Io`], [`Error::Archive`]).
    pub async fn push_failure(
        &mut self,
        serial: SerialNumber,
        device_id: Option<DeviceId>,
        error: Error,
    ) -> Result<()> {
        self.archive.push_failure(serial, device_id, error)?;
        self.bytes.drain().await
    }

    /// Awaits every label, writes the rest of the archive and flushes the writer.
    ///
    /// # Errors
    ///
    /// Writing failed ([`Error::Io`], [`Error::Archive`]).
    pub async fn finish(mut self) -> Result<LabelReport> {
        while self.archive.in_flight > 0 {
            self.receive().await?;
        }
        let Self { archive, mut bytes } = self;
        let report = archive.finish()?;
        bytes.drain().await?;
        bytes.writer.flush().await?;
        Ok(report)
    }

    /// Awaits one finished label and writes what is ready.
    async fn receive(&mut self) -> Result<()> {
        poll_fn(|cx| self.archive.poll_receive(cx)).await?;
        self.archive.write_ready()?;
        self.bytes.drain().await
    }
}
