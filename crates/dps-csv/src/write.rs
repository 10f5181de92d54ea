//! A small CSV writer that quotes exactly what the importer needs quoted.

use std::io::{self, Write};

use crate::formula;

/// The field delimiter of written files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Delimiter {
    /// `,`
    #[default]
    Comma,
    /// `;`, as spreadsheets write CSV in locales with a decimal comma.
    Semicolon,
}

impl Delimiter {
    /// The delimiter byte.
    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
        }
    }
}

/// Where the cells of exported rows go: a CSV file ([`CellWriter`]) or a sheet.
pub(crate) trait RowCells {
    /// A value.
    fn value(&mut self, value: &str) -> io::Result<()>;

    /// An absent value.
    fn absent(&mut self) -> io::Result<()>;

    /// An optional value.
    fn opt(&mut self, value: Option<&str>) -> io::Result<()> {
        match value {
            Some(v) => self.value(v),
            None => self.absent(),
        }
    }

    /// Ends the row.
    fn end_record(&mut self) -> io::Result<()>;
}

impl<W: Write> RowCells for CellWriter<W> {
    fn value(&mut self, value: &str) -> io::Result<()> {
        CellWriter::value(self, value)
    }

    fn absent(&mut self) -> io::Result<()> {
        CellWriter::absent(self)
    }

    fn opt(&mut self, value: Option<&str>) -> io::Result<()> {
        CellWriter::opt(self, value)
    }

    fn end_record(&mut self) -> io::Result<()> {
        CellWriter::end_record(self)
    }
}

/// Writes records cell by cell. A cell is quoted when it holds the delimiter, a quote or a
/// line break, starts or ends with white space (which the importer would trim), or is an
/// empty value (so that the importer tells it from an absent one). Values go through the
/// [formula guard](crate::formula).
#[derive(Debug)]
pub(crate) struct CellWriter<W: Write> {
    inner: io::BufWriter<W>,
    delimiter: u8,
    first: bool,
}

impl<W: Write> CellWriter<W> {
    pub(crate) fn new(inner: W, delimiter: Delimiter, bom: bool) -> io::Result<Self> {
        Self::with_buffer(inner, delimiter, bom, 64 * 1024)
    }

    /// A writer that buffers up to `capacity` bytes before it writes to `inner` (0 for a
    /// writer that is a buffer already).
    pub(crate) fn with_buffer(
        inner: W,
        delimiter: Delimiter,
        bom: bool,
        capacity: usize,
    ) -> io::Result<Self> {
        let mut inner = io::BufWriter::with_capacity(capacity, inner);
        if bom {
            inner.write_all("\u{feff}".as_bytes())?;
        }
        Ok(Self {
            inner,
            delimiter: delimiter.byte(),
            first: true,
        })
    }

    fn separator(&mut self) -> io::Result<()> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.inner.write_all(&[self.delimiter])
        }
    }

    /// An absent value: an empty cell.
    pub(crate) fn absent(&mut self) -> io::Result<()> {
        self.separator()
    }

    /// A value, guarded against formula execution.
    pub(crate) fn value(&mut self, value: &str) -> io::Result<()> {
        self.raw(&formula::guard(value))
    }

    /// An optional value.
    pub(crate) fn opt(&mut self, value: Option<&str>) -> io::Result<()> {
        match value {
            Some(v) => self.value(v),
            None => self.absent(),
        }
    }

    /// Text written as it is (headers), quoted when needed.
    pub(crate) fn raw(&mut self, text: &str) -> io::Result<()> {
        self.separator()?;
        let d = self.delimiter;
        let needs_quotes = text.is_empty()
            || text.starts_with(char::is_whitespace)
            || text.ends_with(char::is_whitespace)
            || text
                .bytes()
                .any(|b| b == d || b == b'"' || b == b'\n' || b == b'\r');
        if !needs_quotes {
            return self.inner.write_all(text.as_bytes());
        }
        self.inner.write_all(b"\"")?;
        let mut rest = text;
        while let Some(i) = rest.find('"') {
            self.inner.write_all(&rest.as_bytes()[..=i])?;
            self.inner.write_all(b"\"")?;
            rest = &rest[i + 1..];
        }
        self.inner.write_all(rest.as_bytes())?;
        self.inner.write_all(b"\"")
    }

    /// Ends the record.
    pub(crate) fn end_record(&mut self) -> io::Result<()> {
        self.first = true;
        self.inner.write_all(b"\r\n")
    }

    /// The underlying writer, with everything written so far flushed to it.
    pub(crate) fn flushed(&mut self) -> io::Result<&mut W> {
        self.inner.flush()?;
        Ok(self.inner.get_mut())
    }

    /// Flushes and returns the underlying writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        self.inner
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}
