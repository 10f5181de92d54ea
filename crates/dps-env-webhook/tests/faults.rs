//! Faults of the platform, each ending with every device settled and no asset created twice.

mod common;

use std::time::Duration;

use common::{Running, SECRET, applied_once, count, devices, fast, provisioner, serials, target};
use dps_core::state::AllocationStatus;
use dps_core::{Environment, EnvironmentError, OnboardRequest, OperationId, Secret, Uuid};
use dps_env_webhook::WebhookTarget;
use webhook_platform::Fault;

fn only_key(platform: &Running) -> (String, u64) {
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.requested.len(), 1, "{:?}", snapshot.requested);
    let (key, n) = snapshot.requested.iter().next().unwrap();
    (key.clone(), *n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_lost_after_the_onboard_is_answered_again_to_the_retry() {
    let platform = Running::start().await;
    let (dps, group) = provisioner(platform.environment(platform.webhook()), 1).await;
    platform.faults.push(Fault::ApplyThenDrop);
    let report = dps.allocate(group, &serials(0..1)).await.unwrap();
    assert!(report.all_succeeded(), "{:?}", report.outcomes);
    let (key, requests) = only_key(&platform);
    assert_eq!(
        requests, 2,
        "the lost answer was asked for again with the same key"
    );
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.applied[&key], 1);
    let device = &devices(&dps, group).await[0];
    let asset = device.state().allocated().unwrap().asset_id();
    assert!(
        snapshot.assets.contains_key(asset.as_str()),
        "the first asset, once"
    );
    assert_eq!(snapshot.assets.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_left_pending_while_the_platform_is_down_are_recovered_once_it_is_back() {
    let platform = Running::start().await;
    let (dps, group) = provisioner(platform.environment(platform.webhook()), 20).await;
    platform.faults.set_down(true);
    let report = dps.allocate(group, &serials(0..10)).await.unwrap();
    assert_eq!(report.failed(), 10);
    for outcome in &report.outcomes {
        let e = outcome.result.as_ref().unwrap_err();
        assert_eq!(e.code(), "environment_unavailable", "{e}");
    }
    assert_eq!(
        count(&devices(&dps, group).await, AllocationStatus::Pending),
        10
    );
    let pending: Vec<OperationId> = devices(&dps, group)
        .await
        .iter()
        .filter_map(|d| d.state().pending().map(|p| p.operation()))
        .collect();

    platform.faults.set_down(false);
    let report = dps.allocate(group, &serials(10..20)).await.unwrap();
    assert!(report.all_succeeded());
    let recovered = dps.recover().await.unwrap();
    assert_eq!(recovered.completed.succeeded(), 10);
    let all = devices(&dps, group).await;
    assert_eq!(count(&all, AllocationStatus::Allocated), 20);
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.assets.len(), 20);
    applied_once(&snapshot);
    for op in pending {
        assert_eq!(
            snapshot.applied.get(&op.to_string()),
            Some(&1),
            "recover used the first operation ID"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_then_a_200_is_one_call_that_succeeds() {
    let platform = Running::start().await;
    let (dps, group) = provisioner(platform.environment(platform.webhook()), 1).await;
    platform.faults.push(Fault::Status(500));
    assert!(
        dps.allocate(group, &serials(0..1))
            .await
            .unwrap()
            .all_succeeded()
    );
    let (key, requests) = only_key(&platform);
    assert_eq!((requests, platform.snapshot().applied[&key]), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_its_retry_after_and_a_long_one_leaves_the_device_pending() {
    let platform = Running::start().await;
    let (dps, group) = provisioner(platform.environment(platform.webhook()), 2).await;
    platform
        .faults
        .push(Fault::TooManyRequests { retry_after: 1 });
    let started = std::time::Instant::now();
    assert!(
        dps.allocate(group, &serials(0..1))
            .await
            .unwrap()
            .all_succeeded()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited as the platform asked"
    );

    // A wait longer than the call may take ends it: the device stays pending.
    platform
        .faults
        .push(Fault::TooManyRequests { retry_after: 3600 });
    let report = dps.allocate(group, &serials(1..2)).await.unwrap();
    let e = report.outcomes[0].result.as_ref().unwrap_err();
    assert_eq!(e.code(), "environment_unavailable");
    assert!(e.to_string().contains("429"), "{e}");
    let device = &devices(&dps, group).await[1];
    assert_eq!(device.status(), AllocationStatus::Pending);
    assert!(dps.recover().await.unwrap().completed.all_succeeded());
    assert_eq!(platform.snapshot().assets.len(), 2);
    applied_once(&platform.snapshot());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_that_hangs_past_the_timeout_is_tried_again() {
    let platform = Running::start().await;
    let webhook = platform
        .webhook()
        .with_timeouts(Duration::from_secs(2), Duration::from_millis(300));
    let (dps, group) = provisioner(platform.environment(webhook), 1).await;
    platform.faults.push(Fault::Hang);
    let report = dps.allocate(group, &serials(0..1)).await.unwrap();
    platform.faults.release();
    assert!(report.all_succeeded(), "{:?}", report.outcomes);
    let (key, requests) = only_key(&platform);
    assert_eq!((requests, platform.snapshot().applied[&key]), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_answer_is_transient_with_a_clear_message() {
    let platform = Running::start().await;
    let (dps, group) = provisioner(platform.environment(platform.webhook()), 1).await;
    platform.faults.push(Fault::Malformed);
    let report = dps.allocate(group, &serials(0..1)).await.unwrap();
    let e = report.outcomes[0].result.as_ref().unwrap_err();
    assert_eq!(e.code(), "environment_unavailable");
    assert!(e.to_string().contains("malformed answer to onboard"), "{e}");
    let device = &devices(&dps, group).await[0];
    assert_eq!(device.status(), AllocationStatus::Pending);
    let last = device.last_error().unwrap();
    assert!(last.message.contains("malformed"), "{last:?}");
    // The platform applied it; the repeat gets its first answer.
    assert!(dps.recover().await.unwrap().completed.all_succeeded());
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.assets.len(), 1);
    applied_once(&snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_rolls_the_device_back_with_the_platforms_reason() {
    let platform = Running::start().await;
    let (dps, group) = provisioner(platform.environment(platform.webhook()), 1).await;
    platform.faults.push(Fault::Reject {
        status: 409,
        reason: "serial SN-00000 is blocked by the platform".into(),
    });
    let report = dps.allocate(group, &serials(0..1)).await.unwrap();
    let e = report.outcomes[0].result.as_ref().unwrap_err();
    assert_eq!(e.code(), "environment_rejected");
    let device = &devices(&dps, group).await[0];
    assert_eq!(device.status(), AllocationStatus::NotAllocated);
    let last = device.last_error().unwrap();
    assert!(
        last.message.contains("is blocked by the platform"),
        "{last:?}"
    );
    let (_, requests) = only_key(&platform);
    assert_eq!(requests, 1, "a refusal is not retried");
    assert!(platform.snapshot().assets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_fails_calls_at_once_without_reaching_the_platform() {
    let platform = Running::start().await;
    let webhook = platform
        .webhook()
        .with_breaker(2, Duration::from_secs(3600));
    let env = platform.environment(webhook);
    platform.faults.set_down(true);
    let device = OnboardRequest {
        device_id: dps_core::DeviceId::from_uuid(Uuid::from_u128(1)),
        serial: common::serial(1),
        model_id: "m1".parse().unwrap(),
        name: None,
    };
    for i in 0..5u128 {
        let op = OperationId::from_uuid(Uuid::from_u128(i + 1));
        let e = env.onboard(op, &target(), &device).await.unwrap_err();
        assert!(matches!(e, EnvironmentError::Transient { .. }), "{e}");
        if i >= 2 {
            assert!(e.to_string().contains("failed 2 calls in a row"), "{e}");
        }
    }
    let snapshot = platform.snapshot();
    assert_eq!(
        snapshot.requested.len(),
        2,
        "only the first two calls reached it"
    );
    assert!(
        snapshot.requested.values().all(|&n| n == 3),
        "each tried three times"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_secret_nor_the_urls_query_appears_in_debug_or_errors() {
    let platform = Running::start().await;
    let url = format!("{}?code=function-key-42", platform.url);
    let wrong = fast(WebhookTarget::new(&url, Secret::new("not-the-secret").unwrap()).unwrap());
    assert!(!format!("{wrong:?}").contains("not-the-secret"));
    assert!(!format!("{wrong:?}").contains("function-key-42"));
    let env = platform.environment(wrong);
    assert!(!format!("{env:?}").contains("not-the-secret"));
    let e = env
        .model_exists(&target(), &"m1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e, EnvironmentError::Rejected { .. }),
        "a bad signature is refused: {e}"
    );
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(
            !text.contains("not-the-secret") && !text.contains(SECRET),
            "{text}"
        );
        assert!(!text.contains("function-key-42"), "{text}");
    }
    // Down, the transport's error names the URL without its query either.
    platform.faults.set_down(true);
    let right = fast(WebhookTarget::new(&url, Secret::new(SECRET).unwrap()).unwrap());
    let e = platform
        .environment(right)
        .model_exists(&target(), &"m1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("function-key-42"), "{e}");
    assert!(e.to_string().contains(&platform.url), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_exists_and_endpoints_are_answered_by_the_platform() {
    let platform = Running::start().await;
    let env = platform.environment(platform.webhook());
    assert!(
        env.model_exists(&target(), &"m1".parse().unwrap())
            .await
            .unwrap()
    );
    assert!(
        !env.model_exists(&target(), &"nope".parse().unwrap())
            .await
            .unwrap()
    );
    let e = env
        .model_exists(&"other/acme".parse().unwrap(), &"m1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no webhook is configured for target other/acme"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_calls_than_the_cap_are_in_flight_at_once() {
    const CAP: usize = 3;
    let platform = Running::start().await;
    let webhook = platform.webhook().with_max_concurrent(CAP);
    // The batch makes 16 calls at once; the cap lets 3 through.
    let (dps, group) = provisioner(platform.environment(webhook), 40).await;
    platform.faults.push_times(Fault::Hang, CAP);
    let allocation = tokio::spawn(async move {
        let report = dps.allocate(group, &serials(0..40)).await.unwrap();
        (dps, report)
    });
    // Until the held calls are let go, every call that can be in flight is.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while platform.faults.hanging() < CAP {
        assert!(
            std::time::Instant::now() < deadline,
            "the calls reach the platform"
        );
        tokio::task::yield_now().await;
    }
    let held = platform.snapshot();
    platform.faults.release();
    let (dps, report) = allocation.await.unwrap();
    assert!(report.all_succeeded(), "{:?}", report.outcomes);
    assert_eq!(
        held.peak_in_flight, CAP,
        "the cap was reached while calls were held"
    );
    let snapshot = platform.snapshot();
    assert_eq!(snapshot.peak_in_flight, CAP, "and never passed");
    assert_eq!(snapshot.assets.len(), 40);
    applied_once(&snapshot);
    assert_eq!(
        count(&devices(&dps, group).await, AllocationStatus::Allocated),
        40
    );
}
