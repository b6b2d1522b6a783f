//! Appending timeline events inside a write transaction, and reading timelines.

use crate::error::Attempt;
use crate::rows::{self, EVENT_COLS};
use deadpool_postgres::{Pool, Transaction};
use firebreak_core::store::{Page, PageRequest};
use firebreak_core::timeline::{Actor, TimelineEvent};
use firebreak_core::timestamp::Timestamp;

/// Where an event belongs and what it says.
pub(crate) struct NewEvent<'a> {
    pub incident_id: Option<i64>,
    pub service_id: Option<i64>,
    pub alert_id: Option<i64>,
    pub kind: &'a str,
    pub actor: &'a Actor,
    pub at: Timestamp,
    pub payload: serde_json::Value,
}

/// Appends one event. The caller must hold the lock of the timeline the event joins, from before
/// this call until commit: the incident's row (`FOR UPDATE`, or having inserted it in this
/// transaction) for an incident event, the service's row (`lock_service`, an `UPDATE` of it, or
/// having inserted it) for a service-level event.
///
/// Why: timelines are paged oldest first by id, and the id is drawn here, at insert, not at
/// commit. Two unserialised writers could commit the lower id second, after a reader had paged
/// past it — the reader would never see that event. Holding the timeline's lock serialises its
/// appends, so its ids are drawn in commit order and a snapshot that sees an event sees every
/// earlier one. (The migration's "Timeline order" note says the same for the SQL functions.)
pub(crate) async fn append(tx: &Transaction<'_>, ev: NewEvent<'_>) -> Attempt<i64> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO timeline_events (incident_id, service_id, alert_id, kind, actor_kind, actor_id, actor_name, at, payload) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, fb_ts($8), $9) RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &ev.incident_id,
                &ev.service_id,
                &ev.alert_id,
                &ev.kind,
                &ev.actor.kind.as_str(),
                &ev.actor.id,
                &ev.actor.name,
                &ev.at.as_millis(),
                &ev.payload,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Takes the lock that serialises appends to a service's own timeline (see `append`). `FOR NO KEY
/// UPDATE` so that it does not block the foreign-key checks of rows that reference the service.
pub(crate) async fn lock_service(tx: &Transaction<'_>, service_id: i64) -> Attempt<()> {
    let stmt = tx
        .prepare_cached("SELECT 1 FROM services WHERE id = $1 FOR NO KEY UPDATE")
        .await?;
    tx.execute(&stmt, &[&service_id]).await?;
    Ok(())
}

/// Events of an incident (`by_service` false) or service-level events, oldest first.
pub(crate) async fn list(
    pool: &Pool,
    id: i64,
    by_service: bool,
    page: PageRequest,
) -> Attempt<Page<TimelineEvent>> {
    let limit = rows::limit(page.limit);
    let filter = if by_service {
        "e.service_id = $1 AND e.incident_id IS NULL"
    } else {
        "e.incident_id = $1"
    };
    let sql = format!("SELECT {EVENT_COLS} FROM timeline_events e WHERE {filter} AND e.id > $2 ORDER BY e.id ASC LIMIT $3");
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&sql).await?;
    let found = client
        .query(
            &stmt,
            &[&id, &page.cursor.unwrap_or(0), &(i64::from(limit) + 1)],
        )
        .await?;
    let events = rows::all(&found, rows::event)?;
    Ok(Page::from_rows(events, limit, |e| e.id.0))
}
