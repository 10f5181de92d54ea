//! `docs/environment-webhook.md` cannot drift from the platform: its signature test vectors
//! verify, its JSON blocks parse, and its request examples are requests the platform accepts.

mod common;

use std::path::Path;

use common::{Client, config, serve};
use serde_json::Value;
use webhook_platform::{Platform, signature};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/environment-webhook.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fenced blocks of `doc` whose info string is `info`, in order.
fn blocks<'a>(doc: &'a str, info: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == format!("```{info}") {
            let body: Vec<&'a str> = lines
                .by_ref()
                .take_while(|l| l.trim_end() != "```")
                .collect();
            blocks.push(body.join("\n"));
        }
    }
    blocks
}

#[test]
fn the_signature_test_vectors_verify() {
    let doc = doc();
    let found = blocks(&doc, "json test-vectors");
    assert_eq!(found.len(), 1, "one test-vectors block");
    let vectors: Vec<Value> = serde_json::from_str(&found[0]).unwrap();
    assert!(vectors.len() >= 3, "at least three vectors");
    for vector in &vectors {
        let secret = vector["secret"].as_str().unwrap();
        let timestamp = vector["timestamp"].as_u64().unwrap();
        let body = vector["body"].as_str().unwrap();
        let expected = vector["signature"].as_str().unwrap();
        assert_eq!(
            signature(secret, timestamp, body.as_bytes()),
            expected,
            "vector {vector}"
        );
    }
}

#[test]
fn every_json_block_parses_and_every_schema_names_draft_2020_12() {
    let doc = doc();
    let found = blocks(&doc, "json");
    assert!(found.len() >= 20, "{} JSON blocks", found.len());
    let mut schemas = 0;
    for block in &found {
        let value: Value =
            serde_json::from_str(block).unwrap_or_else(|e| panic!("{e} in block:\n{block}"));
        if let Some(schema) = value.get("$schema") {
            assert_eq!(schema, "https://json-schema.org/draft/2020-12/schema");
            schemas += 1;
        }
    }
    // A request and an answer schema for each of the five calls, the refusal's, a request
    // schema for each of the three batch calls and the batch answer's.
    assert_eq!(schemas, 15);
}

#[tokio::test]
async fn every_request_example_is_a_request_the_platform_accepts() {
    let doc = doc();
    let requests: Vec<Value> = blocks(&doc, "json")
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .filter(|v| v.get("call").is_some())
        .collect();
    let calls: Vec<&str> = requests
        .iter()
        .map(|r| r["call"].as_str().unwrap())
        .collect();
    assert_eq!(
        calls,
        [
            "model_exists",
            "onboard",
            "offboard",
            "reissue",
            "endpoints",
            "onboard_many",
            "offboard_many",
            "reissue_many"
        ]
    );
    let server = serve(Platform::new(config()).unwrap()).await;
    let client = Client::new(&server.url);
    for request in &requests {
        let answer = client.call(request).await.unwrap();
        // The reissue examples name an asset this fresh platform never issued.
        let call = request["call"].as_str().unwrap();
        let expected = if call.starts_with("reissue") {
            404
        } else {
            200
        };
        if let Some(items) = request.get("items") {
            assert_eq!(answer.status, 200, "{request}: {}", answer.text);
            let results: Value = serde_json::from_str(&answer.text).unwrap();
            let results = results["results"].as_array().unwrap();
            assert_eq!(results.len(), items.as_array().unwrap().len());
            for result in results {
                assert_eq!(result["status"], expected, "{request}: {result}");
            }
        } else {
            assert_eq!(answer.status, expected, "{request}: {}", answer.text);
        }
    }
}
