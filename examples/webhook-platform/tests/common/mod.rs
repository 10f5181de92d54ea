//! A real loopback server and a signing client for the platform's tests.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use webhook_platform::{Platform, PlatformConfig, signature};

pub const SECRET: &str = "test-secret";
pub const TARGET: &str = r#"{"environment":"prod-eu","ou":"acme"}"#;

/// A platform serving on 127.0.0.1 with an ephemeral port.
pub struct Server {
    pub url: String,
    pub platform: Platform,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn config() -> PlatformConfig {
    let mut config = PlatformConfig::new(SECRET);
    config.models = vec!["thermostat".to_owned()];
    config.mqtt = Some("mqtts://mqtt.example.com:8883".to_owned());
    config
}

pub async fn serve(platform: Platform) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let router = platform.router();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Server {
        url,
        platform,
        task,
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn target() -> Value {
    serde_json::from_str(TARGET).unwrap()
}

pub fn onboard(operation_id: &str, serial: &str, model: &str) -> Value {
    json!({
        "call": "onboard",
        "operation_id": operation_id,
        "target": target(),
        "device": {
            "device_id": "0b8f3c9e-2d5a-4f1b-9a6c-7e4d2b1a0f3e",
            "serial": serial,
            "model_id": model,
            "name": "Lobby",
        },
    })
}

pub fn offboard(operation_id: &str, asset_id: &str) -> Value {
    json!({"call": "offboard", "operation_id": operation_id, "target": target(), "asset_id": asset_id})
}

pub fn reissue(operation_id: &str, asset_id: &str, new_serial: &str) -> Value {
    json!({
        "call": "reissue",
        "operation_id": operation_id,
        "target": target(),
        "asset_id": asset_id,
        "new_serial": new_serial,
    })
}

/// One answer: status, `Retry-After`, body as JSON (or `Value::Null` when it does not parse),
/// and the raw text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub json: Value,
    pub text: String,
}

pub struct Client {
    http: reqwest::Client,
    pub url: String,
    pub secret: String,
}

impl Client {
    pub fn new(url: &str) -> Self {
        Self::with_timeout(url, Duration::from_secs(30))
    }

    pub fn with_timeout(url: &str, timeout: Duration) -> Self {
        Self {
            http: reqwest::Client::builder().timeout(timeout).build().unwrap(),
            url: url.to_owned(),
            secret: SECRET.to_owned(),
        }
    }

    /// The body signed now, with `Idempotency-Key` taken from its `operation_id`.
    pub async fn call(&self, body: &Value) -> reqwest::Result<Answer> {
        let bytes = serde_json::to_vec(body).unwrap();
        let timestamp = now().to_string();
        let sig = format!("v1={}", signature(&self.secret, now(), &bytes));
        let mut headers = vec![("X-Dps-Timestamp", timestamp), ("X-Dps-Signature", sig)];
        if let Some(key) = body.get("operation_id").and_then(Value::as_str) {
            headers.push(("Idempotency-Key", key.to_owned()));
        }
        self.raw(bytes, &headers).await
    }

    /// The body as given, with exactly these headers (and `Content-Type`).
    pub async fn raw(&self, body: Vec<u8>, headers: &[(&str, String)]) -> reqwest::Result<Answer> {
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "dps/0.1.0")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await?;
        Ok(Answer {
            status,
            retry_after,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        })
    }

    pub async fn state(&self) -> Value {
        let text = self
            .http
            .get(format!("{}_platform/state", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }
}
