//! QR labels for **dps**: the label payload, PNG and SVG rendering, and ZIP archives of labels
//! written as a stream. Reach it through the facade as `dps::qr` (feature `qr` of the `dps`
//! crate).
//!
//! - [`Payload`] is what a label carries: the device's group ID, serial number and model ID,
//!   and no secret. Its text form is version 1 of the dps label payload (specified in
//!   `docs/qr-payload.md`): short, entirely in the QR alphanumeric character set, with a check
//!   character. [`Payload::parse`] reads exactly what [`Payload::render`] writes.
//! - [`render_png`] and [`render_svg`] draw a payload's QR code ([`Symbol`]) with the
//!   [`RenderOptions`]: error-correction level ([`EcLevel`], M by default), module size, quiet
//!   zone (4 modules by default), the largest QR version a label may take, and the caption:
//!   readable text under the code, on by default (the serial and the model on a PNG, drawn
//!   in a bitmap font built into the crate; the serial on an SVG). PNGs are 1-bit grayscale.
//! - [`LabelArchive`] writes a ZIP with one stored entry per label, named after the serial by
//!   [`FileNames`] (file-system-safe, unique also ignoring case), and a `manifest.csv`. Labels
//!   render on all cores while the entries are written in order; the same labels give
//!   byte-identical archives, and memory stays bounded however many labels there are.
//!   [`export_zip`] does this for a [`Provisioner`](dps_core::Provisioner)'s devices, by
//!   explicit serials or by filter, with one [`LabelOutcome`] per device, and
//!   [`export_zip_async`] writes the same archive to an async writer. The [`LabelReport`]
//!   serialises with serde in the JSON shape its docs show.
//! - [`LabelSheet`] (feature `pdf`) lays labels out on A4 or Letter pages of a PDF
//!   ([`SheetOptions`], [`Paper`]), each with its code and the serial and model in text, and
//!   writes each page as soon as it is full; [`export_pdf`] and [`export_pdf_async`] do this
//!   for a provisioner's devices, and return a [`SheetReport`] with the page count.
//!
//! Errors are [`Error`] and [`PayloadError`]; each has a stable [`code`](Error::code) and
//! implements [`DpsError`](dps_core::DpsError).
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `pdf` | no | [`LabelSheet`], [`export_pdf`], [`export_pdf_async`] and their options, on the `pdf-writer` crate; the `dps` facade's `qr` feature turns it on |
//!
//! # Blocking and async I/O
//!
//! | you have | use |
//! |---|---|
//! | a file, a `Vec<u8>`, a command-line tool | [`export_zip`], [`LabelArchive`], [`write_zip`], [`export_pdf`], [`LabelSheet`] with a [`std::io::Write`] |
//! | an async service streaming a response body | [`export_zip_async`], [`export_pdf_async`] with a [`tokio::io::AsyncWrite`] |
//!
//! [`export_zip`] renders on the calling thread as well as on its pool and waits for the pool
//! when it is busy, so it blocks the task for the whole archive, whatever the writer. In an
//! async service, use [`export_zip_async`], which renders on threads of its own, awaits them
//! and the writer, and never blocks the task; or run [`export_zip`] on a blocking thread:
//! `tokio::task::spawn_blocking(move || handle.block_on(dps::qr::export_zip(…)))` with a
//! `tokio::runtime::Handle`. Do not wrap it in `tokio::task::block_in_place`, which panics on
//! a `current_thread` runtime.
//!
//! # Example
//!
//! ```
//! use dps::qr::{ArchiveOptions, LabelArchive, Payload, RenderOptions, render_png};
//!
//! let payload = Payload::new(
//!     "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse()?,
//!     "SN-0001".parse()?,
//!     "thermostat".parse()?,
//! );
//! // What the scanner reads, and back.
//! let text = payload.render();
//! assert!(text.starts_with("DPS1/"));
//! assert_eq!(text.parse::<Payload>()?, payload);
//!
//! // One label.
//! let png = render_png(&payload, &RenderOptions::default().with_module_size(4))?;
//! assert!(png.starts_with(b"\x89PNG"));
//!
//! // A ZIP of labels, streamed to any writer.
//! let mut zip = Vec::new();
//! let mut archive = LabelArchive::new(&mut zip, ArchiveOptions::default())?;
//! archive.push(payload)?;
//! let report = archive.finish()?;
//! assert_eq!(report.outcomes[0].result.as_deref().ok(), Some("SN-0001.png"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
// Without the `pdf` feature, links to the label sheet's items cannot resolve; docs.rs builds
// with every feature, where every link is checked.
#![cfg_attr(not(feature = "pdf"), allow(rustdoc::broken_intra_doc_links))]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod archive;
mod caption;
mod error;
mod export;
mod name;
mod payload;
mod render;
#[cfg(feature = "pdf")]
#[cfg_attr(docsrs, doc(cfg(feature = "pdf")))]
mod sheet;

pub use archive::{
    ArchiveOptions, AsyncLabelArchive, ImageFormat, LabelArchive, LabelOutcome, LabelReport,
    MANIFEST_HEADER, MANIFEST_NAME, write_zip,
};
pub use error::{Error, PayloadError, Result};
#[cfg(feature = "pdf")]
pub use export::{export_pdf, export_pdf_async};
pub use export::{export_zip, export_zip_async};
pub use name::{FileNames, MAX_STEM, safe_file_stem};
pub use payload::Payload;
pub use render::{EcLevel, RenderOptions, Symbol, render_png, render_svg};
#[cfg(feature = "pdf")]
pub use sheet::{LabelSheet, Paper, SheetOptions, SheetReport};
