//! The jobs table (transactional outbox): claim due jobs with a lease (`FOR UPDATE SKIP LOCKED`,
//! so several nodes share the work), complete, reschedule, and the alert auto-resolve duty.

use crate::error::Attempt;
use crate::rows::{self, JOB_COLS};
use deadpool_postgres::Pool;
use firebreak_core::jobs::{AutoResolveOutcome, Job};
use firebreak_core::timeline::Actor;
use firebreak_core::timestamp::{DurationMs, Timestamp};

pub(crate) async fn claim(
    pool: &Pool,
    now: Timestamp,
    lease: DurationMs,
    limit: u32,
) -> Attempt<Vec<Job>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE jobs SET locked_until = fb_ts($2), attempts = attempts + 1 \
              WHERE id IN (SELECT id FROM jobs \
                            WHERE run_at <= fb_ts($1) AND (locked_until IS NULL OR locked_until <= fb_ts($1)) \
                            ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING {JOB_COLS}"
        ))
        .await?;
    let found = client
        .query(
            &stmt,
            &[
                &now.as_millis(),
                &now.plus(lease).as_millis(),
                &i64::from(limit),
            ],
        )
        .await?;
    let mut jobs = rows::all(&found, rows::job)?;
    jobs.sort_by_key(|j| (j.run_at, j.id));
    Ok(jobs)
}

pub(crate) async fn complete(pool: &Pool, id: i64) -> Attempt<()> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("DELETE FROM jobs WHERE id = $1")
        .await?;
    client.execute(&stmt, &[&id]).await?;
    Ok(())
}

pub(crate) async fn reschedule(
    pool: &Pool,
    id: i64,
    run_at: Timestamp,
    error: Option<&str>,
) -> Attempt<()> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("UPDATE jobs SET run_at = fb_ts($2), locked_until = NULL, last_error = $3 WHERE id = $1")
        .await?;
    client
        .execute(&stmt, &[&id, &run_at.as_millis(), &error])
        .await?;
    Ok(())
}

/// Resolves the alert (actor `system`, with the usual cascade) once it has not been seen for its
/// integration's `auto_resolve_after`. Idempotent.
pub(crate) async fn auto_resolve_alert(
    pool: &Pool,
    alert_id: i64,
    now: Timestamp,
) -> Attempt<AutoResolveOutcome> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    crate::alerts::lock_incident_of(&tx, alert_id).await?;
    let stmt = tx
        .prepare_cached(
            "SELECT a.status, fb_ms(a.last_seen_at), i.auto_resolve_after_ms \
               FROM alerts a JOIN integrations i ON i.id = a.integration_id WHERE a.id = $1 FOR UPDATE OF a",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&alert_id]).await? else {
        return Ok(AutoResolveOutcome::Done);
    };
    let status: &str = row.try_get(0)?;
    let last_seen: i64 = row.try_get(1)?;
    let after: Option<i64> = row.try_get(2)?;
    let Some(after) = after else {
        return Ok(AutoResolveOutcome::Done);
    };
    if status == "resolved" {
        return Ok(AutoResolveOutcome::Done);
    }
    let stale_at = Timestamp::from_millis(last_seen).plus(DurationMs::from_millis(after));
    if stale_at > now {
        return Ok(AutoResolveOutcome::NotYet(stale_at));
    }
    let actor = Actor::system();
    let stmt = tx
        .prepare_cached("SELECT fb_resolve_alert_row($1, $2, $3, $4, fb_ts($5), true)")
        .await?;
    tx.execute(
        &stmt,
        &[
            &alert_id,
            &actor.kind.as_str(),
            &actor.id,
            &actor.name,
            &now.as_millis(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(AutoResolveOutcome::Resolved)
}
