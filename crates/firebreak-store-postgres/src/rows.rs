//! Mapping between PostgreSQL rows and domain types; the column lists every query selects.
//! Times cross the wire as epoch milliseconds (`fb_ms` / `fb_ts` in the migration).

use firebreak_core::access::{Grant, GrantScope, Role, Team, TokenScope, User};
use firebreak_core::alert::{Alert, AlertStatus, Link};
use firebreak_core::audit::{AuditEntry, AuditOutcome, NewAuditEntry};
use firebreak_core::ids::{
    AlertId, AuditId, GrantId, IncidentId, IntegrationId, JobId, ServiceId, TeamId,
    TimelineEventId, TokenId, UserId,
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
    "s.id, s.name, s.description, s.auto_resolve_incidents, fb_ms(s.created_at), fb_ms(s.updated_at), s.team_id";

pub(crate) fn service(row: &Row) -> StoreResult<Service> {
    Ok(Service {
        id: ServiceId(get(row, 0)?),
        name: get(row, 1)?,
        description: get(row, 2)?,
        auto_resolve_incidents: get(row, 3)?,
        created_at: ts(row, 4)?,
        updated_at: ts(row, 5)?,
        team_id: get::<Option<i64>>(row, 6)?.map(TeamId),
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

pub(crate) const TOKEN_COLS: &str = "t.id, t.name, t.user_id, t.role, t.scopes, \
     fb_ms(t.created_at), fb_ms(t.expires_at), fb_ms(t.revoked_at), fb_ms(t.mfa_at)";

pub(crate) fn token(row: &Row) -> StoreResult<ApiToken> {
    let scopes: Vec<&str> = get(row, 4)?;
    Ok(ApiToken {
        id: TokenId(get(row, 0)?),
        name: get(row, 1)?,
        user_id: get::<Option<i64>>(row, 2)?.map(UserId),
        role: get(row, 3)?,
        scopes: scopes
            .into_iter()
            .map(|s| TokenScope::parse(s).ok_or_else(|| corrupt(4, "token scope")))
            .collect::<StoreResult<_>>()?,
        created_at: ts(row, 5)?,
        expires_at: ts_opt(row, 6)?,
        revoked_at: ts_opt(row, 7)?,
        mfa_at: ts_opt(row, 8)?,
    })
}

pub(crate) const USER_COLS: &str =
    "u.id, u.email, u.name, u.role, u.external, u.time_zone, u.disabled, \
     fb_ms(u.created_at), fb_ms(u.updated_at), \
     ARRAY(SELECT m.team_id FROM team_members m WHERE m.user_id = u.id ORDER BY m.team_id), \
     u.mfa_enabled";

/// How many columns `USER_COLS` selects; extra columns after it start at this index.
pub(crate) const USER_COL_COUNT: usize = 11;

pub(crate) fn user(row: &Row) -> StoreResult<User> {
    let teams: Vec<i64> = get(row, 9)?;
    Ok(User {
        id: UserId(get(row, 0)?),
        email: get(row, 1)?,
        name: get(row, 2)?,
        role: parsed(row, 3, Role::parse)?,
        external: get(row, 4)?,
        time_zone: get(row, 5)?,
        disabled: get(row, 6)?,
        created_at: ts(row, 7)?,
        updated_at: ts(row, 8)?,
        team_ids: teams.into_iter().map(TeamId).collect(),
        mfa_enabled: get(row, 10)?,
    })
}

pub(crate) const TEAM_COLS: &str = "t.id, t.name, fb_ms(t.created_at), fb_ms(t.updated_at), \
     ARRAY(SELECT m.user_id FROM team_members m WHERE m.team_id = t.id ORDER BY m.user_id)";

pub(crate) fn team(row: &Row) -> StoreResult<Team> {
    let members: Vec<i64> = get(row, 4)?;
    Ok(Team {
        id: TeamId(get(row, 0)?),
        name: get(row, 1)?,
        created_at: ts(row, 2)?,
        updated_at: ts(row, 3)?,
        member_ids: members.into_iter().map(UserId).collect(),
    })
}

pub(crate) const GRANT_COLS: &str = "g.id, g.user_id, g.role, g.scope_kind, g.scope_ids, \
     fb_ms(g.expires_at), fb_ms(g.created_at), fb_ms(g.revoked_at)";

pub(crate) fn grant(row: &Row) -> StoreResult<Grant> {
    let kind: &str = get(row, 3)?;
    let ids: Vec<i64> = get(row, 4)?;
    let scope = match kind {
        "services" => GrantScope::Services(ids.into_iter().map(ServiceId).collect()),
        "incidents" => GrantScope::Incidents(ids.into_iter().map(IncidentId).collect()),
        _ => return Err(corrupt(3, "grant scope")),
    };
    Ok(Grant {
        id: GrantId(get(row, 0)?),
        user_id: UserId(get(row, 1)?),
        role: parsed(row, 2, Role::parse)?,
        scope,
        expires_at: ts(row, 5)?,
        created_at: ts(row, 6)?,
        revoked_at: ts_opt(row, 7)?,
    })
}

pub(crate) const AUDIT_COLS: &str = "l.id, fb_ms(l.at), l.actor_kind, l.actor_id, l.actor_name, l.action, \
     l.object_kind, l.object_id, l.outcome, l.ip, l.user_agent, l.detail, l.before, l.after, l.prev_hash, l.hash";

/// A JSON value stored as text (its exact serde_json serialisation).
fn json_text(row: &Row, col: usize) -> StoreResult<serde_json::Value> {
    let text: &str = get(row, col)?;
    serde_json::from_str(text).map_err(|_| corrupt(col, "JSON"))
}

pub(crate) fn audit(row: &Row) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: AuditId(get(row, 0)?),
        entry: NewAuditEntry {
            at: ts(row, 1)?,
            actor: Actor {
                kind: parsed(row, 2, ActorKind::parse)?,
                id: get(row, 3)?,
                name: get(row, 4)?,
            },
            action: get(row, 5)?,
            object_kind: get(row, 6)?,
            object_id: get(row, 7)?,
            outcome: parsed(row, 8, AuditOutcome::parse)?,
            ip: get(row, 9)?,
            user_agent: get(row, 10)?,
            detail: json_text(row, 11)?,
            before: json_text(row, 12)?,
            after: json_text(row, 13)?,
        },
        prev_hash: get(row, 14)?,
        hash: get(row, 15)?,
    })
}

/// The service ids and incident ids of a visibility filter, as query parameters.
pub(crate) fn visible_ids(v: &firebreak_core::access::Visibility) -> (Vec<i64>, Vec<i64>) {
    (
        v.service_ids.iter().map(|s| s.0).collect(),
        v.incident_ids.iter().map(|i| i.0).collect(),
    )
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
