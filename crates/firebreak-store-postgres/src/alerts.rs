//! Alert operations outside the ingest batch path: change events, acknowledging and resolving
//! one alert (state machine: `firebreak_core::alert::transition`; effects: the `fb_*_row`
//! functions shared with `fb_ingest`), and alert reads.

use crate::error::Attempt;
use crate::rows::{self, ALERT_COLS};
use crate::timeline::{append, NewEvent};
use deadpool_postgres::{Pool, Transaction};
use firebreak_core::alert::{
    transition, Alert, AlertAction, AlertFilter, AlertStatus, ChangeEvent, Transition,
};
use firebreak_core::service::Integration;
use firebreak_core::store::{Page, StoreError};
use firebreak_core::timeline::{kinds, Actor};
use firebreak_core::timestamp::Timestamp;
use serde_json::json;

/// Records a change on the service timeline and on every open incident of the service.
///
/// Every event is appended under the lock of the timeline it joins (see `timeline::append`):
/// the service row first, then the open incidents of the service, locked in id order (the order
/// every writer uses) by the same statement that appends to them. Without those locks an event
/// could take a lower id than one a concurrent ingest appends and commits first, and a reader
/// paging that timeline by id could skip it for good.
pub(crate) async fn record_change(
    pool: &Pool,
    integration: &Integration,
    change: &ChangeEvent,
    now: Timestamp,
) -> Attempt<i64> {
    let actor = Actor::integration(integration.id, &integration.name);
    let payload = json!({
        "summary": change.summary,
        "source": change.source,
        "occurred_at": change.occurred_at,
        "details": change.details,
        "links": change.links,
    });
    let service_id = integration.service_id.0;
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    crate::timeline::lock_service(&tx, service_id).await?;
    let id = append(
        &tx,
        NewEvent {
            incident_id: None,
            service_id: Some(service_id),
            alert_id: None,
            kind: kinds::CHANGE_RECORDED,
            actor: &actor,
            at: now,
            payload: payload.clone(),
        },
    )
    .await?;
    let stmt = tx
        .prepare_cached(
            "WITH locked AS MATERIALIZED (\
                 SELECT i.id FROM incident_services s JOIN incidents i ON i.id = s.incident_id \
                  WHERE s.service_id = $1 AND i.status IN ('triggered', 'acknowledged') \
                  ORDER BY i.id FOR UPDATE OF i) \
             INSERT INTO timeline_events (incident_id, service_id, alert_id, kind, actor_kind, actor_id, actor_name, at, payload) \
             SELECT o.id, $1, NULL, $2, $3, $4, $5, fb_ts($6), $7 FROM locked o ORDER BY o.id",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &service_id,
            &kinds::CHANGE_RECORDED,
            &actor.kind.as_str(),
            &actor.id,
            &actor.name,
            &now.as_millis(),
            &payload,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn get_in(tx: &Transaction<'_>, id: i64) -> Attempt<Option<Alert>> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {ALERT_COLS} FROM alerts a WHERE a.id = $1"
        ))
        .await?;
    match tx.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::alert(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn get(pool: &Pool, id: i64) -> Attempt<Option<Alert>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {ALERT_COLS} FROM alerts a WHERE a.id = $1"
        ))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::alert(&row)?)),
        None => Ok(None),
    }
}

/// Locks the incident of an alert (an alert's incident never changes). Incidents are locked before
/// their alerts, everywhere: whoever holds an incident sees a stable set of its alerts.
pub(crate) async fn lock_incident_of(tx: &Transaction<'_>, alert_id: i64) -> Attempt<()> {
    let stmt = tx
        .prepare_cached(
            "SELECT 1 FROM incidents WHERE id = (SELECT incident_id FROM alerts WHERE id = $1) FOR UPDATE",
        )
        .await?;
    tx.execute(&stmt, &[&alert_id]).await?;
    Ok(())
}

/// Acknowledges or resolves one alert as a person (or the system) asked: locks the alert's
/// incident (every event below is appended under it, see `timeline::append`) and the alert, lets
/// the state machine decide, applies the effect with its cascades, and answers the alert as
/// committed. `None` when the alert does not exist.
pub(crate) async fn act(
    pool: &Pool,
    id: i64,
    action: AlertAction,
    actor: &Actor,
    now: Timestamp,
) -> Attempt<Option<Alert>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    lock_incident_of(&tx, id).await?;
    let stmt = tx
        .prepare_cached("SELECT status FROM alerts WHERE id = $1 FOR UPDATE")
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&id]).await? else {
        return Ok(None);
    };
    let status: &str = row.try_get(0)?;
    let status = AlertStatus::parse(status)
        .ok_or_else(|| StoreError::Internal("unexpected alert status".into()))?;
    let sql = match transition(Some(status), action) {
        Transition::Acknowledge => Some("SELECT fb_ack_alert_row($1, $2, $3, $4, fb_ts($5))"),
        Transition::Resolve => Some("SELECT fb_resolve_alert_row($1, $2, $3, $4, fb_ts($5), true)"),
        Transition::Ignore => None,
        Transition::Open | Transition::Repeat => {
            return Err(StoreError::Internal("a person cannot trigger an alert".into()).into())
        }
    };
    if let Some(sql) = sql {
        let stmt = tx.prepare_cached(sql).await?;
        tx.execute(
            &stmt,
            &[
                &id,
                &actor.kind.as_str(),
                &actor.id,
                &actor.name,
                &now.as_millis(),
            ],
        )
        .await?;
    }
    let alert = get_in(&tx, id).await?;
    tx.commit().await?;
    Ok(alert)
}

pub(crate) async fn list(pool: &Pool, f: &AlertFilter) -> Attempt<Page<Alert>> {
    let limit = rows::limit(f.page.limit);
    let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    let service = f.service_id.map(|s| s.0);
    let incident = f.incident_id.map(|i| i.0);
    let severity = f.severity.map(|s| s.as_str());
    let since = f.since.map(|t| t.as_millis());
    let until = f.until.map(|t| t.as_millis());
    let fetch = i64::from(limit) + 1;
    let visible = f.visible.as_ref().map(rows::visible_ids);

    let mut q = rows::Filtered::new(format!("SELECT {ALERT_COLS} FROM alerts a WHERE true"));
    if !statuses.is_empty() {
        q.push(" AND a.status = ANY(?)", &statuses);
    }
    if let Some(s) = &service {
        q.push(" AND a.service_id = ?", s);
    }
    if let Some(i) = &incident {
        q.push(" AND a.incident_id = ?", i);
    }
    if let Some(s) = &severity {
        q.push(" AND a.severity = ?", s);
    }
    if let Some(t) = &since {
        q.push(" AND a.first_seen_at >= fb_ts(?)", t);
    }
    if let Some(t) = &until {
        q.push(" AND a.first_seen_at < fb_ts(?)", t);
    }
    if let Some((services, incidents)) = &visible {
        q.push(" AND (a.service_id = ANY(?)", services);
        q.push(" OR a.incident_id = ANY(?))", incidents);
    }
    if let Some(c) = &f.page.cursor {
        q.push(" AND a.id < ?", c);
    }
    q.push(" ORDER BY a.id DESC LIMIT ?", &fetch);
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let found = client.query(&stmt, &q.args).await?;
    Ok(Page::from_rows(
        rows::all(&found, rows::alert)?,
        limit,
        |a| a.id.0,
    ))
}
