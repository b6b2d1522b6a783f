//! The hash-chained audit log in PostgreSQL. Appends from every node serialise on one
//! transaction-scoped advisory lock, so each reads the hash the previous one committed and draws
//! a larger id than it (ids are in chain order); triggers in the schema refuse updates, deletes
//! and truncation. `detail`, `before` and `after` are stored as text, the exact serde_json
//! serialisation the hash covered (jsonb would re-format them).

use crate::error::Attempt;
use crate::rows::{self, AUDIT_COLS};
use deadpool_postgres::Pool;
use firebreak_core::audit::{entry_hash, AuditEntry, AuditFilter, NewAuditEntry, GENESIS_HASH};
use firebreak_core::ids::AuditId;
use firebreak_core::store::{Page, StoreError};

/// The advisory lock every append holds until its commit.
const APPEND_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('firebreak:audit_log', 0))";

fn to_text(value: &serde_json::Value) -> Attempt<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("invalid audit JSON: {e}")).into())
}

pub(crate) async fn append(pool: &Pool, e: &NewAuditEntry) -> Attempt<AuditEntry> {
    let detail = to_text(&e.detail)?;
    let before = to_text(&e.before)?;
    let after = to_text(&e.after)?;
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let stmt = tx.prepare_cached(APPEND_LOCK).await?;
    tx.execute(&stmt, &[]).await?;
    // A statement after the lock: under READ COMMITTED it sees the entry the previous holder
    // committed before releasing the lock.
    let stmt = tx
        .prepare_cached("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        .await?;
    let prev: String = match tx.query_opt(&stmt, &[]).await? {
        Some(row) => row.try_get(0)?,
        None => GENESIS_HASH.to_string(),
    };
    let hash = entry_hash(&prev, e);
    let stmt = tx
        .prepare_cached(
            "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, object_kind, object_id, \
             outcome, ip, user_agent, detail, before, after, prev_hash, hash) \
             VALUES (fb_ts($1), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &e.at.as_millis(),
                &e.actor.kind.as_str(),
                &e.actor.id,
                &e.actor.name,
                &e.action,
                &e.object_kind,
                &e.object_id,
                &e.outcome.as_str(),
                &e.ip,
                &e.user_agent,
                &detail,
                &before,
                &after,
                &prev,
                &hash,
            ],
        )
        .await?;
    let id: i64 = row.try_get(0)?;
    tx.commit().await?;
    Ok(AuditEntry {
        id: AuditId(id),
        entry: e.clone(),
        prev_hash: prev,
        hash,
    })
}

/// Newest first.
pub(crate) async fn list(pool: &Pool, f: &AuditFilter) -> Attempt<Page<AuditEntry>> {
    let limit = rows::limit(f.page.limit);
    let fetch = i64::from(limit) + 1;
    let outcome = f.outcome.map(|o| o.as_str());
    let since = f.since.map(|t| t.as_millis());
    let until = f.until.map(|t| t.as_millis());
    let mut q = rows::Filtered::new(format!("SELECT {AUDIT_COLS} FROM audit_log l WHERE true"));
    if let Some(v) = &f.actor_id {
        q.push(" AND l.actor_id = ?", v);
    }
    if let Some(v) = &f.action {
        q.push(" AND l.action = ?", v);
    }
    if let Some(v) = &f.object_kind {
        q.push(" AND l.object_kind = ?", v);
    }
    if let Some(v) = &f.object_id {
        q.push(" AND l.object_id = ?", v);
    }
    if let Some(v) = &outcome {
        q.push(" AND l.outcome = ?", v);
    }
    if let Some(t) = &since {
        q.push(" AND l.at >= fb_ts(?)", t);
    }
    if let Some(t) = &until {
        q.push(" AND l.at < fb_ts(?)", t);
    }
    if let Some(c) = &f.page.cursor {
        q.push(" AND l.id < ?", c);
    }
    q.push(" ORDER BY l.id DESC LIMIT ?", &fetch);
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let found = client.query(&stmt, &q.args).await?;
    Ok(Page::from_rows(
        rows::all(&found, rows::audit)?,
        limit,
        |e| e.id.0,
    ))
}

/// Oldest first, entries with id greater than `after`.
pub(crate) async fn chain(
    pool: &Pool,
    after: Option<AuditId>,
    limit: u32,
) -> Attempt<Vec<AuditEntry>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {AUDIT_COLS} FROM audit_log l WHERE l.id > $1 ORDER BY l.id LIMIT $2"
        ))
        .await?;
    let found = client
        .query(
            &stmt,
            &[
                &after.map(|a| a.0).unwrap_or(0),
                &i64::from(limit.clamp(1, 10_000)),
            ],
        )
        .await?;
    Ok(rows::all(&found, rows::audit)?)
}
