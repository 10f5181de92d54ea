//! Criterion benches of dps-qr: the payload text, the QR encoders, the image renderers and
//! the label ZIP.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dps_benches::qr::{payloads, time_zip};
use dps_qr::{Payload, RenderOptions, Symbol, render_png, render_svg};

fn payload_text(c: &mut Criterion) {
    let p = payloads(1).remove(0);
    let text = p.render();
    let mut g = c.benchmark_group("qr_payload");
    g.bench_function("render", |b| b.iter(|| black_box(&p).render()));
    g.bench_function("parse", |b| b.iter(|| Payload::parse(black_box(&text))));
    g.finish();
}

fn encoders(c: &mut Criterion) {
    let p = payloads(1).remove(0);
    let text = p.render();
    let options = RenderOptions::default();
    let mut g = c.benchmark_group("qr_encode");
    g.bench_function("fast_qr", |b| {
        b.iter(|| Symbol::for_payload(black_box(&p), &options))
    });
    g.bench_function("qrcode", |b| {
        b.iter(|| {
            qrcode::QrCode::with_error_correction_level(
                black_box(text.as_bytes()),
                qrcode::EcLevel::M,
            )
        })
    });
    g.finish();
}

fn images(c: &mut Criterion) {
    let p = payloads(1).remove(0);
    let options = RenderOptions::default();
    let symbol = Symbol::for_payload(&p, &options).unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("qr_image");
    g.bench_function("png_from_symbol", |b| b.iter(|| symbol.to_png(&options)));
    g.bench_function("svg_from_symbol", |b| {
        b.iter(|| symbol.to_svg(&options, Some("SN-00000000")))
    });
    g.bench_function("png_from_payload", |b| b.iter(|| render_png(&p, &options)));
    g.bench_function("svg_from_payload", |b| b.iter(|| render_svg(&p, &options)));
    g.finish();
}

fn archive(c: &mut Criterion) {
    const N: usize = 500;
    let labels = payloads(N);
    let mut g = c.benchmark_group("qr_zip");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    for (name, threads) in [("one_thread", 1), ("all_cores", 0)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |()| time_zip(&labels, threads),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, payload_text, encoders, images, archive);
criterion_main!(benches);
