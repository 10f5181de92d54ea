//! A bounded CSV record reader.
//!
//! It follows RFC 4180 as spreadsheets write it: fields separated by one delimiter byte,
//! records ended by LF, CRLF or CR, quoted fields with doubled quotes and embedded line breaks.
//! Like the `csv` crate it is lenient where spreadsheets are sloppy: a quote inside an
//! unquoted field is literal, and text after a closing quote is appended to the field. Blank
//! lines are skipped.
//!
//! Unlike a general reader it enforces the [`Limits`] while it reads: the file size on every
//! read from the source, the size of a field on every byte appended to it, and the number of
//! fields kept per record. Memory is one input buffer plus one record.

use std::io::{self, Read};

use crate::error::{CsvError, Position};
use crate::limits::{Limit, Limits};

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

/// Reads records from a byte source within [`Limits`].
#[derive(Debug)]
pub(crate) struct RecordReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Bytes taken from the source so far.
    consumed: u64,
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
    /// Whether the in-place paths may read a record (the general path reads every record
    /// when not; the tests compare the two).
    #[cfg(test)]
    in_place: bool,
}

impl<R: Read> RecordReader<R> {
    /// A reader that strips a UTF-8 byte order mark and detects the delimiter (`;` when the
    /// header line has more semicolons than commas outside quotes, else `,`).
    pub(crate) fn new(inner: R, limits: Limits, max_fields: usize) -> Result<Self, CsvError> {
        let mut r = Self {
            inner,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            consumed: 0,
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
            #[cfg(test)]
            in_place: true,
        };
        // Buffer the first line (or as much of it as fits) to look at the BOM and delimiters.
        while !r.eof && r.len < r.buf.len() && !has_line_end(&r.buf[..r.len]) {
            r.read_more()?;
        }
        let head = &r.buf[..r.len];
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            r.pos = 3;
        } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(CsvError::InvalidEncoding {
                reason: "the file is UTF-16; save it as CSV UTF-8",
            });
        }
        r.delimiter = detect_delimiter(&r.buf[r.pos..r.len]);
        Ok(r)
    }

    /// Whether the in-place paths may read a record.
    #[cfg(test)]
    fn in_place(&self) -> bool {
        self.in_place
    }

    /// Whether the in-place paths may read a record: always, outside the tests.
    #[cfg(not(test))]
    #[inline(always)]
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
        self.data.clear();
        self.fields.clear();
        self.in_buf = false;
        // Skip line ends left by the previous record and blank lines.
        loop {
            if !self.refill()? {
                return Ok(None);
            }
            match self.buf[self.pos] {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b'\r' => self.pos += 1,
                _ => break,
            }
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
        let max_field = self.limits.max_field_bytes;
        let delimiter = self.delimiter;
        let mut state = State::StartField;
        let mut start = 0usize;
        let mut quoted = false;
        loop {
            if !self.refill()? {
                info.unterminated = state == State::Quoted;
                if state == State::StartField {
                    // A delimiter was the last byte: one more, empty field.
                    start = self.data.len();
                    quoted = false;
                }
                self.end_field(start, quoted, &mut info);
                return Ok(Some(info));
            }
            match state {
                State::StartField | State::Unquoted => {
                    if state == State::StartField {
                        start = self.data.len();
                        if self.buf[self.pos] == b'"' {
                            quoted = true;
                            self.pos += 1;
                            state = State::Quoted;
                            continue;
                        }
                        quoted = false;
                        state = State::Unquoted;
                    }
                    let chunk = &self.buf[self.pos..self.len];
                    let run = find_unquoted_end(chunk, delimiter);
                    self.data.extend_from_slice(&chunk[..run]);
                    self.pos += run;
                    if self.data.len() - start > max_field {
                        return Err(self.field_too_large());
                    }
                    if self.pos == self.len {
                        continue;
                    }
                    let b = self.buf[self.pos];
                    self.end_field(start, quoted, &mut info);
                    if b == delimiter {
                        self.pos += 1;
                        state = State::StartField;
                    } else {
                        // The line end is consumed by the next call.
                        return Ok(Some(info));
                    }
                }
                State::Quoted => {
                    let chunk = &self.buf[self.pos..self.len];
                    let run = chunk.iter().position(|&b| b == b'"').unwrap_or(chunk.len());
                    let text = &chunk[..run];
                    self.line += text.iter().filter(|&&b| b == b'\n').count() as u64;
                    self.data.extend_from_slice(text);
                    self.pos += run;
                    if self.data.len() - start > max_field {
                        return Err(self.field_too_large());
                    }
                    if self.pos < self.len {
                        self.pos += 1;
                        state = State::AfterQuote;
                    }
                }
                State::AfterQuote => {
                    let b = self.buf[self.pos];
                    if b == b'"' {
                        self.data.push(b'"');
                        self.pos += 1;
                        if self.data.len() - start > max_field {
                            return Err(self.field_too_large());
                        }
                        state = State::Quoted;
                    } else if b == delimiter {
                        self.end_field(start, quoted, &mut info);
                        self.pos += 1;
                        state = State::StartField;
                    } else if b == b'\n' || b == b'\r' {
                        self.end_field(start, quoted, &mut info);
                        return Ok(Some(info));
                    } else {
                        // Text after a closing quote belongs to the field.
                        state = State::Unquoted;
                    }
                }
            }
        }
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

    /// The fastest path, for the common record: no quoted field, no more fields than kept, no
    /// field over the size limit, and its line end within the last whole eight-byte word of
    /// the record that the buffer holds. It finds every delimiter and line end of the record
    /// eight bytes at a time and cuts the fields between them. Gives up (returning `false`
    /// with nothing consumed) on anything else; the other paths then read the record.
    #[inline]
    fn plain_record(&mut self, info: &mut RecordInfo) -> bool {
        let start = self.pos;
        let buf = &self.buf[..self.len];
        let fields = &mut self.fields;
        let delimiter = self.delimiter;
        let d = LO * u64::from(delimiter);
        let max_field = self.limits.max_field_bytes;
        let keep = self.max_fields;
        let mut field_start = start;
        let mut i = start;
        while let Some(x) = word_at(buf, i) {
            // Delimiters, and control bytes up to CR (which takes in LF and CR).
            let mut m = equal_bytes(x, d) | bytes_below(x, b'\r' + 1);
            while m != 0 {
                let at = i + (m.trailing_zeros() / 8) as usize;
                m &= m - 1;
                let b = buf[at];
                if b != delimiter && b != b'\n' && b != b'\r' {
                    // A tab or another control byte: part of the field.
                    continue;
                }
                if buf.get(field_start) == Some(&b'"')
                    || at - field_start > max_field
                    || fields.len() == keep
                {
                    fields.clear();
                    return false;
                }
                fields.push(FieldSpan {
                    start: field_start,
                    end: at,
                    quoted: false,
                });
                if b != delimiter {
                    // The line end is consumed by the next call.
                    info.fields = fields.len();
                    self.in_buf = true;
                    self.raw = (start, at);
                    self.pos = at;
                    return true;
                }
                field_start = at + 1;
            }
            i += 8;
        }
        fields.clear();
        false
    }

    /// The fast path: reads a record that lies in the buffer in place, without copying. Gives
    /// up (returning `false` with nothing consumed) when the record reaches the end of the
    /// buffer, has a doubled quote, text after a closing quote or a field over the size
    /// limit; the general path then reads it.
    fn record_in_buffer(&mut self, info: &mut RecordInfo) -> bool {
        let start = self.pos;
        let end = self.len;
        let delimiter = self.delimiter;
        let max_field = self.limits.max_field_bytes;
        let buf = &self.buf[..end];
        let mut i = start;
        let mut lines = 0u64;
        let complete = loop {
            if i >= end {
                break false;
            }
            let (field_start, field_end, quoted) = if buf[i] == b'"' {
                let from = i + 1;
                let close = from + find_byte(&buf[from..], b'"');
                // The byte after the closing quote must be seen and end the field.
                match buf.get(close + 1) {
                    Some(&b) if b == delimiter || b == b'\n' || b == b'\r' => {}
                    Some(_) | None => break false,
                }
                lines += buf[from..close].iter().filter(|&&b| b == b'\n').count() as u64;
                i = close + 1;
                (from, close, true)
            } else {
                let stop = i + find_unquoted_end(&buf[i..], delimiter);
                if stop >= end {
                    break false;
                }
                let field = (i, stop, false);
                i = stop;
                field
            };
            if field_end - field_start > max_field {
                // The general path reports it.
                break false;
            }
            info.fields += 1;
            if self.fields.len() < self.max_fields {
                self.fields.push(FieldSpan {
                    start: field_start,
                    end: field_end,
                    quoted,
                });
            } else if quoted
                || buf[field_start..field_end]
                    .iter()
                    .any(|b| !b.is_ascii_whitespace())
            {
                info.extra_content = true;
            }
            if buf[i] == delimiter {
                i += 1;
            } else {
                break true;
            }
        };
        if !complete {
            self.fields.clear();
            info.fields = 0;
            info.extra_content = false;
            return false;
        }
        self.in_buf = true;
        self.raw = (start, i);
        self.pos = i;
        self.line += lines;
        true
    }
}

/// Whether `bytes` hold a line end outside quotes.
fn has_line_end(bytes: &[u8]) -> bool {
    let line = first_line(bytes);
    line.as_ptr_range().end < bytes.as_ptr_range().end
}

/// The bytes of the first non-blank line, up to its line end outside quotes.
fn first_line(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(bytes.len());
    let bytes = &bytes[skip..];
    let mut in_quotes = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => return &bytes[..i],
            _ => {}
        }
    }
    bytes
}

/// `;` when the first line has more semicolons than commas outside quotes, else `,`.
fn detect_delimiter(bytes: &[u8]) -> u8 {
    let mut in_quotes = false;
    let (mut commas, mut semicolons) = (0usize, 0usize);
    for &b in first_line(bytes) {
        match b {
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => commas += 1,
            b';' if !in_quotes => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `hay` from `i` as a little-endian word, when there are eight.
#[inline(always)]
fn word_at(hay: &[u8], i: usize) -> Option<u64> {
    let bytes: [u8; 8] = hay.get(i..i.saturating_add(8))?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// A mask with the high bit set in (at least) the lowest byte of `v` that is zero.
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// The high bit of each byte of `x` that equals the same byte of `y`, and nothing else.
#[inline(always)]
fn equal_bytes(x: u64, y: u64) -> u64 {
    let v = x ^ y;
    !(((v & !HI).wrapping_add(!HI)) | v) & HI
}

/// The high bit of each byte of `x` that is below `n` (at most 0x80), and nothing else.
#[inline(always)]
fn bytes_below(x: u64, n: u8) -> u64 {
    !(((x & !HI).wrapping_add(LO * u64::from(0x80 - n))) | x) & HI
}

/// The index of the first delimiter, CR or LF in `hay`, or its length; eight bytes at a time.
#[inline]
fn find_unquoted_end(hay: &[u8], delimiter: u8) -> usize {
    let (d, n, r) = (
        LO * u64::from(delimiter),
        LO * u64::from(b'\n'),
        LO * u64::from(b'\r'),
    );
    let mut i = 0;
    while let Some(x) = word_at(hay, i) {
        let m = zero_bytes(x ^ d) | zero_bytes(x ^ n) | zero_bytes(x ^ r);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + hay[i..]
        .iter()
        .position(|&b| b == delimiter || b == b'\n' || b == b'\r')
        .unwrap_or(hay.len() - i)
}

/// The index of the first `needle` in `hay`, or its length; eight bytes at a time.
#[inline]
fn find_byte(hay: &[u8], needle: u8) -> usize {
    let q = LO * u64::from(needle);
    let mut i = 0;
    while let Some(x) = word_at(hay, i) {
        let m = zero_bytes(x ^ q);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + hay[i..]
        .iter()
        .position(|&b| b == needle)
        .unwrap_or(hay.len() - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_scans_find_the_first_match_anywhere() {
        let mut hay = vec![b'a'; 40];
        for at in 0..40 {
            for b in [b',', b'\n', b'\r'] {
                hay[at] = b;
                assert_eq!(find_unquoted_end(&hay, b','), at);
                assert_eq!(find_unquoted_end(&hay[..at], b','), at);
                hay[at] = b'a';
            }
            hay[at] = b'"';
            assert_eq!(find_byte(&hay, b'"'), at);
            hay[at] = 0x80 | b',';
            assert_eq!(
                find_unquoted_end(&hay, b','),
                40,
                "a byte above 0x80 is no delimiter"
            );
            hay[at] = b'a';
        }
        // A match after a byte that borrows in the subtraction.
        assert_eq!(find_unquoted_end(b"\x01,aaaaaaaa", b','), 1);
        assert_eq!(find_unquoted_end(b"\x00\x01;;", b';'), 2);
    }

    #[test]
    fn byte_masks_are_exact() {
        for a in 0..=255u8 {
            for b in [0u8, b'\n', b'\r', b',', b';', b'"', 0x7F, 0x80, 0xFF] {
                // Every position, with neighbours that borrow or carry.
                for at in 0..8 {
                    let mut bytes = [0u8, 0xFF, b',', 0x80, 0x0E, 0x0D, 0x01, 0x7F];
                    bytes[at] = a;
                    let x = u64::from_le_bytes(bytes);
                    let eq = equal_bytes(x, LO * u64::from(b));
                    let below = bytes_below(x, 0x0E);
                    for (i, &byte) in bytes.iter().enumerate() {
                        let bit = 0x80u64 << (8 * i);
                        assert_eq!(eq & bit != 0, byte == b, "{bytes:?} == {b}");
                        assert_eq!(below & bit != 0, byte < 0x0E, "{bytes:?} < 0x0E");
                    }
                    assert_eq!(eq & !HI, 0);
                    assert_eq!(below & !HI, 0);
                }
            }
        }
    }

    /// Every record of `bytes` as (line, fields, extra content, unterminated, field texts).
    type Records = Vec<(u64, usize, bool, bool, Vec<(Vec<u8>, bool)>)>;

    fn records(bytes: &[u8], in_place: bool, keep: usize) -> Result<Records, String> {
        let limits = Limits {
            max_field_bytes: 12,
            ..Limits::unbounded()
        };
        let mut reader = RecordReader::new(bytes, limits, keep).map_err(|e| e.to_string())?;
        reader.in_place = in_place;
        let mut out = Vec::new();
        while let Some(info) = reader.read_record().map_err(|e| e.to_string())? {
            let fields = reader
                .fields
                .iter()
                .map(|f| (reader.field(*f).to_vec(), f.quoted))
                .collect();
            out.push((
                info.line,
                info.fields,
                info.extra_content,
                info.unterminated,
                fields,
            ));
        }
        Ok(out)
    }

    proptest::proptest! {
        #[test]
        fn in_place_reads_agree_with_the_general_path(
            text in proptest::collection::vec(
                proptest::sample::select(
                    &[b'a', b'b', b' ', b',', b';', b'"', b'\n', b'\r', b'\t', 0x01, 0xC3, 0xA9][..],
                ),
                0..200,
            ),
            keep in 1usize..6,
        ) {
            proptest::prop_assert_eq!(records(&text, true, keep), records(&text, false, keep));
        }
    }
}
