//! dps-csv: reading and validating device files, the raw csv baseline, export, and importing
//! through the Provisioner over the in-memory store.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dps_benches::csv::{generate, schema, time_parse, time_raw};
use dps_benches::{memory_group, runtime};
use dps_core::Selection;
use dps_csv::{ExportOptions, ImportOptions, Limits, export, import_with};

fn parse(c: &mut Criterion) {
    let schema = schema();
    let mut group = c.benchmark_group("csv_parse");
    for n in [10_000usize, 100_000] {
        let bytes = generate(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("dps_csv", n), &bytes, |b, bytes| {
            b.iter_custom(|iters| (0..iters).map(|_| time_parse(bytes, &schema, n)).sum());
        });
        group.bench_with_input(
            BenchmarkId::new("csv_byte_record", n),
            &bytes,
            |b, bytes| {
                b.iter_custom(|iters| (0..iters).map(|_| time_raw(bytes, n)).sum());
            },
        );
    }
    group.finish();
}

fn import_and_export(c: &mut Criterion) {
    let rt = runtime();
    let n = 10_000usize;
    let bytes = generate(n);
    let mut group = c.benchmark_group("csv_provisioner");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("import_create", n), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    rt.block_on(async {
                        let (dps, _) = memory_group(0).await;
                        let mut settings = dps_core::NewGroup::new(
                            "csv".parse().unwrap_or_else(|e| panic!("{e}")),
                        );
                        settings.attributes = schema();
                        let g = dps
                            .create_group(settings)
                            .await
                            .unwrap_or_else(|e| panic!("{e}"));
                        let options = ImportOptions::default().with_limits(Limits::unbounded());
                        let start = std::time::Instant::now();
                        let summary = import_with(&dps, g.id(), bytes.as_slice(), &options, |o| {
                            black_box(o);
                        })
                        .await
                        .unwrap_or_else(|e| panic!("import: {e}"));
                        let elapsed = start.elapsed();
                        assert_eq!(summary.created, n as u64);
                        elapsed
                    })
                })
                .sum()
        });
    });
    let (dps, g) = rt.block_on(memory_group(n));
    group.bench_function(BenchmarkId::new("export", n), |b| {
        b.iter(|| {
            rt.block_on(async {
                let (out, summary) = export(
                    &dps,
                    g,
                    &Selection::all(),
                    Vec::with_capacity(n * 200),
                    &ExportOptions::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("export: {e}"));
                assert_eq!(summary.rows, n as u64);
                black_box(out)
            })
        });
    });
    group.finish();
}

criterion_group!(benches, parse, import_and_export);
criterion_main!(benches);
