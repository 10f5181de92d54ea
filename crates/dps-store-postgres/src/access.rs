//! Access tokens (`dps_tokens`) and idempotency records (`dps_idempotency`): each call one
//! statement on a pooled connection (a claim, an insert and, when it inserted nothing, a
//! read).

use dps_core::access::{AccessToken, Fingerprint, IdempotencyClaim, IdempotencyRecord, TokenHash};
use dps_core::stored::{self, StoredToken};
use dps_core::{Actor, StoreError, Timestamp};
use tokio_postgres::Row;

use crate::PgStore;
use crate::error::{pg_error, token_insert_error};

/// How often a claim tries again when the record that kept it from inserting was released
/// before it could be read.
const CLAIM_ATTEMPTS: usize = 3;

/// The statements of access tokens and idempotency records, with the schema name filled in.
pub(crate) struct AccessSql {
    tokens: String,
    token_by_hash: String,
    insert_token: String,
    remove_token: String,
    claim_idempotency: String,
    idempotency_record: String,
    finish_idempotency: String,
    release_idempotency: String,
    purge_idempotency: String,
}

impl AccessSql {
    /// The statements for schema `s`.
    pub(crate) fn new(s: &str) -> Self {
        Self {
            tokens: format!("SELECT data FROM \"{s}\".dps_tokens ORDER BY name"),
            token_by_hash: format!("SELECT data FROM \"{s}\".dps_tokens WHERE hash = $1"),
            insert_token: format!(
                "INSERT INTO \"{s}\".dps_tokens (name, hash, data) VALUES ($1, $2, $3)"
            ),
            remove_token: format!("DELETE FROM \"{s}\".dps_tokens WHERE name = $1"),
            claim_idempotency: format!(
                "INSERT INTO \"{s}\".dps_idempotency AS i (key, fingerprint, created_at, answer) \
                 VALUES ($1, $2, $3, NULL) ON CONFLICT (key) DO UPDATE \
                 SET fingerprint = excluded.fingerprint, created_at = excluded.created_at \
                 WHERE i.answer IS NULL AND i.created_at < $4"
            ),
            idempotency_record: format!(
                "SELECT fingerprint, created_at, answer FROM \"{s}\".dps_idempotency WHERE key = $1"
            ),
            finish_idempotency: format!(
                "UPDATE \"{s}\".dps_idempotency SET answer = $2 WHERE key = $1"
            ),
            release_idempotency: format!("DELETE FROM \"{s}\".dps_idempotency WHERE key = $1"),
            purge_idempotency: format!("DELETE FROM \"{s}\".dps_idempotency WHERE created_at < $1"),
        }
    }
}

impl PgStore {
    /// Every token, ordered by name (in byte order: the column's collation is `"C"`).
    pub(crate) async fn list_tokens(&self) -> Result<Vec<AccessToken>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.access.tokens)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let rows = client
            .query(&stmt, &[])
            .await
            .map_err(|e| pg_error("list tokens", e))?;
        rows.iter()
            .map(|r| stored::decode_token(r.get(0)))
            .collect()
    }

    /// The token with this hash.
    pub(crate) async fn find_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccessToken>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.access.token_by_hash)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let row = client
            .query_opt(&stmt, &[&&hash.as_bytes()[..]])
            .await
            .map_err(|e| pg_error("look up token", e))?;
        row.map(|r| stored::decode_token(r.get(0))).transpose()
    }

    /// Inserts a token; a name or hash already stored is [`StoreError::AlreadyExists`].
    pub(crate) async fn add_token(&self, token: &AccessToken) -> Result<(), StoreError> {
        let data = StoredToken::from(token).to_json()?;
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.access.insert_token)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        client
            .execute(
                &stmt,
                &[&token.name().as_str(), &&token.hash().as_bytes()[..], &data],
            )
            .await
            .map_err(|e| token_insert_error(e, token.name()))?;
        Ok(())
    }

    /// Removes the token named `name`; whether there was one.
    pub(crate) async fn delete_token(&self, name: &Actor) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.access.remove_token)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let n = client
            .execute(&stmt, &[&name.as_str()])
            .await
            .map_err(|e| pg_error("remove token", e))?;
        Ok(n > 0)
    }

    /// Stores `record` without an answer unless its key is stored; otherwise answers the
    /// stored record.
    ///
    /// The insert does nothing when the key is stored (unless by a record without an answer
    /// created before `stale_before`, which it replaces), and waits for a transaction that
    /// inserts the same key to end, so of two claims exactly one inserts. The read that
    /// follows is a statement of its own, whose snapshot sees the record that kept the insert
    /// from happening, unless that record was released meanwhile: then the claim starts
    /// over.
    pub(crate) async fn claim_key(
        &self,
        record: &IdempotencyRecord,
        stale_before: Timestamp,
    ) -> Result<IdempotencyClaim, StoreError> {
        let client = self.client().await?;
        let claim = client
            .prepare_cached(&self.sql.access.claim_idempotency)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        let read = client
            .prepare_cached(&self.sql.access.idempotency_record)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        for _ in 0..CLAIM_ATTEMPTS {
            let inserted = client
                .execute(
                    &claim,
                    &[
                        &record.key,
                        &&record.fingerprint[..],
                        &record.created_at.unix_millis(),
                        &stale_before.unix_millis(),
                    ],
                )
                .await
                .map_err(|e| pg_error("claim idempotency key", e))?;
            if inserted > 0 {
                return Ok(IdempotencyClaim::Claimed);
            }
            let row = client
                .query_opt(&read, &[&record.key])
                .await
                .map_err(|e| pg_error("read idempotency record", e))?;
            if let Some(row) = row {
                return idempotency_record(&record.key, &row).map(IdempotencyClaim::Existing);
            }
        }
        Err(StoreError::Unavailable {
            message: format!(
                "claim idempotency key: the key was claimed and released {CLAIM_ATTEMPTS} times meanwhile"
            ),
            source: None,
        })
    }

    /// Stores the answer of the request that claimed `key`.
    pub(crate) async fn finish_key(&self, key: &str, answer: &[u8]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.access.finish_idempotency)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        client
            .execute(&stmt, &[&key, &answer])
            .await
            .map_err(|e| pg_error("store idempotency answer", e))?;
        Ok(())
    }

    /// Removes the record of `key`.
    pub(crate) async fn release_key(&self, key: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.access.release_idempotency)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        client
            .execute(&stmt, &[&key])
            .await
            .map_err(|e| pg_error("release idempotency key", e))?;
        Ok(())
    }

    /// Removes the records created before `before`; how many there were.
    pub(crate) async fn purge_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.sql.access.purge_idempotency)
            .await
            .map_err(|e| pg_error("prepare", e))?;
        client
            .execute(&stmt, &[&before.unix_millis()])
            .await
            .map_err(|e| pg_error("purge idempotency records", e))
    }
}

/// The record of `key` from its row (`fingerprint, created_at, answer`); a fingerprint of
/// another length than 32 bytes is corrupt.
fn idempotency_record(key: &str, row: &Row) -> Result<IdempotencyRecord, StoreError> {
    let fingerprint: &[u8] = row.get(0);
    let fingerprint = Fingerprint::try_from(fingerprint).map_err(|_| StoreError::Corrupt {
        message: format!(
            "idempotency record holds a fingerprint of {} bytes, not 32",
            fingerprint.len()
        ),
        source: None,
    })?;
    Ok(IdempotencyRecord {
        key: key.to_owned(),
        fingerprint,
        created_at: Timestamp::from_unix_millis(row.get(1)),
        answer: row.get(2),
    })
}
