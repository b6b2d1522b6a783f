//! API tokens, stored by the SHA-256 of their text.

use crate::error::Attempt;
use crate::rows::{self, TOKEN_COLS};
use deadpool_postgres::Pool;
use firebreak_core::store::StoreError;
use firebreak_core::timestamp::Timestamp;
use firebreak_core::token::{ApiToken, NewApiToken};

pub(crate) async fn create(pool: &Pool, new: &NewApiToken, now: Timestamp) -> Attempt<ApiToken> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO api_tokens AS t (name, token_hash, role, created_at, expires_at) \
             VALUES ($1, $2, $3, fb_ts($4), fb_ts($5)) ON CONFLICT (token_hash) DO NOTHING RETURNING {TOKEN_COLS}"
        ))
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &new.name,
                &new.token_hash,
                &new.role,
                &now.as_millis(),
                &new.expires_at.map(|t| t.as_millis()),
            ],
        )
        .await?;
    match row {
        Some(row) => Ok(rows::token(&row)?),
        None => Err(StoreError::Conflict("a token with this hash exists already".into()).into()),
    }
}

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

pub(crate) async fn count(pool: &Pool) -> Attempt<i64> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT count(*) FROM api_tokens")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.try_get(0)?)
}
