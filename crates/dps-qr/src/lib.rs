//! QR labels for **dps**: the label payload, PNG and SVG rendering, and ZIP archives of labels
//! written as a stream.
//!
//! - [`Payload`] is what a label carries: the device's group ID, serial number and model ID,
//!   and no secret. Its text form is version 1 of the dps label payload (specified in
//!   `docs/qr-payload.md`): short, entirely in the QR alphanumeric character set, with a check
//!   character. [`Payload::parse`] reads exactly what [`Payload::render`] writes.
//! - [`render_png`] and [`render_svg`] draw a payload's QR code ([`Symbol`]) with the
//!   [`RenderOptions`]: error-correction level ([`EcLevel`], M by default), module size, quiet
//!   zone (4 modules by default), the largest QR version a label may take, and for SVGs an
//!   optional caption with the serial. PNGs are 1-bit grayscale.
//! - [`LabelArchive`] writes a ZIP with one stored entry per label, named after the serial by
//!   [`FileNames`] (file-system-safe, unique also ignoring case), and a `manifest.csv`. Labels
//!   render on all cores while the entries are written in order; the same labels give
//!   byte-identical archives, and memory stays bounded however many labels there are.
//!   [`export_zip`] does this for a [`Provisioner`](dps_core::Provisioner)'s devices, by
//!   explicit serials or by filter, with one [`LabelOutcome`] per device.
//!
//! Errors are [`Error`] and [`PayloadError`]; each has a stable [`code`](Error::code).
//!
//! This crate has no cargo features.
//!
//! # Example
//!
//! ```
//! use dps_qr::{ArchiveOptions, LabelArchive, Payload, RenderOptions, render_png};
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
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod archive;
mod error;
mod export;
mod name;
mod payload;
mod render;

pub use archive::{
    ArchiveOptions, ImageFormat, LabelArchive, LabelOutcome, LabelReport, MANIFEST_HEADER,
    MANIFEST_NAME, write_zip,
};
pub use error::{Error, PayloadError, Result};
pub use export::{export_zip, export_zip_async};
pub use name::{FileNames, MAX_STEM, safe_file_stem};
pub use payload::Payload;
pub use render::{EcLevel, RenderOptions, Symbol, render_png, render_svg};
