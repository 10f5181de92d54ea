//! TLS with rustls: a client configuration for each `sslmode`, the root certificates of
//! `verify-ca` and `verify-full`, and errors that name the mode and the cause.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use deadpool_postgres::PoolError;
use dps_core::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

use crate::ssl::{Conninfo, RootCert, SslMode, misconfigured};

/// What a store's TLS failures are explained with: the mode, and where its roots came from.
#[derive(Debug, Clone)]
pub(crate) struct TlsContext {
    mode: SslMode,
    /// Where `verify-ca` and `verify-full` took their roots from; `None` for the other modes.
    roots: Option<String>,
    /// Whether the caller's own `ClientConfig` decides what is trusted.
    custom: bool,
}

impl TlsContext {
    /// The context of a caller's own `ClientConfig`, used with `mode`.
    pub(crate) fn custom(mode: SslMode) -> Self {
        Self {
            mode,
            roots: None,
            custom: true,
        }
    }

    /// The configuration error for a connection that failed in TLS, or `e` back for any other
    /// failure.
    pub(crate) fn explain(&self, e: PoolError) -> Result<StoreError, PoolError> {
        let PoolError::Backend(pg) = &e else {
            return Err(e);
        };
        let message = if let Some(cause) = rustls_cause(pg) {
            self.message(cause)
        } else if self.mode.needs_tls()
            && std::error::Error::source(pg).is_some_and(|s| s.to_string() == NO_TLS)
        {
            format!(
                "the server does not offer TLS (sslmode={}): turn ssl on in the server's configuration, or use sslmode=prefer",
                self.mode.as_str()
            )
        } else {
            return Err(e);
        };
        Ok(StoreError::configuration(message, e))
    }

    fn message(&self, cause: &rustls::Error) -> String {
        let mode = self.mode.as_str();
        if self.custom {
            return format!(
                "TLS handshake failed (sslmode={mode}, your TLS configuration): {cause}"
            );
        }
        let at = match &self.roots {
            Some(roots) => format!("sslmode={mode}, {roots}"),
            None => format!("sslmode={mode}"),
        };
        let rustls::Error::InvalidCertificate(certificate) = cause else {
            return format!("TLS handshake failed ({at}): {cause}");
        };
        match certificate {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "server certificate not trusted ({at}): set sslrootcert to the certificate of the CA that signed it, or use sslmode=require to encrypt without verifying"
            ),
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "server certificate is for {}, not {} ({at}): connect by a name it lists, or use sslmode=verify-ca",
                presented
                    .iter()
                    .map(|name| bare_name(name))
                    .collect::<Vec<_>>()
                    .join(", "),
                expected.to_str()
            ),
            CertificateError::NotValidForName => format!(
                "server certificate does not name the host ({at}): connect by a name it lists, or use sslmode=verify-ca"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("server certificate has expired ({at})")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("server certificate is not valid yet ({at}): check the clock")
            }
            _ => format!("server certificate rejected ({at}): {cause}"),
        }
    }
}

/// A name as rustls presents it, `DnsName("localhost")`, without its kind: `localhost`.
fn bare_name(presented: &str) -> &str {
    presented
        .split_once("(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .unwrap_or(presented)
}

/// What tokio-postgres says when `sslmode=require` meets a server without TLS.
const NO_TLS: &str = "server does not support TLS";

/// The rustls error behind `e`, if any: tokio-rustls wraps it in an `io::Error`.
fn rustls_cause(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(cause) = err.downcast_ref::<rustls::Error>() {
            return Some(cause);
        }
        let wrapped = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if wrapped.is_some() {
            return wrapped;
        }
        next = err.source();
    }
    None
}

/// The crypto provider of every configuration here.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration for `conninfo`'s `sslmode` and `sslrootcert`.
///
/// # Errors
///
/// [`StoreError::Configuration`] for a root certificate file that does not exist, cannot be
/// read or holds no certificate.
pub(crate) fn client_config(conninfo: &Conninfo) -> Result<(ClientConfig, TlsContext), StoreError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::backend("configure TLS", e))?;
    let (config, roots) = match conninfo.mode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => {
            let verifier = NameBlind {
                provider,
                roots: None,
            };
            let config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            (config, None)
        }
        SslMode::VerifyCa => {
            let (store, from) = roots(conninfo.root_cert.as_ref())?;
            let verifier = NameBlind {
                provider,
                roots: Some(Arc::new(store)),
            };
            let config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            (config, Some(from))
        }
        SslMode::VerifyFull => {
            let (store, from) = roots(conninfo.root_cert.as_ref())?;
            let config = builder.with_root_certificates(store).with_no_client_auth();
            (config, Some(from))
        }
    };
    let context = TlsContext {
        mode: conninfo.mode,
        roots,
        custom: false,
    };
    Ok((config, context))
}

/// The roots of `verify-ca` and `verify-full`, and where they came from: the `sslrootcert`
/// file; for `sslrootcert=system` the system's; without `sslrootcert` libpq's default file if
/// it exists, else the system's.
fn roots(root_cert: Option<&RootCert>) -> Result<(RootCertStore, String), StoreError> {
    let file = match root_cert {
        Some(RootCert::File(path)) => Some(path.clone()),
        Some(RootCert::System) => None,
        None => default_root_file().filter(|path| path.exists()),
    };
    match file {
        Some(path) => Ok((read_roots(&path)?, format!("roots from {}", path.display()))),
        None => Ok((system_roots(), "system roots".to_owned())),
    }
}

/// libpq's default root certificate file: `~/.postgresql/root.crt`
/// (`%APPDATA%\postgresql\root.crt` on Windows).
fn default_root_file() -> Option<PathBuf> {
    #[cfg(windows)]
    let (base, dir) = (std::env::var_os("APPDATA")?, "postgresql");
    #[cfg(not(windows))]
    let (base, dir) = (std::env::var_os("HOME")?, ".postgresql");
    Some(PathBuf::from(base).join(dir).join("root.crt"))
}

/// The certificates of a PEM file.
fn read_roots(path: &Path) -> Result<RootCertStore, StoreError> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| match e {
        pem::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            misconfigured(format!("sslrootcert file {shown} does not exist"))
        }
        e => StoreError::configuration(format!("sslrootcert file {shown} cannot be read: {e}"), e),
    })?;
    let mut store = RootCertStore::empty();
    for cert in certs {
        let cert = cert.map_err(|e| {
            StoreError::configuration(format!("sslrootcert file {shown} is not valid PEM: {e}"), e)
        })?;
        store.add(cert).map_err(|e| {
            StoreError::configuration(
                format!("sslrootcert file {shown} holds a certificate that cannot be a root: {e}"),
                e,
            )
        })?;
    }
    if store.is_empty() {
        return Err(misconfigured(format!(
            "sslrootcert file {shown} holds no certificate"
        )));
    }
    Ok(store)
}

/// The system's certificate store; the webpki (Mozilla) roots where it holds none.
fn system_roots() -> RootCertStore {
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if store.is_empty() {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    store
}

/// Verifies the handshake's signatures, and the certificate's chain when it has roots; never
/// the host name. Without roots it is `prefer` and `require`, with roots `verify-ca`.
#[derive(Debug)]
struct NameBlind {
    provider: Arc<CryptoProvider>,
    roots: Option<Arc<RootCertStore>>,
}

impl ServerCertVerifier for NameBlind {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_root_file_is_named() {
        let path = Path::new("/nonexistent/dps/root.pem");
        let Err(e) = read_roots(path) else {
            panic!("a missing file was read")
        };
        assert_eq!(e.code(), "storage_misconfigured");
        assert_eq!(
            e.to_string(),
            "storage misconfigured: sslrootcert file /nonexistent/dps/root.pem does not exist"
        );
    }

    #[test]
    fn the_messages_name_the_mode_the_roots_and_a_way_out() {
        let ctx = TlsContext {
            mode: SslMode::VerifyFull,
            roots: Some("system roots".to_owned()),
            custom: false,
        };
        let untrusted = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            ctx.message(&untrusted),
            "server certificate not trusted (sslmode=verify-full, system roots): set sslrootcert to the certificate of the CA that signed it, or use sslmode=require to encrypt without verifying"
        );
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(
            ctx.message(&expired),
            "server certificate has expired (sslmode=verify-full, system roots)"
        );
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("db.internal").unwrap(),
            presented: vec!["DnsName(\"a.internal\")".to_owned(), "10.0.0.1".to_owned()],
        });
        assert_eq!(
            ctx.message(&name),
            "server certificate is for a.internal, 10.0.0.1, not db.internal (sslmode=verify-full, system roots): connect by a name it lists, or use sslmode=verify-ca"
        );
        let custom = TlsContext::custom(SslMode::Require);
        assert_eq!(
            custom.message(&untrusted),
            "TLS handshake failed (sslmode=require, your TLS configuration): invalid peer certificate: UnknownIssuer"
        );
    }
}
