//! Mapping between PostgreSQL rows and domain types; the column lists every query selects.
//! Times cross the wire as epoch milliseconds (`fb_ms` / `fb_ts` in the migration).

use firebreak_core::alert::{Alert, AlertStatus, Link};
use firebreak_core::ids::{
    AlertId, IncidentId, IntegrationId, JobId, ServiceId, TimelineEventId, TokenId,
};
use firebreak_core::incident::{Incident, IncidentStatus};
use firebreak_core::jobs::{Job, JobKind};
use firebreak_core::service::{Integration, IntegrationKind, Service};
use firebreak_core::severity::{AlertSeverity, IncidentSeverity, Urgency};
use firebreak_core::store::{StoreError, StoreResult};
use firebreak_core::timeline::{Actor, ActorKind, TimelineEvent, Visibility};
use firebreak_core::timestamp::{DurationMs, Timestamp};
use firebreak_core::token::ApiToken;
use std::collections::BTreeMap;
use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

fn corrupt(col: usize, what: &str) -> StoreError {
    StoreError::Internal(format!("unexpected {what} in column {col}"))
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, col: usize) -> StoreResult<T> {
    row.try_get(col)
        .map_err(|e| StoreError::Internal(format!("column {col}: {e}")))
}

fn ts(row: &Row, col: usize) -> StoreResult<Timestamp> {
    get::<i64>(row, col).map(Timestamp::from_millis)
}

fn ts_opt(row: &Row, col: usize) -> StoreResult<Option<Timestamp>> {
    Ok(get::<Option<i64>>(row, col)?.map(Timestamp::from_millis))
}

fn json<T: serde::de::DeserializeOwned>(row: &Row, col: usize) -> StoreResult<T> {
    let value: serde_json::Value = get(row, col)?;
    serde_json::from_value(value).map_err(|_| corrupt(col, "JSON"))
}

fn parsed<T>(row: &Row, col: usize, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    let text: &str = get(row, col)?;
    parse(text).ok_or_else(|| corrupt(col, "enum value"))
}

pub(crate) const SERVICE_COLS: &str =
    "s.id, s.name, s.description, s.auto_resolve_incidents, fb_ms(s.created_at), fb_ms(s.updated_at)";

pub(crate) fn service(row: &Row) -> StoreResult<Service> {
    Ok(Service {
        id: ServiceId(get(row, 0)?),
        name: get(row, 1)?,
        description: get(row, 2)?,
        auto_resolve_incidents: get(row, 3)?,
        created_at: ts(row, 4)?,
        updated_at: ts(row, 5)?,
    })
}

pub(crate) const INTEGRATION_COLS: &str =
    "i.id, i.service_id, i.kind, i.name, i.key, i.severity_override, \
     i.auto_resolve_after_ms, fb_ms(i.created_at), fb_ms(i.updated_at)";

pub(crate) fn integration(row: &Row) -> StoreResult<Integration> {
    let sev: Option<&str> = get(row, 5)?;
    Ok(Integration {
        id: IntegrationId(get(row, 0)?),
        service_id: ServiceId(get(row, 1)?),
        kind: parsed(row, 2, IntegrationKind::parse)?,
        name: get(row, 3)?,
        key: get(row, 4)?,
        severity_override: match sev {
            Some(s) => Some(IncidentSeverity::parse(s).ok_or_else(|| corrupt(5, "severity"))?),
            None => None,
        },
        auto_resolve_after: get::<Option<i64>>(row, 6)?.map(DurationMs::from_millis),
        created_at: ts(row, 7)?,
        updated_at: ts(row, 8)?,
    })
}

pub(crate) const ALERT_COLS: &str = "a.id, a.service_id, a.integration_id, a.incident_id, a.dedup_key, a.status, \
     a.severity, a.summary, a.source, a.labels, a.details, a.links, a.group_key, a.count, fb_ms(a.first_seen_at), \
     fb_ms(a.last_seen_at), fb_ms(a.acknowledged_at), fb_ms(a.resolved_at)";

pub(crate) fn alert(row: &Row) -> StoreResult<Alert> {
    Ok(Alert {
        id: AlertId(get(row, 0)?),
        service_id: ServiceId(get(row, 1)?),
        integration_id: IntegrationId(get(row, 2)?),
        incident_id: get::<Option<i64>>(row, 3)?.map(IncidentId),
        dedup_key: get(row, 4)?,
        status: parsed(row, 5, AlertStatus::parse)?,
        severity: parsed(row, 6, AlertSeverity::parse)?,
        summary: get(row, 7)?,
        source: get(row, 8)?,
        labels: json::<BTreeMap<String, String>>(row, 9)?,
        details: get(row, 10)?,
        links: json::<Vec<Link>>(row, 11)?,
        group_key: get(row, 12)?,
        count: get(row, 13)?,
        first_seen_at: ts(row, 14)?,
        last_seen_at: ts(row, 15)?,
        acknowledged_at: ts_opt(row, 16)?,
        resolved_at: ts_opt(row, 17)?,
    })
}

pub(crate) const INCIDENT_COLS: &str = "i.id, i.number, i.title, i.status, i.severity, i.urgency, \
     ARRAY(SELECT x.service_id FROM incident_services x WHERE x.incident_id = i.id ORDER BY x.service_id), \
     i.alert_count, i.open_alert_count, fb_ms(i.detected_at), fb_ms(i.acknowledged_at), fb_ms(i.resolved_at), \
     fb_ms(i.created_at), fb_ms(i.updated_at)";

pub(crate) fn incident(row: &Row) -> StoreResult<Incident> {
    let services: Vec<i64> = get(row, 6)?;
    Ok(Incident {
        id: IncidentId(get(row, 0)?),
        number: get(row, 1)?,
        title: get(row, 2)?,
        status: parsed(row, 3, IncidentStatus::parse)?,
        severity: parsed(row, 4, IncidentSeverity::parse)?,
        urgency: parsed(row, 5, Urgency::parse)?,
        service_ids: services.into_iter().map(ServiceId).collect(),
        alert_count: get(row, 7)?,
        open_alert_count: get(row, 8)?,
        detected_at: ts(row, 9)?,
        acknowledged_at: ts_opt(row, 10)?,
        resolved_at: ts_opt(row, 11)?,
        created_at: ts(row, 12)?,
        updated_at: ts(row, 13)?,
    })
}

pub(crate) const EVENT_COLS: &str =
    "e.id, e.incident_id, e.service_id, e.alert_id, e.kind, e.actor_kind, e.actor_id, \
     e.actor_name, fb_ms(e.at), e.payload, e.visibility, e.pinned";

pub(crate) fn event(row: &Row) -> StoreResult<TimelineEvent> {
    Ok(TimelineEvent {
        id: TimelineEventId(get(row, 0)?),
        incident_id: get::<Option<i64>>(row, 1)?.map(IncidentId),
        service_id: get::<Option<i64>>(row, 2)?.map(ServiceId),
        alert_id: get::<Option<i64>>(row, 3)?.map(AlertId),
        kind: get(row, 4)?,
        actor: Actor {
            kind: parsed(row, 5, ActorKind::parse)?,
            id: get(row, 6)?,
            name: get(row, 7)?,
        },
        at: ts(row, 8)?,
        payload: get(row, 9)?,
        visibility: parsed(row, 10, |s| match s {
            "public" => Some(Visibility::Public),
            "internal" => Some(Visibility::Internal),
            _ => None,
        })?,
        pinned: get(row, 11)?,
    })
}

pub(crate) const JOB_COLS: &str = "id, payload, fb_ms(run_at), attempts, fb_ms(locked_until)";

pub(crate) fn job(row: &Row) -> StoreResult<Job> {
    Ok(Job {
        id: JobId(get(row, 0)?),
        kind: json::<JobKind>(row, 1)?,
        run_at: ts(row, 2)?,
        attempts: get(row, 3)?,
        locked_until: ts_opt(row, 4)?,
    })
}

pub(crate) const TOKEN_COLS: &str =
    "t.id, t.name, t.role, fb_ms(t.created_at), fb_ms(t.expires_at)";

pub(crate) fn token(row: &Row) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: TokenId(get(row, 0)?),
        name: get(row, 1)?,
        role: get(row, 2)?,
        created_at: ts(row, 3)?,
        expires_at: ts_opt(row, 4)?,
    })
}

/// Converts every row, stopping at the first that does not fit.
pub(crate) fn all<T>(rows: &[Row], f: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}

/// A page limit within the documented bounds.
pub(crate) fn limit(requested: u32) -> u32 {
    requested.clamp(1, firebreak_core::store::PageRequest::MAX_LIMIT)
}

/// A query with optional filters: each clause's `?` becomes the next `$n` placeholder.
pub(crate) struct Filtered<'a> {
    pub sql: String,
    pub args: Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)>,
}

impl<'a> Filtered<'a> {
    pub(crate) fn new(sql: String) -> Self {
        Filtered {
            sql,
            args: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        clause: &str,
        arg: &'a (dyn tokio_postgres::types::ToSql + Sync),
    ) {
        self.args.push(arg);
        self.sql
            .push_str(&clause.replace('?', &format!("${}", self.args.len())));
    }
}
