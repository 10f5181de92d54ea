//! The `X-Dps-Signature` scheme: HMAC-SHA256 over `<timestamp>.<body>`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a request's `X-Dps-Timestamp` may be from the platform's clock, either way, in
/// seconds.
pub const WINDOW_SECONDS: u64 = 300;

/// The prefix of the signature scheme's version in `X-Dps-Signature`.
const VERSION_PREFIX: &str = "v1=";

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = match <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length (RFC 2104 §2), so this constructor never fails.
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature of a request, as 64 lowercase hex digits: HMAC-SHA256 keyed with the secret's
/// UTF-8 bytes over `timestamp`, a `.`, and the exact body bytes.
///
/// The `X-Dps-Signature` header carries it as `v1=<signature>`.
///
/// ```
/// let hex = webhook_platform::signature("s3cret", 1767225600, b"{}");
/// assert_eq!(hex.len(), 64);
/// ```
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    hex(&mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes())
}

/// Why a request's signature headers were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    MissingTimestamp,
    MissingSignature,
    BadTimestamp,
    Stale { timestamp: u64, now: u64 },
    BadSignatureFormat,
    Mismatch,
}

impl Refused {
    pub(crate) fn reason(&self) -> String {
        match self {
            Self::MissingTimestamp => "missing X-Dps-Timestamp header".to_owned(),
            Self::MissingSignature => "missing X-Dps-Signature header".to_owned(),
            Self::BadTimestamp => "X-Dps-Timestamp is not a unix time in whole seconds".to_owned(),
            Self::Stale { timestamp, now } => format!(
                "X-Dps-Timestamp {timestamp} is more than {WINDOW_SECONDS} s from the platform's clock ({now})"
            ),
            Self::BadSignatureFormat => {
                "X-Dps-Signature is not v1= followed by 64 hex digits".to_owned()
            }
            Self::Mismatch => "X-Dps-Signature does not verify".to_owned(),
        }
    }
}

/// Checks the two signature headers of a request against `secret` and the clock `now`.
pub(crate) fn verify(
    secret: &str,
    timestamp: Option<&[u8]>,
    signature: Option<&[u8]>,
    body: &[u8],
    now: u64,
) -> Result<(), Refused> {
    let timestamp = timestamp.ok_or(Refused::MissingTimestamp)?;
    let signature = signature.ok_or(Refused::MissingSignature)?;
    let timestamp = std::str::from_utf8(timestamp).map_err(|_| Refused::BadTimestamp)?;
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refused::BadTimestamp);
    }
    let seconds: u64 = timestamp.parse().map_err(|_| Refused::BadTimestamp)?;
    if seconds.abs_diff(now) > WINDOW_SECONDS {
        return Err(Refused::Stale {
            timestamp: seconds,
            now,
        });
    }
    let expected = signature
        .strip_prefix(VERSION_PREFIX.as_bytes())
        .and_then(unhex)
        .ok_or(Refused::BadSignatureFormat)?;
    // `verify_slice` compares in constant time.
    mac(secret, timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| Refused::Mismatch)
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The 32 bytes that 64 hex digits spell, or `None`.
fn unhex(text: &[u8]) -> Option<[u8; 32]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_does_not() {
        let sig = format!("v1={}", signature("k", 100, b"{}"));
        assert_eq!(
            verify("k", Some(b"100"), Some(sig.as_bytes()), b"{}", 100),
            Ok(())
        );
        assert_eq!(
            verify("k", Some(b"100"), Some(sig.as_bytes()), b"{ }", 100),
            Err(Refused::Mismatch)
        );
    }

    #[test]
    fn the_window_is_inclusive_at_300_seconds() {
        let sig = format!("v1={}", signature("k", 1000, b""));
        assert_eq!(
            verify("k", Some(b"1000"), Some(sig.as_bytes()), b"", 1300),
            Ok(())
        );
        assert!(matches!(
            verify("k", Some(b"1000"), Some(sig.as_bytes()), b"", 1301),
            Err(Refused::Stale { .. })
        ));
        assert_eq!(
            verify("k", Some(b"1000"), Some(sig.as_bytes()), b"", 700),
            Ok(())
        );
    }

    #[test]
    fn a_timestamp_with_a_sign_or_spaces_is_refused() {
        let sig = format!("v1={}", signature("k", 1000, b""));
        for ts in [&b"+1000"[..], b" 1000", b"", b"1e3"] {
            assert_eq!(
                verify("k", Some(ts), Some(sig.as_bytes()), b"", 1000),
                Err(Refused::BadTimestamp)
            );
        }
    }
}
