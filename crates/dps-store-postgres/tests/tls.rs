//! With the `tls` feature the store reads `sslmode` and `sslrootcert` as libpq does. The URLs
//! are the test URL with its `sslmode` replaced; the test server offers TLS with a
//! self-signed certificate issued to `localhost`.
#![cfg(feature = "tls")]
#![allow(clippy::print_stderr)]

mod common;

use std::io::Read;
use std::sync::Arc;

use common::{DropSchema, raw, unique_schema, url};
use dps_core::{Change, Changeset, Store, StoreError};
use dps_store_postgres::{PgOptions, PgStore};
use dps_testkit::Fixtures;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A root certificate that signed nothing the test server holds.
const UNRELATED_CA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/unrelated-ca.pem"
);

/// `url` with its query's `sslmode` and `sslrootcert` replaced by `params` (`""` for none).
fn with_params(url: &str, params: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sslmode=") && !p.starts_with("sslrootcert="))
        .collect();
    if !params.is_empty() {
        kept.push(params);
    }
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// The test URL and a plain client on it, when the test server offers TLS.
async fn tls_server() -> Option<(String, tokio_postgres::Client)> {
    let url = url()?;
    let plain = raw(&url).await;
    let ssl_on: String = plain.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl_on != "on" {
        eprintln!("skipped: the test server does not offer TLS");
        return None;
    }
    Some((url, plain))
}

/// The server's certificate file, when it is readable here.
async fn server_certificate(plain: &tokio_postgres::Client) -> Option<String> {
    let path: String = plain
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    if std::fs::File::open(&path).is_err() {
        eprintln!("skipped: the server's certificate {path} is not readable here");
        return None;
    }
    Some(path)
}

/// The test URL, a plain client and the server's certificate file, when the URL's host is
/// 127.0.0.1, which the certificate (issued to `localhost`) does not name.
async fn server_at_127_0_0_1() -> Option<(String, tokio_postgres::Client, String)> {
    let (url, plain) = tls_server().await?;
    let cert = server_certificate(&plain).await?;
    if !url.contains("@127.0.0.1:") {
        eprintln!("skipped: the test URL's host is not 127.0.0.1");
        return None;
    }
    Some((url, plain, cert))
}

/// Connects to `url` on a fresh schema, writes and reads a group, and says whether the
/// store's connections are encrypted.
async fn connect_and_check(url: &str, plain: &tokio_postgres::Client, base: &str) -> bool {
    let schema = unique_schema();
    let _drop = DropSchema {
        url: base.to_owned(),
        schema: schema.clone(),
    };
    let app = format!("tls-{schema}");
    let options = PgOptions::default()
        .with_schema(&schema)
        .unwrap()
        .with_application_name(&app);
    let store = match PgStore::connect(url, options).await {
        Ok(store) => store,
        Err(e) => panic!("{url}: {e}"),
    };
    round_trip(&store).await;
    encrypted(plain, &app).await
}

async fn round_trip(store: &PgStore) {
    let fx = Fixtures::new();
    let group = fx.group("g");
    let mut cs = Changeset::new();
    cs.push(Change::InsertGroup(group.clone()));
    store.commit(cs).await.unwrap();
    assert_eq!(store.group(group.id()).await.unwrap(), Some(group));
}

/// Whether every connection reporting `app` uses TLS.
async fn encrypted(plain: &tokio_postgres::Client, app: &str) -> bool {
    plain
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0)
}

/// The error of connecting to `url`, which must fail.
async fn refused(url: &str) -> StoreError {
    let options = PgOptions::default().with_schema(&unique_schema()).unwrap();
    match PgStore::connect(url, options).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e,
    }
}

/// Without `sslmode` (so `prefer`), `allow` and `prefer` try TLS first and get it from a server
/// that offers it; `require` encrypts without verifying the self-signed certificate;
/// `disable` stays plain.
#[tokio::test]
async fn each_mode_that_tries_tls_encrypts_and_disable_does_not() {
    let Some((url, plain)) = tls_server().await else {
        return;
    };
    for (params, encrypts) in [
        ("", true),
        ("sslmode=allow", true),
        ("sslmode=prefer", true),
        ("sslmode=require", true),
        ("sslmode=disable", false),
    ] {
        let mode_url = with_params(&url, params);
        assert_eq!(mode_url.contains("sslmode"), !params.is_empty());
        let encrypted = connect_and_check(&mode_url, &plain, &url).await;
        assert_eq!(encrypted, encrypts, "{params:?}");
    }
}

#[tokio::test]
async fn verify_full_with_a_root_that_signed_nothing_is_not_trusted() {
    let Some((url, _plain)) = tls_server().await else {
        return;
    };
    let wrong = with_params(
        &url,
        &format!("sslmode=verify-full&sslrootcert={UNRELATED_CA}"),
    );
    let e = refused(&wrong).await;
    assert_eq!(e.code(), "storage_misconfigured", "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "storage misconfigured: server certificate not trusted (sslmode=verify-full, roots from {UNRELATED_CA}): set sslrootcert to the certificate of the CA that signed it, or use sslmode=require to encrypt without verifying"
        )
    );
    let ca = with_params(
        &url,
        &format!("sslmode=verify-ca&sslrootcert={UNRELATED_CA}"),
    );
    let e = refused(&ca).await;
    assert!(
        e.to_string().starts_with(
            "storage misconfigured: server certificate not trusted (sslmode=verify-ca, "
        ),
        "{e}"
    );
}

#[tokio::test]
async fn verify_ca_trusts_the_servers_certificate_as_root_whatever_the_host_name() {
    let Some((url, plain)) = tls_server().await else {
        return;
    };
    let Some(cert) = server_certificate(&plain).await else {
        return;
    };
    let verify_ca = with_params(&url, &format!("sslmode=verify-ca&sslrootcert={cert}"));
    assert!(
        connect_and_check(&verify_ca, &plain, &url).await,
        "verify-ca encrypts"
    );
}

#[tokio::test]
async fn verify_full_checks_the_host_name_against_the_certificate() {
    let Some((url, plain, cert)) = server_at_127_0_0_1().await else {
        return;
    };
    let params = format!("sslmode=verify-full&sslrootcert={cert}");
    let by_address = with_params(&url, &params);
    let e = refused(&by_address).await;
    assert_eq!(e.code(), "storage_misconfigured", "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "storage misconfigured: server certificate is for localhost, not 127.0.0.1 (sslmode=verify-full, roots from {cert}): connect by a name it lists, or use sslmode=verify-ca"
        )
    );
    let by_name = by_address.replacen("@127.0.0.1:", "@localhost:", 1);
    assert!(
        connect_and_check(&by_name, &plain, &url).await,
        "verify-full encrypts"
    );
}

#[tokio::test]
async fn a_missing_or_empty_sslrootcert_is_a_configuration_error_naming_the_file() {
    let Some(url) = url() else { return };
    let missing = with_params(&url, "sslmode=verify-ca&sslrootcert=/nonexistent/root.crt");
    let e = refused(&missing).await;
    assert_eq!(e.code(), "storage_misconfigured");
    assert_eq!(
        e.to_string(),
        "storage misconfigured: sslrootcert file /nonexistent/root.crt does not exist"
    );
    let dir = std::env::temp_dir().join(format!("dps-empty-root-{}", unique_schema()));
    std::fs::write(&dir, "no certificate here\n").unwrap();
    let empty = with_params(
        &url,
        &format!("sslmode=verify-full&sslrootcert={}", dir.display()),
    );
    let e = refused(&empty).await;
    let _ = std::fs::remove_file(&dir);
    assert_eq!(
        e.to_string(),
        format!(
            "storage misconfigured: sslrootcert file {} holds no certificate",
            dir.display()
        )
    );
    let unknown = with_params(&url, "sslmode=verify");
    assert_eq!(refused(&unknown).await.code(), "storage_misconfigured");
}

#[tokio::test]
async fn require_against_a_server_without_tls_is_a_configuration_error() {
    // A server that answers the TLS request with "N", as PostgreSQL with ssl off does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        if let Ok((mut socket, _)) = listener.accept() {
            let mut request = [0u8; 8];
            if socket.read_exact(&mut request).is_ok() {
                let _ = std::io::Write::write_all(&mut socket, b"N");
            }
        }
    });
    let url = format!("postgres://dps@127.0.0.1:{port}/db?sslmode=require");
    let options = PgOptions::default().with_pool_size(1);
    let Err(e) = PgStore::connect(&url, options).await else {
        panic!("connected to a server without TLS")
    };
    let _ = server.join();
    assert_eq!(e.code(), "storage_misconfigured", "{e}");
    assert_eq!(
        e.to_string(),
        "storage misconfigured: the server does not offer TLS (sslmode=require): turn ssl on in the server's configuration, or use sslmode=prefer"
    );
}

#[tokio::test]
async fn connect_with_tls_uses_the_callers_configuration() {
    let Some((url, plain, cert)) = server_at_127_0_0_1().await else {
        return;
    };
    // The caller trusts the server's own certificate and verifies in full.
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls_url = with_params(&url, "sslmode=require").replacen("@127.0.0.1:", "@localhost:", 1);
    let schema = unique_schema();
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let app = format!("tls-{schema}");
    let options = PgOptions::default()
        .with_schema(&schema)
        .unwrap()
        .with_application_name(&app);
    let store = PgStore::connect_with_tls(&tls_url, options, config.clone())
        .await
        .unwrap();
    round_trip(&store).await;
    assert!(
        encrypted(&plain, &app).await,
        "the store's connections use TLS"
    );

    // The same configuration refuses the server by its address, which the certificate does
    // not name, and says so.
    let by_address = with_params(&url, "sslmode=require");
    let options = PgOptions::default().with_schema(&unique_schema()).unwrap();
    let Err(e) = PgStore::connect_with_tls(&by_address, options, config).await else {
        panic!("connected by an address the certificate does not name")
    };
    assert_eq!(e.code(), "storage_misconfigured", "{e}");
    assert!(
        e.to_string().starts_with(
            "storage misconfigured: TLS handshake failed (sslmode=require, your TLS configuration): invalid peer certificate"
        ),
        "{e}"
    );
}
