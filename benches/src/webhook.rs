//! The `webhook_allocate` scenario of the `ratios` binary: a batch allocation of every device
//! through the webhook environment to the reference platform on loopback, against the same
//! allocation through `StaticEnvironment`.
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use dps_core::{Secret, Selection};
use dps_env_webhook::{WebhookEnvironment, WebhookTarget};
use dps_store_memory::InMemoryStore;
use webhook_platform::{Platform, PlatformConfig};

use crate::{Measured, rate, seeded_group, seeded_group_with, target};

const SECRET: &str = "bench-shared-secret-0123456789";

/// The calls per batch call: a page of 1000 devices goes in ten requests.
const BATCH: usize = 100;

/// Allocates every device of a fresh in-memory group of `n` through the reference platform
/// (served in the same process, on 127.0.0.1) and through `StaticEnvironment`, alternating,
/// after a first round of each that is not counted; the best of each. Both use the batch's
/// default concurrency; the webhook takes `BATCH` calls per request (`onboard_many`).
/// Items are devices.
pub fn webhook_allocate(quick: bool) -> Option<Measured> {
    let (n, rounds) = if quick { (2_000, 3) } else { (10_000, 3) };
    // Two workers: the platform answers while dps sends, as two processes would.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let mut config = PlatformConfig::new(SECRET);
        config.models = vec!["m1".into()];
        let platform = Platform::new(config).unwrap_or_else(|e| panic!("platform: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!(
            "http://{}/",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let router = platform.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let webhook =
            WebhookTarget::new(&url, Secret::new(SECRET).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"))
                .with_batch_size(BATCH);

        let mut ours = Duration::MAX;
        let mut baseline = Duration::MAX;
        for round in 0..=rounds {
            let (dps, group) = seeded_group(InMemoryStore::new(), n).await;
            let b = timed(n, dps.allocate(group, &Selection::all())).await;
            let env = WebhookEnvironment::new([(target(), webhook.clone())])
                .unwrap_or_else(|e| panic!("{e}"));
            let (dps, group) = seeded_group_with(InMemoryStore::new(), env, n).await;
            let o = timed(n, dps.allocate(group, &Selection::all())).await;
            if round > 0 {
                baseline = baseline.min(b);
                ours = ours.min(o);
            }
        }
        eprintln!(
            "webhook_allocate devices={n} webhook={:.0}/s static={:.0}/s",
            rate(n, ours),
            rate(n, baseline)
        );
        Some(Measured {
            ours: rate(n, ours),
            baseline: rate(n, baseline),
        })
    })
}

async fn timed(
    n: usize,
    allocation: impl Future<Output = dps_core::Result<dps_core::BatchReport>>,
) -> Duration {
    let start = Instant::now();
    let report = allocation.await.unwrap_or_else(|e| panic!("allocate: {e}"));
    let elapsed = start.elapsed();
    assert_eq!(report.succeeded(), n, "every device was allocated");
    elapsed
}
