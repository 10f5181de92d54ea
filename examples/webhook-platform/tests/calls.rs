//! Each call of the contract, and idempotency by operation ID.

mod common;

use common::{Client, config, offboard, onboard, reissue, serve, target};
use serde_json::json;
use webhook_platform::Platform;

const OP1: &str = "5f0b6a8e-1c2d-4e3f-8a9b-0c1d2e3f4a51";
const OP2: &str = "5f0b6a8e-1c2d-4e3f-8a9b-0c1d2e3f4a52";
const OP3: &str = "5f0b6a8e-1c2d-4e3f-8a9b-0c1d2e3f4a53";

#[tokio::test]
async fn model_exists_answers_for_the_configured_models() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    for (model, exists) in [("thermostat", true), ("toaster", false)] {
        let body = json!({"call": "model_exists", "target": target(), "model_id": model});
        let answer = client.call(&body).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json, json!({"exists": exists}));
    }
}

#[tokio::test]
async fn endpoints_answers_the_configured_endpoints_and_null() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let answer = client
        .call(&json!({"call": "endpoints", "target": target()}))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json,
        json!({"mqtt": "mqtts://mqtt.example.com:8883", "http": null})
    );
}

#[tokio::test]
async fn onboard_issues_an_asset_with_credentials_within_the_field_rules() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let answer = client
        .call(&onboard(OP1, "SN-1", "thermostat"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    for (field, max) in [
        ("asset_id", 64),
        ("product_key", 64),
        ("device_key", 64),
        ("device_secret", 128),
    ] {
        let value = answer.json[field].as_str().unwrap();
        assert!(!value.is_empty() && value.len() <= max, "{field}: {value}");
        let allowed = |b: u8| match field {
            "device_secret" => b.is_ascii_graphic() || b == b' ',
            _ => b.is_ascii_alphanumeric() || b"-_.:".contains(&b),
        };
        assert!(value.bytes().all(allowed), "{field}: {value}");
    }
    let asset_id = answer.json["asset_id"].as_str().unwrap();
    let snapshot = server.platform.snapshot();
    let asset = &snapshot.assets[asset_id];
    assert_eq!(asset.serial, "SN-1");
    assert_eq!(asset.product_key, answer.json["product_key"]);
    assert_eq!(snapshot.applied[OP1], 1);
}

#[tokio::test]
async fn onboard_of_an_unknown_model_is_422_with_a_reason_and_applies_nothing() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let answer = client.call(&onboard(OP1, "SN-1", "toaster")).await.unwrap();
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.json,
        json!({"reason": "model toaster does not exist"})
    );
    assert!(server.platform.snapshot().assets.is_empty());
    assert!(server.platform.snapshot().applied.is_empty());
}

#[tokio::test]
async fn reissue_keeps_the_asset_id_and_issues_new_keys() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let first = client
        .call(&onboard(OP1, "SN-1", "thermostat"))
        .await
        .unwrap();
    let asset_id = first.json["asset_id"].as_str().unwrap();
    let second = client.call(&reissue(OP2, asset_id, "SN-2")).await.unwrap();
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(second.json.get("asset_id").is_none());
    for key in ["product_key", "device_key", "device_secret"] {
        assert_ne!(second.json[key], first.json[key], "{key}");
    }
    let snapshot = server.platform.snapshot();
    assert_eq!(snapshot.assets.len(), 1);
    let asset = &snapshot.assets[asset_id];
    assert_eq!(asset.serial, "SN-2");
    assert_eq!(asset.device_key, second.json["device_key"]);
}

#[tokio::test]
async fn reissue_of_an_unknown_asset_is_404_with_a_reason() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let answer = client
        .call(&reissue(OP1, "asset-nope", "SN-2"))
        .await
        .unwrap();
    assert_eq!(answer.status, 404);
    assert!(
        answer.json["reason"]
            .as_str()
            .unwrap()
            .contains("asset-nope")
    );
}

#[tokio::test]
async fn offboard_removes_the_asset_and_an_unknown_asset_is_200() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let first = client
        .call(&onboard(OP1, "SN-1", "thermostat"))
        .await
        .unwrap();
    let asset_id = first.json["asset_id"].as_str().unwrap();
    let gone = client.call(&offboard(OP2, asset_id)).await.unwrap();
    assert_eq!((gone.status, gone.json), (200, json!({})));
    assert!(server.platform.snapshot().assets.is_empty());
    let unknown = client
        .call(&offboard(OP3, "asset-never-was"))
        .await
        .unwrap();
    assert_eq!((unknown.status, unknown.json), (200, json!({})));
}

#[tokio::test]
async fn a_repeated_key_gets_the_first_answer_and_is_applied_once() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = onboard(OP1, "SN-1", "thermostat");
    let first = client.call(&body).await.unwrap();
    let again = client.call(&body).await.unwrap();
    let third = client.call(&body).await.unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(again.json, first.json);
    assert_eq!(third.json, first.json);
    let snapshot = server.platform.snapshot();
    assert_eq!(snapshot.applied[OP1], 1);
    assert_eq!(snapshot.requested[OP1], 3);
    assert_eq!(snapshot.assets.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_under_one_key_all_get_the_one_answer() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = std::sync::Arc::new(Client::new(&server.url));
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let client = std::sync::Arc::clone(&client);
            tokio::spawn(async move { client.call(&onboard(OP1, "SN-1", "thermostat")).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap().unwrap());
    }
    assert!(answers.iter().all(|a| a.status == 200));
    assert!(answers.iter().all(|a| a.json == answers[0].json));
    let snapshot = server.platform.snapshot();
    assert_eq!((snapshot.applied[OP1], snapshot.requested[OP1]), (1, 16));
    assert_eq!(snapshot.assets.len(), 1);
}

#[tokio::test]
async fn a_repeated_reissue_and_offboard_apply_once() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let first = client
        .call(&onboard(OP1, "SN-1", "thermostat"))
        .await
        .unwrap();
    let asset_id = first.json["asset_id"].as_str().unwrap();
    let reissued = client.call(&reissue(OP2, asset_id, "SN-2")).await.unwrap();
    let repeat = client.call(&reissue(OP2, asset_id, "SN-2")).await.unwrap();
    assert_eq!(repeat.json, reissued.json);
    let asset = &server.platform.snapshot().assets[asset_id];
    assert_eq!(asset.device_key, reissued.json["device_key"]);
    client.call(&offboard(OP3, asset_id)).await.unwrap();
    let repeat = client.call(&offboard(OP3, asset_id)).await.unwrap();
    assert_eq!((repeat.status, repeat.json), (200, json!({})));
    let snapshot = server.platform.snapshot();
    assert_eq!(
        [
            snapshot.applied[OP1],
            snapshot.applied[OP2],
            snapshot.applied[OP3]
        ],
        [1, 1, 1]
    );
}

#[tokio::test]
async fn a_key_reused_with_another_body_or_call_is_409_and_applies_nothing() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let first = client
        .call(&onboard(OP1, "SN-1", "thermostat"))
        .await
        .unwrap();
    let other_body = client
        .call(&onboard(OP1, "SN-9", "thermostat"))
        .await
        .unwrap();
    assert_eq!(other_body.status, 409);
    assert!(other_body.json["reason"].as_str().unwrap().contains(OP1));
    let asset_id = first.json["asset_id"].as_str().unwrap();
    let other_call = client.call(&offboard(OP1, asset_id)).await.unwrap();
    assert_eq!(other_call.status, 409);
    let snapshot = server.platform.snapshot();
    assert_eq!(snapshot.applied[OP1], 1);
    assert_eq!(snapshot.assets[asset_id].serial, "SN-1");
}

#[tokio::test]
async fn a_mutation_without_or_with_another_idempotency_key_is_400() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = serde_json::to_vec(&onboard(OP1, "SN-1", "thermostat")).unwrap();
    let t = common::now();
    let sig = format!(
        "v1={}",
        webhook_platform::signature(common::SECRET, t, &body)
    );
    let signed = vec![("X-Dps-Timestamp", t.to_string()), ("X-Dps-Signature", sig)];
    let missing = client.raw(body.clone(), &signed).await.unwrap();
    assert_eq!(missing.status, 400);
    assert!(
        missing.json["reason"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    let mut other = signed.clone();
    other.push(("Idempotency-Key", OP2.to_owned()));
    let mismatch = client.raw(body, &other).await.unwrap();
    assert_eq!(mismatch.status, 400);
    assert!(server.platform.snapshot().applied.is_empty());
}

#[tokio::test]
async fn an_unknown_call_or_a_body_that_is_not_json_is_400_with_a_reason() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let unknown = client
        .call(&json!({"call": "explode", "target": target()}))
        .await
        .unwrap();
    assert_eq!(unknown.status, 400);
    assert!(unknown.json["reason"].as_str().unwrap().contains("explode"));
    let body = b"not json".to_vec();
    let t = common::now();
    let sig = format!(
        "v1={}",
        webhook_platform::signature(common::SECRET, t, &body)
    );
    let answer = client
        .raw(
            body,
            &[("X-Dps-Timestamp", t.to_string()), ("X-Dps-Signature", sig)],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 400);
    assert!(answer.json["reason"].is_string());
}

#[tokio::test]
async fn the_state_route_shows_counts_and_assets_without_secrets() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let body = onboard(OP1, "SN-1", "thermostat");
    let first = client.call(&body).await.unwrap();
    client.call(&body).await.unwrap();
    let state = client.state().await;
    assert_eq!(state["applied"][OP1], 1);
    assert_eq!(state["requested"][OP1], 2);
    let asset_id = first.json["asset_id"].as_str().unwrap();
    assert_eq!(state["assets"][asset_id]["serial"], "SN-1");
    assert_eq!(state["assets"][asset_id]["model_id"], "thermostat");
    assert!(state["assets"][asset_id].get("device_secret").is_none());
    let secret = first.json["device_secret"].as_str().unwrap();
    assert!(!state.to_string().contains(secret));
}

#[tokio::test]
async fn debug_output_shows_neither_the_shared_secret_nor_device_secrets() {
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    let first = client
        .call(&onboard(OP1, "SN-1", "thermostat"))
        .await
        .unwrap();
    let device_secret = first.json["device_secret"].as_str().unwrap();
    let shown = format!(
        "{:?} {:?} {:?}",
        server.platform,
        server.platform.snapshot(),
        config()
    );
    assert!(!shown.contains(common::SECRET), "{shown}");
    assert!(!shown.contains(device_secret), "{shown}");
    assert!(shown.contains("SN-1"), "{shown}");
}
