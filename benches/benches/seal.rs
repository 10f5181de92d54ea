//! What sealing costs per secret: sealing a device secret, opening it, and resealing it with a
//! new key, as allocation, bootstrap and a key rotation do.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dps_core::seal::{Keys, Sealer, SealingKey, SecretOf};
use dps_core::{DeviceId, Secret, Uuid};

fn seal(c: &mut Criterion) {
    let sealer = dps_benches::sealer();
    let of = SecretOf::Device(DeviceId::from_uuid(Uuid::from_u128(1)));
    // A device secret as the static environment issues it: 64 hex digits.
    let secret = Secret::from_bytes_hex(&[0x5a; 32]);
    let sealed = sealer
        .seal(&secret, of)
        .unwrap_or_else(|e| panic!("seal: {e}"));
    let new_key = Keys::new(
        "next".parse().unwrap_or_else(|e| panic!("{e}")),
        SealingKey::from_bytes([0x11; 32]),
    )
    .with_previous(
        "bench".parse().unwrap_or_else(|e| panic!("{e}")),
        SealingKey::from_bytes([0xbe; 32]),
    );
    let rotated = Sealer::new(
        std::sync::Arc::new(new_key),
        std::sync::Arc::new(dps_core::inject::OsSecrets),
    );
    let mut group = c.benchmark_group("seal");
    group.bench_function("seal", |b| {
        b.iter(|| sealer.seal(black_box(&secret), of));
    });
    group.bench_function("open", |b| {
        b.iter(|| sealer.open(black_box(&sealed), of));
    });
    group.bench_function("reseal", |b| {
        b.iter(|| rotated.reseal(black_box(&sealed), of));
    });
    group.finish();
}

criterion_group!(benches, seal);
criterion_main!(benches);
