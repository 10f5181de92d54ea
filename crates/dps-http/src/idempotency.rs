//! `Idempotency-Key` on the requests that change state: a repeated key with the same request
//! answers the first answer again, without running the request twice.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dps_core::Timestamp;
use dps_core::access::{IdempotencyClaim, IdempotencyRecord, TokenHash};
use futures_util::{Stream, StreamExt};
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
    match guarded(api, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(api: Api, request: Request, next: Next) -> Result<Response, Response> {
    let Some(scoped) = scoped_key(request.headers()).map_err(IntoResponse::into_response)? else {
        return Ok(next.run(request).await);
    };
    let (parts, body) = request.into_parts();
    let limit = api.options().max_json_body;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {limit} bytes"),
            )
            .into_response());
        }
        Err(e) => {
            return Err(Problem::bad_request(
                "unreadable_body",
                format!("the body broke off: {e}"),
            )
            .into_response());
        }
    };
    let fingerprint = fingerprint(&[
        parts.method.as_str().as_bytes(),
        path_and_query(&parts.uri),
        &bytes,
    ]);
    let claim = Claim::new(api, scoped, fingerprint);
    if let Some(answer) = claim.take().await? {
        return decode(&answer).ok_or_else(damaged);
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    Ok(claim.settle(response, None).await)
}

/// The key of a request that carries one, scoped by the hash of its bearer token so that
/// two clients never share one; `None` without a key, or without a token (the request is
/// then refused by its handler, so it runs unguarded).
fn scoped_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(key) = headers.get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
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
        })?;
    Ok(
        crate::auth::bearer(headers)
            .map(|token| format!("{}:{key}", TokenHash::of(token).to_hex())),
    )
}

/// A claimed key: the request runs once, then [`Claim::settle`] keeps its answer or lets
/// the key go.
struct Claim {
    api: Api,
    key: String,
    fingerprint: [u8; 32],
}

impl Claim {
    fn new(api: Api, key: String, fingerprint: [u8; 32]) -> Self {
        Self {
            api,
            key,
            fingerprint,
        }
    }

    /// Claims the key: `None` when this request is the first with it (or the first was lost),
    /// the first answer as stored when it has one. A key whose first request still runs, or
    /// that answered another request, is refused.
    async fn take(&self) -> Result<Option<Vec<u8>>, Response> {
        let store = self.api.provisioner().store();
        let at = now();
        purge(&self.api, at).await;
        let record = IdempotencyRecord {
            key: self.key.clone(),
            fingerprint: self.fingerprint,
            created_at: at,
            answer: None,
        };
        let stale_before = before(at, self.api.options().idempotency_lease);
        match store.claim_idempotency(&record, stale_before).await {
            Err(e) => Err(Problem::from(e).into_response()),
            Ok(IdempotencyClaim::Claimed) => Ok(None),
            Ok(IdempotencyClaim::Existing(existing)) => match existing.answer {
                None => Err(Problem::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "the first request with this Idempotency-Key is still running",
                )
                .retry_after(1)
                .into_response()),
                Some(_) if existing.fingerprint != self.fingerprint => Err(reused()),
                Some(answer) => Ok(Some(answer)),
            },
        }
    }

    /// Lets the key go, so that the request may run again.
    async fn release(&self) {
        if let Err(e) = self
            .api
            .provisioner()
            .store()
            .release_idempotency(&self.key)
            .await
        {
            tracing::warn!(error = %e, "cannot release an idempotency key");
        }
    }

    /// Keeps the answer of the request for its repeats, with what it read of a streamed
    /// upload; a failure that changed nothing (or may not have run) lets the key go instead,
    /// so that a retry runs.
    async fn settle(self, response: Response, upload: Option<Tally>) -> Response {
        let store = self.api.provisioner().store();
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let status = parts.status;
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            self.release().await;
        } else {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let answer = encode(status, content_type, &body);
            let answer = match upload {
                Some(tally) => tally.wrap(&answer),
                None => answer,
            };
            if let Err(e) = store.finish_idempotency(&self.key, &answer).await {
                tracing::warn!(error = %e, "cannot store an idempotent answer");
            }
        }
        Response::from_parts(parts, Body::from(body))
    }
}

/// How a streamed upload (an import) is guarded by its `Idempotency-Key`.
///
/// The upload is never buffered: its bytes are hashed as the request reads them. Its first
/// answer is stored with that hash and how much of the upload it read, and a repeat is
/// answered it only when the repeat's upload has the same bytes there, and ends where the
/// first ended, if it did; otherwise the repeat is refused as a reuse of the key.
pub(crate) enum Upload {
    /// The request has no key: it runs as it is.
    Unguarded,
    /// The first request with its key: run it over the hashed upload, then settle.
    First(FirstUpload),
    /// A repeat of a request that has an answer.
    Repeat {
        /// What the first request read of its upload.
        tally: Tally,
        /// The first answer.
        answer: Vec<u8>,
    },
}

/// The first request with a key over a streamed upload.
pub(crate) struct FirstUpload(Claim);

impl Upload {
    /// Answers `problem`, found before the upload was read, letting the key go.
    pub(crate) async fn refuse(self, problem: Problem) -> Response {
        if let Self::First(FirstUpload(claim)) = self {
            claim.release().await;
        }
        problem.into_response()
    }

    /// The guard of the streamed upload of a request with `headers` to `uri`; `variant`
    /// holds whatever else picks its answer (such as the format the client accepts).
    pub(crate) async fn claim(
        api: &Api,
        headers: &HeaderMap,
        uri: &axum::http::Uri,
        variant: &[u8],
    ) -> Result<Self, Response> {
        let Some(scoped) = scoped_key(headers).map_err(IntoResponse::into_response)? else {
            return Ok(Self::Unguarded);
        };
        let fingerprint = fingerprint(&[b"upload", path_and_query(uri), variant]);
        let claim = Claim::new(api.clone(), scoped, fingerprint);
        match claim.take().await? {
            None => Ok(Self::First(FirstUpload(claim))),
            Some(stored) => {
                let (tally, answer) = Tally::unwrap(&stored).ok_or_else(damaged)?;
                Ok(Self::Repeat {
                    tally,
                    answer: answer.to_vec(),
                })
            }
        }
    }
}

impl FirstUpload {
    /// Keeps `response` for the repeats of the request, with what it read of its upload;
    /// unless it is a refusal of an upload that was not read to its end (it broke off, or
    /// was refused part way), which lets the key go, so that a retry runs again.
    pub(crate) async fn settle(self, response: Response, tally: Tally) -> Response {
        if !tally.ended && !response.status().is_success() {
            self.0.release().await;
            return response;
        }
        self.0.settle(response, Some(tally)).await
    }
}

/// The answer to a repeat whose first answer is `answer`, after reading its upload from
/// `stream` to check it is the first's.
pub(crate) async fn repeat<S>(tally: &Tally, answer: &[u8], stream: S) -> Response
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    match tally.matches(stream).await {
        Ok(true) => decode(answer).unwrap_or_else(damaged),
        Ok(false) => reused(),
        Err(e) => Problem::bad_request("unreadable_body", format!("the upload broke off: {e}"))
            .into_response(),
    }
}

/// What a request read of its upload: how many bytes, whether it read to the end, and their
/// SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    len: u64,
    ended: bool,
    digest: [u8; 32],
}

/// The format byte of an answer stored with the tally of its upload.
const UPLOAD_ANSWER_FORMAT: u8 = 2;

impl Tally {
    /// `answer` as stored with this tally: the format byte, the length (8 bytes), whether it
    /// ended (1 byte), the digest (32 bytes), then the answer.
    fn wrap(&self, answer: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(42 + answer.len());
        out.push(UPLOAD_ANSWER_FORMAT);
        out.extend_from_slice(&self.len.to_be_bytes());
        out.push(u8::from(self.ended));
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(answer);
        out
    }

    fn unwrap(stored: &[u8]) -> Option<(Self, &[u8])> {
        let (&format, rest) = stored.split_first()?;
        if format != UPLOAD_ANSWER_FORMAT || rest.len() < 41 {
            return None;
        }
        let len = u64::from_be_bytes(rest[..8].try_into().ok()?);
        let ended = match rest[8] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let digest = rest[9..41].try_into().ok()?;
        Some((Self { len, ended, digest }, &rest[41..]))
    }

    /// Whether `stream` starts with the bytes this tally read, and ends there if they ended.
    async fn matches<S>(&self, mut stream: S) -> Result<bool, std::io::Error>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    {
        let mut hash = Sha256::new();
        let mut left = self.len;
        while left > 0 || self.ended {
            let Some(chunk) = stream.next().await.transpose()? else {
                break;
            };
            let take = usize::try_from(left).map_or(chunk.len(), |l| l.min(chunk.len()));
            hash.update(&chunk[..take]);
            left -= take as u64;
            if take < chunk.len() && self.ended {
                return Ok(false);
            }
        }
        Ok(left == 0 && <[u8; 32]>::from(hash.finalize()) == self.digest)
    }
}

/// A stream of upload chunks that hashes what is read of it.
pub(crate) struct Hashed<S> {
    inner: S,
    hash: Sha256,
    len: u64,
    ended: bool,
}

impl<S> Hashed<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
            len: 0,
            ended: false,
        }
    }

    /// What has been read of the stream so far.
    pub(crate) fn tally(&self) -> Tally {
        Tally {
            len: self.len,
            ended: self.ended,
            digest: self.hash.clone().finalize().into(),
        }
    }
}

impl<S> Stream for Hashed<S>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_next(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(chunk))) => {
                this.hash.update(chunk);
                this.len += chunk.len() as u64;
            }
            std::task::Poll::Ready(None) => this.ended = true,
            _ => {}
        }
        polled
    }
}

fn reused() -> Response {
    Problem::invalid(
        "idempotency_key_reused",
        "this Idempotency-Key was used with another request",
    )
    .into_response()
}

fn damaged() -> Response {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the stored answer of this Idempotency-Key cannot be read",
    )
    .into_response()
}

fn path_and_query(uri: &axum::http::Uri) -> &[u8] {
    uri.path_and_query().map_or("", |p| p.as_str()).as_bytes()
}

/// The fingerprint of a request: the SHA-256 of its parts, each after its length, so that no
/// two lists of parts share one.
fn fingerprint(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// `at` less `span`.
fn before(at: Timestamp, span: std::time::Duration) -> Timestamp {
    Timestamp::from_unix_millis(
        at.unix_millis()
            .saturating_sub(i64::try_from(span.as_millis()).unwrap_or(i64::MAX)),
    )
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
    let before = before(now, api.options().idempotency_retention);
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
