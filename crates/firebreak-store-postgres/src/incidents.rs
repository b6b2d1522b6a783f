//! Incident writes (declare, acknowledge, resolve and their cascades — the latter two in the
//! `fb_acknowledge_incident` / `fb_resolve_incident` functions) and incident reads.

use crate::error::Attempt;
use crate::rows::{self, INCIDENT_COLS};
use crate::timeline::{append, NewEvent};
use deadpool_postgres::{Pool, Transaction};
use firebreak_core::incident::{Incident, IncidentFilter, NewIncident};
use firebreak_core::store::{Page, StoreError};
use firebreak_core::timeline::{kinds, Actor};
use firebreak_core::timestamp::Timestamp;
use serde_json::json;

async fn get_in(tx: &Transaction<'_>, id: i64) -> Attempt<Option<Incident>> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {INCIDENT_COLS} FROM incidents i WHERE i.id = $1"
        ))
        .await?;
    match tx.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::incident(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn get(pool: &Pool, id: i64) -> Attempt<Option<Incident>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {INCIDENT_COLS} FROM incidents i WHERE i.id = $1"
        ))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::incident(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn declare(
    pool: &Pool,
    new: &NewIncident,
    actor: &Actor,
    now: Timestamp,
) -> Attempt<Incident> {
    let mut services: Vec<i64> = new.service_ids.iter().map(|s| s.0).collect();
    services.sort_unstable();
    services.dedup();
    let urgency = new.urgency.unwrap_or_else(|| new.severity.urgency());
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "SELECT x.id FROM unnest($1::bigint[]) AS x(id) \
              WHERE NOT EXISTS (SELECT 1 FROM services s WHERE s.id = x.id AND s.deleted_at IS NULL) \
              ORDER BY x.id LIMIT 1",
        )
        .await?;
    if let Some(row) = tx.query_opt(&stmt, &[&services]).await? {
        let missing: i64 = row.try_get(0)?;
        return Err(StoreError::NotFound(format!("service {missing}")).into());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO incidents (title, status, severity, urgency, detected_at, created_at, updated_at) \
             VALUES ($1, 'triggered', $2, $3, fb_ts($4), fb_ts($4), fb_ts($4)) RETURNING id, number",
        )
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &new.title,
                &new.severity.as_str(),
                &urgency.as_str(),
                &now.as_millis(),
            ],
        )
        .await?;
    let id: i64 = row.try_get(0)?;
    let number: i64 = row.try_get(1)?;
    // The incident row is ours until commit (no other transaction can see it, let alone lock it
    // or append to its timeline), which is the lock `timeline::append` asks for.
    let stmt = tx
        .prepare_cached(
            "INSERT INTO incident_services (incident_id, service_id) SELECT $1, s FROM unnest($2::bigint[]) AS s",
        )
        .await?;
    tx.execute(&stmt, &[&id, &services]).await?;
    append(
        &tx,
        NewEvent {
            incident_id: Some(id),
            service_id: None,
            alert_id: None,
            kind: kinds::INCIDENT_DECLARED,
            actor,
            at: now,
            payload: json!({"number": number, "title": new.title, "severity": new.severity, "urgency": urgency, "service_ids": new.service_ids}),
        },
    )
    .await?;
    let incident = get_in(&tx, id)
        .await?
        .ok_or_else(|| StoreError::Internal("incident vanished".into()))?;
    tx.commit().await?;
    Ok(incident)
}

/// Acknowledges (`acknowledge` true) or resolves an incident with its alerts. `None` when it
/// does not exist. The SQL functions lock the incident row (then its open alerts, by id) before
/// they append any event, as `timeline::append` asks.
pub(crate) async fn act(
    pool: &Pool,
    id: i64,
    acknowledge: bool,
    actor: &Actor,
    now: Timestamp,
) -> Attempt<Option<Incident>> {
    let sql = if acknowledge {
        "SELECT fb_acknowledge_incident($1, $2, $3, $4, fb_ts($5)) IS NOT NULL"
    } else {
        "SELECT fb_resolve_incident($1, $2, $3, $4, fb_ts($5)) IS NOT NULL"
    };
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let stmt = tx.prepare_cached(sql).await?;
    let exists: bool = tx
        .query_one(
            &stmt,
            &[
                &id,
                &actor.kind.as_str(),
                &actor.id,
                &actor.name,
                &now.as_millis(),
            ],
        )
        .await?
        .try_get(0)?;
    if !exists {
        return Ok(None);
    }
    let incident = get_in(&tx, id).await?;
    tx.commit().await?;
    Ok(incident)
}

pub(crate) async fn list(pool: &Pool, f: &IncidentFilter) -> Attempt<Page<Incident>> {
    let limit = rows::limit(f.page.limit);
    let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    let service = f.service_id.map(|s| s.0);
    let severity = f.severity.map(|s| s.as_str());
    let since = f.since.map(|t| t.as_millis());
    let until = f.until.map(|t| t.as_millis());
    let fetch = i64::from(limit) + 1;
    let visible = f.visible.as_ref().map(rows::visible_ids);
    let mut q = rows::Filtered::new(format!(
        "SELECT {INCIDENT_COLS} FROM incidents i WHERE true"
    ));
    if !statuses.is_empty() {
        q.push(" AND i.status = ANY(?)", &statuses);
    }
    if let Some(s) = &service {
        q.push(" AND EXISTS (SELECT 1 FROM incident_services x WHERE x.incident_id = i.id AND x.service_id = ?)", s);
    }
    if let Some(s) = &severity {
        q.push(" AND i.severity = ?", s);
    }
    if let Some(t) = &since {
        q.push(" AND i.detected_at >= fb_ts(?)", t);
    }
    if let Some(t) = &until {
        q.push(" AND i.detected_at < fb_ts(?)", t);
    }
    if let Some((services, incidents)) = &visible {
        q.push(" AND (EXISTS (SELECT 1 FROM incident_services x WHERE x.incident_id = i.id AND x.service_id = ANY(?))", services);
        q.push(" OR i.id = ANY(?))", incidents);
    }
    if let Some(c) = &f.page.cursor {
        q.push(" AND i.id < ?", c);
    }
    q.push(" ORDER BY i.id DESC LIMIT ?", &fetch);
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let found = client.query(&stmt, &q.args).await?;
    Ok(Page::from_rows(
        rows::all(&found, rows::incident)?,
        limit,
        |i| i.id.0,
    ))
}

pub(crate) async fn open_counts(pool: &Pool) -> Attempt<(i64, i64)> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT (SELECT count(*) FROM alerts WHERE status IN ('triggered', 'acknowledged')), \
                    (SELECT count(*) FROM incidents WHERE status IN ('triggered', 'acknowledged'))",
        )
        .await?;
    let row = client.query_one(&stmt, &[]).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

pub(crate) async fn status_counts(
    pool: &Pool,
    visible: Option<&firebreak_core::access::Visibility>,
) -> Attempt<(i64, i64)> {
    let visible = visible.map(rows::visible_ids);
    let mut q = rows::Filtered::new(
        "SELECT count(*) FILTER (WHERE i.status = 'triggered'), count(*) FILTER (WHERE i.status = 'acknowledged') \
         FROM incidents i WHERE i.status IN ('triggered', 'acknowledged')"
            .to_string(),
    );
    if let Some((services, incidents)) = &visible {
        q.push(" AND (EXISTS (SELECT 1 FROM incident_services x WHERE x.incident_id = i.id AND x.service_id = ANY(?))", services);
        q.push(" OR i.id = ANY(?))", incidents);
    }
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let row = client.query_one(&stmt, &q.args).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
