//! `Idempotency-Key` on the requests that change state: a repeated key with the same request
//! answers the first answer again, without running the request twice.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dps_core::Timestamp;
use dps_core::access::{IdempotencyClaim, IdempotencyRecord, TokenHash};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::Api;
use crate::problem::Problem;

/// The request header that names a retry-safe request.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The response header of an answer replayed for a repeated key.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// How often, at most, records past their retention are purged.
const PURGE_EVERY_MS: i64 = 60 * 60 * 1000;

/// When the records were last purged (Unix ms), shared by every service of the process.
static LAST_PURGE: AtomicI64 = AtomicI64::new(0);

/// The answer format's version, the first byte of every stored answer.
const ANSWER_FORMAT: u8 = 1;

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_unix_millis(ms)
}

/// The middleware: passes a request without a key (or a read) straight on.
pub(crate) async fn layer(State(api): State<Api>, request: Request, next: Next) -> Response {
    if ![Method::POST, Method::PATCH, Method::DELETE].contains(request.method()) {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(&IDEMPOTENCY_KEY).cloned() else {
        return next.run(request).await;
    };
    match guarded(api, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(
    api: Api,
    key: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let key = key
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid_idempotency_key",
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
            .into_response()
        })?
        .to_owned();
    // Keys are the caller's own: scoped by the hash of the token, so two clients never share
    // one. Without a token the request is refused by its handler, so it runs unguarded.
    let Some(token) = crate::auth::bearer(request.headers()).map(TokenHash::of) else {
        return Ok(next.run(request).await);
    };
    let (parts, body) = request.into_parts();
    let limit = api.options().max_json_body;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {limit} bytes"),
            )
            .into_response());
        }
    };
    let fingerprint = fingerprint(&parts.method, &parts.uri, &bytes);
    let scoped = format!("{}:{key}", token.to_hex());
    let store = api.provisioner().store();
    let at = now();
    purge(&api, at).await;
    let record = IdempotencyRecord {
        key: scoped.clone(),
        fingerprint,
        created_at: at,
        answer: None,
    };
    match store.claim_idempotency(&record).await {
        Err(e) => return Err(Problem::from(e).into_response()),
        Ok(IdempotencyClaim::Existing(existing)) => {
            if existing.fingerprint != fingerprint {
                return Err(Problem::invalid(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request",
                )
                .into_response());
            }
            return match existing.answer.as_deref().and_then(decode) {
                Some(response) => Ok(response),
                None => Err(Problem::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "the first request with this Idempotency-Key is still running",
                )
                .retry_after(1)
                .into_response()),
            };
        }
        Ok(IdempotencyClaim::Claimed) => {}
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let status = parts.status;
    // A failure that changed nothing (or may not have run) lets the client try again.
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        if let Err(e) = store.release_idempotency(&scoped).await {
            tracing::warn!(error = %e, "cannot release an idempotency key");
        }
    } else {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let answer = encode(status, content_type, &body);
        if let Err(e) = store.finish_idempotency(&scoped, &answer).await {
            tracing::warn!(error = %e, "cannot store an idempotent answer");
        }
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// The fingerprint of a request: its method, path and query, and body.
fn fingerprint(method: &Method, uri: &axum::http::Uri, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update([0]);
    hash.update(uri.path_and_query().map_or("", |p| p.as_str()).as_bytes());
    hash.update([0]);
    hash.update(body);
    hash.finalize().into()
}

/// Purges the records past their retention, at most once an hour per process.
async fn purge(api: &Api, now: Timestamp) {
    let last = LAST_PURGE.load(Ordering::Relaxed);
    if now.unix_millis() - last < PURGE_EVERY_MS
        || LAST_PURGE
            .compare_exchange(
                last,
                now.unix_millis(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
    {
        return;
    }
    let keep = api.options().idempotency_retention;
    let before = Timestamp::from_unix_millis(
        now.unix_millis()
            .saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX)),
    );
    if let Err(e) = api.provisioner().store().purge_idempotency(before).await {
        tracing::warn!(error = %e, "cannot purge idempotency records");
    }
}

/// An answer as stored: the format byte, the status (2 bytes), the content type's length
/// (2 bytes) and text, then the body.
fn encode(status: StatusCode, content_type: &str, body: &Bytes) -> Vec<u8> {
    let ct = &content_type.as_bytes()[..content_type.len().min(u16::MAX as usize)];
    let mut out = Vec::with_capacity(5 + ct.len() + body.len());
    out.push(ANSWER_FORMAT);
    out.extend_from_slice(&status.as_u16().to_be_bytes());
    out.extend_from_slice(&(ct.len() as u16).to_be_bytes());
    out.extend_from_slice(ct);
    out.extend_from_slice(body);
    out
}

fn decode(stored: &[u8]) -> Option<Response> {
    let (&format, rest) = stored.split_first()?;
    if format != ANSWER_FORMAT || rest.len() < 4 {
        return None;
    }
    let status = StatusCode::from_u16(u16::from_be_bytes([rest[0], rest[1]])).ok()?;
    let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
    let content_type = rest.get(4..4 + len)?;
    let body = rest.get(4 + len..)?;
    let mut response = (status, Bytes::copy_from_slice(body)).into_response();
    if let Ok(ct) = HeaderValue::from_bytes(content_type)
        && !content_type.is_empty()
    {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reads_back_as_it_was_stored() {
        let stored = encode(
            StatusCode::CREATED,
            "application/json",
            &Bytes::from_static(b"{}"),
        );
        let response = decode(&stored).unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[IDEMPOTENT_REPLAYED], "true");
    }

    #[test]
    fn a_damaged_answer_is_not_replayed() {
        for bad in [
            &[][..],
            &[2, 0, 200, 0, 0][..],
            &[1, 0, 200, 0, 9, b'x'][..],
            &[1, 0, 0, 0, 0][..],
        ] {
            assert!(decode(bad).is_none(), "{bad:?}");
        }
    }
}
