//! The async import's source: the reader reads from a [`Feed`], which holds one chunk read
//! from an [`AsyncRead`] and answers [`io::ErrorKind::WouldBlock`] once the chunk is used up;
//! [`AsyncRows`] then awaits the next chunk and calls the reader again, which goes on where it
//! stopped.

use std::io::{self, Read};

use dps_core::attribute::AttributeSchema;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{CsvError, RowError};
use crate::limits::Limits;
use crate::read::{RecordReader, is_pending};
use crate::rows::{DeviceReader, MAX_COLUMNS, Row};

/// The most bytes one read from the async source asks for.
pub(crate) const CHUNK: usize = 16 * 1024;

/// One chunk of the async source, handed out to the reader.
#[derive(Debug)]
pub(crate) struct Feed {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// How many more bytes may be asked of the source: one past the file size limit, so that
    /// the source is read no further than the reader needs to see that a file is too large.
    budget: u64,
}

impl Feed {
    fn new(limits: Limits) -> Self {
        Self {
            buf: vec![0; CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            budget: limits.max_bytes.saturating_add(1),
        }
    }

    /// Reads the next chunk from `source`; called when the last one is used up.
    async fn fill<A: AsyncRead + Unpin>(&mut self, source: &mut A) -> io::Result<()> {
        let want = CHUNK.min(usize::try_from(self.budget).unwrap_or(usize::MAX));
        let n = if want == 0 {
            0
        } else {
            loop {
                match source.read(&mut self.buf[..want]).await {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        };
        self.start = 0;
        self.end = n;
        self.budget -= n as u64;
        self.eof = n == 0;
        Ok(())
    }
}

impl Read for Feed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// A reader whose source is a [`Feed`].
trait Fed {
    fn feed(&mut self) -> &mut Feed;
}

impl Fed for RecordReader<Feed> {
    fn feed(&mut self) -> &mut Feed {
        self.source_mut()
    }
}

impl Fed for DeviceReader<Feed> {
    fn feed(&mut self) -> &mut Feed {
        self.source_mut()
    }
}

/// Runs `step` on `reader` until it no longer waits for bytes, reading a chunk from `source`
/// each time it does.
async fn fed<X, A, T>(
    reader: &mut X,
    source: &mut A,
    mut step: impl FnMut(&mut X) -> Result<T, CsvError>,
) -> Result<T, CsvError>
where
    X: Fed,
    A: AsyncRead + Unpin,
{
    loop {
        match step(reader) {
            Err(e) if is_pending(&e) => reader.feed().fill(source).await?,
            other => return other,
        }
    }
}

/// The rows of a device file read from an [`AsyncRead`]: a [`DeviceReader`] fed a chunk at a
/// time.
#[derive(Debug)]
pub(crate) struct AsyncRows<A> {
    rows: DeviceReader<Feed>,
    source: A,
}

impl<A: AsyncRead + Unpin> AsyncRows<A> {
    /// Reads and maps the header of `source`, as [`DeviceReader::new`] does.
    pub(crate) async fn open(
        mut source: A,
        schema: &AttributeSchema,
        limits: Limits,
    ) -> Result<Self, CsvError> {
        let mut records = RecordReader::unsniffed(Feed::new(limits), limits, MAX_COLUMNS + 1);
        fed(&mut records, &mut source, RecordReader::sniff).await?;
        let header = fed(&mut records, &mut source, RecordReader::read_record).await?;
        let rows = DeviceReader::with_header(records, header, schema, limits)?.resumable();
        Ok(Self { rows, source })
    }

    /// The reader, for its header.
    pub(crate) fn rows(&self) -> &DeviceReader<Feed> {
        &self.rows
    }

    /// The next row, as [`DeviceReader::next_row`] gives it.
    pub(crate) async fn next_row(&mut self) -> Result<Option<Result<Row, RowError>>, CsvError> {
        fed(&mut self.rows, &mut self.source, DeviceReader::next_row).await
    }
}
