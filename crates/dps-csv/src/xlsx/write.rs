//! Writing a workbook of one sheet, every cell as text, rows streamed to a temporary file.

use std::io::{self, Write};

use rust_xlsxwriter::{Color, Format, Note, Workbook, Worksheet};

use crate::columns::Column;
use crate::write::RowCells;

/// The sheet's name.
pub(crate) const SHEET_NAME: &str = "Devices";

/// The note on the header of a read-only column.
const READ_ONLY_NOTE: &str = "Read-only: an import ignores this column.";

/// The note on the `Version` header.
const VERSION_NOTE: &str =
    "Read-only: an update or upsert checks it against the stored device; leave it as exported.";

/// A workbook being written: one sheet in constant-memory mode, so that memory stays flat
/// however many rows it gets.
pub(crate) struct SheetWriter {
    book: Workbook,
    text: Format,
    row: u32,
    col: u16,
}

impl std::fmt::Debug for SheetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetWriter")
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

/// A write error of the workbook as an I/O error.
pub(crate) fn io_error(e: rust_xlsxwriter::XlsxError) -> io::Error {
    match e {
        rust_xlsxwriter::XlsxError::IoError(e) => e,
        rust_xlsxwriter::XlsxError::RowColumnLimitError => {
            io::Error::other("a sheet holds at most 1 048 575 devices; export a selection")
        }
        other => io::Error::other(other.to_string()),
    }
}

impl SheetWriter {
    /// A workbook whose sheet has the header row `columns`: bold, frozen, read-only columns
    /// grey with a note, and every column formatted as text.
    pub(crate) fn new(columns: &[String]) -> io::Result<Self> {
        let mut book = Workbook::new();
        let text = Format::new().set_num_format("@");
        let bold = text.clone().set_bold();
        let grey = bold.clone().set_background_color(Color::Silver);
        let sheet = book
            .add_worksheet_with_constant_memory()
            .map_err(io_error)?;
        sheet.set_name(SHEET_NAME).map_err(io_error)?;
        sheet.set_freeze_panes(1, 0).map_err(io_error)?;
        for (i, name) in columns.iter().enumerate() {
            let col = u16::try_from(i).map_err(|_| io::Error::other("too many columns"))?;
            sheet.set_column_format(col, &text).map_err(io_error)?;
            sheet.set_column_width(col, 20).map_err(io_error)?;
            header(sheet, col, name, &bold, &grey).map_err(io_error)?;
        }
        Ok(Self {
            book,
            text,
            row: 1,
            col: 0,
        })
    }

    /// Writes the workbook to `writer`.
    pub(crate) fn finish<W: Write + Send>(mut self, mut writer: W) -> io::Result<W> {
        self.book.save_to_writer(&mut writer).map_err(io_error)?;
        writer.flush()?;
        Ok(writer)
    }
}

/// Writes the header cell of column `col`.
fn header(
    sheet: &mut Worksheet,
    col: u16,
    name: &str,
    bold: &Format,
    grey: &Format,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let column = Column::TEMPLATE
        .iter()
        .chain(Column::READ_ONLY.iter())
        .chain([Column::DeviceSecret, Column::DeviceBootstrapKey].iter())
        .find(|c| c.header() == name);
    match column {
        Some(c) if c.is_read_only() => {
            sheet.write_string_with_format(0, col, name, grey)?;
            let note = if *c == Column::Version {
                VERSION_NOTE
            } else {
                READ_ONLY_NOTE
            };
            sheet.insert_note(0, col, &Note::new(note).add_author_prefix(false))?;
        }
        Some(_) | None => {
            sheet.write_string_with_format(0, col, name, bold)?;
        }
    }
    Ok(())
}

impl RowCells for SheetWriter {
    /// A string cell, as it is: a cell written as text is never run as a formula, so it
    /// needs no guard.
    fn value(&mut self, value: &str) -> io::Result<()> {
        let Self {
            book,
            text,
            row,
            col,
        } = self;
        book.worksheet_from_index(0)
            .and_then(|sheet| sheet.write_string_with_format(*row, *col, value, text))
            .map_err(io_error)?;
        *col += 1;
        Ok(())
    }

    fn absent(&mut self) -> io::Result<()> {
        self.col += 1;
        Ok(())
    }

    fn end_record(&mut self) -> io::Result<()> {
        self.row += 1;
        self.col = 0;
        Ok(())
    }
}
