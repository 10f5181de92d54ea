//! The request signature: HMAC-SHA256 over the timestamp and the body.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// The header that carries the signature, `v1=` and 64 lowercase hex digits.
pub const SIGNATURE_HEADER: &str = "x-dps-signature";

/// The header that carries the request's time, in whole seconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "x-dps-timestamp";

/// The header that carries the operation ID of a call that changes the platform.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// How far, in seconds, a request's timestamp may be from the platform's clock.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// The signature of a request sent at `timestamp` (Unix seconds) with `body`, under the
/// shared `secret`: `v1=` and the lowercase hex of HMAC-SHA256(`secret`, `"{timestamp}." +
/// body`).
///
/// ```
/// let signature = dps_env_webhook::sign(b"shared-secret", 1_700_000_000, b"{}");
/// assert!(signature.starts_with("v1="));
/// assert_eq!(signature.len(), 3 + 64);
/// assert!(dps_env_webhook::verify(b"shared-secret", 1_700_000_000, b"{}", &signature));
/// ```
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(3 + 64);
    out.push_str("v1=");
    for byte in tag {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

/// Whether `signature` (a header value) is the signature of `timestamp` and `body` under
/// `secret`, compared in constant time. It does not check the clock: a platform also refuses
/// a timestamp more than [`MAX_CLOCK_SKEW_SECS`] from its own.
pub fn verify(secret: &[u8], timestamp: u64, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Some(tag) = decode_hex(hex) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&tag).is_ok()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac {
    // HMAC takes a key of any length.
    let mut mac = <Hmac as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

type Hmac = hmac::Hmac<Sha256>;

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |b: u8| char::from(b).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? << 4 | digit(pair[1])?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_byte_timestamp_or_secret_does_not_verify() {
        let signature = sign(b"s3cret", 1_700_000_000, br#"{"call":"endpoints"}"#);
        assert!(verify(
            b"s3cret",
            1_700_000_000,
            br#"{"call":"endpoints"}"#,
            &signature
        ));
        assert!(!verify(
            b"s3cret",
            1_700_000_000,
            br#"{"call":"endpoint"}"#,
            &signature
        ));
        assert!(!verify(
            b"s3cret",
            1_700_000_001,
            br#"{"call":"endpoints"}"#,
            &signature
        ));
        assert!(!verify(
            b"s3cre7",
            1_700_000_000,
            br#"{"call":"endpoints"}"#,
            &signature
        ));
        for bad in [
            "",
            "v1=",
            "v2=00",
            &signature[3..],
            &signature.to_uppercase(),
        ] {
            assert!(
                !verify(b"s3cret", 1_700_000_000, br#"{"call":"endpoints"}"#, bad),
                "{bad}"
            );
        }
    }
}
