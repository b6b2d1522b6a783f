//! The jobs table (transactional outbox): enqueue inside a write, claim with a lease, complete,
//! reschedule, and the duties that run against the store (alert auto-resolve).

use crate::alerts::resolve_alert_row;
use crate::rows::{self, db_err, to_json, JOB_COLS};
use crate::writer::Tx;
use firebreak_core::jobs::{AutoResolveOutcome, Job, JobKind};
use firebreak_core::store::StoreResult;
use firebreak_core::timeline::Actor;
use firebreak_core::timestamp::{DurationMs, Timestamp};
use rusqlite::{Connection, OptionalExtension};

pub(crate) fn enqueue(
    conn: &Connection,
    kind: &JobKind,
    run_at: Timestamp,
    now: Timestamp,
) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO jobs (kind, payload, run_at, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .map_err(db_err)?
    .execute((
        kind.name(),
        to_json(kind),
        run_at.as_millis(),
        now.as_millis(),
    ))
    .map_err(db_err)?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn claim(
    conn: &Connection,
    now: Timestamp,
    lease: DurationMs,
    limit: u32,
) -> StoreResult<Vec<Job>> {
    let sql = format!(
        "UPDATE jobs SET locked_until = ?2, attempts = attempts + 1 WHERE id IN \
         (SELECT id FROM jobs WHERE run_at <= ?1 AND (locked_until IS NULL OR locked_until <= ?1) ORDER BY run_at, id LIMIT ?3) \
         RETURNING {JOB_COLS}"
    );
    let mut jobs: Vec<Job> = conn
        .prepare_cached(&sql)
        .map_err(db_err)?
        .query_map(
            (now.as_millis(), now.plus(lease).as_millis(), limit),
            rows::job,
        )
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    jobs.sort_by_key(|j| (j.run_at, j.id));
    Ok(jobs)
}

pub(crate) fn complete(conn: &Connection, id: i64) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM jobs WHERE id = ?1")
        .map_err(db_err)?
        .execute([id])
        .map_err(db_err)?;
    Ok(())
}

pub(crate) fn reschedule(
    conn: &Connection,
    id: i64,
    run_at: Timestamp,
    error: Option<&str>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE jobs SET run_at = ?2, locked_until = NULL, last_error = ?3 WHERE id = ?1",
    )
    .map_err(db_err)?
    .execute((id, run_at.as_millis(), error))
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn auto_resolve_alert(
    tx: &mut Tx<'_>,
    alert_id: i64,
    now: Timestamp,
) -> StoreResult<AutoResolveOutcome> {
    let conn = tx.conn;
    let row: Option<(String, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT a.status, a.last_seen_at, i.auto_resolve_after_ms FROM alerts a JOIN integrations i ON i.id = a.integration_id WHERE a.id = ?1",
        )
        .map_err(db_err)?
        .query_row([alert_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(db_err)?;
    let Some((status, last_seen, Some(after_ms))) = row else {
        return Ok(AutoResolveOutcome::Done);
    };
    if status == "resolved" {
        return Ok(AutoResolveOutcome::Done);
    }
    let stale_at = Timestamp::from_millis(last_seen).plus(DurationMs::from_millis(after_ms));
    if stale_at > now {
        return Ok(AutoResolveOutcome::NotYet(stale_at));
    }
    resolve_alert_row(tx, alert_id, &Actor::system(), now, true)?;
    Ok(AutoResolveOutcome::Resolved)
}
