//! Access tokens (`dps_tokens`) and idempotency records (`dps_idempotency`): reads on a
//! reader connection, writes on the writer connection, each one statement (a claim, one
//! transaction).

use dps_core::access::{AccessToken, Fingerprint, IdempotencyClaim, IdempotencyRecord, TokenHash};
use dps_core::stored::{self, StoredToken};
use dps_core::{Actor, Entity, StoreError, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};

use crate::error::{
    SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE, is_constraint, sql_error,
};
use crate::{Inner, lock};

impl Inner {
    /// Every token, ordered by name (byte order, as the in-memory store orders them).
    pub(crate) fn tokens(&self) -> Result<Vec<AccessToken>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT data FROM dps_tokens ORDER BY name")
                .map_err(|e| sql_error("prepare tokens", e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| sql_error("query tokens", e))?;
            let mut out = Vec::new();
            for data in rows {
                out.push(stored::decode_token(
                    &data.map_err(|e| sql_error("read token", e))?,
                )?);
            }
            Ok(out)
        })
    }

    /// The token with this hash.
    pub(crate) fn token_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccessToken>, StoreError> {
        self.read(|c| {
            let data: Option<String> = c
                .prepare_cached("SELECT data FROM dps_tokens WHERE hash = ?1")
                .and_then(|mut s| s.query_row([&hash.as_bytes()[..]], |r| r.get(0)).optional())
                .map_err(|e| sql_error("look up token", e))?;
            data.map(|d| stored::decode_token(&d)).transpose()
        })
    }

    /// Inserts a token; a name or hash already stored is [`StoreError::AlreadyExists`].
    pub(crate) fn insert_token(&self, token: &AccessToken) -> Result<(), StoreError> {
        let data = StoredToken::from(token).to_json()?;
        let conn = lock(&self.writer);
        let r = conn
            .prepare_cached("INSERT INTO dps_tokens (name, hash, data) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| {
                s.execute(rusqlite::params![
                    token.name().as_str(),
                    &token.hash().as_bytes()[..],
                    data
                ])
            });
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if is_constraint(&e, SQLITE_CONSTRAINT_PRIMARYKEY)
                    || is_constraint(&e, SQLITE_CONSTRAINT_UNIQUE) =>
            {
                Err(StoreError::AlreadyExists {
                    entity: Entity::Token,
                    key: token.name().to_string(),
                })
            }
            Err(e) => Err(sql_error("insert token", e)),
        }
    }

    /// Removes the token named `name`; whether there was one.
    pub(crate) fn remove_token(&self, name: &Actor) -> Result<bool, StoreError> {
        let n = lock(&self.writer)
            .prepare_cached("DELETE FROM dps_tokens WHERE name = ?1")
            .and_then(|mut s| s.execute([name.as_str()]))
            .map_err(|e| sql_error("remove token", e))?;
        Ok(n > 0)
    }

    /// Stores `record` without an answer unless its key is stored (by a record with an answer
    /// or created since `stale_before`); otherwise answers the stored record. One write
    /// transaction, so the record read is the one that kept the insert from happening.
    pub(crate) fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        stale_before: Timestamp,
    ) -> Result<IdempotencyClaim, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error("begin idempotency claim", e))?;
        let inserted = tx
            .prepare_cached(
                "INSERT INTO dps_idempotency (key, fingerprint, created_at, answer) \
                 VALUES (?1, ?2, ?3, NULL) ON CONFLICT (key) DO UPDATE \
                 SET fingerprint = excluded.fingerprint, created_at = excluded.created_at \
                 WHERE dps_idempotency.answer IS NULL AND dps_idempotency.created_at < ?4",
            )
            .and_then(|mut s| {
                s.execute(rusqlite::params![
                    record.key,
                    &record.fingerprint[..],
                    record.created_at.unix_millis(),
                    stale_before.unix_millis()
                ])
            })
            .map_err(|e| sql_error("claim idempotency key", e))?;
        let claim = if inserted > 0 {
            IdempotencyClaim::Claimed
        } else {
            let existing =
                idempotency_record(&tx, &record.key)?.ok_or_else(|| StoreError::Backend {
                    message: "claim idempotency key: the record that kept the key is gone".into(),
                    source: None,
                })?;
            IdempotencyClaim::Existing(existing)
        };
        tx.commit()
            .map_err(|e| sql_error("commit idempotency claim", e))?;
        Ok(claim)
    }

    /// Stores the answer of the request that claimed `key`.
    pub(crate) fn finish_idempotency(&self, key: &str, answer: &[u8]) -> Result<(), StoreError> {
        lock(&self.writer)
            .prepare_cached("UPDATE dps_idempotency SET answer = ?2 WHERE key = ?1")
            .and_then(|mut s| s.execute(rusqlite::params![key, answer]))
            .map_err(|e| sql_error("store idempotency answer", e))?;
        Ok(())
    }

    /// Removes the record of `key`.
    pub(crate) fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.writer)
            .prepare_cached("DELETE FROM dps_idempotency WHERE key = ?1")
            .and_then(|mut s| s.execute([key]))
            .map_err(|e| sql_error("release idempotency key", e))?;
        Ok(())
    }

    /// Removes the records created before `before`; how many there were.
    pub(crate) fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError> {
        let n = lock(&self.writer)
            .prepare_cached("DELETE FROM dps_idempotency WHERE created_at < ?1")
            .and_then(|mut s| s.execute([before.unix_millis()]))
            .map_err(|e| sql_error("purge idempotency records", e))?;
        Ok(n as u64)
    }
}

/// The record of `key`, if one is stored.
fn idempotency_record(
    conn: &Connection,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    conn.prepare_cached(
        "SELECT key, fingerprint, created_at, answer FROM dps_idempotency WHERE key = ?1",
    )
    .and_then(|mut s| s.query_row([key], read_record).optional())
    .map_err(|e| sql_error("read idempotency record", e))?
    .transpose()
}

/// An idempotency row; a fingerprint of another length than 32 bytes is corrupt.
fn read_record(r: &Row<'_>) -> rusqlite::Result<Result<IdempotencyRecord, StoreError>> {
    let key: String = r.get(0)?;
    let fingerprint: Vec<u8> = r.get(1)?;
    let created_at: i64 = r.get(2)?;
    let answer: Option<Vec<u8>> = r.get(3)?;
    Ok(Fingerprint::try_from(fingerprint.as_slice())
        .map(|fingerprint| IdempotencyRecord {
            key,
            fingerprint,
            created_at: Timestamp::from_unix_millis(created_at),
            answer,
        })
        .map_err(|_| StoreError::Corrupt {
            message: format!(
                "idempotency record holds a fingerprint of {} bytes, not 32",
                fingerprint.len()
            ),
            source: None,
        }))
}
