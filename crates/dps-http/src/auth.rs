//! Who is calling: the bearer token of a management request, looked up by its hash.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use dps_core::GroupId;
use dps_core::access::{AccessToken, Role, TokenHash};

use crate::Api;
use crate::problem::Problem;

/// The caller of a management request: the token it presented, as the store holds it.
///
/// Extracting it refuses a request without `Authorization: Bearer <token>`, or with a token
/// that the store does not hold (never issued, or revoked), with 401. The store is asked on
/// every request, so a revoked token is refused at once by every server that shares it.
#[derive(Debug, Clone)]
pub struct Caller {
    token: AccessToken,
}

impl Caller {
    /// The caller of `token` (the console's, signed in with it).
    #[cfg(feature = "console")]
    pub(crate) fn new(token: AccessToken) -> Self {
        Self { token }
    }

    /// The caller's token.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }

    /// Refuses the request with 403 unless the caller's role allows what `needed` may do.
    ///
    /// # Errors
    ///
    /// [`Problem::forbidden`].
    pub fn require(&self, needed: Role) -> Result<(), Problem> {
        if self.token.role().allows(needed) {
            Ok(())
        } else {
            Err(Problem::forbidden(needed))
        }
    }

    /// Whether the caller's token reaches `group`.
    pub fn reaches(&self, group: GroupId) -> bool {
        self.token.reaches(group)
    }

    /// Whether the caller may read device secrets.
    pub fn sees_secrets(&self) -> bool {
        self.token.role().allows(Role::Admin)
    }
}

/// The token text of `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<Api> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let text = bearer(&parts.headers).ok_or_else(Problem::unauthorized)?;
        let token = api
            .provisioner()
            .store()
            .token_by_hash(&TokenHash::of(text))
            .await?
            .ok_or_else(Problem::unauthorized)?;
        Ok(Self { token })
    }
}
