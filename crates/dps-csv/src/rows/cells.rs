//! The cells of the record being read: decoded, trimmed and unguarded text.

use std::io::Read;

use dps_core::ValidationError;

use crate::columns::{Column, Header};
use crate::error::RowError;
use crate::formula;
use crate::read::{FieldSpan, RecordReader};

/// The cells of the record being read, with what their errors need.
pub(super) struct Cells<'a, R> {
    reader: &'a RecordReader<R>,
    header: &'a Header,
    /// The whole record as text, with the offset of field spans in it; `None` when the
    /// record is not UTF-8 as a whole.
    record: Option<(&'a str, usize)>,
    line: u64,
}

impl<'a, R: Read> Cells<'a, R> {
    /// The cells of the record `reader` just read, which starts on `line`.
    pub(super) fn new(reader: &'a RecordReader<R>, header: &'a Header, line: u64) -> Self {
        // One UTF-8 check for the whole record; cells are then slices of it (a cell whose
        // bounds split a character, or a record that is not UTF-8, is checked on its own).
        let (bytes, offset) = reader.record_bytes();
        Self {
            reader,
            header,
            record: std::str::from_utf8(bytes).ok().map(|text| (text, offset)),
            line,
        }
    }

    /// The text of cell `index`: decoded, trimmed when unquoted, unguarded; `None` (absent)
    /// when empty, unless it was quoted and `allow_empty`.
    #[inline]
    pub(super) fn cell(
        &self,
        index: usize,
        allow_empty: bool,
    ) -> Result<Option<&'a str>, RowError> {
        let Some(&span) = self.reader.fields.get(index) else {
            return Ok(None);
        };
        let text = match self
            .record
            .and_then(|(r, offset)| r.get(span.start - offset..span.end - offset))
        {
            Some(text) => text,
            None => std::str::from_utf8(self.reader.field(span))
                .map_err(|e| self.utf8_error(index, span, e.valid_up_to()))?,
        };
        let text = if span.quoted { text } else { trim(text) };
        // Only a cell starting with `'` can carry the export's guard.
        let text = if text.starts_with('\'') {
            formula::unguard(text)
        } else {
            text
        };
        if text.is_empty() && !(span.quoted && allow_empty) {
            Ok(None)
        } else {
            Ok(Some(text))
        }
    }

    #[cold]
    #[inline(never)]
    fn utf8_error(&self, index: usize, span: FieldSpan, valid_up_to: usize) -> RowError {
        self.refused(
            index,
            &String::from_utf8_lossy(self.reader.field(span)),
            "invalid_utf8",
            format!("the cell is not valid UTF-8 (byte {})", valid_up_to + 1),
        )
    }

    #[cold]
    pub(super) fn invalid(&self, index: usize, value: &str, error: ValidationError) -> RowError {
        self.refused(index, value, error.code(), error.to_string())
    }

    #[cold]
    pub(super) fn refused(
        &self,
        index: usize,
        value: &str,
        code: &'static str,
        message: impl Into<String>,
    ) -> RowError {
        RowError::new(
            self.line,
            self.header.names.get(index).cloned(),
            value,
            code,
            message,
        )
    }

    #[cold]
    pub(super) fn missing(&self, column: Column) -> RowError {
        RowError::new(
            self.line,
            Some(self.header.name_of(column)),
            "",
            "missing_required",
            format!("{} is required", column.header()),
        )
    }
}

/// Trims white space: ASCII first, Unicode only when a non-ASCII character is at an end.
#[inline]
fn trim(text: &str) -> &str {
    let bytes = text.as_bytes();
    if let (Some(a), Some(b)) = (bytes.first(), bytes.last())
        && a.is_ascii_graphic()
        && b.is_ascii_graphic()
    {
        return text;
    }
    let t = text.trim_ascii();
    match (t.as_bytes().first(), t.as_bytes().last()) {
        (Some(a), Some(b)) if !a.is_ascii() || !b.is_ascii() => t.trim(),
        _ => t,
    }
}
