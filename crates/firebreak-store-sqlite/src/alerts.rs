//! Alert writes: applying ingest events (open, repeat, acknowledge, resolve), the acknowledge and
//! resolve cascades onto incidents, change events, and alert reads.

use crate::incidents::{ack_incident_row, resolve_incident_row};
use crate::list_query::{id_list, ListQuery};
use crate::open_alerts::OpenAlert;
use crate::rows::{self, db_err, to_json, ALERT_COLS};
use crate::timeline::{append, NewEvent, Payload};
use crate::writer::Tx;
use firebreak_core::alert::{
    transition, Alert, AlertEvent, AlertFilter, AlertStatus, ChangeEvent, Transition,
};
use firebreak_core::ids::{AlertId, IncidentId};
use firebreak_core::jobs::JobKind;
use firebreak_core::service::Integration;
use firebreak_core::store::{IngestEffect, IngestOutcome, IngestRequest, Page, StoreResult};
use firebreak_core::timeline::{kinds, Actor};
use firebreak_core::timestamp::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;

/// The JSON text of one event, serialised by the caller's thread so the writer only binds it.
pub(crate) struct PreparedEvent {
    labels: String,
    details: String,
    links: String,
    triggered_payload: String,
}

pub(crate) fn prepare(req: &IngestRequest) -> Vec<PreparedEvent> {
    req.events
        .iter()
        .map(|ev| PreparedEvent {
            labels: to_json(&ev.labels),
            details: to_json(&ev.details),
            links: to_json(&ev.links),
            triggered_payload: to_json(&json!({"dedup_key": ev.dedup_key, "summary": ev.summary, "severity": ev.severity, "source": ev.source})),
        })
        .collect()
}

/// Applies `req`'s events in order; `prepared[i]` is `prepare(req)[i]`.
pub(crate) fn ingest(
    tx: &mut Tx<'_>,
    req: &IngestRequest,
    prepared: &[PreparedEvent],
) -> StoreResult<Vec<IngestOutcome>> {
    let live: bool = tx
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM integrations i JOIN services s ON s.id = i.service_id \
             WHERE i.id = ?1 AND i.deleted_at IS NULL AND s.deleted_at IS NULL)",
        )
        .map_err(db_err)?
        .query_row([req.integration.id.0], |r| r.get(0))
        .map_err(db_err)?;
    if !live {
        // Retired while this request was on its way (the caller's copy may be cached).
        return Err(firebreak_core::StoreError::NotFound(format!(
            "integration {}",
            req.integration.id
        )));
    }
    let actor = Actor::integration(req.integration.id, &req.integration.name);
    let mut outcomes = Vec::with_capacity(req.events.len());
    for (ev, pre) in req.events.iter().zip(prepared) {
        let open = tx
            .open
            .get(req.integration.id.0, &ev.dedup_key)
            .map(|o| (o.id, o.status, o.incident_id));
        let now = req.received_at;
        let (effect, alert_id, incident_id) = match transition(open.map(|o| o.1), ev.action) {
            Transition::Open => {
                let (alert_id, incident_id) =
                    open_alert(tx, &req.integration, ev, pre, &actor, now)?;
                (IngestEffect::Opened, Some(alert_id), Some(incident_id))
            }
            Transition::Repeat => {
                let (id, _, incident_id) = open.ok_or_else(missing_open)?;
                repeat_alert(tx, id, ev, pre, now)?;
                (IngestEffect::Repeated, Some(id), incident_id)
            }
            Transition::Acknowledge => {
                let (id, _, incident_id) = open.ok_or_else(missing_open)?;
                ack_alert_row(tx, id, &actor, now)?;
                (IngestEffect::Acknowledged, Some(id), incident_id)
            }
            Transition::Resolve => {
                let (id, _, incident_id) = open.ok_or_else(missing_open)?;
                resolve_alert_row(tx, id, &actor, now, true)?;
                (IngestEffect::Resolved, Some(id), incident_id)
            }
            Transition::Ignore => (
                IngestEffect::Ignored,
                open.map(|o| o.0),
                open.and_then(|o| o.2),
            ),
        };
        outcomes.push(IngestOutcome {
            dedup_key: ev.dedup_key.clone(),
            effect,
            alert_id: alert_id.map(AlertId),
            incident_id: incident_id.map(IncidentId),
        });
    }
    Ok(outcomes)
}

fn missing_open() -> firebreak_core::StoreError {
    firebreak_core::StoreError::Internal("open alert vanished inside its transaction".into())
}

/// Inserts a new alert, attaching it to its group's open incident or opening a new one.
fn open_alert(
    tx: &mut Tx<'_>,
    integration: &Integration,
    ev: &AlertEvent,
    pre: &PreparedEvent,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<(i64, i64)> {
    let conn = tx.conn;
    let existing = match &ev.group_key {
        Some(group) => conn
            .prepare_cached(
                "SELECT id FROM incidents WHERE origin_integration_id = ?1 AND group_key = ?2 AND status <> 'resolved' ORDER BY id DESC LIMIT 1",
            )
            .map_err(db_err)?
            .query_row((integration.id.0, group), |r| r.get::<_, i64>(0))
            .optional()
            .map_err(db_err)?,
        None => None,
    };
    // A new incident starts with this alert counted; an existing one is updated below.
    let (incident_id, joined) = match existing {
        Some(id) => (id, true),
        None => {
            let severity = integration
                .severity_override
                .unwrap_or_else(|| ev.severity.default_incident_severity());
            let number: i64 = conn
                .prepare_cached("SELECT COALESCE(MAX(number), 0) + 1 FROM incidents")
                .map_err(db_err)?
                .query_row([], |r| r.get(0))
                .map_err(db_err)?;
            conn.prepare_cached(
                "INSERT INTO incidents (number, title, status, severity, urgency, origin_integration_id, group_key, alert_count, open_alert_count, detected_at, created_at, updated_at) \
                 VALUES (?1, ?2, 'triggered', ?3, ?4, ?5, ?6, 1, 1, ?7, ?7, ?7)",
            )
            .map_err(db_err)?
            .execute((
                number,
                &ev.summary,
                severity.as_str(),
                ev.severity.urgency().as_str(),
                integration.id.0,
                ev.group_key.as_deref(),
                now.as_millis(),
            ))
            .map_err(db_err)?;
            let id = conn.last_insert_rowid();
            conn.prepare_cached(
                "INSERT INTO incident_services (incident_id, service_id) VALUES (?1, ?2)",
            )
            .map_err(db_err)?
            .execute((id, integration.service_id.0))
            .map_err(db_err)?;
            append(
                conn,
                NewEvent {
                    incident_id: Some(id),
                    service_id: Some(integration.service_id.0),
                    alert_id: None,
                    kind: kinds::INCIDENT_OPENED,
                    actor,
                    at: now,
                    payload: Payload::from(
                        json!({"number": number, "title": ev.summary, "severity": severity, "urgency": ev.severity.urgency()}),
                    ),
                },
            )?;
            (id, false)
        }
    };
    conn.prepare_cached(
        "INSERT INTO alerts (service_id, integration_id, incident_id, dedup_key, status, severity, summary, source, labels, details, links, group_key, count, first_seen_at, last_seen_at) \
         VALUES (?1, ?2, ?3, ?4, 'triggered', ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?12)",
    )
    .map_err(db_err)?
    .execute((
        integration.service_id.0,
        integration.id.0,
        incident_id,
        &ev.dedup_key,
        ev.severity.as_str(),
        &ev.summary,
        &ev.source,
        &pre.labels,
        &pre.details,
        &pre.links,
        ev.group_key.as_deref(),
        now.as_millis(),
    ))
    .map_err(db_err)?;
    let alert_id = conn.last_insert_rowid();
    tx.open.set(
        integration.id.0,
        &ev.dedup_key,
        Some(OpenAlert {
            id: alert_id,
            status: AlertStatus::Triggered,
            incident_id: Some(incident_id),
        }),
    );
    if joined {
        conn.prepare_cached(
            "UPDATE incidents SET alert_count = alert_count + 1, open_alert_count = open_alert_count + 1, updated_at = ?2 WHERE id = ?1",
        )
        .map_err(db_err)?
        .execute((incident_id, now.as_millis()))
        .map_err(db_err)?;
    }
    append(
        conn,
        NewEvent {
            incident_id: Some(incident_id),
            service_id: Some(integration.service_id.0),
            alert_id: Some(alert_id),
            kind: kinds::ALERT_TRIGGERED,
            actor,
            at: now,
            payload: Payload::Text(&pre.triggered_payload),
        },
    )?;
    if let Some(after) = integration.auto_resolve_after {
        let job = JobKind::AlertAutoResolve {
            alert_id: AlertId(alert_id),
        };
        crate::jobs::enqueue(conn, &job, now.plus(after), now)?;
    }
    Ok((alert_id, incident_id))
}

fn repeat_alert(
    conn: &Connection,
    id: i64,
    ev: &AlertEvent,
    pre: &PreparedEvent,
    now: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE alerts SET count = count + 1, last_seen_at = MAX(last_seen_at, ?2), severity = ?3, summary = ?4, source = ?5, \
         labels = ?6, details = ?7, links = ?8 WHERE id = ?1",
    )
    .map_err(db_err)?
    .execute((
        id,
        now.as_millis(),
        ev.severity.as_str(),
        &ev.summary,
        &ev.source,
        &pre.labels,
        &pre.details,
        &pre.links,
    ))
    .map_err(db_err)?;
    Ok(())
}

/// What status changes need to know about an alert.
struct AlertRefs {
    integration_id: i64,
    service_id: i64,
    incident_id: Option<i64>,
    dedup_key: String,
    summary: String,
}

fn alert_refs(conn: &Connection, id: i64) -> StoreResult<AlertRefs> {
    conn.prepare_cached(
        "SELECT integration_id, service_id, incident_id, dedup_key, summary FROM alerts WHERE id = ?1",
    )
    .map_err(db_err)?
    .query_row([id], |r| {
        Ok(AlertRefs {
            integration_id: r.get(0)?,
            service_id: r.get(1)?,
            incident_id: r.get(2)?,
            dedup_key: r.get(3)?,
            summary: r.get(4)?,
        })
    })
    .map_err(db_err)
}

/// Acknowledges a triggered alert and, if that leaves its incident with no triggered alert,
/// the incident. Returns false when the alert was not `triggered`.
pub(crate) fn ack_alert_row(
    tx: &mut Tx<'_>,
    id: i64,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<bool> {
    let conn = tx.conn;
    let changed = conn
        .prepare_cached("UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?2 WHERE id = ?1 AND status = 'triggered'")
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    if changed == 0 {
        return Ok(false);
    }
    let AlertRefs {
        integration_id,
        service_id,
        incident_id,
        dedup_key,
        summary,
    } = alert_refs(conn, id)?;
    tx.open.set(
        integration_id,
        &dedup_key,
        Some(OpenAlert {
            id,
            status: AlertStatus::Acknowledged,
            incident_id,
        }),
    );
    append(
        conn,
        NewEvent {
            incident_id,
            service_id: Some(service_id),
            alert_id: Some(id),
            kind: kinds::ALERT_ACKNOWLEDGED,
            actor,
            at: now,
            payload: Payload::from(json!({"dedup_key": dedup_key, "summary": summary})),
        },
    )?;
    if let Some(incident_id) = incident_id {
        if !has_triggered_alert(conn, incident_id)? {
            ack_incident_row(conn, incident_id, actor, now)?;
        }
    }
    Ok(true)
}

fn has_triggered_alert(conn: &Connection, incident_id: i64) -> StoreResult<bool> {
    conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM alerts WHERE incident_id = ?1 AND status = 'triggered')",
    )
    .map_err(db_err)?
    .query_row([incident_id], |r| r.get(0))
    .map_err(db_err)
}

/// Resolves an open alert; with `cascade`, resolves its incident when that was its last open
/// alert and the service resolves incidents automatically. Returns false when already resolved.
pub(crate) fn resolve_alert_row(
    tx: &mut Tx<'_>,
    id: i64,
    actor: &Actor,
    now: Timestamp,
    cascade: bool,
) -> StoreResult<bool> {
    let conn = tx.conn;
    let changed = conn
        .prepare_cached("UPDATE alerts SET status = 'resolved', resolved_at = ?2 WHERE id = ?1 AND status <> 'resolved'")
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    if changed == 0 {
        return Ok(false);
    }
    let AlertRefs {
        integration_id,
        service_id,
        incident_id,
        dedup_key,
        summary,
    } = alert_refs(conn, id)?;
    tx.open.set(integration_id, &dedup_key, None);
    append(
        conn,
        NewEvent {
            incident_id,
            service_id: Some(service_id),
            alert_id: Some(id),
            kind: kinds::ALERT_RESOLVED,
            actor,
            at: now,
            payload: Payload::from(json!({"dedup_key": dedup_key, "summary": summary})),
        },
    )?;
    let Some(incident_id) = incident_id else {
        return Ok(true);
    };
    conn.prepare_cached("UPDATE incidents SET open_alert_count = open_alert_count - 1, updated_at = ?2 WHERE id = ?1")
        .map_err(db_err)?
        .execute((incident_id, now.as_millis()))
        .map_err(db_err)?;
    if cascade {
        let (open_left, auto, status): (i64, bool, String) = conn
            .prepare_cached(
                "SELECT i.open_alert_count, s.auto_resolve_incidents, i.status FROM incidents i, services s \
                 WHERE i.id = ?1 AND s.id = ?2",
            )
            .map_err(db_err)?
            .query_row((incident_id, service_id), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(db_err)?;
        if open_left <= 0 && auto {
            resolve_incident_row(
                conn,
                incident_id,
                actor,
                now,
                json!({"reason": "all alerts resolved"}),
            )?;
        } else if open_left > 0 && status == "triggered" && !has_triggered_alert(conn, incident_id)?
        {
            // Only acknowledged alerts are left open: the incident is acknowledged.
            ack_incident_row(conn, incident_id, actor, now)?;
        }
    }
    Ok(true)
}

pub(crate) fn record_change(
    conn: &Connection,
    integration: &Integration,
    change: &ChangeEvent,
    now: Timestamp,
) -> StoreResult<i64> {
    let actor = Actor::integration(integration.id, &integration.name);
    let payload = json!({
        "summary": change.summary,
        "source": change.source,
        "occurred_at": change.occurred_at,
        "details": change.details,
        "links": change.links,
    });
    let at = now;
    let service_event = append(
        conn,
        NewEvent {
            incident_id: None,
            service_id: Some(integration.service_id.0),
            alert_id: None,
            kind: kinds::CHANGE_RECORDED,
            actor: &actor,
            at,
            payload: Payload::from(payload.clone()),
        },
    )?;
    let open: Vec<i64> = conn
        .prepare_cached(
            "SELECT i.id FROM incidents i JOIN incident_services s ON s.incident_id = i.id \
             WHERE s.service_id = ?1 AND i.status <> 'resolved'",
        )
        .map_err(db_err)?
        .query_map([integration.service_id.0], |r| r.get(0))
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    for incident_id in open {
        append(
            conn,
            NewEvent {
                incident_id: Some(incident_id),
                service_id: Some(integration.service_id.0),
                alert_id: None,
                kind: kinds::CHANGE_RECORDED,
                actor: &actor,
                at,
                payload: Payload::from(payload.clone()),
            },
        )?;
    }
    Ok(service_event)
}

pub(crate) fn get(conn: &Connection, id: i64) -> StoreResult<Option<Alert>> {
    conn.prepare_cached(&format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?1"))
        .map_err(db_err)?
        .query_row([id], rows::alert)
        .optional()
        .map_err(db_err)
}

pub(crate) fn list(conn: &Connection, f: &AlertFilter) -> StoreResult<Page<Alert>> {
    let mut q = ListQuery::new(format!("SELECT {ALERT_COLS} FROM alerts WHERE 1=1"));
    q.and_in("status", f.statuses.iter().map(|s| s.as_str()));
    if let Some(s) = f.service_id {
        q.and("service_id = ?", s.0);
    }
    if let Some(i) = f.incident_id {
        q.and("incident_id = ?", i.0);
    }
    if let Some(sev) = f.severity {
        q.and("severity = ?", sev.as_str().to_string());
    }
    if let Some(t) = f.since {
        q.and("first_seen_at >= ?", t.as_millis());
    }
    if let Some(t) = f.until {
        q.and("first_seen_at < ?", t.as_millis());
    }
    if let Some(v) = &f.visible {
        q.and_raw(&format!(
            "service_id IN ({}) OR incident_id IN ({})",
            id_list(v.service_ids.iter().map(|s| s.0)),
            id_list(v.incident_ids.iter().map(|i| i.0))
        ));
    }
    q.fetch(conn, "id", f.page, rows::alert, |a| a.id.0)
}
