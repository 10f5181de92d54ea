//! Printable label sheets: [`LabelSheet`] lays labels out in a grid on A4 or Letter pages of
//! a PDF, each with its QR code and the serial and model in text, written page by page.

mod layout;
mod pdf;
mod stream;

pub(crate) use stream::AsyncSheet;

use std::io::Write;

use dps_core::{Device, DeviceId, SerialNumber};

use crate::archive::{LabelOutcome, LabelReport, OutcomeJson};
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::render::{RenderOptions, Symbol};
use layout::Grid;
use pdf::{Document, Label};

/// The paper a label sheet is printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Paper {
    /// ISO A4, 210 × 297 mm (the default).
    #[default]
    A4,
    /// US Letter, 8.5 × 11 in.
    Letter,
}

/// How a label sheet is laid out.
///
/// Every page has a half-inch margin and a grid of `columns` × `rows` labels, filled row by
/// row from the top left. Each label has its QR code at the top, as large as the label
/// allows, and the serial and the model centred under it in Helvetica. The codes are drawn
/// with [`render`](SheetOptions::render)'s error-correction level, quiet zone and largest
/// version; its module size and caption do not apply (the code is scaled to the label and the
/// text is always there).
///
/// ```
/// use dps::qr::{Paper, SheetOptions};
/// let options = SheetOptions::default().with_paper(Paper::Letter).with_grid(4, 10);
/// assert_eq!(options.labels_per_page(), 40);
/// assert_eq!(SheetOptions::default().labels_per_page(), 21);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SheetOptions {
    /// The paper. Default: A4.
    pub paper: Paper,
    /// Labels across a page, 1 to 8. Default: 3.
    pub columns: u32,
    /// Labels down a page, 1 to 12. Default: 7.
    pub rows: u32,
    /// How the codes are encoded.
    pub render: RenderOptions,
}

impl Default for SheetOptions {
    fn default() -> Self {
        Self {
            paper: Paper::A4,
            columns: 3,
            rows: 7,
            render: RenderOptions::default(),
        }
    }
}

impl SheetOptions {
    /// The range of [`SheetOptions::columns`].
    pub const COLUMNS: std::ops::RangeInclusive<u32> = 1..=8;
    /// The range of [`SheetOptions::rows`].
    pub const ROWS: std::ops::RangeInclusive<u32> = 1..=12;

    /// These options with another paper.
    #[must_use]
    pub fn with_paper(mut self, paper: Paper) -> Self {
        self.paper = paper;
        self
    }

    /// These options with another grid: `columns` labels across, `rows` down.
    #[must_use]
    pub fn with_grid(mut self, columns: u32, rows: u32) -> Self {
        self.columns = columns;
        self.rows = rows;
        self
    }

    /// These options with other rendering options for the codes.
    #[must_use]
    pub fn with_render(mut self, render: RenderOptions) -> Self {
        self.render = render;
        self
    }

    /// How many labels a page holds.
    pub fn labels_per_page(&self) -> usize {
        self.columns as usize * self.rows as usize
    }

    /// Checks every option against its range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the first option out of range.
    pub fn validate(&self) -> Result<()> {
        if !Self::COLUMNS.contains(&self.columns) {
            return Err(Error::InvalidOption {
                option: "columns",
                range: "1 to 8",
            });
        }
        if !Self::ROWS.contains(&self.rows) {
            return Err(Error::InvalidOption {
                option: "rows",
                range: "1 to 12",
            });
        }
        self.render.validate()
    }
}

/// The outcome of a label sheet: how many pages, and one outcome per label asked for.
///
/// A label on the sheet has `Ok` with its place, such as `"page 2, label 5"` (both counted
/// from 1, labels row by row); a label that could not be made has its error. It serialises
/// as the [`LabelReport`] does, with the page count first and each label's place as `label`
/// instead of `file`:
///
/// ```json
/// {
///   "pages": 1,
///   "succeeded": 1,
///   "failed": 0,
///   "outcomes": [
///     {"serial": "SN-0001", "device_id": "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7", "label": "page 1, label 1"}
///   ]
/// }
/// ```
#[derive(Debug, Default)]
pub struct SheetReport {
    /// The number of pages written.
    pub pages: usize,
    /// The labels' outcomes, in the order asked.
    pub labels: LabelReport,
}

/// The labels of a sheet and the PDF they go into, before any writer.
#[derive(Debug)]
pub(crate) struct Sheet {
    document: Document,
    render: RenderOptions,
    per_page: usize,
    /// The labels of the page being filled.
    page: Vec<Label>,
    report: LabelReport,
}

impl Sheet {
    pub(crate) fn new(options: SheetOptions) -> Result<Self> {
        options.validate()?;
        let grid = Grid::new(&options);
        let per_page = grid.per_page();
        Ok(Self {
            document: Document::new(grid, options.render.quiet_zone),
            render: options.render,
            per_page,
            page: Vec::with_capacity(per_page),
            report: LabelReport::default(),
        })
    }

    /// The bytes ready for the writer; call [`Sheet::taken`] once they are written.
    pub(crate) fn ready(&self) -> &[u8] {
        &self.document.out
    }

    /// Records that the bytes of [`Sheet::ready`] were written.
    pub(crate) fn taken(&mut self) {
        self.document.taken();
    }

    pub(crate) fn push(&mut self, payload: Payload, device_id: Option<DeviceId>) {
        let serial = payload.serial().clone();
        let result = match Symbol::for_payload(&payload, &self.render) {
            Ok(symbol) => {
                self.page.push(Label {
                    symbol,
                    serial: serial.as_str().to_owned(),
                    model: payload.model().as_str().to_owned(),
                });
                let place = format!(
                    "page {}, label {}",
                    self.document.page_count() + 1,
                    self.page.len()
                );
                if self.page.len() == self.per_page {
                    self.document.page(&self.page);
                    self.page.clear();
                }
                Ok(place)
            }
            Err(e) => Err(e),
        };
        self.report.outcomes.push(LabelOutcome {
            serial,
            device_id,
            result,
        });
    }

    pub(crate) fn push_failure(
        &mut self,
        serial: SerialNumber,
        device_id: Option<DeviceId>,
        error: Error,
    ) {
        self.report.outcomes.push(LabelOutcome {
            serial,
            device_id,
            result: Err(error),
        });
    }

    /// Writes the last page and the end of the file.
    pub(crate) fn finish(&mut self) -> Result<SheetReport> {
        if !self.page.is_empty() {
            self.document.page(&self.page);
            self.page.clear();
        }
        if self.document.page_count() == 0 {
            return Err(Error::EmptySheet {
                selected: self.report.outcomes.len(),
            });
        }
        self.document.finish();
        Ok(SheetReport {
            pages: self.document.page_count(),
            labels: std::mem::take(&mut self.report),
        })
    }
}

/// A PDF sheet of QR labels, written as a stream: a grid of labels per page (see
/// [`SheetOptions`]), each with its code and the serial and the model as text.
///
/// Each label pushed takes the next place on the page; a page is written to the writer as
/// soon as it is full, and [`LabelSheet::finish`] writes the last one and the end of the
/// file. Only one page's labels are held at a time, so memory does not grow with the
/// images: what grows with the number of labels is what the caller gets back (the
/// [`LabelOutcome`]s) and a few bytes a label for the file's cross-reference table. The
/// codes are 1-bit grayscale images, one pixel per module, scaled to the label; the text is
/// in Helvetica, one of the standard fonts every PDF reader has, so nothing is embedded.
/// Printable ASCII is drawn as it is and any other character as `?` (serials and model IDs
/// are ASCII); a line too wide for its label is cut and ends in an ellipsis.
///
/// Nothing is written before the first page is full or the sheet is finished, and a sheet
/// without a single label is [`Error::EmptySheet`], so that a failed sheet writes nothing.
/// A label whose code cannot be made (see [`Error::PayloadTooLong`]) gets an error in the
/// report and no place; an error returned by a method itself (the writer failed) leaves an
/// unusable sheet.
///
/// The calls block on the writer; in an async task, use
/// [`export_pdf_async`](crate::export_pdf_async).
///
/// ```
/// use dps::qr::{LabelSheet, Payload, SheetOptions};
///
/// let group = "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse()?;
/// let mut pdf = Vec::new();
/// let mut sheet = LabelSheet::new(&mut pdf, SheetOptions::default())?;
/// for serial in ["SN-0001", "SN-0002"] {
///     sheet.push(Payload::new(group, serial.parse()?, "thermostat".parse()?))?;
/// }
/// let report = sheet.finish()?;
/// assert_eq!(report.pages, 1);
/// assert_eq!(report.labels.outcomes[1].result.as_deref().ok(), Some("page 1, label 2"));
/// assert!(pdf.starts_with(b"%PDF-"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LabelSheet<W: Write> {
    sheet: Sheet,
    writer: W,
}

impl<W: Write> LabelSheet<W> {
    /// Starts a sheet on `writer`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for options out of range.
    pub fn new(writer: W, options: SheetOptions) -> Result<Self> {
        Ok(Self {
            sheet: Sheet::new(options)?,
            writer,
        })
    }

    /// Adds the label of `payload`; writes its page when it is full.
    ///
    /// # Errors
    ///
    /// Writing failed ([`Error::Io`]); a label whose code cannot be made is not an error
    /// here but an outcome in the report.
    pub fn push(&mut self, payload: Payload) -> Result<()> {
        self.sheet.push(payload, None);
        self.write_ready()
    }

    /// Adds the label of `device` (see [`LabelSheet::push`]); its outcome names the device.
    ///
    /// # Errors
    ///
    /// As [`LabelSheet::push`].
    pub fn push_device(&mut self, device: &Device) -> Result<()> {
        self.sheet.push(Payload::of(device), Some(device.id()));
        self.write_ready()
    }

    /// Records, in order, a label that cannot be made (such as a serial that was asked for
    /// but does not exist), without a place on the sheet.
    pub fn push_failure(
        &mut self,
        serial: SerialNumber,
        device_id: Option<DeviceId>,
        error: Error,
    ) {
        self.sheet.push_failure(serial, device_id, error);
    }

    /// Writes the last page and the end of the file, flushes the writer and returns the
    /// report.
    ///
    /// # Errors
    ///
    /// [`Error::EmptySheet`] when no label has a place (nothing was written then);
    /// [`Error::Io`] when writing fails.
    pub fn finish(mut self) -> Result<SheetReport> {
        let report = self.sheet.finish()?;
        self.write_ready()?;
        self.writer.flush()?;
        Ok(report)
    }

    fn write_ready(&mut self) -> Result<()> {
        if !self.sheet.ready().is_empty() {
            self.writer.write_all(self.sheet.ready())?;
            self.sheet.taken();
        }
        Ok(())
    }
}

impl serde::Serialize for SheetReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeStruct};

        struct Outcomes<'a>(&'a [LabelOutcome]);
        impl serde::Serialize for Outcomes<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
                for outcome in self.0 {
                    seq.serialize_element(&OutcomeJson(outcome, "label"))?;
                }
                seq.end()
            }
        }

        let mut out = serializer.serialize_struct("SheetReport", 4)?;
        out.serialize_field("pages", &self.pages)?;
        out.serialize_field("succeeded", &self.labels.succeeded())?;
        out.serialize_field("failed", &self.labels.failed())?;
        out.serialize_field("outcomes", &Outcomes(&self.labels.outcomes))?;
        out.end()
    }
}
