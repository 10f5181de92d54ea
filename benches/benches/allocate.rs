//! Batch allocation over the in-memory store and the static environment.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dps_benches::{runtime, time_allocate};

fn allocate(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("allocate");
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| time_allocate(&rt, n)).sum());
        });
    }
    group.finish();
}

criterion_group!(benches, allocate);
criterion_main!(benches);
