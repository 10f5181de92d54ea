//! A service over an in-memory store and a fake environment, called in process.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use dps_core::access::{AccessToken, Role};
use dps_core::inject::OsSecrets;
use dps_core::{Environment, GroupId, Provisioner, Store, Target, Timestamp};
use dps_http::{Api, Options};
use dps_store_memory::InMemoryStore;
use dps_testkit::FakeEnvironment;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The target of every test group: models `m1` and `m2` exist there, `gone` does not.
pub const TARGET: &str = "prod-eu/acme";

pub struct Harness {
    pub api: Api,
    pub app: Router,
    pub store: Arc<InMemoryStore>,
    pub env: Arc<FakeEnvironment>,
    pub admin: String,
}

/// An answer: status, headers and the body as JSON (`Value::Null` when empty, a string when
/// not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_options(Options::default()).await
    }

    pub async fn with_options(options: Options) -> Self {
        let store = Arc::new(InMemoryStore::new());
        let target: Target = TARGET.parse().unwrap();
        let env = Arc::new(FakeEnvironment::with_target(&target, &["m1", "m2"]));
        let dps = Provisioner::new(
            Arc::clone(&store) as Arc<dyn Store>,
            Arc::clone(&env) as Arc<dyn Environment>,
        )
        .with_keys(dps_testkit::test_keys());
        let api = Api::with_options(dps, options);
        let app = api.router();
        let mut h = Self {
            api,
            app,
            store,
            env,
            admin: String::new(),
        };
        h.admin = h.token("root", Role::Admin, &[]).await;
        h
    }

    /// Issues a token straight into the store, as `dps token create` does.
    pub async fn token(&self, name: &str, role: Role, groups: &[GroupId]) -> String {
        let (token, text) = AccessToken::issue(
            name.parse().unwrap(),
            role,
            groups.to_vec(),
            &OsSecrets,
            Timestamp::from_unix_millis(0),
        );
        self.store.insert_token(&token).await.unwrap();
        text
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.send(method, uri, token, &[], body.map(|b| b.to_string()))
            .await
    }

    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Answer {
            status,
            headers,
            body,
            text,
            bytes: bytes.to_vec(),
        }
    }

    pub async fn admin(&self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        self.call(method, uri, Some(&self.admin.clone()), body)
            .await
    }

    /// A group named `name` whose default target is [`TARGET`]; its ID.
    pub async fn group(&self, name: &str) -> String {
        let a = self
            .admin(
                Method::POST,
                "/v1/groups",
                Some(serde_json::json!({"name": name, "default_target": TARGET})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        a.body["id"].as_str().unwrap().to_owned()
    }

    /// Registers `serial` of model `model` in `group`.
    pub async fn device(&self, group: &str, serial: &str, model: &str) {
        let a = self
            .admin(
                Method::POST,
                &format!("/v1/groups/{group}/devices"),
                Some(serde_json::json!({"serial": serial, "model_id": model})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    }
}
