//! Tests of the record reader.

use super::*;

/// Every record of `bytes` as (line, fields, extra content, unterminated, field texts).
type Records = Vec<(u64, usize, bool, bool, Vec<(Vec<u8>, bool)>)>;

/// The limits of these tests: 12 bytes a field, and a file size limit.
fn small(max_bytes: u64) -> Limits {
    Limits {
        max_field_bytes: 12,
        ..Limits::unbounded().with_max_bytes(max_bytes)
    }
}

fn records(bytes: &[u8], in_place: bool, keep: usize) -> Result<Records, String> {
    records_within(bytes, in_place, keep, small(u64::MAX))
}

fn records_within(
    bytes: &[u8],
    in_place: bool,
    keep: usize,
    limits: Limits,
) -> Result<Records, String> {
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

/// A source that has no bytes on every other call, the first one included, and at most
/// `step` bytes on the others.
struct Stutter<'a> {
    bytes: &'a [u8],
    step: usize,
    ready: bool,
}

impl Read for Stutter<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.ready = !self.ready;
        if !self.ready {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = out.len().min(self.step).min(self.bytes.len());
        out[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// Every record of `bytes` read from a [`Stutter`] source, calling again while pending.
fn stuttered_records(
    bytes: &[u8],
    step: usize,
    keep: usize,
    limits: Limits,
) -> Result<Records, String> {
    let source = Stutter {
        bytes,
        step,
        ready: true,
    };
    let mut reader = RecordReader::unsniffed(source, limits, keep);
    let mut pending = 0;
    loop {
        match reader.sniff() {
            Err(e) if is_pending(&e) => pending += 1,
            other => break other.map_err(|e| e.to_string())?,
        }
    }
    let mut out = Vec::new();
    loop {
        let info = match reader.read_record() {
            Err(e) if is_pending(&e) => {
                pending += 1;
                continue;
            }
            other => other.map_err(|e| e.to_string())?,
        };
        let Some(info) = info else { break };
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
    assert!(pending > 0, "the source was pending at least once");
    Ok(out)
}

#[test]
fn a_pending_source_in_the_middle_of_a_quoted_field_resumes_it() {
    let file = b"a,b\n\"x,\n\"\"y\"\"\",z\n";
    let limits = small(u64::MAX);
    assert_eq!(
        stuttered_records(file, 1, 4, limits),
        records(file, true, 4)
    );
    assert_eq!(
        stuttered_records(file, 1, 4, limits).map(|r| r.len()),
        Ok(2)
    );
}

proptest::proptest! {
    #[test]
    fn a_source_that_is_pending_between_pieces_reads_the_same_records(
        text in proptest::collection::vec(
            proptest::sample::select(
                &[b'a', b' ', b',', b';', b'"', b'\n', b'\r', 0xEF, 0xBB, 0xBF][..],
            ),
            0..200,
        ),
        step in 1usize..9,
        keep in 1usize..6,
        max_bytes in proptest::prop_oneof![0u64..220, proptest::strategy::Just(u64::MAX)],
    ) {
        let limits = small(max_bytes);
        proptest::prop_assert_eq!(
            stuttered_records(&text, step, keep, limits),
            records_within(&text, true, keep, limits),
        );
    }

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
