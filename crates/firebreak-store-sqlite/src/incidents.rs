//! Incident writes (declare, acknowledge, resolve and their cascades) and incident reads
//! (lists, detail, timelines, open counts).

use crate::alerts::{ack_alert_row, resolve_alert_row};
use crate::list_query::{id_list, ListQuery};
use crate::rows::{self, db_err, EVENT_COLS, INCIDENT_COLS};
use crate::timeline::{append, NewEvent, Payload};
use crate::writer::Tx;
use firebreak_core::incident::{Incident, IncidentFilter, NewIncident};
use firebreak_core::store::{Page, PageRequest, StoreError, StoreResult};
use firebreak_core::timeline::{kinds, Actor, TimelineEvent};
use firebreak_core::timestamp::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;

fn status_of(conn: &Connection, id: i64) -> StoreResult<Option<String>> {
    conn.prepare_cached("SELECT status FROM incidents WHERE id = ?1")
        .map_err(db_err)?
        .query_row([id], |r| r.get(0))
        .optional()
        .map_err(db_err)
}

fn alerts_with_status(
    conn: &Connection,
    incident_id: i64,
    open_only: bool,
) -> StoreResult<Vec<i64>> {
    let sql = if open_only {
        "SELECT id FROM alerts WHERE incident_id = ?1 AND status <> 'resolved' ORDER BY id"
    } else {
        "SELECT id FROM alerts WHERE incident_id = ?1 AND status = 'triggered' ORDER BY id"
    };
    conn.prepare_cached(sql)
        .map_err(db_err)?
        .query_map([incident_id], |r| r.get(0))
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)
}

/// Marks a triggered incident acknowledged and records it. False when it was not triggered.
pub(crate) fn ack_incident_row(
    conn: &Connection,
    id: i64,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE incidents SET status = 'acknowledged', acknowledged_at = COALESCE(acknowledged_at, ?2), updated_at = ?2 \
             WHERE id = ?1 AND status = 'triggered'",
        )
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    if changed == 0 {
        return Ok(false);
    }
    append(
        conn,
        NewEvent {
            incident_id: Some(id),
            service_id: None,
            alert_id: None,
            kind: kinds::INCIDENT_ACKNOWLEDGED,
            actor,
            at: now,
            payload: Payload::from(json!({})),
        },
    )?;
    Ok(true)
}

/// Marks an open incident resolved and records it (its alerts are the caller's business).
pub(crate) fn resolve_incident_row(
    conn: &Connection,
    id: i64,
    actor: &Actor,
    now: Timestamp,
    payload: serde_json::Value,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached("UPDATE incidents SET status = 'resolved', resolved_at = ?2, updated_at = ?2 WHERE id = ?1 AND status <> 'resolved'")
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    if changed == 0 {
        return Ok(false);
    }
    append(
        conn,
        NewEvent {
            incident_id: Some(id),
            service_id: None,
            alert_id: None,
            kind: kinds::INCIDENT_RESOLVED,
            actor,
            at: now,
            payload: Payload::from(payload),
        },
    )?;
    Ok(true)
}

/// Acknowledges the incident and its triggered alerts. `None` when it does not exist.
pub(crate) fn acknowledge(
    tx: &mut Tx<'_>,
    id: i64,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<Option<()>> {
    let conn = tx.conn;
    let Some(status) = status_of(conn, id)? else {
        return Ok(None);
    };
    if status == "triggered" {
        for alert in alerts_with_status(conn, id, false)? {
            ack_alert_row(tx, alert, actor, now)?;
        }
        ack_incident_row(conn, id, actor, now)?;
    }
    Ok(Some(()))
}

/// Resolves the incident and all its open alerts. `None` when it does not exist.
pub(crate) fn resolve(
    tx: &mut Tx<'_>,
    id: i64,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<Option<()>> {
    let conn = tx.conn;
    let Some(status) = status_of(conn, id)? else {
        return Ok(None);
    };
    if status != "resolved" {
        for alert in alerts_with_status(conn, id, true)? {
            resolve_alert_row(tx, alert, actor, now, false)?;
        }
        resolve_incident_row(conn, id, actor, now, json!({}))?;
    }
    Ok(Some(()))
}

pub(crate) fn declare(
    conn: &Connection,
    new: &NewIncident,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<i64> {
    for sid in &new.service_ids {
        let live: bool = conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM services WHERE id = ?1 AND deleted_at IS NULL)",
            )
            .map_err(db_err)?
            .query_row([sid.0], |r| r.get(0))
            .map_err(db_err)?;
        if !live {
            return Err(StoreError::NotFound(format!("service {sid}")));
        }
    }
    let urgency = new.urgency.unwrap_or_else(|| new.severity.urgency());
    let number: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(number), 0) + 1 FROM incidents")
        .map_err(db_err)?
        .query_row([], |r| r.get(0))
        .map_err(db_err)?;
    conn.prepare_cached(
        "INSERT INTO incidents (number, title, status, severity, urgency, detected_at, created_at, updated_at) \
         VALUES (?1, ?2, 'triggered', ?3, ?4, ?5, ?5, ?5)",
    )
    .map_err(db_err)?
    .execute((number, &new.title, new.severity.as_str(), urgency.as_str(), now.as_millis()))
    .map_err(db_err)?;
    let id = conn.last_insert_rowid();
    let mut services: Vec<i64> = new.service_ids.iter().map(|s| s.0).collect();
    services.sort_unstable();
    services.dedup();
    for sid in &services {
        conn.prepare_cached(
            "INSERT INTO incident_services (incident_id, service_id) VALUES (?1, ?2)",
        )
        .map_err(db_err)?
        .execute((id, sid))
        .map_err(db_err)?;
    }
    append(
        conn,
        NewEvent {
            incident_id: Some(id),
            service_id: None,
            alert_id: None,
            kind: kinds::INCIDENT_DECLARED,
            actor,
            at: now,
            payload: Payload::from(
                json!({"number": number, "title": new.title, "severity": new.severity, "urgency": urgency, "service_ids": new.service_ids}),
            ),
        },
    )?;
    Ok(id)
}

pub(crate) fn get(conn: &Connection, id: i64) -> StoreResult<Option<Incident>> {
    conn.prepare_cached(&format!(
        "SELECT {INCIDENT_COLS} FROM incidents i WHERE i.id = ?1"
    ))
    .map_err(db_err)?
    .query_row([id], rows::incident)
    .optional()
    .map_err(db_err)
}

pub(crate) fn list(conn: &Connection, f: &IncidentFilter) -> StoreResult<Page<Incident>> {
    let mut q = ListQuery::new(format!("SELECT {INCIDENT_COLS} FROM incidents i WHERE 1=1"));
    q.and_in("i.status", f.statuses.iter().map(|s| s.as_str()));
    if let Some(s) = f.service_id {
        q.and(
            "i.id IN (SELECT incident_id FROM incident_services WHERE service_id = ?)",
            s.0,
        );
    }
    if let Some(sev) = f.severity {
        q.and("i.severity = ?", sev.as_str().to_string());
    }
    if let Some(t) = f.since {
        q.and("i.detected_at >= ?", t.as_millis());
    }
    if let Some(t) = f.until {
        q.and("i.detected_at < ?", t.as_millis());
    }
    if let Some(v) = &f.visible {
        q.and_raw(&format!(
            "i.id IN (SELECT incident_id FROM incident_services WHERE service_id IN ({})) OR i.id IN ({})",
            id_list(v.service_ids.iter().map(|s| s.0)),
            id_list(v.incident_ids.iter().map(|i| i.0))
        ));
    }
    q.fetch(conn, "i.id", f.page, rows::incident, |i| i.id.0)
}

/// Events of an incident (`by_service` false) or service-level events, oldest first.
pub(crate) fn timeline(
    conn: &Connection,
    id: i64,
    by_service: bool,
    page: PageRequest,
) -> StoreResult<Page<TimelineEvent>> {
    let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
    let filter = if by_service {
        "service_id = ?1 AND incident_id IS NULL"
    } else {
        "incident_id = ?1"
    };
    let sql = format!("SELECT {EVENT_COLS} FROM timeline_events WHERE {filter} AND id > ?2 ORDER BY id ASC LIMIT ?3");
    let rows: Vec<TimelineEvent> = conn
        .prepare_cached(&sql)
        .map_err(db_err)?
        .query_map(
            (id, page.cursor.unwrap_or(0), i64::from(limit) + 1),
            rows::event,
        )
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    Ok(Page::from_rows(rows, limit, |e| e.id.0))
}

pub(crate) fn open_counts(conn: &Connection) -> StoreResult<(i64, i64)> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM alerts WHERE status IN ('triggered', 'acknowledged')), \
         (SELECT COUNT(*) FROM incidents WHERE status IN ('triggered', 'acknowledged'))",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(db_err)
}

pub(crate) fn status_counts(
    conn: &Connection,
    visible: Option<&firebreak_core::access::Visibility>,
) -> StoreResult<(i64, i64)> {
    let mut sql = "SELECT COALESCE(SUM(i.status = 'triggered'), 0), COALESCE(SUM(i.status = 'acknowledged'), 0) \
                   FROM incidents i WHERE i.status IN ('triggered', 'acknowledged')"
        .to_string();
    if let Some(v) = visible {
        sql.push_str(&format!(
            " AND (i.id IN (SELECT incident_id FROM incident_services WHERE service_id IN ({})) OR i.id IN ({}))",
            id_list(v.service_ids.iter().map(|s| s.0)),
            id_list(v.incident_ids.iter().map(|i| i.0))
        ));
    }
    conn.prepare_cached(&sql)
        .map_err(db_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db_err)
}
