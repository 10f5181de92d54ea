//! The `sslmode` and `sslrootcert` of a connection string, read as libpq reads them.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require` and no `sslrootcert`, so both
//! are taken out of the connection string here (URL or key-value form) and the rest is left
//! to tokio-postgres.

use std::borrow::Cow;
use std::path::PathBuf;

use dps_core::StoreError;
use percent_encoding::percent_decode_str;

/// How a connection uses TLS: libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain connections only.
    Disable,
    /// As libpq tries plain first and TLS second; here TLS is tried first, as with `Prefer`.
    Allow,
    /// TLS when the server offers it, plain otherwise; the certificate is not verified.
    Prefer,
    /// TLS or no connection; the certificate is not verified.
    Require,
    /// TLS, with a certificate that chains to a trusted root; the host name is not checked.
    VerifyCa,
    /// TLS, with a trusted certificate that names the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(misconfigured(format!(
                    "unknown sslmode {other:?}: use disable, allow, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }

    /// The name in a connection string.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether a connection without TLS is refused.
    pub(crate) fn needs_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }

    /// The mode tokio-postgres is given: whether TLS is tried and whether it is required.
    pub(crate) fn negotiation(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Tp;
        match self {
            SslMode::Disable => Tp::Disable,
            SslMode::Allow | SslMode::Prefer => Tp::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Tp::Require,
        }
    }
}

/// Where `verify-ca` and `verify-full` take their root certificates from: libpq's
/// `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// A PEM file of one or more certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the system's certificate store.
    System,
}

/// A connection string split into its TLS parameters and the rest, for tokio-postgres.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conninfo {
    /// The connection string without `sslmode` and `sslrootcert`.
    pub(crate) rest: String,
    /// `sslmode`; `prefer` when it is not given, as in libpq.
    pub(crate) mode: SslMode,
    /// `sslrootcert`, when given.
    pub(crate) root_cert: Option<RootCert>,
}

/// A configuration error without a source.
pub(crate) fn misconfigured(message: impl Into<String>) -> StoreError {
    StoreError::Configuration {
        message: message.into(),
        source: None,
    }
}

/// Splits `conninfo`, a `postgres://` URL or a key-value connection string.
///
/// # Errors
///
/// [`StoreError::Configuration`] for an unknown `sslmode` or an empty `sslrootcert`.
pub(crate) fn split(conninfo: &str) -> Result<Conninfo, StoreError> {
    let mut tls = TlsParams::default();
    let rest = match url_query(conninfo) {
        Some((head, query)) => {
            let mut kept = Vec::new();
            for pair in query.split('&') {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                if !tls.take(&decode(key), &decode(value))? {
                    kept.push(pair);
                }
            }
            if kept.is_empty() {
                head.to_owned()
            } else {
                format!("{head}?{}", kept.join("&"))
            }
        }
        None if is_url(conninfo) => conninfo.to_owned(),
        None => {
            let mut kept = Vec::new();
            for (key, value) in key_values(conninfo)? {
                if !tls.take(key, &value)? {
                    kept.push(format!("{key}='{}'", quote(&value)));
                }
            }
            kept.join(" ")
        }
    };
    Ok(Conninfo {
        rest,
        mode: tls.mode.unwrap_or(SslMode::Prefer),
        root_cert: tls.root_cert,
    })
}

#[derive(Default)]
struct TlsParams {
    mode: Option<SslMode>,
    root_cert: Option<RootCert>,
}

impl TlsParams {
    /// Takes `key` if it is a TLS parameter: whether it was one. The last value given wins.
    fn take(&mut self, key: &str, value: &str) -> Result<bool, StoreError> {
        match key {
            "sslmode" => self.mode = Some(SslMode::parse(value)?),
            "sslrootcert" if value.is_empty() => {
                return Err(misconfigured(
                    "empty sslrootcert: name a PEM file of root certificates, or system",
                ));
            }
            "sslrootcert" if value == "system" => self.root_cert = Some(RootCert::System),
            "sslrootcert" => self.root_cert = Some(RootCert::File(PathBuf::from(value))),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A URL's part before `?` and its query, when it has one. As tokio-postgres does, the
/// credentials run to the first `@`, so a `?` in a password does not start the query.
fn url_query(url: &str) -> Option<(&str, &str)> {
    if !is_url(url) {
        return None;
    }
    let after_credentials = url.find('@').map_or(0, |at| at + 1);
    let start = after_credentials + url[after_credentials..].find('?')?;
    Some((&url[..start], &url[start + 1..]))
}

fn decode(s: &str) -> Cow<'_, str> {
    percent_decode_str(s).decode_utf8_lossy()
}

/// The pairs of a key-value connection string, unquoted as libpq unquotes them.
fn key_values(s: &str) -> Result<Vec<(&str, String)>, StoreError> {
    let mut pairs = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        let after_eq = rest[key_end..].trim_start().strip_prefix('=');
        let (Some(after_eq), false) = (after_eq, key.is_empty()) else {
            return Err(misconfigured(format!(
                "invalid PostgreSQL connection string: expected key=value at {:?}",
                rest.split_whitespace().next().unwrap_or(rest)
            )));
        };
        let (value, tail) = unquote(after_eq.trim_start())?;
        pairs.push((key, value));
        rest = tail.trim_start();
    }
    Ok(pairs)
}

/// A value at the start of `s` (quoted with `'` or bare, `\` escaping) and what follows it.
fn unquote(s: &str) -> Result<(String, &str), StoreError> {
    let (quoted, body) = match s.strip_prefix('\'') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    value.push(next);
                }
            }
            '\'' if quoted => return Ok((value, &body[i + 1..])),
            c if !quoted && c.is_whitespace() => return Ok((value, &body[i..])),
            c => value.push(c),
        }
    }
    if quoted {
        return Err(misconfigured(
            "invalid PostgreSQL connection string: unterminated quoted value",
        ));
    }
    Ok((value, ""))
}

/// `value` escaped for a single-quoted key-value connection string.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Conninfo {
        match split(s) {
            Ok(c) => c,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn a_url_without_tls_parameters_is_left_alone_and_prefers_tls() {
        let c = ok("postgres://u:p@h:5432/db?application_name=x");
        assert_eq!(c.rest, "postgres://u:p@h:5432/db?application_name=x");
        assert_eq!(c.mode, SslMode::Prefer);
        assert_eq!(c.root_cert, None);
    }

    #[test]
    fn the_url_form_gives_up_its_tls_parameters() {
        let c = ok(
            "postgresql://u@h/db?sslmode=verify-ca&connect_timeout=5&sslrootcert=%2Fetc%2Fca%20x.pem",
        );
        assert_eq!(c.rest, "postgresql://u@h/db?connect_timeout=5");
        assert_eq!(c.mode, SslMode::VerifyCa);
        assert_eq!(c.root_cert, Some(RootCert::File("/etc/ca x.pem".into())));
        let c = ok("postgres://h/db?sslmode=disable");
        assert_eq!(
            (c.rest.as_str(), c.mode),
            ("postgres://h/db", SslMode::Disable)
        );
        let c = ok("postgres://h/db?sslrootcert=system&sslmode=verify-full");
        assert_eq!(c.root_cert, Some(RootCert::System));
        assert_eq!(c.mode, SslMode::VerifyFull);
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        let c = ok("postgres://u:a?b@h/db?sslmode=require");
        assert_eq!(c.rest, "postgres://u:a?b@h/db");
        assert_eq!(c.mode, SslMode::Require);
    }

    #[test]
    fn the_key_value_form_gives_up_its_tls_parameters() {
        let c =
            ok("host=h  dbname = db sslmode=verify-full sslrootcert='/a b/c\\'d.pem' user=u\\ v");
        assert_eq!(c.mode, SslMode::VerifyFull);
        assert_eq!(c.root_cert, Some(RootCert::File("/a b/c'd.pem".into())));
        assert_eq!(c.rest, "host='h' dbname='db' user='u v'");
        let c = ok("host=h password='a\\'b c'");
        assert_eq!(c.rest, "host='h' password='a\\'b c'");
        let parsed: tokio_postgres::Config = c.rest.parse().expect("kept part parses");
        assert_eq!(parsed.get_password(), Some(&b"a'b c"[..]));
    }

    #[test]
    fn unknown_modes_empty_roots_and_malformed_strings_are_configuration_errors() {
        for bad in [
            "postgres://h/db?sslmode=verify",
            "host=h sslmode=Require",
            "postgres://h/db?sslrootcert=",
            "host=h sslmode",
            "host='h",
            "=x",
        ] {
            let Err(e) = split(bad) else {
                panic!("{bad} was accepted")
            };
            assert_eq!(e.code(), "storage_misconfigured", "{bad}");
            assert!(!e.to_string().contains('\n'), "{bad}: one line");
        }
        let Err(e) = split("host=h sslmode=on") else {
            panic!("accepted")
        };
        assert_eq!(
            e.to_string(),
            "storage misconfigured: unknown sslmode \"on\": use disable, allow, prefer, require, verify-ca or verify-full"
        );
    }

    #[test]
    fn allow_and_prefer_try_tls_and_the_rest_require_it() {
        use tokio_postgres::config::SslMode as Tp;
        assert_eq!(SslMode::Disable.negotiation(), Tp::Disable);
        assert_eq!(SslMode::Allow.negotiation(), Tp::Prefer);
        assert_eq!(SslMode::Prefer.negotiation(), Tp::Prefer);
        for m in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
            assert_eq!(m.negotiation(), Tp::Require);
            assert!(m.needs_tls());
            assert_eq!(SslMode::parse(m.as_str()).ok(), Some(m));
        }
    }
}
