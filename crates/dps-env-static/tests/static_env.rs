//! `StaticEnvironment`: targets from configuration, idempotency per operation, and a bounded
//! memory of operations.

use std::sync::Arc;

use dps_core::{
    DeviceId, Environment, EnvironmentError, OnboardRequest, OperationId, Target, Uuid,
    inject::SeededSecrets,
};
use dps_env_static::{StaticConfig, StaticEnvironment};

fn target() -> Target {
    "prod/acme".parse().unwrap()
}

fn config() -> StaticConfig {
    serde_json::from_value(serde_json::json!({
        "targets": [{
            "environment": "prod",
            "ou": "acme",
            "models": ["m1"],
            "mqtt_endpoint": "mqtts://mqtt.example.com:8883"
        }]
    }))
    .unwrap()
}

fn env() -> StaticEnvironment {
    StaticEnvironment::new(config(), Arc::new(SeededSecrets::new(3)))
}

fn op(n: u128) -> OperationId {
    OperationId::from_uuid(Uuid::from_u128(n))
}

fn request(model: &str) -> OnboardRequest {
    OnboardRequest {
        device_id: DeviceId::from_uuid(Uuid::from_u128(1)),
        serial: "SN-1".parse().unwrap(),
        model_id: model.parse().unwrap(),
        name: None,
    }
}

#[tokio::test]
async fn onboarding_is_idempotent_per_operation() {
    let env = env();
    let first = env.onboard(op(1), &target(), &request("m1")).await.unwrap();
    let again = env.onboard(op(1), &target(), &request("m1")).await.unwrap();
    assert_eq!(first, again, "a retry gets the first answer");
    let other = env.onboard(op(2), &target(), &request("m1")).await.unwrap();
    assert_ne!(other.asset_id, first.asset_id);
    assert_ne!(
        other.credentials.device_secret,
        first.credentials.device_secret
    );
    // An operation answers one kind of call only.
    let misuse = env.offboard(op(1), &target(), &first.asset_id).await;
    assert!(matches!(misuse, Err(EnvironmentError::Rejected { .. })));
}

#[tokio::test]
async fn unknown_targets_and_models_are_rejected() {
    let env = env();
    let elsewhere: Target = "prod/other".parse().unwrap();
    assert!(matches!(
        env.onboard(op(1), &elsewhere, &request("m1")).await,
        Err(EnvironmentError::Rejected { .. })
    ));
    assert!(
        !env.model_exists(&target(), &"m2".parse().unwrap())
            .await
            .unwrap()
    );
    assert!(matches!(
        env.onboard(op(2), &target(), &request("m2")).await,
        Err(EnvironmentError::Rejected { .. })
    ));
    let endpoints = env.endpoints(&target()).await.unwrap();
    assert_eq!(
        endpoints.mqtt.as_ref().map(|e| e.as_str()),
        Some("mqtts://mqtt.example.com:8883")
    );
    assert_eq!(endpoints.http, None);
}

#[tokio::test]
async fn reissue_keeps_the_asset_and_the_product_key_and_renews_the_device_credentials() {
    let env = env();
    let onboarded = env.onboard(op(1), &target(), &request("m1")).await.unwrap();
    let new_serial = "SN-2".parse().unwrap();
    let reissued = env
        .reissue(op(2), &target(), &onboarded.asset_id, &new_serial)
        .await
        .unwrap();
    assert_eq!(reissued.product_key, onboarded.credentials.product_key);
    assert_ne!(reissued.device_key, onboarded.credentials.device_key);
    assert_ne!(reissued.device_secret, onboarded.credentials.device_secret);
    let again = env
        .reissue(op(2), &target(), &onboarded.asset_id, &new_serial)
        .await
        .unwrap();
    assert_eq!(again, reissued, "a retry gets the first answer");
    env.offboard(op(3), &target(), &onboarded.asset_id)
        .await
        .unwrap();
    env.offboard(op(3), &target(), &onboarded.asset_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn only_the_most_recent_operations_are_remembered() {
    // Operation identifiers are time-ordered: the smallest are the oldest.
    let env = env().with_remembered_operations(2);
    let first = env.onboard(op(1), &target(), &request("m1")).await.unwrap();
    let second = env.onboard(op(2), &target(), &request("m1")).await.unwrap();
    let third = env.onboard(op(3), &target(), &request("m1")).await.unwrap();
    // The two most recent are answered as before...
    assert_eq!(
        env.onboard(op(2), &target(), &request("m1")).await.unwrap(),
        second
    );
    assert_eq!(
        env.onboard(op(3), &target(), &request("m1")).await.unwrap(),
        third
    );
    // ...the oldest was forgotten and is served as a new operation, then forgotten again
    // as the oldest.
    let retried = env.onboard(op(1), &target(), &request("m1")).await.unwrap();
    assert_ne!(retried.asset_id, first.asset_id);
    assert_eq!(
        env.onboard(op(2), &target(), &request("m1")).await.unwrap(),
        second
    );
    assert_eq!(
        env.onboard(op(3), &target(), &request("m1")).await.unwrap(),
        third
    );
    // A newer operation pushes out the oldest remembered one.
    env.onboard(op(4), &target(), &request("m1")).await.unwrap();
    assert_ne!(
        env.onboard(op(2), &target(), &request("m1")).await.unwrap(),
        second
    );
}

#[tokio::test]
async fn asset_ids_count_up_from_a_random_start_and_keys_have_their_documented_shape() {
    let env = env();
    let mut previous: Option<(u32, dps_core::AssetId)> = None;
    for n in 1..=300 {
        let onboarded = env.onboard(op(n), &target(), &request("m1")).await.unwrap();
        let id = onboarded.asset_id.as_str();
        let digits = id.strip_prefix("asset-").unwrap();
        assert_eq!(digits.len(), 18, "{id}");
        assert!(digits.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        let sequence = u32::from_str_radix(&digits[..6], 16).unwrap();
        if let Some((before, before_id)) = &previous {
            assert_eq!(sequence, (before + 1) & 0xff_ffff, "{id} after {before_id}");
            if sequence != 0 {
                assert!(
                    *before_id < onboarded.asset_id,
                    "{id} sorts after {before_id}"
                );
            }
        }
        let keys = [
            (onboarded.credentials.product_key.as_str(), "pk-"),
            (onboarded.credentials.device_key.as_str(), "dk-"),
        ];
        for (key, prefix) in keys {
            let digits = key.strip_prefix(prefix).unwrap();
            assert!(digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let secret = onboarded.credentials.device_secret.expose();
        assert!(secret.len() == 48 && secret.bytes().all(|b| b.is_ascii_hexdigit()));
        previous = Some((sequence, onboarded.asset_id));
    }
}

#[tokio::test]
async fn environments_with_different_secret_sources_start_their_asset_ids_apart() {
    let first = StaticEnvironment::new(config(), Arc::new(SeededSecrets::new(1)));
    let second = StaticEnvironment::new(config(), Arc::new(SeededSecrets::new(2)));
    let a = first
        .onboard(op(1), &target(), &request("m1"))
        .await
        .unwrap();
    let b = second
        .onboard(op(1), &target(), &request("m1"))
        .await
        .unwrap();
    assert_ne!(a.asset_id.as_str()[..12], b.asset_id.as_str()[..12]);
}
