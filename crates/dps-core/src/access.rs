//! Access to a served provisioner: bearer tokens with a role, kept by the [`Store`] only as
//! hashes, and the records that make a repeated request safe.
//!
//! A service in front of a [`Provisioner`](crate::Provisioner) (such as `dps-http`) issues an
//! [`AccessToken`] with [`AccessToken::issue`], hands its text to the person who asked for it
//! once, and stores the record. Each request then presents the text; the service looks the
//! record up by [`TokenHash::of`] the text and checks the [`Role`] and the groups.
//!
//! ```
//! use dps::access::{AccessToken, Role, TokenHash};
//! use dps::{Actor, Timestamp};
//!
//! let (token, text) = AccessToken::issue(
//!     Actor::new("ci-pipeline")?,
//!     Role::Operator,
//!     vec![],
//!     &dps::inject::OsSecrets,
//!     Timestamp::from_unix_millis(0),
//! );
//! assert!(text.starts_with("dps_"));
//! assert_eq!(token.hash(), &TokenHash::of(&text));
//! assert!(token.role().allows(Role::Viewer));
//! assert!(!token.role().allows(Role::Admin));
//! # Ok::<(), dps::ValidationError>(())
//! ```
//!
//! [`Store`]: crate::Store

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::GroupId;
use crate::inject::SecretSource;
use crate::text::Actor;
use crate::time::Timestamp;
use crate::validation::{Field, Rule, ValidationError};

/// What a token may do. Each role may do everything the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads groups, devices and events, without device secrets.
    Viewer,
    /// Also changes groups and devices: registers, imports, allocates, resets, replaces and
    /// deletes.
    Operator,
    /// Also manages tokens and may read device secrets.
    Admin,
}

impl Role {
    /// Every role, from the least to the most allowed.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The role's name: `viewer`, `operator` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    Field::Role,
                    Rule::Format {
                        expected: "one of viewer, operator, admin",
                    },
                )
            })
    }
}

/// The SHA-256 hash of a token's text: all that a store keeps of it.
///
/// A token's text carries 256 random bits, so a fast hash is enough: nobody can search the
/// space of texts for one whose hash a leaked database holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a token's text.
    pub fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }

    /// The hash's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A hash from its 32 bytes, as a store read them back.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        crate::secret::hex(&self.0)
    }

    /// A hash from 64 hex digits.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] of [`Field::Id`] if `hex` is not 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::new(
                Field::Id,
                Rule::Format {
                    expected: "64 hex digits",
                },
            )
        };
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(invalid)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

/// An access token as a store keeps it: its name, role, groups and hash, never its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    name: Actor,
    role: Role,
    groups: Vec<GroupId>,
    hash: TokenHash,
    created_at: Timestamp,
    bulk_import: bool,
}

/// The prefix of every token's text, so that a token pasted where it does not belong is
/// recognised (by secret scanners, for one).
pub const TOKEN_PREFIX: &str = "dps_";

impl AccessToken {
    /// A new token named `name` with `role`, limited to `groups` (every group when empty),
    /// and its text, drawn from `secrets`. The text is not kept anywhere: show it once.
    pub fn issue(
        name: Actor,
        role: Role,
        groups: Vec<GroupId>,
        secrets: &dyn SecretSource,
        now: Timestamp,
    ) -> (Self, String) {
        let mut random = [0u8; 32];
        secrets.fill(&mut random);
        let text = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        let token = Self::from_parts(name, role, groups, TokenHash::of(&text), now);
        (token, text)
    }

    /// A token from its parts, as a store reads it back.
    pub fn from_parts(
        name: Actor,
        role: Role,
        mut groups: Vec<GroupId>,
        hash: TokenHash,
        created_at: Timestamp,
    ) -> Self {
        groups.sort_unstable();
        groups.dedup();
        Self {
            name,
            role,
            groups,
            hash,
            created_at,
            bulk_import: false,
        }
    }

    /// This token, allowed (or not) to import files beyond the console's limits (2 MB, 1000
    /// records) when `bulk_import` is true. Admin tokens always may.
    #[must_use]
    pub fn with_bulk_import(mut self, bulk_import: bool) -> Self {
        self.bulk_import = bulk_import;
        self
    }

    /// Whether it was issued to import beyond the console's limits; see
    /// [`AccessToken::may_bulk_import`] for what it may do.
    pub fn bulk_import(&self) -> bool {
        self.bulk_import
    }

    /// Whether it may import files beyond the console's limits: when it was issued
    /// [`with_bulk_import`](AccessToken::with_bulk_import), or is an admin's.
    pub fn may_bulk_import(&self) -> bool {
        self.bulk_import || self.role.allows(Role::Admin)
    }

    /// Its name, which the events of its requests record as their actor.
    pub fn name(&self) -> &Actor {
        &self.name
    }

    /// What it may do.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The groups it is limited to, in order; empty when it reaches every group.
    pub fn groups(&self) -> &[GroupId] {
        &self.groups
    }

    /// Whether it reaches `group`.
    pub fn reaches(&self, group: GroupId) -> bool {
        self.groups.is_empty() || self.groups.binary_search(&group).is_ok()
    }

    /// The hash of its text.
    pub fn hash(&self) -> &TokenHash {
        &self.hash
    }

    /// When it was issued.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

/// The 32-byte fingerprint of a request (its route, body and whoever sent it), with which a
/// repeated idempotency key is told apart from a reused one.
pub type Fingerprint = [u8; 32];

/// A request made safe to repeat by its idempotency key, as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key, scoped by the service (for instance by token) so that two clients never share
    /// one.
    pub key: String,
    /// The fingerprint of the request that first used the key.
    pub fingerprint: Fingerprint,
    /// When the key was first used; records older than the service's retention are purged.
    pub created_at: Timestamp,
    /// The first answer, in the service's own encoding; `None` while the first request is
    /// still running.
    pub answer: Option<Vec<u8>>,
}

/// What [`Store::claim_idempotency`](crate::Store::claim_idempotency) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key was new: the record is now stored without an answer, and the caller runs the
    /// request and then stores its answer (or releases the key).
    Claimed,
    /// The key was used before: the record as it is (with its answer, unless the first
    /// request is still running).
    Existing(IdempotencyRecord),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Counting;
    impl SecretSource for Counting {
        fn fill(&self, dest: &mut [u8]) {
            for (i, b) in dest.iter_mut().enumerate() {
                *b = u8::try_from(i).unwrap_or(0);
            }
        }
    }

    #[test]
    fn an_issued_token_is_found_by_the_hash_of_its_text_only() {
        let name = Actor::new("ops").unwrap();
        let (token, text) = AccessToken::issue(
            name,
            Role::Viewer,
            vec![],
            &Counting,
            Timestamp::from_unix_millis(5),
        );
        assert_eq!(text, "dps_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
        assert_eq!(token.hash(), &TokenHash::of(&text));
        assert_ne!(token.hash(), &TokenHash::of("dps_other"));
        assert_eq!(
            TokenHash::from_hex(&token.hash().to_hex()).unwrap(),
            *token.hash()
        );
        assert!(!format!("{token:?}").contains(&text));
    }

    #[test]
    fn a_hash_of_bad_hex_is_refused() {
        for bad in ["", "zz", &"g".repeat(64), &"é".repeat(32)] {
            assert_eq!(TokenHash::from_hex(bad).unwrap_err().code(), "invalid_id");
        }
    }

    #[test]
    fn roles_order_what_they_allow_and_parse_from_their_names() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Operator));
        assert!(!Role::Viewer.allows(Role::Operator));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert_eq!("root".parse::<Role>().unwrap_err().code(), "invalid_role");
    }

    #[test]
    fn a_limited_token_reaches_only_its_groups() {
        let a = GroupId::from_uuid(uuid::Uuid::from_u128(1));
        let b = GroupId::from_uuid(uuid::Uuid::from_u128(2));
        let token = AccessToken::from_parts(
            Actor::new("t").unwrap(),
            Role::Operator,
            vec![b, a, b],
            TokenHash::of("x"),
            Timestamp::from_unix_millis(0),
        );
        assert_eq!(token.groups(), &[a, b]);
        assert!(token.reaches(a));
        let all = AccessToken::from_parts(
            Actor::new("t").unwrap(),
            Role::Operator,
            vec![],
            TokenHash::of("x"),
            Timestamp::from_unix_millis(0),
        );
        assert!(all.reaches(GroupId::from_uuid(uuid::Uuid::from_u128(3))));
        assert!(!token.reaches(GroupId::from_uuid(uuid::Uuid::from_u128(3))));
    }

    #[test]
    fn an_admin_or_a_token_issued_for_it_may_import_in_bulk() {
        let token = |role| {
            AccessToken::from_parts(
                Actor::new("t").unwrap(),
                role,
                vec![],
                TokenHash::of("x"),
                Timestamp::from_unix_millis(0),
            )
        };
        assert!(token(Role::Admin).may_bulk_import());
        assert!(!token(Role::Operator).may_bulk_import());
        let bulk = token(Role::Operator).with_bulk_import(true);
        assert!(bulk.bulk_import() && bulk.may_bulk_import());
        assert!(!token(Role::Admin).bulk_import());
    }
}
