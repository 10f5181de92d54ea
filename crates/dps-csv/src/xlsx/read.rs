//! Reading a workbook: the archive checks, then the first sheet's rows as CSV records.
//!
//! The sheet is streamed cell by cell and written out as CSV, one record per row and every
//! cell quoted, so that the CSV reader validates its rows exactly as it does a file's. Lines
//! of that CSV are the sheet's rows: row 1 is the header, row 2 the first record.

use std::io::{self, Cursor, Read, Seek};

use calamine::{DataRef, Reader, Xlsx, XlsxCellReader};

use super::XlsxError;
use crate::error::{CsvError, Position};
use crate::formula;
use crate::limits::{Limit, Limits};
use crate::rows::MAX_COLUMNS;

/// The last row of a sheet, counting from 1 (Excel's limit).
const MAX_ROW: u32 = 1 << 20;

/// How many times [`Limits::max_bytes`] the entries of an archive may inflate to, in all.
pub(crate) const INFLATE_RATIO: u64 = 16;

/// The ZIP signature an XLSX file starts with.
pub(crate) const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// The file's bytes, read up to the file size limit.
pub(crate) fn read_bounded<R: Read>(reader: R, limits: &Limits) -> Result<Vec<u8>, CsvError> {
    let mut bytes = Vec::new();
    reader
        .take(limits.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(CsvError::LimitExceeded {
            limit: Limit::Bytes,
            max: limits.max_bytes,
            position: Position {
                line: 1,
                byte: limits.max_bytes,
                record: 0,
            },
        });
    }
    Ok(bytes)
}

/// Checks the archive within `limits` and opens its workbook.
///
/// Every entry's declared size is checked against the bound (`INFLATE_RATIO` times the file
/// size limit, for all entries together) before anything is inflated, and then each entry is
/// inflated into nothing to check that it holds no more than it declared, so that the
/// workbook reader never inflates more than the bound.
pub(crate) fn open(bytes: Vec<u8>, limits: &Limits) -> Result<Xlsx<Cursor<Vec<u8>>>, XlsxError> {
    if !bytes.starts_with(&ZIP_MAGIC) {
        return Err(XlsxError::NotXlsx);
    }
    let bound = limits.max_bytes.saturating_mul(INFLATE_RATIO);
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice()))
        .map_err(|e| XlsxError::invalid(format_args!("damaged or truncated archive ({e})")))?;
    let mut declared = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(XlsxError::invalid)?;
        declared = declared.saturating_add(entry.size());
        if declared > bound {
            return Err(XlsxError::TooLarge {
                what: format!(
                    "the inflated archive (at entry {:?})",
                    entry.name().unwrap_or_default()
                ),
                size: declared,
                max: bound,
            });
        }
    }
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(XlsxError::invalid)?;
        let size = entry.size();
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let inflated = io::copy(
            &mut (&mut entry).take(size.saturating_add(1)),
            &mut io::sink(),
        )
        .map_err(|e| XlsxError::invalid(format_args!("entry {name:?}: {e}")))?;
        if inflated > size {
            return Err(XlsxError::TooLarge {
                what: format!("entry {name:?}, which declared {size} bytes,"),
                size: inflated,
                max: size,
            });
        }
    }
    drop(archive);
    Xlsx::new(Cursor::new(bytes)).map_err(XlsxError::invalid)
}

/// The name of the workbook's first sheet.
pub(crate) fn first_sheet<RS: Read + Seek>(book: &Xlsx<RS>) -> Result<String, XlsxError> {
    book.sheet_names()
        .into_iter()
        .next()
        .ok_or(XlsxError::NoSheet)
}

/// A sheet's rows as CSV text, made as it is read.
pub(crate) struct SheetCsv<'a, RS: Read + Seek> {
    cells: XlsxCellReader<'a, RS>,
    /// The first cell of the next row, read with the last cell of the row before.
    pending: Option<(u32, u32, Option<String>)>,
    /// The row (from 0) the next line of CSV stands for.
    line_row: u32,
    header_done: bool,
    /// The header's width: every record gets at least as many cells.
    width: u32,
    buf: Vec<u8>,
    pos: usize,
    /// Whether the cell reader reached the end of the sheet's data.
    cells_done: bool,
    done: bool,
}

impl<RS: Read + Seek> std::fmt::Debug for SheetCsv<'_, RS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetCsv")
            .field("line_row", &self.line_row)
            .finish_non_exhaustive()
    }
}

impl<'a, RS: Read + Seek> SheetCsv<'a, RS> {
    pub(crate) fn new(cells: XlsxCellReader<'a, RS>) -> Self {
        Self {
            cells,
            pending: None,
            line_row: 0,
            header_done: false,
            width: 0,
            buf: Vec::new(),
            pos: 0,
            cells_done: false,
            done: false,
        }
    }

    /// The next cell: its row and column (from 0) and its text (`None` when empty).
    fn next_cell(&mut self) -> Result<Option<(u32, u32, Option<String>)>, XlsxError> {
        if let Some(cell) = self.pending.take() {
            return Ok(Some(cell));
        }
        if self.cells_done {
            return Ok(None);
        }
        let Some(cell) = self.cells.next_cell().map_err(XlsxError::invalid)? else {
            self.cells_done = true;
            return Ok(None);
        };
        let (row, col) = cell.get_position();
        if col as usize >= MAX_COLUMNS {
            return Err(XlsxError::TooLarge {
                what: format!("the column of a cell in row {}", u64::from(row) + 1),
                size: u64::from(col) + 1,
                max: MAX_COLUMNS as u64,
            });
        }
        if row >= MAX_ROW {
            return Err(XlsxError::TooLarge {
                what: "the row of a cell".to_owned(),
                size: u64::from(row) + 1,
                max: u64::from(MAX_ROW),
            });
        }
        Ok(Some((row, col, cell_text(cell.get_value()))))
    }

    /// Writes the next row with a value as a CSV record into `buf`; `false` at the end.
    fn fill(&mut self) -> Result<bool, XlsxError> {
        let mut cells: Vec<(u32, String)> = Vec::new();
        let row = loop {
            let Some((row, col, text)) = self.next_cell()? else {
                return Ok(false);
            };
            if row < self.line_row {
                return Err(XlsxError::invalid(format_args!(
                    "the cells of row {} are out of order",
                    u64::from(row) + 1
                )));
            }
            if let Some(text) = text {
                cells.push((col, text));
            }
            self.row_cells(row, &mut cells)?;
            if cells.iter().any(|(_, t)| !t.is_empty()) {
                break row;
            }
            cells.clear();
        };
        self.buf.clear();
        self.pos = 0;
        self.buf.resize((row - self.line_row) as usize, b'\n');
        let mut at = 0;
        for (col, text) in &cells {
            for _ in at..*col {
                self.buf.push(b',');
            }
            at = *col;
            let text = if self.header_done {
                formula::guard(text)
            } else {
                std::borrow::Cow::Borrowed(text.as_str())
            };
            self.buf.push(b'"');
            for b in text.bytes() {
                if b == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        }
        let last = cells.last().map_or(0, |(c, _)| *c);
        if !self.header_done {
            self.width = last + 1;
        }
        for _ in last + 1..self.width {
            self.buf.push(b',');
        }
        self.buf.push(b'\n');
        self.header_done = true;
        self.line_row = row + 1;
        Ok(true)
    }

    /// Reads the rest of `row`'s cells into `cells`, keeping the first cell of the next row.
    fn row_cells(&mut self, row: u32, cells: &mut Vec<(u32, String)>) -> Result<(), XlsxError> {
        let mut last = cells.last().map(|(c, _)| *c);
        while let Some((r, col, text)) = self.next_cell()? {
            if r != row {
                self.pending = Some((r, col, text));
                break;
            }
            if last.is_some_and(|l| col <= l) {
                return Err(XlsxError::invalid(format_args!(
                    "the cells of row {} are out of order",
                    u64::from(row) + 1
                )));
            }
            if let Some(text) = text {
                last = Some(col);
                cells.push((col, text));
            }
        }
        Ok(())
    }
}

impl<RS: Read + Seek> Read for SheetCsv<'_, RS> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done || !self.fill().map_err(io::Error::other)? {
                self.done = true;
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A cell's value as the text an import reads: strings as they are, numbers as their
/// shortest decimal form (whole numbers without a fraction), booleans as `true`/`false`,
/// dates as their serial number; `None` for an empty cell.
fn cell_text(value: &DataRef<'_>) -> Option<String> {
    Some(match value {
        DataRef::Empty => return None,
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number(*f),
        DataRef::DateTime(d) => number(d.as_f64()),
        DataRef::Bool(b) => b.to_string(),
        DataRef::Error(e) => e.to_string(),
    })
}

fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// The [`XlsxError`] a read of the sheet failed with, when `e` carries one.
pub(crate) fn sheet_error(e: CsvError) -> Result<XlsxError, CsvError> {
    match e {
        CsvError::Io(io) if io.get_ref().is_some_and(|r| r.is::<XlsxError>()) => io
            .into_inner()
            .and_then(|b| b.downcast::<XlsxError>().ok())
            .map(|b| *b)
            .ok_or_else(|| CsvError::Io(io::Error::other("unreadable sheet"))),
        other => Err(other),
    }
}
