//! With the `tls` feature the store talks TLS when the URL asks for it.
#![cfg(feature = "tls")]
#![allow(clippy::print_stderr)]

mod common;

use std::sync::Arc;

use common::{DropSchema, raw, unique_schema, url};
use dps_core::{Change, Changeset, Store};
use dps_store_postgres::{PgOptions, PgStore};
use dps_testkit::Fixtures;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// Accepts any server certificate: the test server has a self-signed one. Never do this in
/// production; pass your CA's certificates to `connect_with_tls` instead.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[tokio::test]
async fn sslmode_require_connects_over_tls() {
    let Some(url) = url() else { return };
    let plain = raw(&url).await;
    let ssl_on: String = plain.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl_on != "on" {
        eprintln!("skipped: the test server does not offer TLS");
        return;
    }
    let base = url.split('?').next().unwrap_or(&url);
    let tls_url = format!("{base}?sslmode=require");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let app = format!("tls-{schema}");
    let store = PgStore::connect_with_tls(
        &tls_url,
        PgOptions::default()
            .with_schema(&schema)
            .unwrap()
            .with_application_name(&app),
        config,
    )
    .await
    .unwrap();
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    store.commit(cs).await.unwrap();
    assert_eq!(store.group(group.id()).await.unwrap(), Some(group));
    let encrypted: bool = plain
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "the store's connections use TLS");
}
