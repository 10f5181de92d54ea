//! The label sheet written to an async writer: the sheet's pages collect in a buffer, and
//! the task hands them to the writer as each page is done.

use dps_core::{Device, DeviceId, SerialNumber};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Sheet, SheetOptions, SheetReport};
use crate::error::{Error, Result};
use crate::payload::Payload;

/// A label sheet whose bytes go on to an [`AsyncWrite`].
#[derive(Debug)]
pub(crate) struct AsyncSheet<W> {
    sheet: Sheet,
    writer: W,
}

impl<W: AsyncWrite + Unpin> AsyncSheet<W> {
    /// Starts a sheet on `writer`.
    pub(crate) fn new(writer: W, options: SheetOptions) -> Result<Self> {
        Ok(Self {
            sheet: Sheet::new(options)?,
            writer,
        })
    }

    /// Adds the label of `device`; writes its page when it is full.
    pub(crate) async fn push_device(&mut self, device: &Device) -> Result<()> {
        self.sheet.push(Payload::of(device), Some(device.id()));
        self.write_ready().await
    }

    /// Records a label that cannot be made.
    pub(crate) fn push_failure(
        &mut self,
        serial: SerialNumber,
        device_id: Option<DeviceId>,
        error: Error,
    ) {
        self.sheet.push_failure(serial, device_id, error);
    }

    /// Writes the last page and the end of the file, and flushes the writer.
    pub(crate) async fn finish(mut self) -> Result<SheetReport> {
        let report = self.sheet.finish()?;
        self.write_ready().await?;
        self.writer.flush().await?;
        Ok(report)
    }

    async fn write_ready(&mut self) -> Result<()> {
        if !self.sheet.ready().is_empty() {
            self.writer.write_all(self.sheet.ready()).await?;
            self.sheet.taken();
        }
        Ok(())
    }
}
