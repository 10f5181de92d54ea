//! A bounded CSV record reader.
//!
//! It follows RFC 4180 as spreadsheets write it: fields separated by one delimiter byte,
//! records ended by LF, CRLF or CR, quoted fields with doubled quotes and embedded line breaks.
//! Like the `csv` crate it is lenient where spreadsheets are sloppy: a quote inside an
//! unquoted field is literal, and text after a closing quote is appended to the field. Blank
//! lines are skipped.
//!
//! Unlike a general reader it enforces the [`Limits`] while it reads: the file size on every
//! read from the source (never asking for more than one byte past it, and refusing the file
//! when the records reach that byte), the size of a field on every byte appended to it, and
//! the number of fields kept per record. Where a limit stops the reader does not depend on
//! how the source splits the file. Memory is one input buffer plus one record.

use std::io::{self, Read};

use crate::bytes::find_unquoted_end;
use crate::error::{CsvError, Position};
use crate::limits::{Limit, Limits};

mod head;
mod in_place;

use head::{detect_delimiter, has_line_end};

const BUF_SIZE: usize = 64 * 1024;

/// One field of the current record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) quoted: bool,
}

/// Facts about the record just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordInfo {
    /// The line the record starts on.
    pub(crate) line: u64,
    /// The byte offset the record starts at.
    pub(crate) byte: u64,
    /// How many fields the record has, including those beyond the kept ones.
    pub(crate) fields: usize,
    /// Whether a field beyond the kept ones had content.
    pub(crate) extra_content: bool,
    /// Whether the record ends inside a quoted field (at the end of the file).
    pub(crate) unterminated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StartField,
    Unquoted,
    Quoted,
    AfterQuote,
}

/// The field the general path is copying: where it starts in `data`, and whether it is
/// quoted.
#[derive(Debug, Clone, Copy)]
struct Field {
    start: usize,
    quoted: bool,
}

/// A record the general path was copying when the source had no bytes yet
/// ([`is_pending`]): the next [`RecordReader::read_record`] goes on from here.
#[derive(Debug, Clone, Copy)]
struct Suspended {
    state: State,
    field: Field,
    info: RecordInfo,
}

/// Whether `e` only says that the source has no bytes yet (it answered
/// [`io::ErrorKind::WouldBlock`]): the reader has kept its place, and the call that returned
/// it can be made again once the source has more.
pub(crate) fn is_pending(e: &CsvError) -> bool {
    matches!(e, CsvError::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Reads records from a byte source within [`Limits`].
///
/// A source may answer [`io::ErrorKind::WouldBlock`] when it has no bytes yet (the async
/// import's feed does): [`RecordReader::sniff`] and [`RecordReader::read_record`] then return
/// that error ([`is_pending`]) with their place kept, and go on where they stopped when they
/// are called again.
#[derive(Debug)]
pub(crate) struct RecordReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Bytes taken from the source so far.
    consumed: u64,
    /// Whether the source gave a byte past the file size limit (which is not kept).
    over_limit: bool,
    /// Offset in the file of `buf[0]`.
    offset: u64,
    line: u64,
    delimiter: u8,
    limits: Limits,
    /// How many fields a record keeps; further ones are counted only.
    max_fields: usize,
    /// Data records read so far (the caller counts them).
    pub(crate) records: u64,
    /// The current record's field bytes, when they were copied (see `in_buf`).
    data: Vec<u8>,
    /// Whether the current record's fields are spans of `buf` (the record lay in the buffer
    /// and needed no unescaping) rather than of `data`.
    in_buf: bool,
    /// The current record's bytes in `buf`, when `in_buf`.
    raw: (usize, usize),
    /// The current record's fields.
    pub(crate) fields: Vec<FieldSpan>,
    /// The record the general path stopped in when the source had no bytes yet.
    suspended: Option<Suspended>,
    /// Whether a line break inside a quoted field counts as a line (it does in a CSV file;
    /// a sheet's rows, written one record per line, count rows instead).
    pub(crate) breaks_in_quotes: bool,
    /// Whether the in-place paths may read a record (the general path reads every record
    /// when not; the tests compare the two).
    #[cfg(test)]
    in_place: bool,
}

impl<R: Read> RecordReader<R> {
    /// A reader that strips a UTF-8 byte order mark and detects the delimiter (`;` when the
    /// header line has more semicolons than commas outside quotes, else `,`).
    pub(crate) fn new(inner: R, limits: Limits, max_fields: usize) -> Result<Self, CsvError> {
        let mut r = Self::unsniffed(inner, limits, max_fields);
        r.sniff()?;
        Ok(r)
    }

    /// A reader that has not looked at the file yet: call [`RecordReader::sniff`] before the
    /// first record.
    pub(crate) fn unsniffed(inner: R, limits: Limits, max_fields: usize) -> Self {
        Self {
            inner,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            consumed: 0,
            over_limit: false,
            offset: 0,
            line: 1,
            delimiter: b',',
            limits,
            max_fields,
            records: 0,
            data: Vec::new(),
            in_buf: false,
            raw: (0, 0),
            fields: Vec::new(),
            suspended: None,
            breaks_in_quotes: true,
            #[cfg(test)]
            in_place: true,
        }
    }

    /// Strips a UTF-8 byte order mark and detects the delimiter from the first line (or as
    /// much of it as the buffer holds).
    pub(crate) fn sniff(&mut self) -> Result<(), CsvError> {
        while !self.eof && self.len < self.buf.len() && !has_line_end(&self.buf[..self.len]) {
            self.read_more()?;
        }
        let head = &self.buf[..self.len];
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.pos = 3;
        } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(CsvError::InvalidEncoding {
                reason: "the file is UTF-16; save it as CSV UTF-8",
            });
        }
        self.delimiter = detect_delimiter(&self.buf[self.pos..self.len]);
        Ok(())
    }

    /// The source.
    pub(crate) fn source_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Whether the in-place paths may read a record.
    #[cfg(test)]
    fn in_place(&self) -> bool {
        self.in_place
    }

    /// Whether the in-place paths may read a record: always, outside the tests.
    #[cfg(not(test))]
    #[inline]
    fn in_place(&self) -> bool {
        true
    }

    /// The delimiter in use.
    pub(crate) fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// From now on keep at most `n` fields per record.
    pub(crate) fn set_max_fields(&mut self, n: usize) {
        self.max_fields = n;
    }

    /// The current position.
    pub(crate) fn position(&self) -> Position {
        Position {
            line: self.line,
            byte: self.offset + self.pos as u64,
            record: self.records,
        }
    }

    /// Bytes taken from the source so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// Appends bytes from the source to the buffer; returns whether any came.
    fn read_more(&mut self) -> Result<bool, CsvError> {
        if self.over_limit {
            return Err(CsvError::LimitExceeded {
                limit: Limit::Bytes,
                max: self.limits.max_bytes,
                position: Position {
                    line: self.line,
                    byte: self.limits.max_bytes,
                    record: self.records,
                },
            });
        }
        if self.eof {
            return Ok(false);
        }
        // Ask for at most one byte past the size limit, so that a large file is never read
        // further than needed to see that it is too large.
        let allowed = self
            .limits
            .max_bytes
            .saturating_sub(self.consumed)
            .saturating_add(1);
        let room = self.buf.len() - self.len;
        let want = room.min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = loop {
            match self.inner.read(&mut self.buf[self.len..self.len + want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CsvError::Io(e)),
            }
        };
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.len += n;
        self.consumed += n as u64;
        if self.consumed > self.limits.max_bytes {
            // The byte past the limit only shows that the file is too large: the records
            // before it are read, and the error comes when the reader needs that byte, at the
            // same place however the source splits the file.
            let over = usize::try_from(self.consumed - self.limits.max_bytes).unwrap_or(n);
            self.len -= over.min(n);
            self.over_limit = true;
            if over >= n {
                return self.read_more();
            }
        }
        Ok(true)
    }

    /// Makes `pos < len` unless the source is exhausted; returns whether a byte is available.
    #[inline]
    fn refill(&mut self) -> Result<bool, CsvError> {
        if self.pos < self.len {
            return Ok(true);
        }
        self.offset += self.len as u64;
        self.pos = 0;
        self.len = 0;
        self.read_more()
    }

    fn field_too_large(&self) -> CsvError {
        CsvError::LimitExceeded {
            limit: Limit::FieldBytes,
            max: self.limits.max_field_bytes as u64,
            position: self.position(),
        }
    }

    /// Ends the current field, which started at `start` in `data`.
    fn end_field(&mut self, start: usize, quoted: bool, info: &mut RecordInfo) {
        info.fields += 1;
        if self.fields.len() < self.max_fields {
            self.fields.push(FieldSpan {
                start,
                end: self.data.len(),
                quoted,
            });
        } else {
            if quoted || self.data[start..].iter().any(|b| !b.is_ascii_whitespace()) {
                info.extra_content = true;
            }
            self.data.truncate(start);
        }
    }

    /// Reads the next record into `data` and `fields`; `None` at the end of the file.
    #[inline]
    pub(crate) fn read_record(&mut self) -> Result<Option<RecordInfo>, CsvError> {
        if let Some(suspended) = self.suspended.take() {
            let mut info = suspended.info;
            self.copy_from(suspended.state, suspended.field, &mut info)?;
            return Ok(Some(info));
        }
        self.data.clear();
        self.fields.clear();
        self.in_buf = false;
        if !self.skip_line_ends()? {
            return Ok(None);
        }
        let mut info = RecordInfo {
            line: self.line,
            byte: self.offset + self.pos as u64,
            fields: 0,
            extra_content: false,
            unterminated: false,
        };
        if self.in_place() && (self.plain_record(&mut info) || self.record_in_buffer(&mut info)) {
            return Ok(Some(info));
        }
        self.copied_record(&mut info)?;
        Ok(Some(info))
    }

    /// Skips the line ends left by the previous record and blank lines; returns whether a
    /// byte follows them.
    #[inline]
    fn skip_line_ends(&mut self) -> Result<bool, CsvError> {
        loop {
            if !self.refill()? {
                return Ok(false);
            }
            match self.buf[self.pos] {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b'\r' => self.pos += 1,
                _ => return Ok(true),
            }
        }
    }

    /// The general path: reads the record at `pos` into `data`, across buffer refills,
    /// unescaping doubled quotes.
    fn copied_record(&mut self, info: &mut RecordInfo) -> Result<(), CsvError> {
        let field = Field {
            start: 0,
            quoted: false,
        };
        self.copy_from(State::StartField, field, info)
    }

    /// The general path from `state` in `field`; when the source has no bytes yet, the place
    /// is kept for the next [`RecordReader::read_record`].
    fn copy_from(
        &mut self,
        mut state: State,
        mut field: Field,
        info: &mut RecordInfo,
    ) -> Result<(), CsvError> {
        loop {
            let more = match self.refill() {
                Ok(more) => more,
                Err(e) => {
                    if is_pending(&e) {
                        self.suspended = Some(Suspended {
                            state,
                            field,
                            info: *info,
                        });
                    }
                    return Err(e);
                }
            };
            if !more {
                info.unterminated = state == State::Quoted;
                if state == State::StartField {
                    // A delimiter was the last byte: one more, empty field.
                    field = Field {
                        start: self.data.len(),
                        quoted: false,
                    };
                }
                self.end_field(field.start, field.quoted, info);
                return Ok(());
            }
            let next = match state {
                State::StartField => Some(self.start_field(&mut field)),
                State::Unquoted => self.unquoted_run(field, info)?,
                State::Quoted => Some(self.quoted_run(field)?),
                State::AfterQuote => self.after_quote(field, info)?,
            };
            match next {
                Some(next) => state = next,
                // The line end is consumed by the next call.
                None => return Ok(()),
            }
        }
    }

    /// Starts a field at `pos`: quoted when it opens with a quote.
    fn start_field(&mut self, field: &mut Field) -> State {
        field.start = self.data.len();
        field.quoted = self.buf[self.pos] == b'"';
        if field.quoted {
            self.pos += 1;
            State::Quoted
        } else {
            State::Unquoted
        }
    }

    /// Copies unquoted bytes up to the next delimiter or line end; the next state, or `None`
    /// when the record ended.
    fn unquoted_run(
        &mut self,
        field: Field,
        info: &mut RecordInfo,
    ) -> Result<Option<State>, CsvError> {
        let chunk = &self.buf[self.pos..self.len];
        let run = find_unquoted_end(chunk, self.delimiter).min(self.field_room(field));
        self.data.extend_from_slice(&chunk[..run]);
        self.pos += run;
        self.check_field_size(field)?;
        if self.pos == self.len {
            return Ok(Some(State::Unquoted));
        }
        let b = self.buf[self.pos];
        self.end_field(field.start, field.quoted, info);
        if b == self.delimiter {
            self.pos += 1;
            Ok(Some(State::StartField))
        } else {
            Ok(None)
        }
    }

    /// Copies quoted bytes up to the next quote.
    fn quoted_run(&mut self, field: Field) -> Result<State, CsvError> {
        let chunk = &self.buf[self.pos..self.len];
        let run = chunk
            .iter()
            .position(|&b| b == b'"')
            .unwrap_or(chunk.len())
            .min(self.field_room(field));
        let text = &chunk[..run];
        if self.breaks_in_quotes {
            self.line += text.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.data.extend_from_slice(text);
        self.pos += run;
        self.check_field_size(field)?;
        if self.pos < self.len {
            self.pos += 1;
            return Ok(State::AfterQuote);
        }
        Ok(State::Quoted)
    }

    /// Reads the byte after a quote inside a quoted field; the next state, or `None` when the
    /// record ended.
    fn after_quote(
        &mut self,
        field: Field,
        info: &mut RecordInfo,
    ) -> Result<Option<State>, CsvError> {
        let b = self.buf[self.pos];
        if b == b'"' {
            self.data.push(b'"');
            self.pos += 1;
            self.check_field_size(field)?;
            Ok(Some(State::Quoted))
        } else if b == self.delimiter {
            self.end_field(field.start, field.quoted, info);
            self.pos += 1;
            Ok(Some(State::StartField))
        } else if b == b'\n' || b == b'\r' {
            self.end_field(field.start, field.quoted, info);
            Ok(None)
        } else {
            // Text after a closing quote belongs to the field.
            Ok(Some(State::Unquoted))
        }
    }

    /// How many more bytes the field being copied may take in one run: one past the size
    /// limit at most, so that a field too large is reported at the same byte however the
    /// source splits the file.
    #[inline]
    fn field_room(&self, field: Field) -> usize {
        let held = self.data.len() - field.start;
        self.limits
            .max_field_bytes
            .saturating_add(1)
            .saturating_sub(held)
    }

    /// An error when the field being copied has grown over the size limit.
    #[inline]
    fn check_field_size(&self, field: Field) -> Result<(), CsvError> {
        if self.data.len() - field.start > self.limits.max_field_bytes {
            return Err(self.field_too_large());
        }
        Ok(())
    }

    /// The bytes of a field of the current record.
    #[inline]
    pub(crate) fn field(&self, span: FieldSpan) -> &[u8] {
        let bytes: &[u8] = if self.in_buf { &self.buf } else { &self.data };
        bytes.get(span.start..span.end).unwrap_or_default()
    }

    /// Bytes that hold every field of the current record (and, when read in place, the
    /// delimiters and quotes between them, which are ASCII), with the offset that field
    /// spans have in them: a span `s` is `bytes[s.start - offset..s.end - offset]`.
    pub(crate) fn record_bytes(&self) -> (&[u8], usize) {
        if self.in_buf {
            (&self.buf[self.raw.0..self.raw.1], self.raw.0)
        } else {
            (&self.data, 0)
        }
    }
}

#[cfg(test)]
mod tests;
