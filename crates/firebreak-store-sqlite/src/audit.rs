//! The hash-chained audit log in SQLite: the writer appends (computing the chain), triggers in the
//! schema refuse updates and deletes.

use crate::list_query::ListQuery;
use crate::rows::{db_err, to_json};
use firebreak_core::audit::{
    entry_hash, AuditEntry, AuditFilter, AuditOutcome, NewAuditEntry, GENESIS_HASH,
};
use firebreak_core::ids::AuditId;
use firebreak_core::store::{Page, StoreResult};
use firebreak_core::timeline::{Actor, ActorKind};
use firebreak_core::timestamp::Timestamp;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};

const COLS: &str = "id, at, actor_kind, actor_id, actor_name, action, object_kind, object_id, outcome, ip, user_agent, detail, before, after, prev_hash, hash";

fn bad(col: usize) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, "unexpected value".into())
}

fn json(row: &Row, col: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = row.get(col)?;
    serde_json::from_str(&text).map_err(|_| bad(col))
}

fn entry(row: &Row) -> rusqlite::Result<AuditEntry> {
    let actor_kind: String = row.get(2)?;
    let outcome: String = row.get(8)?;
    Ok(AuditEntry {
        id: AuditId(row.get(0)?),
        entry: NewAuditEntry {
            at: Timestamp::from_millis(row.get(1)?),
            actor: Actor {
                kind: ActorKind::parse(&actor_kind).ok_or_else(|| bad(2))?,
                id: row.get(3)?,
                name: row.get(4)?,
            },
            action: row.get(5)?,
            object_kind: row.get(6)?,
            object_id: row.get(7)?,
            outcome: AuditOutcome::parse(&outcome).ok_or_else(|| bad(8))?,
            ip: row.get(9)?,
            user_agent: row.get(10)?,
            detail: json(row, 11)?,
            before: json(row, 12)?,
            after: json(row, 13)?,
        },
        prev_hash: row.get(14)?,
        hash: row.get(15)?,
    })
}

pub(crate) fn append(conn: &Connection, e: &NewAuditEntry) -> StoreResult<AuditEntry> {
    let prev: String = conn
        .prepare_cached("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        .map_err(db_err)?
        .query_row([], |r| r.get(0))
        .optional()
        .map_err(db_err)?
        .unwrap_or_else(|| GENESIS_HASH.to_string());
    let hash = entry_hash(&prev, e);
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, object_kind, object_id, outcome, ip, user_agent, detail, before, after, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .map_err(db_err)?
    .execute(rusqlite::params![
        e.at.as_millis(),
        e.actor.kind.as_str(),
        e.actor.id,
        e.actor.name,
        e.action,
        e.object_kind,
        e.object_id,
        e.outcome.as_str(),
        e.ip,
        e.user_agent,
        to_json(&e.detail),
        to_json(&e.before),
        to_json(&e.after),
        prev,
        hash,
    ])
    .map_err(db_err)?;
    Ok(AuditEntry {
        id: AuditId(conn.last_insert_rowid()),
        entry: e.clone(),
        prev_hash: prev,
        hash,
    })
}

pub(crate) fn list(conn: &Connection, f: &AuditFilter) -> StoreResult<Page<AuditEntry>> {
    let mut q = ListQuery::new(format!("SELECT {COLS} FROM audit_log WHERE 1=1"));
    if let Some(v) = &f.actor_id {
        q.and("actor_id = ?", v.clone());
    }
    if let Some(v) = &f.action {
        q.and("action = ?", v.clone());
    }
    if let Some(v) = &f.object_kind {
        q.and("object_kind = ?", v.clone());
    }
    if let Some(v) = &f.object_id {
        q.and("object_id = ?", v.clone());
    }
    if let Some(v) = f.outcome {
        q.and("outcome = ?", v.as_str().to_string());
    }
    if let Some(t) = f.since {
        q.and("at >= ?", t.as_millis());
    }
    if let Some(t) = f.until {
        q.and("at < ?", t.as_millis());
    }
    q.fetch(conn, "id", f.page, entry, |e| e.id.0)
}

pub(crate) fn chain(
    conn: &Connection,
    after: Option<AuditId>,
    limit: u32,
) -> StoreResult<Vec<AuditEntry>> {
    conn.prepare_cached(&format!(
        "SELECT {COLS} FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))
    .map_err(db_err)?
    .query_map(
        (after.map(|a| a.0).unwrap_or(0), limit.clamp(1, 10_000)),
        entry,
    )
    .map_err(db_err)?
    .collect::<Result<_, _>>()
    .map_err(db_err)
}
