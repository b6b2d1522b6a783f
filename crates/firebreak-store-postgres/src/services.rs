//! Services and integrations: create, read, update, retire. Configuration changes are recorded on
//! the service timeline, each while holding the service's row lock (taken before the event's id
//! is drawn, see `timeline::append`); lock order: service, then integration.

use crate::error::Attempt;
use crate::rows::{self, INTEGRATION_COLS, SERVICE_COLS};
use crate::timeline::{append, NewEvent};
use deadpool_postgres::{Pool, Transaction};
use firebreak_core::access::Visibility;
use firebreak_core::ids::TeamId;
use firebreak_core::service::{
    Integration, IntegrationPatch, NewIntegration, NewService, Service, ServicePatch,
};
use firebreak_core::store::{Page, PageRequest, StoreError};
use firebreak_core::timeline::{kinds, Actor};
use firebreak_core::timestamp::Timestamp;
use serde_json::json;

async fn service_event(
    tx: &Transaction<'_>,
    service_id: i64,
    kind: &str,
    actor: &Actor,
    now: Timestamp,
    payload: serde_json::Value,
) -> Attempt<()> {
    append(
        tx,
        NewEvent {
            incident_id: None,
            service_id: Some(service_id),
            alert_id: None,
            kind,
            actor,
            at: now,
            payload,
        },
    )
    .await?;
    Ok(())
}

/// `NotFound` unless the team exists. (Teams are never deleted, so the answer stays true until
/// commit; the foreign key backs it up.)
async fn require_team(tx: &Transaction<'_>, team_id: Option<TeamId>) -> Attempt<()> {
    let Some(team) = team_id else {
        return Ok(());
    };
    let stmt = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)")
        .await?;
    let exists: bool = tx.query_one(&stmt, &[&team.0]).await?.try_get(0)?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("team {team}")).into())
    }
}

pub(crate) async fn create(
    pool: &Pool,
    new: &NewService,
    actor: &Actor,
    now: Timestamp,
) -> Attempt<Service> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    require_team(&tx, new.team_id).await?;
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO services AS s (name, description, auto_resolve_incidents, team_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, fb_ts($5), fb_ts($5)) RETURNING {SERVICE_COLS}"
        ))
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &new.name,
                &new.description,
                &new.auto_resolve_incidents,
                &new.team_id.map(|t| t.0),
                &now.as_millis(),
            ],
        )
        .await?;
    let service = rows::service(&row)?;
    service_event(
        &tx,
        service.id.0,
        kinds::SERVICE_CREATED,
        actor,
        now,
        json!({"name": new.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(service)
}

async fn get_in(tx: &Transaction<'_>, id: i64, lock: bool) -> Attempt<Option<Service>> {
    let sql = format!(
        "SELECT {SERVICE_COLS} FROM services s WHERE s.id = $1 AND s.deleted_at IS NULL{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let stmt = tx.prepare_cached(&sql).await?;
    match tx.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::service(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn get(pool: &Pool, id: i64) -> Attempt<Option<Service>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {SERVICE_COLS} FROM services s WHERE s.id = $1 AND s.deleted_at IS NULL"
        ))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::service(&row)?)),
        None => Ok(None),
    }
}

/// Newest first; only the services in `visible` when given.
pub(crate) async fn list(
    pool: &Pool,
    page: PageRequest,
    visible: Option<&Visibility>,
) -> Attempt<Page<Service>> {
    let limit = rows::limit(page.limit);
    let fetch = i64::from(limit) + 1;
    let visible: Option<Vec<i64>> = visible.map(|v| v.service_ids.iter().map(|s| s.0).collect());
    let mut q = rows::Filtered::new(format!(
        "SELECT {SERVICE_COLS} FROM services s WHERE s.deleted_at IS NULL"
    ));
    if let Some(ids) = &visible {
        q.push(" AND s.id = ANY(?)", ids);
    }
    if let Some(c) = &page.cursor {
        q.push(" AND s.id < ?", c);
    }
    q.push(" ORDER BY s.id DESC LIMIT ?", &fetch);
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let found = client.query(&stmt, &q.args).await?;
    Ok(Page::from_rows(
        rows::all(&found, rows::service)?,
        limit,
        |s| s.id.0,
    ))
}

pub(crate) async fn update(
    pool: &Pool,
    id: i64,
    patch: &ServicePatch,
    actor: &Actor,
    now: Timestamp,
) -> Attempt<Option<Service>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(before) = get_in(&tx, id, true).await? else {
        return Ok(None);
    };
    let name = patch.name.as_ref().unwrap_or(&before.name);
    let description = patch.description.as_ref().unwrap_or(&before.description);
    let auto = patch
        .auto_resolve_incidents
        .unwrap_or(before.auto_resolve_incidents);
    let team = patch.team_id.unwrap_or(before.team_id);
    if patch.team_id.is_some() {
        require_team(&tx, team).await?;
    }
    let stmt = tx
        .prepare_cached(&format!(
            "UPDATE services AS s SET name = $2, description = $3, auto_resolve_incidents = $4, team_id = $5, \
             updated_at = fb_ts($6) WHERE s.id = $1 RETURNING {SERVICE_COLS}"
        ))
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &id,
                name,
                description,
                &auto,
                &team.map(|t| t.0),
                &now.as_millis(),
            ],
        )
        .await?;
    let after = rows::service(&row)?;
    service_event(
        &tx,
        id,
        kinds::SERVICE_UPDATED,
        actor,
        now,
        json!({"before": before, "after": after}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(after))
}

pub(crate) async fn delete(pool: &Pool, id: i64, actor: &Actor, now: Timestamp) -> Attempt<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "UPDATE services SET deleted_at = fb_ts($2), updated_at = fb_ts($2) WHERE id = $1 AND deleted_at IS NULL",
        )
        .await?;
    if tx.execute(&stmt, &[&id, &now.as_millis()]).await? == 0 {
        return Ok(false);
    }
    let stmt = tx
        .prepare_cached(
            "UPDATE integrations SET deleted_at = fb_ts($2), updated_at = fb_ts($2) WHERE service_id = $1 AND deleted_at IS NULL",
        )
        .await?;
    tx.execute(&stmt, &[&id, &now.as_millis()]).await?;
    service_event(&tx, id, kinds::SERVICE_DELETED, actor, now, json!({})).await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn create_integration(
    pool: &Pool,
    service_id: i64,
    new: &NewIntegration,
    actor: &Actor,
    now: Timestamp,
) -> Attempt<Integration> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // FOR NO KEY UPDATE, not FOR SHARE: it also serialises the service-timeline append below.
    let stmt = tx
        .prepare_cached(
            "SELECT 1 FROM services WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE",
        )
        .await?;
    if tx.query_opt(&stmt, &[&service_id]).await?.is_none() {
        return Err(StoreError::NotFound(format!("service {service_id}")).into());
    }
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO integrations AS i (service_id, kind, name, key, severity_override, auto_resolve_after_ms, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, fb_ts($7), fb_ts($7)) ON CONFLICT (key) DO NOTHING RETURNING {INTEGRATION_COLS}"
        ))
        .await?;
    let row = tx
        .query_opt(
            &stmt,
            &[
                &service_id,
                &new.kind.as_str(),
                &new.name,
                &new.key,
                &new.severity_override.map(|s| s.as_str()),
                &new.auto_resolve_after.map(|d| d.as_millis()),
                &now.as_millis(),
            ],
        )
        .await?;
    let Some(row) = row else {
        return Err(StoreError::Conflict(
            "an integration with this key exists already; choose another key or omit it".into(),
        )
        .into());
    };
    let integration = rows::integration(&row)?;
    service_event(
        &tx,
        service_id,
        kinds::INTEGRATION_CREATED,
        actor,
        now,
        json!({"integration_id": integration.id.to_string(), "kind": new.kind, "name": new.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(integration)
}

const LIVE_INTEGRATION: &str =
    "i.deleted_at IS NULL AND EXISTS (SELECT 1 FROM services s WHERE s.id = i.service_id AND s.deleted_at IS NULL)";

pub(crate) async fn get_integration(pool: &Pool, id: i64) -> Attempt<Option<Integration>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {INTEGRATION_COLS} FROM integrations i WHERE i.id = $1 AND {LIVE_INTEGRATION}"
        ))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::integration(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn integration_by_key(pool: &Pool, key: &str) -> Attempt<Option<Integration>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {INTEGRATION_COLS} FROM integrations i WHERE i.key = $1 AND {LIVE_INTEGRATION}"
        ))
        .await?;
    match client.query_opt(&stmt, &[&key]).await? {
        Some(row) => Ok(Some(rows::integration(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn list_integrations(pool: &Pool, service_id: i64) -> Attempt<Vec<Integration>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {INTEGRATION_COLS} FROM integrations i WHERE i.service_id = $1 AND {LIVE_INTEGRATION} ORDER BY i.id"
        ))
        .await?;
    let found = client.query(&stmt, &[&service_id]).await?;
    Ok(rows::all(&found, rows::integration)?)
}

/// Locks a live integration for a change, after its service (the lock that serialises the
/// service timeline the change is recorded on, taken first as everywhere else). An integration
/// never moves to another service, so the unlocked read of its service id stays true.
async fn integration_for_update(tx: &Transaction<'_>, id: i64) -> Attempt<Option<Integration>> {
    let stmt = tx
        .prepare_cached("SELECT service_id FROM integrations WHERE id = $1")
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&id]).await? else {
        return Ok(None);
    };
    crate::timeline::lock_service(tx, row.try_get(0)?).await?;
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {INTEGRATION_COLS} FROM integrations i WHERE i.id = $1 AND {LIVE_INTEGRATION} FOR UPDATE OF i"
        ))
        .await?;
    match tx.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::integration(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn update_integration(
    pool: &Pool,
    id: i64,
    patch: &IntegrationPatch,
    actor: &Actor,
    now: Timestamp,
) -> Attempt<Option<Integration>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(before) = integration_for_update(&tx, id).await? else {
        return Ok(None);
    };
    let name = patch.name.as_ref().unwrap_or(&before.name);
    let severity = patch.severity_override.unwrap_or(before.severity_override);
    let after_ms = patch
        .auto_resolve_after
        .unwrap_or(before.auto_resolve_after);
    let key = patch.key.as_ref().unwrap_or(&before.key);
    if *key != before.key {
        let taken = tx
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM integrations WHERE key = $1)",
                &[key],
            )
            .await?;
        if taken.try_get::<_, bool>(0)? {
            return Err(
                StoreError::Conflict("an integration with this key exists already".into()).into(),
            );
        }
    }
    let stmt = tx
        .prepare_cached(&format!(
            "UPDATE integrations AS i SET name = $2, severity_override = $3, auto_resolve_after_ms = $4, key = $6, updated_at = fb_ts($5) \
             WHERE i.id = $1 RETURNING {INTEGRATION_COLS}"
        ))
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &id,
                name,
                &severity.map(|s| s.as_str()),
                &after_ms.map(|d| d.as_millis()),
                &now.as_millis(),
                key,
            ],
        )
        .await?;
    let after = rows::integration(&row)?;
    service_event(
        &tx,
        before.service_id.0,
        kinds::INTEGRATION_UPDATED,
        actor,
        now,
        json!({"integration_id": id.to_string(), "before": redact(&before), "after": redact(&after)}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(after))
}

pub(crate) async fn delete_integration(
    pool: &Pool,
    id: i64,
    actor: &Actor,
    now: Timestamp,
) -> Attempt<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(before) = integration_for_update(&tx, id).await? else {
        return Ok(false);
    };
    let stmt = tx
        .prepare_cached(
            "UPDATE integrations SET deleted_at = fb_ts($2), updated_at = fb_ts($2) WHERE id = $1",
        )
        .await?;
    tx.execute(&stmt, &[&id, &now.as_millis()]).await?;
    service_event(
        &tx,
        before.service_id.0,
        kinds::INTEGRATION_DELETED,
        actor,
        now,
        json!({"integration_id": id.to_string(), "name": before.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// An integration as recorded in history: without its secret key.
fn redact(i: &Integration) -> serde_json::Value {
    json!({"name": i.name, "kind": i.kind, "severity_override": i.severity_override, "auto_resolve_after": i.auto_resolve_after})
}
