//! `/api/v1/services` and `/api/v1/integrations`: configure what breaks and how alerts get in.

use super::access::{forbid, Origin};
use super::body::json_body;
use super::problem::Problem;
use super::query::parse_query;
use crate::app::AppState;
use crate::auth::{random_hex, Caller};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use firebreak_core::access::{Permission, ServiceRef, Target};
use firebreak_core::service::{validate_description, validate_integration_key, validate_name};
use firebreak_core::store::Page;
use firebreak_core::TeamId;
use firebreak_core::{
    DurationMs, IncidentSeverity, IntegrationId, IntegrationKind, IntegrationPatch, NewIntegration,
    NewService, ServiceId, ServicePatch,
};
use firebreak_core::{Integration, Service};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/services", get(list_services).post(create_service))
        .route(
            "/services/{id}",
            get(get_service)
                .patch(update_service)
                .delete(delete_service),
        )
        .route(
            "/services/{id}/integrations",
            get(list_integrations).post(create_integration),
        )
        .route("/services/{id}/timeline", get(service_timeline))
        .route(
            "/integrations/{id}",
            get(get_integration)
                .patch(update_integration)
                .delete(delete_integration),
        )
        .route("/integrations/{id}/rotate", axum::routing::post(rotate_key))
}

pub fn service_id(raw: &str) -> Result<ServiceId, Problem> {
    ServiceId::parse(raw).ok_or_else(|| Problem::not_found(format!("service {raw}")))
}

fn integration_id(raw: &str) -> Result<IntegrationId, Problem> {
    IntegrationId::parse(raw).ok_or_else(|| Problem::not_found(format!("integration {raw}")))
}

fn invalid(e: String) -> Problem {
    Problem::bad_request(e)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateService {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    auto_resolve_incidents: bool,
    team_id: Option<String>,
}

fn yes() -> bool {
    true
}

fn parse_team(raw: &str) -> Result<TeamId, Problem> {
    TeamId::parse(raw)
        .ok_or_else(|| Problem::bad_request(format!("'team_id' '{raw}' is not an id")))
}

/// Managers may only give a service to (or take it from) one of their own teams.
async fn check_team(
    s: &AppState,
    caller: &Caller,
    origin: &Origin,
    method: &Method,
    path: &str,
    team: Option<TeamId>,
) -> Result<(), Problem> {
    let target = Target::Services(vec![ServiceRef {
        id: ServiceId(0),
        team_id: team,
    }]);
    if caller.may(Permission::ConfigureServices, &target) {
        return Ok(());
    }
    let reason = match team {
        Some(_) => "you may only assign services to your own teams",
        None => "only admins configure services that no team owns",
    };
    Err(forbid(s, caller, origin, method, path, reason).await)
}

async fn create_service(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(origin): Extension<Origin>,
    body: Body,
) -> Result<Response, Problem> {
    let req: CreateService = json_body(body, s.max_body_bytes).await?;
    validate_name("name", &req.name).map_err(invalid)?;
    validate_description(&req.description).map_err(invalid)?;
    let team_id = req.team_id.as_deref().map(parse_team).transpose()?;
    check_team(
        &s,
        &caller,
        &origin,
        &Method::POST,
        "/api/v1/services",
        team_id,
    )
    .await?;
    let new = NewService {
        name: req.name.trim().to_string(),
        description: req.description,
        auto_resolve_incidents: req.auto_resolve_incidents,
        team_id,
    };
    let service = s
        .store
        .create_service(new, caller.actor, s.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(service)).into_response())
}

async fn list_services(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let params = parse_query(q.as_deref())?;
    params.check_known(&["limit", "cursor"])?;
    let visible = super::access::visibility(&s, &caller).await?;
    let page = s.store.list_services(params.page()?, visible).await?;
    Ok(Json(page).into_response())
}

async fn get_service(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = service_id(&id)?;
    let service = s
        .store
        .get_service(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("service {id}")))?;
    Ok(Json(service).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateService {
    name: Option<String>,
    description: Option<String>,
    auto_resolve_incidents: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    team_id: Option<Option<String>>,
}

async fn update_service(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let id = service_id(&id)?;
    let req: UpdateService = json_body(body, s.max_body_bytes).await?;
    if let Some(n) = &req.name {
        validate_name("name", n).map_err(invalid)?;
    }
    if let Some(d) = &req.description {
        validate_description(d).map_err(invalid)?;
    }
    let team_id = match &req.team_id {
        Some(Some(raw)) => Some(Some(parse_team(raw)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(new_team) = team_id {
        check_team(
            &s,
            &caller,
            &origin,
            &Method::PATCH,
            &format!("/api/v1/services/{id}"),
            new_team,
        )
        .await?;
    }
    let patch = ServicePatch {
        name: req.name.map(|n| n.trim().to_string()),
        description: req.description,
        auto_resolve_incidents: req.auto_resolve_incidents,
        team_id,
    };
    let service = s
        .store
        .update_service(id, patch, caller.actor, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("service {id}")))?;
    s.invalidate_integrations();
    Ok(Json(service).into_response())
}

async fn delete_service(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = service_id(&id)?;
    if !s
        .store
        .delete_service(id, caller.actor, s.clock.now())
        .await?
    {
        return Err(Problem::not_found(format!("service {id}")));
    }
    s.invalidate_integrations();
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIntegration {
    kind: String,
    name: String,
    key: Option<String>,
    severity_override: Option<String>,
    auto_resolve_after: Option<String>,
}

fn parse_severity_override(text: &str) -> Result<IncidentSeverity, Problem> {
    IncidentSeverity::parse(text).ok_or_else(|| {
        Problem::bad_request(format!(
            "'severity_override' '{text}' is not one of SEV1, SEV2, SEV3, SEV4"
        ))
    })
}

fn parse_auto_resolve(text: &str) -> Result<DurationMs, Problem> {
    let d = DurationMs::parse(text)
        .map_err(|e| Problem::bad_request(format!("'auto_resolve_after': {e}")))?;
    if d.as_millis() < 60_000 {
        return Err(Problem::bad_request(
            "'auto_resolve_after' must be at least 1m",
        ));
    }
    Ok(d)
}

async fn create_integration(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let sid = service_id(&id)?;
    let req: CreateIntegration = json_body(body, s.max_body_bytes).await?;
    let kind = IntegrationKind::parse(&req.kind).ok_or_else(|| {
        Problem::bad_request(format!(
            "'kind' '{}' is not one of: pagerduty, alertmanager, generic",
            req.kind
        ))
    })?;
    validate_name("name", &req.name).map_err(invalid)?;
    let key = match req.key {
        Some(k) => {
            validate_integration_key(&k).map_err(invalid)?;
            k
        }
        None => random_hex(16)
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    };
    let new = NewIntegration {
        kind,
        name: req.name.trim().to_string(),
        key,
        severity_override: req
            .severity_override
            .as_deref()
            .map(parse_severity_override)
            .transpose()?,
        auto_resolve_after: req
            .auto_resolve_after
            .as_deref()
            .map(parse_auto_resolve)
            .transpose()?,
    };
    let integration = s
        .store
        .create_integration(sid, new, caller.actor, s.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(integration)).into_response())
}

/// Integrations as the caller may see them: the key only for those who configure the service.
fn shown(
    caller: &Caller,
    service: &Service,
    integrations: Vec<Integration>,
) -> Vec<serde_json::Value> {
    let target = Target::Services(vec![ServiceRef {
        id: service.id,
        team_id: service.team_id,
    }]);
    let show_keys = caller.may(Permission::ConfigureServices, &target);
    integrations
        .into_iter()
        .map(|i| {
            let mut v = serde_json::json!(i);
            if !show_keys {
                v["key"] = serde_json::Value::Null;
            }
            v
        })
        .collect()
}

async fn list_integrations(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let sid = service_id(&id)?;
    let service = s
        .store
        .get_service(sid)
        .await?
        .ok_or_else(|| Problem::not_found(format!("service {sid}")))?;
    let items = shown(&caller, &service, s.store.list_integrations(sid).await?);
    Ok(Json(Page {
        items,
        next_cursor: None,
    })
    .into_response())
}

async fn service_timeline(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let sid = service_id(&id)?;
    let params = parse_query(q.as_deref())?;
    params.check_known(&["limit", "cursor"])?;
    if s.store.get_service(sid).await?.is_none() {
        return Err(Problem::not_found(format!("service {sid}")));
    }
    Ok(Json(s.store.service_timeline(sid, params.page()?).await?).into_response())
}

async fn get_integration(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let iid = integration_id(&id)?;
    let i = s
        .store
        .get_integration(iid)
        .await?
        .ok_or_else(|| Problem::not_found(format!("integration {iid}")))?;
    let service = s
        .store
        .get_service(i.service_id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("integration {iid}")))?;
    let shown = shown(&caller, &service, vec![i]);
    Ok(Json(shown.into_iter().next()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateIntegration {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    severity_override: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    auto_resolve_after: Option<Option<String>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

async fn update_integration(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let iid = integration_id(&id)?;
    let req: UpdateIntegration = json_body(body, s.max_body_bytes).await?;
    if let Some(n) = &req.name {
        validate_name("name", n).map_err(invalid)?;
    }
    let patch = IntegrationPatch {
        key: None,
        name: req.name.map(|n| n.trim().to_string()),
        severity_override: match req.severity_override {
            Some(Some(t)) => Some(Some(parse_severity_override(&t)?)),
            Some(None) => Some(None),
            None => None,
        },
        auto_resolve_after: match req.auto_resolve_after {
            Some(Some(t)) => Some(Some(parse_auto_resolve(&t)?)),
            Some(None) => Some(None),
            None => None,
        },
    };
    let i = s
        .store
        .update_integration(iid, patch, caller.actor, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("integration {iid}")))?;
    s.invalidate_integrations();
    Ok(Json(i).into_response())
}

async fn delete_integration(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let iid = integration_id(&id)?;
    if !s
        .store
        .delete_integration(iid, caller.actor, s.clock.now())
        .await?
    {
        return Err(Problem::not_found(format!("integration {iid}")));
    }
    s.invalidate_integrations();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Gives the integration a new key; the old key stops working (at once on this node, within the
/// integration cache's few seconds on others). The answer carries the new key.
async fn rotate_key(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let iid = integration_id(&id)?;
    let key = random_hex(16)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let patch = IntegrationPatch {
        key: Some(key),
        ..Default::default()
    };
    let i = s
        .store
        .update_integration(iid, patch, caller.actor, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("integration {iid}")))?;
    s.invalidate_integrations();
    Ok(Json(i).into_response())
}
