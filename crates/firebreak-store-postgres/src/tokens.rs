//! API tokens, stored by the SHA-256 of their text.

use crate::error::Attempt;
use crate::rows::{self, TOKEN_COLS};
use deadpool_postgres::Pool;
use firebreak_core::ids::UserId;
use firebreak_core::store::{Page, PageRequest, StoreError};
use firebreak_core::timestamp::Timestamp;
use firebreak_core::token::{ApiToken, NewApiToken};

/// `Conflict` when the hash is taken, `NotFound` for an unknown user.
pub(crate) async fn create(pool: &Pool, new: &NewApiToken, now: Timestamp) -> Attempt<ApiToken> {
    let client = pool.get().await?;
    if let Some(user) = new.user_id {
        let stmt = client
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
            .await?;
        let exists: bool = client.query_one(&stmt, &[&user.0]).await?.try_get(0)?;
        if !exists {
            return Err(StoreError::NotFound(format!("user {user}")).into());
        }
    }
    let scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO api_tokens AS t (name, token_hash, user_id, role, scopes, created_at, expires_at, mfa_at) \
             VALUES ($1, $2, $3, $4, $5, fb_ts($6), fb_ts($7), fb_ts($8)) ON CONFLICT (token_hash) DO NOTHING RETURNING {TOKEN_COLS}"
        ))
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &new.name,
                &new.token_hash,
                &new.user_id.map(|u| u.0),
                &new.role,
                &scopes,
                &now.as_millis(),
                &new.expires_at.map(|t| t.as_millis()),
                &new.mfa_at.map(|t| t.as_millis()),
            ],
        )
        .await?;
    match row {
        Some(row) => Ok(rows::token(&row)?),
        None => Err(StoreError::Conflict("a token with this hash exists already".into()).into()),
    }
}

/// A live (not revoked) token.
pub(crate) async fn by_hash(pool: &Pool, hash: &str) -> Attempt<Option<ApiToken>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.token_hash = $1 AND t.revoked_at IS NULL"))
        .await?;
    match client.query_opt(&stmt, &[&hash]).await? {
        Some(row) => Ok(Some(rows::token(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn get(pool: &Pool, id: i64) -> Attempt<Option<ApiToken>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.id = $1"
        ))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::token(&row)?)),
        None => Ok(None),
    }
}

/// Newest first; every token when `user_id` is `None`.
pub(crate) async fn list(
    pool: &Pool,
    user_id: Option<UserId>,
    page: PageRequest,
) -> Attempt<Page<ApiToken>> {
    let limit = rows::limit(page.limit);
    let fetch = i64::from(limit) + 1;
    let user = user_id.map(|u| u.0);
    let mut q = rows::Filtered::new(format!("SELECT {TOKEN_COLS} FROM api_tokens t WHERE true"));
    if let Some(u) = &user {
        q.push(" AND t.user_id = ?", u);
    }
    if let Some(c) = &page.cursor {
        q.push(" AND t.id < ?", c);
    }
    q.push(" ORDER BY t.id DESC LIMIT ?", &fetch);
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let found = client.query(&stmt, &q.args).await?;
    Ok(Page::from_rows(
        rows::all(&found, rows::token)?,
        limit,
        |t| t.id.0,
    ))
}

/// Idempotent: a revoked token keeps its first `revoked_at`. `None` when it does not exist.
pub(crate) async fn revoke(pool: &Pool, id: i64, now: Timestamp) -> Attempt<Option<ApiToken>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE api_tokens SET revoked_at = fb_ts($2) WHERE id = $1 AND revoked_at IS NULL",
        )
        .await?;
    client.execute(&stmt, &[&id, &now.as_millis()]).await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.id = $1"
        ))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::token(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn count(pool: &Pool) -> Attempt<i64> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT count(*) FROM api_tokens")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.try_get(0)?)
}

/// Sets `mfa_at` (revoked tokens too: the record stays accurate); false when the token does not
/// exist.
pub(crate) async fn mark_mfa(pool: &Pool, id: i64, at: Timestamp) -> Attempt<bool> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("UPDATE api_tokens SET mfa_at = fb_ts($2) WHERE id = $1")
        .await?;
    Ok(client.execute(&stmt, &[&id, &at.as_millis()]).await? == 1)
}
