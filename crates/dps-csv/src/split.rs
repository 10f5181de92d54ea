//! Splitting a device file into parts that import alone: each part is the header and some of
//! the records, cut where the reader ends a record.

/// Cuts a device file, as it arrives, into records where the reader of an import ends them
/// (LF, CRLF or CR outside quotes; a quote opens a quoted field only at a field's start, as
/// the reader reads it), so that a file can be imported a part at a time: each part the
/// header and some records. The byte order mark is left out; the delimiter is found in the
/// header as the reader finds it.
///
/// ```
/// use dps::csv::RecordSplitter;
///
/// let mut split = RecordSplitter::new();
/// let mut records = Vec::new();
/// split.push(b"\xEF\xBB\xBFDevice Serial No.,Model ID\r\nSN-1,\"a\nb\"\r", &mut |r| records.push(r.to_vec()));
/// split.push(b"\nSN-2,m", &mut |r| records.push(r.to_vec()));
/// split.finish(&mut |r| records.push(r.to_vec()));
/// assert_eq!(records, [&b"Device Serial No.,Model ID\r\n"[..], b"SN-1,\"a\nb\"\r\n", b"SN-2,m"]);
/// assert_eq!(split.lines_of(&records[1]), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct RecordSplitter {
    record: Vec<u8>,
    state: State,
    /// The delimiter, once the header is read.
    delimiter: Option<u8>,
    /// Bytes of the file seen, to leave out its byte order mark.
    seen: usize,
    /// The record ended with a CR: an LF next belongs to it.
    after_cr: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    /// After a quote inside a quoted field: a second quote is a quote, else the field closed.
    QuoteInQuoted,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl RecordSplitter {
    /// A splitter at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the file and hands each record they complete to `record`,
    /// with its line break. The first record is the header.
    pub fn push(&mut self, bytes: &[u8], record: &mut impl FnMut(&[u8])) {
        for &b in bytes {
            if self.seen < BOM.len() {
                self.seen += 1;
                if self.record.len() + 1 == self.seen && BOM[self.seen - 1] == b {
                    // Still reading what may be the byte order mark.
                    self.record.push(b);
                    if self.seen == BOM.len() {
                        self.record.clear();
                    }
                    continue;
                }
                self.seen = BOM.len();
            }
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    self.record.push(b);
                    self.end(record);
                    continue;
                }
                self.end(record);
            }
            self.step(b, record);
        }
    }

    fn step(&mut self, b: u8, record: &mut impl FnMut(&[u8])) {
        self.record.push(b);
        let delimiter = self.delimiter.unwrap_or(b',');
        let is_delimiter = b == delimiter || (self.delimiter.is_none() && b == b';');
        self.state = match (self.state, b) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (State::FieldStart, b'"') => State::Quoted,
            (_, b'\r') => {
                self.after_cr = true;
                State::FieldStart
            }
            (_, b'\n') => {
                self.end(record);
                State::FieldStart
            }
            _ if is_delimiter => State::FieldStart,
            _ => State::Unquoted,
        };
    }

    /// Hands the record read so far on (unless it is empty) and starts the next.
    fn end(&mut self, record: &mut impl FnMut(&[u8])) {
        self.state = State::FieldStart;
        if self.record.is_empty() {
            return;
        }
        if self.delimiter.is_none() {
            self.delimiter = Some(header_delimiter(&self.record));
        }
        record(&self.record);
        self.record.clear();
    }

    /// Hands the last record (one without a line break) on.
    pub fn finish(&mut self, record: &mut impl FnMut(&[u8])) {
        if self.seen < BOM.len() {
            // A file shorter than a byte order mark: what was held is data.
            self.seen = BOM.len();
        }
        self.after_cr = false;
        self.end(record);
    }

    /// How many lines a record of this splitter spans, as the reader numbers them (a line
    /// break inside a quoted field counts).
    pub fn lines_of(&self, record: &[u8]) -> u64 {
        let mut lines = 0;
        let mut bytes = record.iter().peekable();
        while let Some(&b) = bytes.next() {
            match b {
                b'\n' => lines += 1,
                b'\r' if bytes.peek() != Some(&&b'\n') => lines += 1,
                _ => {}
            }
        }
        if record.last().is_some_and(|b| *b != b'\n' && *b != b'\r') {
            lines += 1;
        }
        lines
    }
}

/// `;` when the header has more semicolons than commas outside quotes, else `,` (as the
/// reader decides).
fn header_delimiter(header: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for &b in header {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = RecordSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |r| out.push(r.to_vec()));
        }
        s.finish(&mut |r| out.push(r.to_vec()));
        out
    }

    #[test]
    fn records_end_where_the_reader_ends_them() {
        let file: &[u8] = b"a,b\r\n\"x\r\ny\",\"q\"\"\"\nplain\"quote,z\rlast";
        let want: Vec<&[u8]> = vec![
            b"a,b\r\n",
            b"\"x\r\ny\",\"q\"\"\"\n",
            b"plain\"quote,z\r",
            b"last",
        ];
        assert_eq!(split(&[file]), want);
        // Byte by byte, the same.
        let bytes: Vec<&[u8]> = file.chunks(1).collect();
        assert_eq!(split(&bytes), want);
    }

    #[test]
    fn semicolons_delimit_when_the_header_says_so() {
        let out = split(&[b"a;b;c\n\"1;2\";x\n"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], b"\"1;2\";x\n");
    }

    #[test]
    fn short_files_keep_their_bytes() {
        assert_eq!(split(&[b"\xEF\xBB"]), vec![b"\xEF\xBB".to_vec()]);
        assert_eq!(split(&[b"\xEF\xBBx\n"]), vec![b"\xEF\xBBx\n".to_vec()]);
        assert!(split(&[b"\xEF\xBB\xBF"]).is_empty());
        assert!(split(&[b""]).is_empty());
    }

    #[test]
    fn lines_count_breaks_inside_quotes() {
        let s = RecordSplitter::new();
        assert_eq!(s.lines_of(b"a\r\n"), 1);
        assert_eq!(s.lines_of(b"\"a\nb\rc\"\r\n"), 3);
        assert_eq!(s.lines_of(b"last"), 1);
    }
}
