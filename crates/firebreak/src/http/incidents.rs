//! `/api/v1/incidents`: declare, list, read (with alerts), timeline, acknowledge, resolve.

use super::body::json_body;
use super::problem::Problem;
use super::query::parse_query;
use crate::app::AppState;
use crate::auth::Caller;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use firebreak_core::access::{Permission, Target};
use firebreak_core::incident::validate_title;
use firebreak_core::store::PageRequest;
use firebreak_core::{
    Alert, AlertFilter, Incident, IncidentFilter, IncidentId, IncidentSeverity, IncidentStatus,
    NewIncident, Urgency,
};
use serde::{Deserialize, Serialize};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(list_incidents).post(declare))
        .route("/incidents/{id}", get(get_incident))
        .route("/incidents/{id}/timeline", get(timeline))
        .route("/incidents/{id}/acknowledge", post(acknowledge))
        .route("/incidents/{id}/resolve", post(resolve))
}

fn incident_id(raw: &str) -> Result<IncidentId, Problem> {
    IncidentId::parse(raw).ok_or_else(|| Problem::not_found(format!("incident {raw}")))
}

async fn list_incidents(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    p.check_known(&[
        "status",
        "service_id",
        "severity",
        "since",
        "until",
        "limit",
        "cursor",
    ])?;
    let filter = IncidentFilter {
        statuses: p.list(
            "status",
            IncidentStatus::parse,
            &[IncidentStatus::Triggered, IncidentStatus::Acknowledged],
            "open, triggered, acknowledged, resolved",
        )?,
        service_id: p.id("service_id", firebreak_core::ServiceId::parse)?,
        severity: p
            .get("severity")
            .map(|v| {
                IncidentSeverity::parse(v).ok_or_else(|| {
                    Problem::bad_request(format!(
                        "'severity' '{v}' is not one of: SEV1, SEV2, SEV3, SEV4"
                    ))
                })
            })
            .transpose()?,
        since: p.time("since")?,
        until: p.time("until")?,
        visible: super::access::visibility(&s, &caller).await?,
        page: p.page()?,
    };
    Ok(Json(s.store.list_incidents(filter).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declare {
    title: String,
    severity: String,
    service_ids: Vec<String>,
    urgency: Option<String>,
}

async fn declare(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(origin): Extension<super::access::Origin>,
    body: Body,
) -> Result<Response, Problem> {
    let req: Declare = json_body(body, s.max_body_bytes).await?;
    validate_title(&req.title).map_err(Problem::bad_request)?;
    let severity = IncidentSeverity::parse(&req.severity).ok_or_else(|| {
        Problem::bad_request(format!(
            "'severity' '{}' is not one of: SEV1, SEV2, SEV3, SEV4",
            req.severity
        ))
    })?;
    let urgency = req
        .urgency
        .as_deref()
        .map(|u| {
            Urgency::parse(u).ok_or_else(|| {
                Problem::bad_request(format!("'urgency' '{u}' is not one of: high, low"))
            })
        })
        .transpose()?;
    if req.service_ids.is_empty() {
        return Err(Problem::bad_request(
            "'service_ids' must name at least one service",
        ));
    }
    let mut service_ids = Vec::with_capacity(req.service_ids.len());
    for raw in &req.service_ids {
        service_ids.push(firebreak_core::ServiceId::parse(raw).ok_or_else(|| {
            Problem::bad_request(format!("'service_ids': '{raw}' is not a service id"))
        })?);
    }
    // Declaring is acting on every named service: responders only for their teams' services.
    let target = super::access::services_target(&s, &service_ids).await?;
    if !caller.may(Permission::ActOnIncidents, &target) {
        return Err(super::access::forbid(
            &s,
            &caller,
            &origin,
            &Method::POST,
            "/api/v1/incidents",
            "a named service belongs to a team you are not in",
        )
        .await);
    }
    let new = NewIncident {
        title: req.title.trim().to_string(),
        severity,
        urgency,
        service_ids,
    };
    let incident = s
        .store
        .declare_incident(new, caller.actor, s.clock.now())
        .await
        .map_err(|e| match e {
            firebreak_core::StoreError::NotFound(what) => {
                Problem::bad_request(format!("'service_ids': {what} not found"))
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(incident)).into_response())
}

#[derive(Serialize)]
struct IncidentDetail {
    #[serde(flatten)]
    incident: Incident,
    alerts: Vec<Alert>,
}

/// How many alerts an incident page lists inline; the rest via `/api/v1/alerts?incident_id=`.
const INLINE_ALERTS: u32 = 500;

async fn get_incident(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    let incident = s
        .store
        .get_incident(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("incident {id}")))?;
    // Stakeholders see the summary; alerts are incident details.
    let target = Target::Incident {
        id,
        services: match super::access::services_target(&s, &incident.service_ids).await? {
            Target::Services(refs) => refs,
            _ => Vec::new(),
        },
        open: incident.status != IncidentStatus::Resolved,
    };
    if !caller.may(Permission::ReadIncidentDetails, &target) {
        return Ok(Json(IncidentDetail {
            incident,
            alerts: Vec::new(),
        })
        .into_response());
    }
    let alerts = s
        .store
        .list_alerts(AlertFilter {
            incident_id: Some(id),
            page: PageRequest {
                limit: INLINE_ALERTS,
                cursor: None,
            },
            ..Default::default()
        })
        .await?
        .items;
    Ok(Json(IncidentDetail { incident, alerts }).into_response())
}

async fn timeline(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    let p = parse_query(q.as_deref())?;
    p.check_known(&["limit", "cursor"])?;
    if s.store.get_incident(id).await?.is_none() {
        return Err(Problem::not_found(format!("incident {id}")));
    }
    Ok(Json(s.store.timeline(id, p.page()?).await?).into_response())
}

async fn acknowledge(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    let i = s
        .store
        .acknowledge_incident(id, caller.actor, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("incident {id}")))?;
    Ok(Json(i).into_response())
}

async fn resolve(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    let i = s
        .store
        .resolve_incident(id, caller.actor, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("incident {id}")))?;
    Ok(Json(i).into_response())
}
