//! The signature test vectors of `docs/environment-webhook.md` sign and verify as written.

use serde_json::Value;

#[test]
fn the_contracts_test_vectors_sign_and_verify() {
    let doc = include_str!("../../../docs/environment-webhook.md");
    let start = doc
        .find("```json test-vectors\n")
        .expect("the doc has a test-vectors block")
        + "```json test-vectors\n".len();
    let end = start + doc[start..].find("```").expect("the block ends");
    let vectors: Vec<Value> = serde_json::from_str(&doc[start..end]).expect("the block is JSON");
    assert!(vectors.len() >= 3, "at least three vectors");
    for v in &vectors {
        let secret = v["secret"].as_str().unwrap();
        let timestamp = v["timestamp"].as_u64().unwrap();
        let body = v["body"].as_str().unwrap().as_bytes();
        let expected = format!("v1={}", v["signature"].as_str().unwrap());
        assert!(
            dps_core::Secret::new(secret).is_ok(),
            "dps accepts the vector's secret {secret:?}"
        );
        assert_eq!(
            dps_env_webhook::sign(secret.as_bytes(), timestamp, body),
            expected,
            "{v}"
        );
        assert!(dps_env_webhook::verify(
            secret.as_bytes(),
            timestamp,
            body,
            &expected
        ));
        let mut changed = body.to_vec();
        changed.push(b' ');
        assert!(!dps_env_webhook::verify(
            secret.as_bytes(),
            timestamp,
            &changed,
            &expected
        ));
    }
}
