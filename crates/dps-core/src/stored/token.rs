//! The stored form of an access token.

use serde::{Deserialize, Serialize};

use super::{Record, Versioned, decode, encode, invalid, unversioned};
use crate::access::{AccessToken, Role, TokenHash};
use crate::error::StoreError;
use crate::id::GroupId;
use crate::text::Actor;
use crate::time::Timestamp;

/// An [access token](crate::access) as a backend stores it: its name, role, groups, the hash
/// of its text (as 64 hex digits), when it was issued and whether it may import in bulk,
/// never its text; see the
/// [module documentation](super).
///
/// Convert with `StoredToken::from(&token)` (or from an owned token) and
/// [`StoredToken::into_token`]; [`StoredToken::to_json`] and [`StoredToken::from_json`] are
/// the JSON text that the SQL backends keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    #[serde(default = "unversioned")]
    format: u64,
    name: Actor,
    role: StoredRole,
    groups: Vec<GroupId>,
    hash: String,
    created_at: Timestamp,
    /// Written only when true, so that a token without it keeps the form of its first
    /// release.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    bulk_import: bool,
}

impl Versioned for StoredToken {
    const RECORD: Record = Record::Token;
    fn format(&self) -> u64 {
        self.format
    }
}

impl StoredToken {
    /// The record as JSON text.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if it does not serialise, which does not happen.
    pub fn to_json(&self) -> Result<String, StoreError> {
        encode(Record::Token, self)
    }

    /// A record from JSON text of any format version this code reads.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] for text that does not decode, and for a newer format version
    /// (its source is an [`UnsupportedFormat`](super::UnsupportedFormat)).
    pub fn from_json(data: &str) -> Result<Self, StoreError> {
        decode(data)
    }

    /// The format version the record was written in.
    pub fn format_version(&self) -> u64 {
        self.format
    }

    /// The token this record holds.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when the stored hash is not 64 hex digits.
    pub fn into_token(self) -> Result<AccessToken, StoreError> {
        let hash = TokenHash::from_hex(&self.hash).map_err(|e| invalid(Record::Token, e))?;
        Ok(AccessToken::from_parts(
            self.name,
            self.role.into(),
            self.groups,
            hash,
            self.created_at,
        )
        .with_bulk_import(self.bulk_import))
    }
}

/// Decodes a token from its stored JSON text.
///
/// # Errors
///
/// As [`StoredToken::from_json`] and [`StoredToken::into_token`].
pub fn decode_token(data: &str) -> Result<AccessToken, StoreError> {
    StoredToken::from_json(data)?.into_token()
}

impl From<&AccessToken> for StoredToken {
    fn from(t: &AccessToken) -> Self {
        Self {
            format: super::FORMAT_VERSION,
            name: t.name().clone(),
            role: t.role().into(),
            groups: t.groups().to_vec(),
            hash: t.hash().to_hex(),
            created_at: t.created_at(),
            bulk_import: t.bulk_import(),
        }
    }
}

impl From<AccessToken> for StoredToken {
    fn from(t: AccessToken) -> Self {
        Self::from(&t)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredRole {
    Viewer,
    Operator,
    Admin,
}

impl From<Role> for StoredRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Viewer => StoredRole::Viewer,
            Role::Operator => StoredRole::Operator,
            Role::Admin => StoredRole::Admin,
        }
    }
}

impl From<StoredRole> for Role {
    fn from(r: StoredRole) -> Self {
        match r {
            StoredRole::Viewer => Role::Viewer,
            StoredRole::Operator => Role::Operator,
            StoredRole::Admin => Role::Admin,
        }
    }
}
