//! Signing in with a token: sessions held by the server, their cookie, and the CSRF token
//! of each session's forms.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, NestedPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use dps_core::access::{AccessToken, Role, TokenHash};
use dps_core::inject::SecretSource as _;

use super::Refusal;
use crate::Api;
use crate::auth::Caller;

/// The name of the session cookie.
pub(crate) const COOKIE: &str = "dps_session";

/// How long a session lasts without a request.
const IDLE: Duration = Duration::from_secs(8 * 60 * 60);

/// The most sessions held at once; beyond it the least recently used one ends.
const MAX_SESSIONS: usize = 10_000;

/// The sessions of one server, in memory: a restart signs everybody out.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Held>>,
}

/// What a session holds: whose token, the CSRF token of its forms, and its last use.
#[derive(Debug, Clone)]
struct Held {
    token: TokenHash,
    csrf: String,
    used: Instant,
}

/// 32 random bytes as 64 hex digits.
pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    dps_core::inject::OsSecrets.fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two texts in time that depends only on their lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// A new session for `token`: its ID (the cookie's value).
    pub(crate) fn start(&self, token: TokenHash) -> String {
        let id = random_hex();
        let held = Held {
            token,
            csrf: random_hex(),
            used: Instant::now(),
        };
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, h| h.used.elapsed() < IDLE);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, h)| h.used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), held);
        id
    }

    /// Ends the session `id`.
    pub(crate) fn end(&self, id: &str) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }

    /// The session `id` when it is live, its last use now.
    fn touch(&self, id: &str) -> Option<Held> {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let held = map.get_mut(id)?;
        if held.used.elapsed() >= IDLE {
            map.remove(id);
            return None;
        }
        held.used = Instant::now();
        Some(held.clone())
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// What every console page knows of its request: where the console is mounted, and
/// whether it is served over TLS.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    base: String,
    secure: bool,
}

impl Place {
    /// The console's path `path` (starting with `/`) under its mount point.
    pub(crate) fn href(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `Set-Cookie` header of the session cookie: HttpOnly, SameSite=Strict, Secure
    /// under TLS; an empty value with `Max-Age=0` ends it.
    pub(crate) fn session_cookie(&self, value: Option<&str>) -> (header::HeaderName, HeaderValue) {
        let path = if self.base.is_empty() {
            "/"
        } else {
            &self.base
        };
        let secure = if self.secure { "; Secure" } else { "" };
        let text = match value {
            Some(v) => format!("{COOKIE}={v}; Path={path}; HttpOnly; SameSite=Strict{secure}"),
            None => {
                format!("{COOKIE}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
            }
        };
        let value = HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""));
        (header::SET_COOKIE, value)
    }

    /// A redirect to `path` of the console (303, so that a form's post becomes a `GET`).
    pub(crate) fn redirect(&self, path: &str) -> Response {
        Redirect::to(&self.href(path)).into_response()
    }
}

impl FromRequestParts<Api> for Place {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let base = NestedPath::from_request_parts(parts, api)
            .await
            .map(|n| n.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let forwarded_tls = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
        let secure = parts.extensions.get::<crate::server::Secure>().is_some() || forwarded_tls;
        Ok(Self { base, secure })
    }
}

/// A signed-in operator: their token, the session's CSRF token and the request's place.
/// Extracting it sends a request without a live session to the sign-in page.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) caller: Caller,
    pub(crate) csrf: String,
    pub(crate) place: Place,
    /// The session's ID.
    pub(crate) session: String,
}

impl Signed {
    /// The signed-in token.
    pub(crate) fn token(&self) -> &AccessToken {
        self.caller.token()
    }

    /// Whether the token may change groups and devices.
    pub(crate) fn may_change(&self) -> bool {
        self.token().role().allows(Role::Operator)
    }

    /// Refuses a form post whose CSRF token is not this session's.
    pub(crate) fn check(&self, given: Option<&str>) -> Result<(), Refusal> {
        match given {
            Some(given) if same(given, &self.csrf) => Ok(()),
            _ => Err(Refusal::new(
                axum::http::StatusCode::FORBIDDEN,
                "The form has expired or did not come from this console. Go back, reload the page and try again.",
            )),
        }
    }

    /// The fields of a posted form, refused unless it carries this session's CSRF token and
    /// the token's role allows `needed`.
    #[allow(
        clippy::result_large_err,
        reason = "the refusal is the request's answer, as the handlers return it"
    )]
    pub(crate) fn form(&self, body: &[u8], needed: Role) -> Result<super::form::Form, Response> {
        let form = super::form::Form::parse(body);
        self.check(form.get("_csrf"))
            .and_then(|()| self.require(needed))
            .map_err(IntoResponse::into_response)?;
        Ok(form)
    }

    /// The provisioner acting for the signed-in token: its changes' events name it.
    pub(crate) fn acting(&self, api: &Api) -> crate::DynProvisioner {
        api.provisioner().acting_as(self.token().name().clone())
    }

    /// The group `reference` names among the groups the token reaches; a refusal page
    /// (404) for any other.
    pub(crate) async fn group(
        &self,
        api: &Api,
        reference: &str,
    ) -> Result<dps_core::RegistrationGroup, Response> {
        crate::routes::group_for(api.provisioner(), &self.caller, reference)
            .await
            .map_err(|p| Refusal::from(p).into_response())
    }

    /// Refuses unless the token's role allows `needed`.
    pub(crate) fn require(&self, needed: Role) -> Result<(), Refusal> {
        self.caller
            .require(needed)
            .map_err(|p| Refusal::from_problem(&p))
    }
}

impl FromRequestParts<Api> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let Ok(place) = Place::from_request_parts(parts, api).await;
        let to_sign_in = || place.redirect("/sign-in");
        let Some(id) = cookie(&parts.headers, COOKIE) else {
            return Err(to_sign_in());
        };
        let Some(held) = api.inner.console.sessions.touch(id) else {
            return Err(to_sign_in());
        };
        let token = match api.provisioner().store().token_by_hash(&held.token).await {
            Ok(Some(token)) => token,
            // A revoked token ends its sessions.
            Ok(None) => {
                api.inner.console.sessions.end(id);
                return Err(to_sign_in());
            }
            Err(e) => {
                return Err(Refusal::from_problem(&crate::Problem::from_dps(&e)).into_response());
            }
        };
        Ok(Self {
            caller: Caller::new(token),
            csrf: held.csrf,
            place,
            session: id.to_owned(),
        })
    }
}
