//! The archive's entries: stored ZIP entries with fixed metadata, the manifest's rows, and
//! the writer that stops when the archive is abandoned.

use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use zip::write::{SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, DateTime, System};

use crate::payload::Payload;

/// A stored entry with fixed metadata, so that archives are reproducible.
pub(super) fn prepared(
    name: &str,
    data: &[u8],
) -> zip::result::ZipResult<zip::write::PreparedZipFile> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .system(System::Unix)
        .last_modified_time(DateTime::DEFAULT)
        .unix_permissions(0o644);
    let mut builder = ZipFileBuilder::new(name, options)?;
    builder.write_all(data)?;
    builder.finish()
}

pub(super) fn push_manifest_row(out: &mut Vec<u8>, file: &str, payload: &Payload) {
    push_cell(out, file);
    out.push(b',');
    push_cell(out, &payload.group().to_string());
    out.push(b',');
    push_cell(out, payload.serial().as_str());
    out.push(b',');
    push_cell(out, payload.model().as_str());
    out.push(b',');
    push_cell(out, &payload.render());
    out.extend_from_slice(b"\r\n");
}

/// Writes a CSV cell; a value that a spreadsheet would run as a formula gets a leading `'`.
pub(super) fn push_cell(out: &mut Vec<u8>, value: &str) {
    let neutralise = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = neutralise || value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push(b'"');
    }
    if neutralise {
        out.push(b'\'');
    }
    for b in value.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quote {
        out.push(b'"');
    }
}

/// The archive's output: buffered, counting, and seekable only to where it already is, which
/// is all the ZIP writer asks for when every entry's size is known before it is written.
pub(super) struct Sink<W: Write> {
    pub(super) inner: BufWriter<W>,
    pub(super) position: u64,
    pub(super) abandoned: Arc<AtomicBool>,
}

impl<W: Write> std::fmt::Debug for Sink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Sink<W> {
    /// A sink that buffers up to `capacity` bytes (0 when `inner` is a buffer already).
    pub(super) fn new(inner: W, capacity: usize, abandoned: Arc<AtomicBool>) -> Self {
        Self {
            inner: BufWriter::with_capacity(capacity, inner),
            position: 0,
            abandoned,
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        let n = self.inner.write(buf)?;
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Seek for Sink<W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) | SeekFrom::End(d) => self.position.checked_add_signed(d),
        };
        if target == Some(self.position) {
            Ok(self.position)
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the label archive is written as a stream and cannot seek",
            ))
        }
    }
}
