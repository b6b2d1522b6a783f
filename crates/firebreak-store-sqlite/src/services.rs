//! Services and integrations: create, read, update, retire. Configuration changes are recorded on
//! the service timeline.

use crate::list_query::ListQuery;
use crate::rows::{self, db_err, INTEGRATION_COLS, SERVICE_COLS};
use crate::timeline::{append, NewEvent, Payload};
use firebreak_core::access::Visibility;
use firebreak_core::ids::TeamId;
use firebreak_core::service::{
    Integration, IntegrationPatch, NewIntegration, NewService, Service, ServicePatch,
};
use firebreak_core::store::{Page, PageRequest, StoreError, StoreResult};
use firebreak_core::timeline::{kinds, Actor};
use firebreak_core::timestamp::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;

fn service_event(
    conn: &Connection,
    service_id: i64,
    kind: &str,
    actor: &Actor,
    now: Timestamp,
    payload: serde_json::Value,
) -> StoreResult<()> {
    append(
        conn,
        NewEvent {
            incident_id: None,
            service_id: Some(service_id),
            alert_id: None,
            kind,
            actor,
            at: now,
            payload: Payload::from(payload),
        },
    )?;
    Ok(())
}

pub(crate) fn create(
    conn: &Connection,
    new: &NewService,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<i64> {
    require_team(conn, new.team_id)?;
    conn.prepare_cached(
        "INSERT INTO services (name, description, auto_resolve_incidents, team_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )
    .map_err(db_err)?
    .execute((&new.name, &new.description, new.auto_resolve_incidents, new.team_id.map(|t| t.0), now.as_millis()))
    .map_err(db_err)?;
    let id = conn.last_insert_rowid();
    service_event(
        conn,
        id,
        kinds::SERVICE_CREATED,
        actor,
        now,
        json!({"name": new.name}),
    )?;
    Ok(id)
}

pub(crate) fn get(conn: &Connection, id: i64) -> StoreResult<Option<Service>> {
    conn.prepare_cached(&format!(
        "SELECT {SERVICE_COLS} FROM services WHERE id = ?1 AND deleted_at IS NULL"
    ))
    .map_err(db_err)?
    .query_row([id], rows::service)
    .optional()
    .map_err(db_err)
}

pub(crate) fn list(
    conn: &Connection,
    page: PageRequest,
    visible: Option<&Visibility>,
) -> StoreResult<Page<Service>> {
    let mut q = ListQuery::new(format!(
        "SELECT {SERVICE_COLS} FROM services WHERE deleted_at IS NULL"
    ));
    if let Some(v) = visible {
        q.and_in_ids("id", v.service_ids.iter().map(|s| s.0));
    }
    q.fetch(conn, "id", page, rows::service, |s| s.id.0)
}

fn require_team(conn: &Connection, team: Option<TeamId>) -> StoreResult<()> {
    let Some(t) = team else { return Ok(()) };
    let known: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM teams WHERE id = ?1)")
        .map_err(db_err)?
        .query_row([t.0], |r| r.get(0))
        .map_err(db_err)?;
    if known {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("team {t}")))
    }
}

pub(crate) fn update(
    conn: &Connection,
    id: i64,
    patch: &ServicePatch,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<Option<Service>> {
    let Some(before) = get(conn, id)? else {
        return Ok(None);
    };
    let name = patch.name.clone().unwrap_or(before.name.clone());
    let description = patch
        .description
        .clone()
        .unwrap_or(before.description.clone());
    let auto = patch
        .auto_resolve_incidents
        .unwrap_or(before.auto_resolve_incidents);
    let team = patch.team_id.unwrap_or(before.team_id);
    require_team(conn, team)?;
    conn.prepare_cached("UPDATE services SET name = ?2, description = ?3, auto_resolve_incidents = ?4, team_id = ?5, updated_at = ?6 WHERE id = ?1")
        .map_err(db_err)?
        .execute((id, &name, &description, auto, team.map(|t| t.0), now.as_millis()))
        .map_err(db_err)?;
    let after = get(conn, id)?;
    service_event(
        conn,
        id,
        kinds::SERVICE_UPDATED,
        actor,
        now,
        json!({"before": before, "after": after}),
    )?;
    Ok(after)
}

pub(crate) fn delete(
    conn: &Connection,
    id: i64,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached("UPDATE services SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1 AND deleted_at IS NULL")
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    if changed == 0 {
        return Ok(false);
    }
    conn.prepare_cached("UPDATE integrations SET deleted_at = ?2, updated_at = ?2 WHERE service_id = ?1 AND deleted_at IS NULL")
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    service_event(conn, id, kinds::SERVICE_DELETED, actor, now, json!({}))?;
    Ok(true)
}

pub(crate) fn create_integration(
    conn: &Connection,
    service_id: i64,
    new: &NewIntegration,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<i64> {
    if get(conn, service_id)?.is_none() {
        return Err(StoreError::NotFound(format!("service {service_id}")));
    }
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM integrations WHERE key = ?1)")
        .map_err(db_err)?
        .query_row([&new.key], |r| r.get(0))
        .map_err(db_err)?;
    if taken {
        return Err(StoreError::Conflict(
            "an integration with this key exists already; choose another key or omit it".into(),
        ));
    }
    conn.prepare_cached(
        "INSERT INTO integrations (service_id, kind, name, key, severity_override, auto_resolve_after_ms, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )
    .map_err(db_err)?
    .execute((
        service_id,
        new.kind.as_str(),
        &new.name,
        &new.key,
        new.severity_override.map(|s| s.as_str()),
        new.auto_resolve_after.map(|d| d.as_millis()),
        now.as_millis(),
    ))
    .map_err(db_err)?;
    let id = conn.last_insert_rowid();
    service_event(
        conn,
        service_id,
        kinds::INTEGRATION_CREATED,
        actor,
        now,
        json!({"integration_id": id.to_string(), "kind": new.kind, "name": new.name}),
    )?;
    Ok(id)
}

const LIVE_INTEGRATION: &str =
    "deleted_at IS NULL AND service_id IN (SELECT id FROM services WHERE deleted_at IS NULL)";

pub(crate) fn get_integration(conn: &Connection, id: i64) -> StoreResult<Option<Integration>> {
    conn.prepare_cached(&format!(
        "SELECT {INTEGRATION_COLS} FROM integrations WHERE id = ?1 AND {LIVE_INTEGRATION}"
    ))
    .map_err(db_err)?
    .query_row([id], rows::integration)
    .optional()
    .map_err(db_err)
}

pub(crate) fn integration_by_key(conn: &Connection, key: &str) -> StoreResult<Option<Integration>> {
    conn.prepare_cached(&format!(
        "SELECT {INTEGRATION_COLS} FROM integrations WHERE key = ?1 AND {LIVE_INTEGRATION}"
    ))
    .map_err(db_err)?
    .query_row([key], rows::integration)
    .optional()
    .map_err(db_err)
}

pub(crate) fn list_integrations(
    conn: &Connection,
    service_id: i64,
) -> StoreResult<Vec<Integration>> {
    conn.prepare_cached(&format!("SELECT {INTEGRATION_COLS} FROM integrations WHERE service_id = ?1 AND {LIVE_INTEGRATION} ORDER BY id"))
        .map_err(db_err)?
        .query_map([service_id], rows::integration)
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)
}

pub(crate) fn update_integration(
    conn: &Connection,
    id: i64,
    patch: &IntegrationPatch,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<Option<Integration>> {
    let Some(before) = get_integration(conn, id)? else {
        return Ok(None);
    };
    let name = patch.name.clone().unwrap_or(before.name.clone());
    let severity = patch.severity_override.unwrap_or(before.severity_override);
    let after_ms = patch
        .auto_resolve_after
        .unwrap_or(before.auto_resolve_after);
    let key = patch.key.clone().unwrap_or(before.key.clone());
    if key != before.key {
        let taken: bool = conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM integrations WHERE key = ?1)")
            .map_err(db_err)?
            .query_row([&key], |r| r.get(0))
            .map_err(db_err)?;
        if taken {
            return Err(StoreError::Conflict(
                "an integration with this key exists already".into(),
            ));
        }
    }
    conn.prepare_cached("UPDATE integrations SET name = ?2, severity_override = ?3, auto_resolve_after_ms = ?4, key = ?5, updated_at = ?6 WHERE id = ?1")
        .map_err(db_err)?
        .execute((id, &name, severity.map(|s| s.as_str()), after_ms.map(|d| d.as_millis()), &key, now.as_millis()))
        .map_err(db_err)?;
    let after = get_integration(conn, id)?;
    service_event(
        conn,
        before.service_id.0,
        kinds::INTEGRATION_UPDATED,
        actor,
        now,
        json!({"integration_id": id.to_string(), "before": redact(&before), "after": after.as_ref().map(redact)}),
    )?;
    Ok(after)
}

pub(crate) fn delete_integration(
    conn: &Connection,
    id: i64,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<bool> {
    let Some(before) = get_integration(conn, id)? else {
        return Ok(false);
    };
    conn.prepare_cached("UPDATE integrations SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1")
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    service_event(
        conn,
        before.service_id.0,
        kinds::INTEGRATION_DELETED,
        actor,
        now,
        json!({"integration_id": id.to_string(), "name": before.name}),
    )?;
    Ok(true)
}

/// An integration as recorded in history: without its secret key.
fn redact(i: &Integration) -> serde_json::Value {
    json!({"name": i.name, "kind": i.kind, "severity_override": i.severity_override, "auto_resolve_after": i.auto_resolve_after})
}
