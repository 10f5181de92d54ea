//! Scenarios of the `ratios` binary for dps-csv, and the data the criterion bench shares.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dps_core::{attribute::AttributeDef, attribute::AttributeSchema, attribute::AttributeType};
use dps_csv::{DeviceReader, Limits};

use crate::{Measured, best, rate};

/// The schema of the generated files: one integer attribute `floor`.
///
/// # Panics
///
/// Never: the literals are valid.
pub fn schema() -> AttributeSchema {
    AttributeSchema::new(vec![AttributeDef::new(
        "floor".parse().unwrap_or_else(|e| panic!("{e}")),
        AttributeType::Integer,
    )])
    .unwrap_or_else(|e| panic!("bench schema: {e}"))
}

/// A device file of `n` rows as a vendor sends it: every template column, most of them set,
/// and the `floor` attribute.
pub fn generate(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(n * 80 + 128);
    out.extend_from_slice(
        b"Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,Description,Environment,OU,floor\r\n",
    );
    for i in 0..n {
        let description = if i % 10 == 0 { "spare unit" } else { "" };
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            "SN-{i:08},Sensor {i},thermo-2,+01:00,lot-{},{description},,,{}\r\n",
            i / 1000,
            i % 40
        );
    }
    out
}

/// Reads `bytes` with the importer's reader and validates every row; returns the time taken.
///
/// # Panics
///
/// When the file or a row is refused, which is a bug in the generator.
pub fn time_parse(bytes: &[u8], schema: &AttributeSchema, n: usize) -> Duration {
    let start = Instant::now();
    let reader = DeviceReader::new(bytes, schema, Limits::unbounded())
        .unwrap_or_else(|e| panic!("header: {e}"));
    let mut rows = 0usize;
    for row in reader {
        match row {
            Ok(Ok(row)) => {
                black_box(&row);
                rows += 1;
            }
            Ok(Err(e)) => panic!("row refused: {e}"),
            Err(e) => panic!("file refused: {e}"),
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(rows, n, "every generated row is valid");
    elapsed
}

/// Reads `bytes` with a raw `csv::ByteRecord` loop (the baseline); returns the time taken.
///
/// # Panics
///
/// When the csv crate refuses the file, which is a bug in the generator.
pub fn time_raw(bytes: &[u8], n: usize) -> Duration {
    let start = Instant::now();
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0usize;
    while reader
        .read_byte_record(&mut record)
        .unwrap_or_else(|e| panic!("csv: {e}"))
    {
        black_box(&record);
        rows += 1;
    }
    let elapsed = start.elapsed();
    assert_eq!(rows, n, "the raw loop reads every row");
    elapsed
}

/// The `csv_parse` scenario: parse and validate 1M generated rows (200k with `--quick`)
/// against a raw `csv::ByteRecord` read loop over the same bytes, in the same run. The two
/// alternate for ten rounds, and each keeps its best run, so that a busy machine slows both
/// alike.
pub fn csv_parse(quick: bool) -> Option<Measured> {
    let n = if quick { 200_000 } else { 1_000_000 };
    let bytes = generate(n);
    let schema = schema();
    let rounds = 10;
    let mut raw = Duration::MAX;
    let mut ours = Duration::MAX;
    for _ in 0..rounds {
        raw = raw.min(best(1, || time_raw(&bytes, n)));
        ours = ours.min(best(1, || time_parse(&bytes, &schema, n)));
    }
    Some(Measured {
        ours: rate(n, ours),
        baseline: rate(n, raw),
    })
}
