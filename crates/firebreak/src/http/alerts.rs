//! `/api/v1/alerts`: list, read, acknowledge and resolve alerts.

use super::problem::Problem;
use super::query::parse_query;
use crate::app::AppState;
use crate::auth::Caller;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use firebreak_core::{AlertFilter, AlertId, AlertSeverity, AlertStatus, IncidentId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}", get(get_alert))
        .route("/alerts/{id}/acknowledge", post(acknowledge))
        .route("/alerts/{id}/resolve", post(resolve))
}

fn alert_id(raw: &str) -> Result<AlertId, Problem> {
    AlertId::parse(raw).ok_or_else(|| Problem::not_found(format!("alert {raw}")))
}

async fn list_alerts(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    p.check_known(&[
        "status",
        "service_id",
        "incident_id",
        "severity",
        "since",
        "until",
        "limit",
        "cursor",
    ])?;
    let filter = AlertFilter {
        statuses: p.list(
            "status",
            AlertStatus::parse,
            &[AlertStatus::Triggered, AlertStatus::Acknowledged],
            "open, triggered, acknowledged, resolved",
        )?,
        service_id: p.id("service_id", firebreak_core::ServiceId::parse)?,
        incident_id: p.id("incident_id", IncidentId::parse)?,
        severity: p
            .get("severity")
            .map(|v| {
                AlertSeverity::parse(v).ok_or_else(|| {
                    Problem::bad_request(format!(
                        "'severity' '{v}' is not one of: critical, error, warning, info"
                    ))
                })
            })
            .transpose()?,
        since: p.time("since")?,
        until: p.time("until")?,
        visible: super::access::visibility(&s, &caller).await?,
        page: p.page()?,
    };
    Ok(Json(s.store.list_alerts(filter).await?).into_response())
}

async fn get_alert(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = alert_id(&id)?;
    let alert = s
        .store
        .get_alert(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("alert {id}")))?;
    Ok(Json(alert).into_response())
}

async fn acknowledge(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = alert_id(&id)?;
    let alert = s
        .store
        .acknowledge_alert(id, caller.actor, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("alert {id}")))?;
    Ok(Json(alert).into_response())
}

async fn resolve(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = alert_id(&id)?;
    let alert = s
        .store
        .resolve_alert(id, caller.actor, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("alert {id}")))?;
    Ok(Json(alert).into_response())
}
