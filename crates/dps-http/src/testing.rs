//! Helpers for tests that talk HTTP over a real socket: a [`TestServer`] that serves a router
//! on a free loopback port, and a small [`Client`] for HTTP/1.1 requests.
//!
//! ```
//! use axum::http::{Method, StatusCode};
//! use dps_http::testing::{Client, TestServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), dps_http::testing::ClientError> {
//! let app = axum::Router::new().route("/hi", axum::routing::get(|| async { "hello" }));
//! let server = TestServer::start(app).await?;
//! let reply = Client::new(server.addr()).send(Method::GET, "/hi", &[], "").await?;
//! assert_eq!(reply.status, StatusCode::OK);
//! assert_eq!(reply.text(), "hello");
//! server.stop().await;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// A router served on `127.0.0.1` at a free port, until [`TestServer::stop`] or drop.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `router` with [`serve`](crate::server::serve), without TLS.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start(router: Router) -> std::io::Result<Self> {
        Self::start_with(router, crate::server::HEAD_TIMEOUT).await
    }

    /// Serves `router` like [`TestServer::start`], with another timeout for a request's head.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start_with(
        router: Router,
        head_timeout: std::time::Duration,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(crate::server::serve_with(
            listener,
            router,
            None,
            head_timeout,
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, and waits for the requests in flight to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An answer: its status, headers and whole body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `Value::Null` when it is empty or not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value as text; empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A failed exchange: the connection or the HTTP framing broke.
pub type ClientError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTP/1.1 client of one server, one connection per request, with an optional bearer
/// token.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    token: Option<String>,
}

impl Client {
    /// A client of the server at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, token: None }
    }

    /// This client, sending `Authorization: Bearer <token>`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sends a request with these extra headers and body, and reads the whole answer.
    ///
    /// # Errors
    ///
    /// [`ClientError`] when the connection or the framing fails.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, ClientError> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.addr.to_string());
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into()))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        driver.abort();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends `body` as JSON (no body when `None`).
    ///
    /// # Errors
    ///
    /// As [`Client::send`].
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        match body {
            Some(b) => {
                let headers = [("content-type", "application/json")];
                self.send(method, path, &headers, b.to_string()).await
            }
            None => self.send(method, path, &[], Bytes::new()).await,
        }
    }
}
