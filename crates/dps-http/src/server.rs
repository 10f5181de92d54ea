//! Serving a [`Router`] on a socket: plain HTTP or TLS (rustls), a timeout on reading a
//! request's head, each client's address for the rate limits, and a graceful shutdown that
//! finishes the requests in flight.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

/// How long a client has to send a request's head (and to finish a TLS handshake) before
/// its connection is closed.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS certificate chain and its private key.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

/// A TLS set-up that cannot be used: which file, and why.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct TlsError {
    what: String,
    message: String,
}

impl Tls {
    /// The certificate chain and private key of two PEM files.
    ///
    /// # Errors
    ///
    /// [`TlsError`] naming the file that cannot be read or holds no usable certificate or
    /// key, or the key that does not match the certificate.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let named = |path: &Path, message: String| TlsError {
            what: path.display().to_string(),
            message,
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| named(cert, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| named(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(named(cert, "holds no certificate".into()));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| named(key, e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| named(cert, e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| named(key, e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// The mark of a request that came over TLS: [`serve`] puts it into the extensions of
/// every request of a TLS connection (the console then marks its cookie `Secure`).
#[derive(Debug, Clone, Copy)]
pub struct Secure;

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish, and returns.
///
/// Each request carries its client's address as [`ConnectInfo<SocketAddr>`], which the
/// bootstrap rate limit uses. A client that does not send a request's head within
/// [`HEAD_TIMEOUT`] is disconnected, so that idle connections do not pile up.
///
/// # Errors
///
/// Only what stops the whole server; a failed connection is logged and dropped.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    serve_with(listener, router, tls, HEAD_TIMEOUT, shutdown).await
}

/// [`serve`] with another timeout for a request's head and the TLS handshake.
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    tls: Option<Tls>,
    head_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let watcher = graceful.watcher();
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, router, tls, head_timeout, watcher).await {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    tls: Option<Tls>,
    head_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = stream.set_nodelay(true);
    let secure = tls.is_some();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if secure {
            request.extensions_mut().insert(Secure);
        }
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .keep_alive(true);
    match tls {
        None => {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            watcher.watch(conn).await?;
        }
        Some(tls) => {
            let stream = tokio::time::timeout(head_timeout, tls.acceptor.accept(stream)).await??;
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            watcher.watch(conn).await?;
        }
    }
    Ok(())
}

/// Completes on Ctrl-C or, on Unix, SIGTERM: the shutdown signal of [`serve`].
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
