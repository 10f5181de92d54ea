//! The streamed ZIP of labels: [`LabelArchive`], which renders labels on a pool of threads
//! (`pool.rs`) and writes them as stored entries with a manifest (`entries.rs`).

mod entries;
mod format;
mod json;
#[cfg(feature = "pdf")]
pub(crate) use json::OutcomeJson;
mod pool;
mod stream;

use entries::{Sink, prepared, push_manifest_row};
pub use format::ImageFormat;
use pool::{Done, Job, Label, Pool};
pub use stream::AsyncLabelArchive;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use dps_core::{Device, DeviceId, SerialNumber};
use zip::ZipWriter;

use crate::error::{Error, Result};
use crate::name::FileNames;
use crate::payload::Payload;
use crate::render::RenderOptions;

/// The name of the manifest entry, which is always the last entry of an archive.
pub const MANIFEST_NAME: &str = "manifest.csv";

/// The manifest's header row.
pub const MANIFEST_HEADER: &str = "File,Group ID,Device Serial No.,Model ID,Payload";

/// How a label archive is made.
///
/// ```
/// use dps::qr::{ArchiveOptions, ImageFormat, RenderOptions};
/// let options = ArchiveOptions::default()
///     .with_format(ImageFormat::Svg)
///     .with_render(RenderOptions::default().with_caption(true))
///     .with_threads(2);
/// assert_eq!(options.threads, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ArchiveOptions {
    /// How each label is drawn.
    pub render: RenderOptions,
    /// The image format. Default: PNG.
    pub format: ImageFormat,
    /// How many threads render labels, the calling thread included (it renders while it
    /// would otherwise wait for the others): 0 (the default) for one per available core, 1
    /// to render on the calling thread only.
    pub threads: usize,
}

impl ArchiveOptions {
    /// These options with other rendering options.
    #[must_use]
    pub fn with_render(mut self, render: RenderOptions) -> Self {
        self.render = render;
        self
    }

    /// These options with another image format.
    #[must_use]
    pub fn with_format(mut self, format: ImageFormat) -> Self {
        self.format = format;
        self
    }

    /// These options with another number of rendering threads (0: one per core).
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// The number of rendering threads these options give on this machine.
    pub fn effective_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            n => n,
        }
    }
}

/// What became of one device's label.
///
/// It serialises as an object with the serial, the device's identifier (`null` when the
/// device was not given or does not exist) and either the `file` (the entry's name) or the
/// `error` (its code and message):
///
/// ```json
/// {"serial": "SN-0001", "device_id": "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7", "file": "SN-0001.png"}
/// ```
///
/// ```json
/// {
///   "serial": "SN-0404",
///   "device_id": null,
///   "error": {"code": "not_found", "message": "device SN-0404 not found"}
/// }
/// ```
#[derive(Debug)]
pub struct LabelOutcome {
    /// The serial the device was selected by.
    pub serial: SerialNumber,
    /// The device, when it exists and was given.
    pub device_id: Option<DeviceId>,
    /// The archive entry's name, or why there is no entry.
    pub result: Result<String>,
}

/// The outcome of an export: one entry per label asked for, in the order asked.
///
/// It serialises as an object with the counts ([`LabelReport::succeeded`],
/// [`LabelReport::failed`]) and the [`LabelOutcome`]s:
///
/// ```json
/// {
///   "succeeded": 1,
///   "failed": 1,
///   "outcomes": [
///     {"serial": "SN-0001", "device_id": "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7", "file": "SN-0001.png"},
///     {"serial": "SN-0404", "device_id": null, "error": {"code": "not_found", "message": "device SN-0404 not found"}}
///   ]
/// }
/// ```
#[derive(Debug, Default)]
pub struct LabelReport {
    /// The outcomes.
    pub outcomes: Vec<LabelOutcome>,
}

impl LabelReport {
    /// How many labels are in the archive.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }

    /// How many labels could not be made.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.succeeded()
    }

    /// Whether every label is in the archive.
    pub fn all_succeeded(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }
}

/// A ZIP archive of QR labels, written as a stream.
///
/// Each label pushed becomes one stored (not deflated) entry, named by
/// [`FileNames`] after the serial, in push order; [`LabelArchive::finish`] adds
/// `manifest.csv` (see [`MANIFEST_HEADER`]) and the ZIP directory. Labels are rendered on a
/// small pool of threads ([`ArchiveOptions::threads`]) while the calling thread writes the
/// finished ones in order, and renders queued ones itself whenever it would otherwise wait.
/// At most 16 labels per thread are in flight, so images never accumulate: what grows with
/// the number of labels is only what a ZIP needs at its end and what the caller gets back, a
/// few hundred bytes a label (the ZIP directory entry, the manifest row, the name and the
/// [`LabelOutcome`]). Entries carry a fixed timestamp (1980-01-01 00:00) and fixed
/// permissions, so the same labels with the same options always give the same bytes.
///
/// A label that cannot be rendered (see [`Error::PayloadTooLong`]) gets an error in the
/// [`LabelReport`] and no entry; the archive stays valid. An error returned by a method
/// itself (the writer failed) leaves an unusable archive.
///
/// The calls block: they render labels and wait for the pool, and the writer is a blocking
/// [`Write`]. In an async task, use [`export_zip_async`](crate::export_zip_async) (see the
/// [crate docs](crate#blocking-and-async-io)).
///
/// The writer gets many small writes, buffered here; it needs no `Seek`, and each entry's
/// local header carries its size and CRC (no data descriptors), so streaming readers work.
///
/// ```
/// use dps::qr::{ArchiveOptions, LabelArchive, Payload};
///
/// let group = "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse()?;
/// let mut zip = Vec::new();
/// let mut archive = LabelArchive::new(&mut zip, ArchiveOptions::default())?;
/// for serial in ["SN-0001", "SN-0002"] {
///     archive.push(Payload::new(group, serial.parse()?, "thermostat".parse()?))?;
/// }
/// let report = archive.finish()?;
/// assert_eq!(report.succeeded(), 2);
/// assert_eq!(report.outcomes[0].result.as_deref().ok(), Some("SN-0001.png"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LabelArchive<W: Write> {
    /// `None` once finished.
    zip: Option<ZipWriter<Sink<W>>>,
    /// Set when the archive is dropped unfinished: the ZIP writer then finishes into nothing,
    /// so that the output stays an incomplete archive that readers reject.
    abandoned: Arc<AtomicBool>,
    names: FileNames,
    manifest: Vec<u8>,
    render: Arc<RenderOptions>,
    format: ImageFormat,
    pool: Option<Pool>,
    /// The sequence number of the next label pushed.
    next_seq: u64,
    /// The sequence number of the next label to write.
    next_write: u64,
    /// Labels done but waiting for an earlier one.
    ready: BTreeMap<u64, Done>,
    /// Labels sent to the pool and not yet received back.
    in_flight: usize,
    max_in_flight: usize,
    report: LabelReport,
    broken: bool,
}

impl<W: Write> LabelArchive<W> {
    /// Starts an archive on `writer`, with `options.threads` rendering threads.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for rendering options out of range.
    pub fn new(writer: W, options: ArchiveOptions) -> Result<Self> {
        // The calling thread renders too while it would wait, so it counts as one renderer.
        let workers = options.effective_threads() - 1;
        Self::start(writer, options, workers, 64 * 1024)
    }

    /// An archive whose labels render on `workers` threads (on the calling thread when 0, or
    /// when no thread can be started), written through a buffer of `capacity` bytes.
    fn start(writer: W, options: ArchiveOptions, workers: usize, capacity: usize) -> Result<Self> {
        options.render.validate()?;
        let render = Arc::new(options.render);
        let pool = if workers > 0 {
            Pool::start(workers, &render, options.format)
        } else {
            None
        };
        let renderers = pool.as_ref().map_or(1, |p| p.workers.len() + 1);
        let mut names = FileNames::new();
        names.reserve(MANIFEST_NAME);
        let mut manifest = Vec::with_capacity(4096);
        manifest.extend_from_slice(MANIFEST_HEADER.as_bytes());
        manifest.extend_from_slice(b"\r\n");
        let abandoned = Arc::new(AtomicBool::new(false));
        Ok(Self {
            zip: Some(ZipWriter::new(Sink::new(
                writer,
                capacity,
                Arc::clone(&abandoned),
            ))),
            abandoned,
            names,
            manifest,
            render,
            format: options.format,
            pool,
            next_seq: 0,
            next_write: 0,
            ready: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: renderers * 16,
            report: LabelReport::default(),
            broken: false,
        })
    }

    /// Adds the label of `payload`. Its entry is written once it and every label pushed
    /// before it are rendered; this call waits when the pool is busy.
    ///
    /// # Errors
    ///
    /// Writing failed ([`Error::Io`], [`Error::Archive`]); a label that cannot be rendered is
    /// not an error here but an outcome in the report.
    pub fn push(&mut self, payload: Payload) -> Result<()> {
        self.push_label(payload, None)
    }

    /// Adds the label of `device` (see [`LabelArchive::push`]); its outcome names the device.
    ///
    /// # Errors
    ///
    /// As [`LabelArchive::push`].
    pub fn push_device(&mut self, device: &Device) -> Result<()> {
        self.push_label(Payload::of(device), Some(device.id()))
    }

    /// Adds a label rendered earlier (by [`ImageFormat::render`] with this archive's
    /// options), such as one of a job's stored pages; its entry is written in order.
    ///
    /// # Errors
    ///
    /// As [`LabelArchive::push`].
    pub fn push_image(
        &mut self,
        payload: Payload,
        device_id: Option<DeviceId>,
        image: Vec<u8>,
    ) -> Result<()> {
        self.check_usable()?;
        let seq = self.take_seq();
        self.ready.insert(
            seq,
            Done {
                seq,
                label: Label::Rendered {
                    payload,
                    device_id,
                    image: Ok(image),
                },
            },
        );
        self.write_ready()
    }

    /// Records, in order, a label that cannot be made (such as a serial that was asked for
    /// but does not exist), without an entry.
    ///
    /// # Errors
    ///
    /// As [`LabelArchive::push`].
    pub fn push_failure(
        &mut self,
        serial: SerialNumber,
        device_id: Option<DeviceId>,
        error: Error,
    ) -> Result<()> {
        self.check_usable()?;
        let seq = self.take_seq();
        self.ready.insert(
            seq,
            Done {
                seq,
                label: Label::Failed {
                    serial,
                    device_id,
                    error,
                },
            },
        );
        self.write_ready()
    }

    /// Waits for every label, writes the rest of the entries, the manifest and the ZIP
    /// directory, and flushes the writer.
    ///
    /// # Errors
    ///
    /// Writing failed ([`Error::Io`], [`Error::Archive`]).
    pub fn finish(mut self) -> Result<LabelReport> {
        self.check_usable()?;
        while self.in_flight > 0 {
            self.help_or_wait()?;
            self.write_ready()?;
        }
        self.write_ready()?;
        if let Some(pool) = self.pool.take() {
            pool.stop();
        }
        let manifest = std::mem::take(&mut self.manifest);
        self.write_entry(MANIFEST_NAME, &manifest)?;
        let Some(zip) = self.zip.take() else {
            return Err(closed());
        };
        let mut sink = zip.finish().map_err(Error::archive)?;
        sink.flush()?;
        Ok(std::mem::take(&mut self.report))
    }

    fn check_usable(&self) -> Result<()> {
        if self.broken || self.zip.is_none() {
            return Err(closed());
        }
        Ok(())
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn push_label(&mut self, payload: Payload, device_id: Option<DeviceId>) -> Result<()> {
        self.submit(payload, device_id)?;
        while self.is_full() {
            self.help_or_wait()?;
        }
        self.collect();
        self.write_ready()
    }

    /// Sends a label to the pool, or renders it here when there is none; does not wait.
    fn submit(&mut self, payload: Payload, device_id: Option<DeviceId>) -> Result<()> {
        self.check_usable()?;
        let seq = self.take_seq();
        let job = Job {
            seq,
            payload,
            device_id,
        };
        let Some(pool) = &self.pool else {
            let done = job.run(&self.render, self.format);
            self.ready.insert(seq, done);
            return Ok(());
        };
        match pool.send(job) {
            Ok(()) => self.in_flight += 1,
            Err(job) => {
                // The pool is gone (it cannot be while we hold it); render here.
                let done = job.run(&self.render, self.format);
                self.ready.insert(seq, done);
            }
        }
        Ok(())
    }

    /// Whether as many labels are in flight as may be.
    fn is_full(&self) -> bool {
        self.in_flight >= self.max_in_flight
    }

    /// Takes the labels the pool has finished, without waiting.
    fn collect(&mut self) {
        while let Some(done) = self.pool.as_ref().and_then(Pool::try_receive) {
            self.in_flight -= 1;
            self.ready.insert(done.seq, done);
        }
    }

    /// Takes one finished label from the pool, without blocking: pending until a worker
    /// finishes one. An error when the workers stopped.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let received = match &self.pool {
            Some(pool) => pool.poll_receive(cx),
            None => Poll::Ready(None),
        };
        match received {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(done)) => {
                self.in_flight -= 1;
                self.ready.insert(done.seq, done);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(None) => {
                self.broken = true;
                Poll::Ready(Err(stopped()))
            }
        }
    }

    /// Renders a queued label here if there is one (this thread is one of the renderers),
    /// or else waits for a worker to finish one.
    fn help_or_wait(&mut self) -> Result<()> {
        if let Some(job) = self.pool.as_ref().and_then(Pool::try_take) {
            let done = job.run(&self.render, self.format);
            self.in_flight -= 1;
            self.ready.insert(done.seq, done);
            return Ok(());
        }
        self.receive_one()
    }

    fn receive_one(&mut self) -> Result<()> {
        let done = self.pool.as_ref().and_then(Pool::receive);
        let Some(done) = done else {
            self.broken = true;
            return Err(stopped());
        };
        self.in_flight -= 1;
        self.ready.insert(done.seq, done);
        Ok(())
    }

    fn write_ready(&mut self) -> Result<()> {
        while let Some(done) = self.ready.remove(&self.next_write) {
            self.next_write += 1;
            let outcome = match done.label {
                Label::Failed {
                    serial,
                    device_id,
                    error,
                } => LabelOutcome {
                    serial,
                    device_id,
                    result: Err(error),
                },
                Label::Rendered {
                    payload,
                    device_id,
                    image: Err(error),
                } => LabelOutcome {
                    serial: payload.serial().clone(),
                    device_id,
                    result: Err(error),
                },
                Label::Rendered {
                    payload,
                    device_id,
                    image: Ok(image),
                } => {
                    let name = self
                        .names
                        .assign(payload.serial().as_str(), self.format.extension());
                    self.write_entry(&name, &image)?;
                    push_manifest_row(&mut self.manifest, &name, &payload);
                    LabelOutcome {
                        serial: payload.serial().clone(),
                        device_id,
                        result: Ok(name),
                    }
                }
            };
            self.report.outcomes.push(outcome);
        }
        Ok(())
    }

    fn write_entry(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let entry = prepared(name, data).map_err(Error::archive)?;
        let zip = self.zip.as_mut().ok_or_else(closed)?;
        let written = zip.add_prepared_file(entry).map_err(Error::archive);
        if written.is_err() {
            self.broken = true;
        }
        written
    }
}

impl<W: Write> Drop for LabelArchive<W> {
    fn drop(&mut self) {
        if self.zip.is_some() {
            self.abandoned.store(true, Ordering::Relaxed);
        }
    }
}

fn stopped() -> Error {
    Error::Render {
        message: "the label rendering threads stopped".to_owned(),
    }
}

fn closed() -> Error {
    Error::Io(io::Error::other(
        "the label archive failed earlier or is finished and cannot be written further",
    ))
}

/// Writes the labels of `payloads` as a ZIP archive to `writer` (see [`LabelArchive`]).
///
/// # Errors
///
/// As [`LabelArchive::new`], [`LabelArchive::push`] and [`LabelArchive::finish`].
pub fn write_zip<W: Write>(
    payloads: impl IntoIterator<Item = Payload>,
    writer: W,
    options: ArchiveOptions,
) -> Result<LabelReport> {
    let mut archive = LabelArchive::new(writer, options)?;
    for payload in payloads {
        archive.push(payload)?;
    }
    archive.finish()
}
