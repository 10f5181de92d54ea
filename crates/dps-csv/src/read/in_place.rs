//! The in-place paths of the reader: a record that lies whole in the buffer and needs no
//! unescaping is cut into spans of the buffer, without copying a byte.

use std::io::Read;

use super::{FieldSpan, RecordInfo, RecordReader};
use crate::bytes::{Separators, find_byte, find_unquoted_end};

impl<R: Read> RecordReader<R> {
    /// The fastest path, for the common record: no quoted field, no more fields than kept, no
    /// field over the size limit, and its line end within the last whole eight-byte word of
    /// the record that the buffer holds. It finds every delimiter and line end of the record
    /// in one pass and cuts the fields between them. Gives up (returning `false` with nothing
    /// consumed) on anything else; the other paths then read the record.
    #[inline]
    pub(super) fn plain_record(&mut self, info: &mut RecordInfo) -> bool {
        let start = self.pos;
        let buf = &self.buf[..self.len];
        let fields = &mut self.fields;
        let delimiter = self.delimiter;
        let max_field = self.limits.max_field_bytes;
        let keep = self.max_fields;
        let mut field_start = start;
        for at in Separators::new(buf, start, delimiter) {
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
            if buf[at] != delimiter {
                // The line end is consumed by the next call.
                info.fields = fields.len();
                self.in_buf = true;
                self.raw = (start, at);
                self.pos = at;
                return true;
            }
            field_start = at + 1;
        }
        fields.clear();
        false
    }

    /// The fast path: reads a record that lies in the buffer in place, without copying. Gives
    /// up (returning `false` with nothing consumed) when the record reaches the end of the
    /// buffer, has a doubled quote, text after a closing quote or a field over the size
    /// limit; the general path then reads it.
    pub(super) fn record_in_buffer(&mut self, info: &mut RecordInfo) -> bool {
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
                if self.breaks_in_quotes {
                    lines += buf[from..close].iter().filter(|&&b| b == b'\n').count() as u64;
                }
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
