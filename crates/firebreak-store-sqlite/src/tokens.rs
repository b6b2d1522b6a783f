//! API tokens, stored by the SHA-256 of their text.

use crate::list_query::ListQuery;
use crate::rows::{self, db_err, TOKEN_COLS};
use firebreak_core::ids::UserId;
use firebreak_core::store::StoreResult;
use firebreak_core::store::{Page, PageRequest};
use firebreak_core::timestamp::Timestamp;
use firebreak_core::token::{ApiToken, NewApiToken};
use rusqlite::{Connection, OptionalExtension};

pub(crate) fn create(conn: &Connection, new: &NewApiToken, now: Timestamp) -> StoreResult<i64> {
    if let Some(u) = new.user_id {
        let known: bool = conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1)")
            .map_err(db_err)?
            .query_row([u.0], |r| r.get(0))
            .map_err(db_err)?;
        if !known {
            return Err(firebreak_core::StoreError::NotFound(format!("user {u}")));
        }
    }
    let scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
    conn.prepare_cached("INSERT INTO api_tokens (name, token_hash, role, created_at, expires_at, user_id, scopes, mfa_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        .map_err(db_err)?
        .execute((
            &new.name,
            &new.token_hash,
            &new.role,
            now.as_millis(),
            new.expires_at.map(|t| t.as_millis()),
            new.user_id.map(|u| u.0),
            crate::rows::to_json(&scopes),
            new.mfa_at.map(|t| t.as_millis()),
        ))
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

pub(crate) fn list(
    conn: &Connection,
    user_id: Option<UserId>,
    page: PageRequest,
) -> StoreResult<Page<ApiToken>> {
    let mut q = ListQuery::new(format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE 1=1"));
    if let Some(u) = user_id {
        q.and("user_id = ?", u.0);
    }
    q.fetch(conn, "id", page, rows::token, |t| t.id.0)
}

pub(crate) fn revoke(conn: &Connection, id: i64, now: Timestamp) -> StoreResult<Option<ApiToken>> {
    conn.prepare_cached(
        "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    )
    .map_err(db_err)?
    .execute((id, now.as_millis()))
    .map_err(db_err)?;
    get(conn, id)
}

pub(crate) fn mark_mfa(conn: &Connection, id: i64, at: Timestamp) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached("UPDATE api_tokens SET mfa_at = ?2 WHERE id = ?1")
        .map_err(db_err)?
        .execute((id, at.as_millis()))
        .map_err(db_err)?;
    Ok(changed > 0)
}
