//! The `webhook-platform` binary prints its URL, serves the contract, and stops on Ctrl-C.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Client, SECRET, target};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_webhook-platform");

#[cfg(unix)]
#[tokio::test]
async fn the_binary_serves_and_stops_gracefully_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let data = dir.path().join("platform.jsonl");
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--models", "thermostat,gateway"])
        .args(["--mqtt", "mqtts://mqtt.example.com:8883", "--secret-file"])
        .arg(&secret)
        .arg("--data")
        .arg(&data)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let client = Client::new(url);
    let exists = client
        .call(&json!({"call": "model_exists", "target": target(), "model_id": "gateway"}))
        .await
        .unwrap();
    assert_eq!(exists.json, json!({"exists": true}));
    let endpoints = client
        .call(&json!({"call": "endpoints", "target": target()}))
        .await
        .unwrap();
    assert_eq!(endpoints.json["mqtt"], "mqtts://mqtt.example.com:8883");
    let onboarded = client
        .call(&common::onboard(
            "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
            "SN-1",
            "gateway",
        ))
        .await
        .unwrap();
    assert_eq!(onboarded.status, 200, "{}", onboarded.text);
    assert!(data.exists());

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn the_binary_refuses_to_start_without_a_secret_file() {
    let output = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--secret-file"), "{stderr}");
}

#[test]
fn the_binary_names_an_unknown_argument() {
    let output = Command::new(BIN).arg("--bogus").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--bogus"));
}
