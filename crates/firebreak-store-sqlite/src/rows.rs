//! Mapping between SQLite rows and domain types; the column lists every query selects.

use firebreak_core::access::TokenScope;
use firebreak_core::alert::{Alert, AlertStatus, Link};
use firebreak_core::ids::*;
use firebreak_core::incident::{Incident, IncidentStatus};
use firebreak_core::jobs::{Job, JobKind};
use firebreak_core::service::{Integration, IntegrationKind, Service};
use firebreak_core::severity::{AlertSeverity, IncidentSeverity, Urgency};
use firebreak_core::store::StoreError;
use firebreak_core::timeline::{Actor, ActorKind, TimelineEvent, Visibility};
use firebreak_core::timestamp::{DurationMs, Timestamp};
use firebreak_core::token::ApiToken;
use rusqlite::types::Type;
use rusqlite::Row;
use std::collections::BTreeMap;

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, format!("unexpected {what}").into())
}

fn ts(row: &Row, col: usize) -> rusqlite::Result<Timestamp> {
    row.get::<_, i64>(col).map(Timestamp::from_millis)
}

fn ts_opt(row: &Row, col: usize) -> rusqlite::Result<Option<Timestamp>> {
    Ok(row.get::<_, Option<i64>>(col)?.map(Timestamp::from_millis))
}

fn json<T: serde::de::DeserializeOwned>(row: &Row, col: usize) -> rusqlite::Result<T> {
    let text: String = row.get(col)?;
    serde_json::from_str(&text).map_err(|_| bad(col, "JSON"))
}

fn parsed<T>(row: &Row, col: usize, parse: impl Fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(col)?;
    parse(&text).ok_or_else(|| bad(col, "enum value"))
}

pub(crate) const SERVICE_COLS: &str =
    "id, name, description, auto_resolve_incidents, created_at, updated_at, team_id";

pub(crate) fn service(row: &Row) -> rusqlite::Result<Service> {
    Ok(Service {
        id: ServiceId(row.get(0)?),
        name: row.get(1)?,
        description: row.get(2)?,
        auto_resolve_incidents: row.get(3)?,
        created_at: ts(row, 4)?,
        updated_at: ts(row, 5)?,
        team_id: row.get::<_, Option<i64>>(6)?.map(TeamId),
    })
}

pub(crate) const INTEGRATION_COLS: &str = "id, service_id, kind, name, key, severity_override, auto_resolve_after_ms, created_at, updated_at";

pub(crate) fn integration(row: &Row) -> rusqlite::Result<Integration> {
    let sev: Option<String> = row.get(5)?;
    Ok(Integration {
        id: IntegrationId(row.get(0)?),
        service_id: ServiceId(row.get(1)?),
        kind: parsed(row, 2, IntegrationKind::parse)?,
        name: row.get(3)?,
        key: row.get(4)?,
        severity_override: match sev {
            Some(s) => Some(IncidentSeverity::parse(&s).ok_or_else(|| bad(5, "severity"))?),
            None => None,
        },
        auto_resolve_after: row.get::<_, Option<i64>>(6)?.map(DurationMs::from_millis),
        created_at: ts(row, 7)?,
        updated_at: ts(row, 8)?,
    })
}

pub(crate) const ALERT_COLS: &str = "id, service_id, integration_id, incident_id, dedup_key, status, severity, summary, source, labels, details, links, group_key, count, first_seen_at, last_seen_at, acknowledged_at, resolved_at";

pub(crate) fn alert(row: &Row) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: AlertId(row.get(0)?),
        service_id: ServiceId(row.get(1)?),
        integration_id: IntegrationId(row.get(2)?),
        incident_id: row.get::<_, Option<i64>>(3)?.map(IncidentId),
        dedup_key: row.get(4)?,
        status: parsed(row, 5, AlertStatus::parse)?,
        severity: parsed(row, 6, AlertSeverity::parse)?,
        summary: row.get(7)?,
        source: row.get(8)?,
        labels: json::<BTreeMap<String, String>>(row, 9)?,
        details: json(row, 10)?,
        links: json::<Vec<Link>>(row, 11)?,
        group_key: row.get(12)?,
        count: row.get(13)?,
        first_seen_at: ts(row, 14)?,
        last_seen_at: ts(row, 15)?,
        acknowledged_at: ts_opt(row, 16)?,
        resolved_at: ts_opt(row, 17)?,
    })
}

pub(crate) const INCIDENT_COLS: &str = "i.id, i.number, i.title, i.status, i.severity, i.urgency, \
     (SELECT group_concat(service_id) FROM incident_services s WHERE s.incident_id = i.id), \
     i.alert_count, i.open_alert_count, i.detected_at, i.acknowledged_at, i.resolved_at, i.created_at, i.updated_at";

pub(crate) fn incident(row: &Row) -> rusqlite::Result<Incident> {
    let services: Option<String> = row.get(6)?;
    let mut service_ids = Vec::new();
    for part in services
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|p| !p.is_empty())
    {
        service_ids.push(ServiceId(part.parse().map_err(|_| bad(6, "service id"))?));
    }
    service_ids.sort();
    Ok(Incident {
        id: IncidentId(row.get(0)?),
        number: row.get(1)?,
        title: row.get(2)?,
        status: parsed(row, 3, IncidentStatus::parse)?,
        severity: parsed(row, 4, IncidentSeverity::parse)?,
        urgency: parsed(row, 5, Urgency::parse)?,
        service_ids,
        alert_count: row.get(7)?,
        open_alert_count: row.get(8)?,
        detected_at: ts(row, 9)?,
        acknowledged_at: ts_opt(row, 10)?,
        resolved_at: ts_opt(row, 11)?,
        created_at: ts(row, 12)?,
        updated_at: ts(row, 13)?,
    })
}

pub(crate) const EVENT_COLS: &str = "id, incident_id, service_id, alert_id, kind, actor_kind, actor_id, actor_name, at, payload, visibility, pinned";

pub(crate) fn event(row: &Row) -> rusqlite::Result<TimelineEvent> {
    Ok(TimelineEvent {
        id: TimelineEventId(row.get(0)?),
        incident_id: row.get::<_, Option<i64>>(1)?.map(IncidentId),
        service_id: row.get::<_, Option<i64>>(2)?.map(ServiceId),
        alert_id: row.get::<_, Option<i64>>(3)?.map(AlertId),
        kind: row.get(4)?,
        actor: Actor {
            kind: parsed(row, 5, ActorKind::parse)?,
            id: row.get(6)?,
            name: row.get(7)?,
        },
        at: ts(row, 8)?,
        payload: json(row, 9)?,
        visibility: parsed(row, 10, |s| match s {
            "public" => Some(Visibility::Public),
            "internal" => Some(Visibility::Internal),
            _ => None,
        })?,
        pinned: row.get(11)?,
    })
}

pub(crate) const JOB_COLS: &str = "id, payload, run_at, attempts, locked_until";

pub(crate) fn job(row: &Row) -> rusqlite::Result<Job> {
    Ok(Job {
        id: JobId(row.get(0)?),
        kind: json::<JobKind>(row, 1)?,
        run_at: ts(row, 2)?,
        attempts: row.get(3)?,
        locked_until: ts_opt(row, 4)?,
    })
}

pub(crate) const TOKEN_COLS: &str =
    "id, name, role, created_at, expires_at, user_id, scopes, revoked_at, mfa_at";

pub(crate) fn token(row: &Row) -> rusqlite::Result<ApiToken> {
    let scopes: Vec<String> = json(row, 6)?;
    Ok(ApiToken {
        id: TokenId(row.get(0)?),
        name: row.get(1)?,
        role: row.get(2)?,
        created_at: ts(row, 3)?,
        expires_at: ts_opt(row, 4)?,
        user_id: row.get::<_, Option<i64>>(5)?.map(UserId),
        scopes: scopes.iter().filter_map(|s| TokenScope::parse(s)).collect(),
        revoked_at: ts_opt(row, 7)?,
        mfa_at: ts_opt(row, 8)?,
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
