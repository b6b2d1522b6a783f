//! API tokens, stored by the SHA-256 of their text.

use crate::rows::{self, db_err, TOKEN_COLS};
use firebreak_core::store::StoreResult;
use firebreak_core::timestamp::Timestamp;
use firebreak_core::token::{ApiToken, NewApiToken};
use rusqlite::{Connection, OptionalExtension};

pub(crate) fn create(conn: &Connection, new: &NewApiToken, now: Timestamp) -> StoreResult<i64> {
    conn.prepare_cached("INSERT INTO api_tokens (name, token_hash, role, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(db_err)?
        .execute((&new.name, &new.token_hash, &new.role, now.as_millis(), new.expires_at.map(|t| t.as_millis())))
        .map_err(db_err)?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn get(conn: &Connection, id: i64) -> StoreResult<Option<ApiToken>> {
    conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?1"
    ))
    .map_err(db_err)?
    .query_row([id], rows::token)
    .optional()
    .map_err(db_err)
}

pub(crate) fn by_hash(conn: &Connection, hash: &str) -> StoreResult<Option<ApiToken>> {
    conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL"
    ))
    .map_err(db_err)?
    .query_row([hash], rows::token)
    .optional()
    .map_err(db_err)
}

pub(crate) fn count(conn: &Connection) -> StoreResult<i64> {
    conn.query_row("SELECT COUNT(*) FROM api_tokens", [], |r| r.get(0))
        .map_err(db_err)
}
