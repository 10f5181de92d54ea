//! Scenarios of the `ratios` binary for dps-qr.

use std::time::{Duration, Instant};

use dps_core::{GroupId, Uuid};
use dps_qr::{ArchiveOptions, LabelArchive, Payload};

use crate::{Measured, rate};

/// `n` distinct payloads of one group, serials `SN-00000000` on, model `thermostat`: the
/// labels a factory run prints.
///
/// # Panics
///
/// Never: the literals are valid.
pub fn payloads(n: usize) -> Vec<Payload> {
    let group = GroupId::from_uuid(Uuid::from_u128(0x0190_a4c6_7b1e_7cc2_9d4e_2f61_a8b3_c5d7));
    let model: dps_core::ModelId = "thermostat"
        .parse()
        .unwrap_or_else(|e| panic!("bench model: {e}"));
    (0..n)
        .map(|i| {
            let serial = format!("SN-{i:08}")
                .parse()
                .unwrap_or_else(|e| panic!("bench serial: {e}"));
            Payload::new(group, serial, model.clone())
        })
        .collect()
}

/// Our whole pipeline: each payload rendered as a PNG and written as a ZIP entry (to a sink),
/// manifest and directory included, on `threads` rendering threads (1: the calling thread
/// only, 0: one per core).
///
/// # Panics
///
/// When a label fails, which is a bug.
pub fn time_zip(payloads: &[Payload], threads: usize) -> Duration {
    let start = Instant::now();
    let options = ArchiveOptions::default().with_threads(threads);
    let mut archive = LabelArchive::new(std::io::sink(), options)
        .unwrap_or_else(|e| panic!("label archive: {e}"));
    for p in payloads {
        archive
            .push(p.clone())
            .unwrap_or_else(|e| panic!("push: {e}"));
    }
    let report = archive.finish().unwrap_or_else(|e| panic!("finish: {e}"));
    let elapsed = start.elapsed();
    assert_eq!(
        report.succeeded(),
        payloads.len(),
        "every label was written"
    );
    elapsed
}

/// The baseline: the raw `qrcode` crate encoding the same payload texts at the same
/// error-correction level (M), with no image and no archive.
///
/// # Panics
///
/// When `qrcode` refuses a payload, which does not happen for these.
pub fn time_qrcode(texts: &[String]) -> Duration {
    let start = Instant::now();
    for t in texts {
        let code = qrcode::QrCode::with_error_correction_level(t.as_bytes(), qrcode::EcLevel::M)
            .unwrap_or_else(|e| panic!("qrcode: {e}"));
        std::hint::black_box(code);
    }
    start.elapsed()
}

/// `qr_zip`: our pipeline (payload → PNG → ZIP entry) on one thread over the raw `qrcode`
/// encode-only rate, in the same run. The two alternate, and each keeps its best run, so that
/// a busy moment of the machine slows both alike.
pub fn qr_zip(quick: bool) -> Option<Measured> {
    let (n_ours, n_base, rounds) = if quick {
        (4_000, 2_500, 4)
    } else {
        (10_000, 5_000, 6)
    };
    let labels = payloads(n_ours);
    let texts: Vec<String> = payloads(n_base).iter().map(Payload::render).collect();
    let (ours, baseline) = alternate(rounds, || time_zip(&labels, 1), || time_qrcode(&texts));
    Some(Measured {
        ours: rate(n_ours, ours),
        baseline: rate(n_base, baseline),
    })
}

/// The best of `rounds` runs of `ours` and of `baseline`, run in turn.
fn alternate(
    rounds: usize,
    mut ours: impl FnMut() -> Duration,
    mut baseline: impl FnMut() -> Duration,
) -> (Duration, Duration) {
    let (mut a, mut b) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        a = a.min(ours());
        b = b.min(baseline());
    }
    (a, b)
}

/// `qr_zip_parallel`: our pipeline with one rendering thread per core over the same
/// pipeline on one thread. The two alternate, as in [`qr_zip`].
pub fn qr_zip_parallel(quick: bool) -> Option<Measured> {
    let (n, rounds) = if quick { (8_000, 5) } else { (30_000, 4) };
    let labels = payloads(n);
    let (ours, baseline) = alternate(rounds, || time_zip(&labels, 0), || time_zip(&labels, 1));
    Some(Measured {
        ours: rate(n, ours),
        baseline: rate(n, baseline),
    })
}
