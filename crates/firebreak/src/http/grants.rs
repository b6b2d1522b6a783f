//! `/api/v1/grants`: a role on named services or incidents for a user, until an expiry — how
//! external and outsourced responders get exactly the access they need.

use super::body::json_body;
use super::problem::Problem;
use super::query::parse_query;
use crate::app::AppState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use firebreak_core::access::{GrantScope, NewGrant, Role};
use firebreak_core::{GrantId, IncidentId, ServiceId, Timestamp, UserId};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/grants", get(list_grants).post(create_grant))
        .route("/grants/{id}", get(get_grant).delete(revoke_grant))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateGrant {
    user_id: String,
    role: String,
    service_ids: Option<Vec<String>>,
    incident_ids: Option<Vec<String>>,
    expires_at: String,
}

fn ids<T>(what: &str, raw: &[String], parse: fn(&str) -> Option<T>) -> Result<Vec<T>, Problem> {
    if raw.is_empty() || raw.len() > 1000 {
        return Err(Problem::bad_request(format!(
            "'{what}' must name 1 to 1000 ids"
        )));
    }
    raw.iter()
        .map(|r| {
            parse(r).ok_or_else(|| Problem::bad_request(format!("'{what}': '{r}' is not an id")))
        })
        .collect()
}

async fn create_grant(State(s): State<AppState>, body: Body) -> Result<Response, Problem> {
    let req: CreateGrant = json_body(body, s.max_body_bytes).await?;
    let user_id = UserId::parse(&req.user_id)
        .ok_or_else(|| Problem::bad_request(format!("'user_id' '{}' is not an id", req.user_id)))?;
    let role = Role::parse(&req.role)
        .filter(|r| r.grantable())
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "'role' '{}' cannot be granted (responder, observer or stakeholder)",
                req.role
            ))
        })?;
    let scope = match (&req.service_ids, &req.incident_ids) {
        (Some(s), None) => GrantScope::Services(ids("service_ids", s, ServiceId::parse)?),
        (None, Some(i)) => GrantScope::Incidents(ids("incident_ids", i, IncidentId::parse)?),
        _ => {
            return Err(Problem::bad_request(
                "give exactly one of 'service_ids' or 'incident_ids'",
            ))
        }
    };
    let expires_at = Timestamp::parse(&req.expires_at)
        .map_err(|e| Problem::bad_request(format!("'expires_at': {e}")))?;
    if expires_at <= s.clock.now() {
        return Err(Problem::bad_request("'expires_at' must be in the future"));
    }
    let grant = s
        .store
        .create_grant(
            NewGrant {
                user_id,
                role,
                scope,
                expires_at,
            },
            s.clock.now(),
        )
        .await
        .map_err(|e| match e {
            firebreak_core::StoreError::NotFound(what) => {
                Problem::bad_request(format!("{what} not found"))
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(grant)).into_response())
}

async fn list_grants(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    p.check_known(&["user_id", "limit", "cursor"])?;
    let user = p.id("user_id", UserId::parse)?;
    Ok(Json(s.store.list_grants(user, p.page()?).await?).into_response())
}

fn grant_id(raw: &str) -> Result<GrantId, Problem> {
    GrantId::parse(raw).ok_or_else(|| Problem::not_found(format!("grant {raw}")))
}

async fn get_grant(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = grant_id(&id)?;
    Ok(Json(
        s.store
            .get_grant(id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("grant {id}")))?,
    )
    .into_response())
}

async fn revoke_grant(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = grant_id(&id)?;
    let g = s
        .store
        .revoke_grant(id, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("grant {id}")))?;
    Ok(Json(g).into_response())
}
