//! Access control for `/api/v1`, in one place: every route has a rule in `RULES`; the middleware
//! authenticates the caller, resolves what the request is about from the path, asks
//! `firebreak_core::access::decide`, answers 403 (and audits the denial) or runs the handler, and
//! audits every change that succeeded. A route without a rule is refused.

use super::problem::Problem;
use crate::app::AppState;
use crate::auth::{self, Caller};
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use firebreak_core::access::{decide, Decision, Permission, ServiceRef, Target};
use firebreak_core::audit::{AuditOutcome, NewAuditEntry};
use firebreak_core::{AlertId, IncidentId, IncidentStatus, IntegrationId, ServiceId};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Any valid credentials; the handler limits callers to their own objects.
    Authenticated,
    /// The permission, on what the path names.
    Need(Permission, From),
}

/// Where the object a request is about comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    Global,
    /// `{id}` is a service.
    Service,
    /// `{id}` is an integration (of a service).
    Integration,
    /// `{id}` is an incident.
    Incident,
    /// `{id}` is an alert (of an incident).
    Alert,
}

use Permission::*;

/// Every `/api/v1` route (as matched, with the `/api/v1` prefix) and its rule.
#[rustfmt::skip]
pub const RULES: &[(&str, &str, Rule)] = &[
    ("GET", "/api/v1/me", Rule::Authenticated),
    ("POST", "/api/v1/me/password", Rule::Authenticated),
    ("POST", "/api/v1/me/mfa", Rule::Authenticated),
    ("DELETE", "/api/v1/me/mfa", Rule::Authenticated),
    ("POST", "/api/v1/me/mfa/confirm", Rule::Authenticated),
    ("GET", "/api/v1/services", Rule::Need(ReadConfig, From::Global)),
    ("POST", "/api/v1/services", Rule::Need(ConfigureServices, From::Global)),
    ("GET", "/api/v1/services/{id}", Rule::Need(ReadConfig, From::Service)),
    ("PATCH", "/api/v1/services/{id}", Rule::Need(ConfigureServices, From::Service)),
    ("DELETE", "/api/v1/services/{id}", Rule::Need(ConfigureServices, From::Service)),
    ("GET", "/api/v1/services/{id}/integrations", Rule::Need(ReadConfig, From::Service)),
    ("POST", "/api/v1/services/{id}/integrations", Rule::Need(ConfigureServices, From::Service)),
    ("GET", "/api/v1/services/{id}/timeline", Rule::Need(ReadConfig, From::Service)),
    ("GET", "/api/v1/integrations/{id}", Rule::Need(ReadConfig, From::Integration)),
    ("PATCH", "/api/v1/integrations/{id}", Rule::Need(ConfigureServices, From::Integration)),
    ("DELETE", "/api/v1/integrations/{id}", Rule::Need(ConfigureServices, From::Integration)),
    ("POST", "/api/v1/integrations/{id}/rotate", Rule::Need(ConfigureServices, From::Integration)),
    ("GET", "/api/v1/alerts", Rule::Need(ReadIncidentDetails, From::Global)),
    ("GET", "/api/v1/alerts/{id}", Rule::Need(ReadIncidentDetails, From::Alert)),
    ("POST", "/api/v1/alerts/{id}/acknowledge", Rule::Need(ActOnIncidents, From::Alert)),
    ("POST", "/api/v1/alerts/{id}/resolve", Rule::Need(ActOnIncidents, From::Alert)),
    ("GET", "/api/v1/incidents", Rule::Need(ReadIncidents, From::Global)),
    ("POST", "/api/v1/incidents", Rule::Need(ActOnIncidents, From::Global)),
    ("GET", "/api/v1/incidents/{id}", Rule::Need(ReadIncidents, From::Incident)),
    ("GET", "/api/v1/incidents/{id}/timeline", Rule::Need(ReadIncidentDetails, From::Incident)),
    ("POST", "/api/v1/incidents/{id}/acknowledge", Rule::Need(ActOnIncidents, From::Incident)),
    ("POST", "/api/v1/incidents/{id}/resolve", Rule::Need(ActOnIncidents, From::Incident)),
    ("GET", "/api/v1/users", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/api/v1/users", Rule::Need(ManageAccess, From::Global)),
    ("GET", "/api/v1/users/{id}", Rule::Need(ManageAccess, From::Global)),
    ("PATCH", "/api/v1/users/{id}", Rule::Need(ManageAccess, From::Global)),
    ("GET", "/api/v1/teams", Rule::Need(ReadDirectory, From::Global)),
    ("POST", "/api/v1/teams", Rule::Need(ManageAccess, From::Global)),
    ("GET", "/api/v1/teams/{id}", Rule::Need(ReadDirectory, From::Global)),
    ("PATCH", "/api/v1/teams/{id}", Rule::Need(ManageAccess, From::Global)),
    ("GET", "/api/v1/tokens", Rule::Authenticated),
    ("POST", "/api/v1/tokens", Rule::Authenticated),
    ("DELETE", "/api/v1/tokens/{id}", Rule::Authenticated),
    ("GET", "/api/v1/grants", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/api/v1/grants", Rule::Need(ManageAccess, From::Global)),
    ("GET", "/api/v1/grants/{id}", Rule::Need(ManageAccess, From::Global)),
    ("DELETE", "/api/v1/grants/{id}", Rule::Need(ManageAccess, From::Global)),
    ("GET", "/api/v1/audit", Rule::Need(ReadAudit, From::Global)),
    ("GET", "/api/v1/audit/export", Rule::Need(ReadAudit, From::Global)),
    ("GET", "/api/v1/audit/chain", Rule::Need(ReadAudit, From::Global)),
];

pub fn rule_for(method: &Method, path: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, r)| *r)
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

fn origin(req: &Request) -> Origin {
    Origin {
        ip: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: req
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect()),
    }
}

/// The `{id}` segment of a matched path, from the concrete URI path.
fn path_id(pattern: &str, path: &str) -> Option<String> {
    let pat: Vec<&str> = pattern.split('/').collect();
    let got: Vec<&str> = path.split('/').collect();
    pat.iter()
        .position(|s| *s == "{id}")
        .and_then(|i| got.get(i))
        .map(|s| s.to_string())
}

async fn service_refs(state: &AppState, ids: &[ServiceId]) -> Result<Vec<ServiceRef>, Problem> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        // A retired service still owns its history; it counts as team-less then.
        let team_id = state.store.get_service(*id).await?.and_then(|s| s.team_id);
        out.push(ServiceRef { id: *id, team_id });
    }
    Ok(out)
}

async fn incident_target(state: &AppState, id: IncidentId) -> Result<Target, Problem> {
    let incident = state
        .store
        .get_incident(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("incident {id}")))?;
    Ok(Target::Incident {
        id,
        services: service_refs(state, &incident.service_ids).await?,
        open: incident.status != IncidentStatus::Resolved,
    })
}

/// Resolves what the request is about. 404 when the object does not exist.
pub async fn target_of(state: &AppState, from: From, id: Option<&str>) -> Result<Target, Problem> {
    let raw = id.unwrap_or("");
    match from {
        From::Global => Ok(Target::Global),
        From::Service => {
            let sid = ServiceId::parse(raw)
                .ok_or_else(|| Problem::not_found(format!("service {raw}")))?;
            let s = state
                .store
                .get_service(sid)
                .await?
                .ok_or_else(|| Problem::not_found(format!("service {sid}")))?;
            Ok(Target::Services(vec![ServiceRef {
                id: s.id,
                team_id: s.team_id,
            }]))
        }
        From::Integration => {
            let iid = IntegrationId::parse(raw)
                .ok_or_else(|| Problem::not_found(format!("integration {raw}")))?;
            let i = state
                .store
                .get_integration(iid)
                .await?
                .ok_or_else(|| Problem::not_found(format!("integration {iid}")))?;
            Ok(Target::Services(
                service_refs(state, &[i.service_id]).await?,
            ))
        }
        From::Incident => {
            let id = IncidentId::parse(raw)
                .ok_or_else(|| Problem::not_found(format!("incident {raw}")))?;
            incident_target(state, id).await
        }
        From::Alert => {
            let aid =
                AlertId::parse(raw).ok_or_else(|| Problem::not_found(format!("alert {raw}")))?;
            let a = state
                .store
                .get_alert(aid)
                .await?
                .ok_or_else(|| Problem::not_found(format!("alert {aid}")))?;
            match a.incident_id {
                Some(i) => incident_target(state, i).await,
                None => Ok(Target::Services(
                    service_refs(state, &[a.service_id]).await?,
                )),
            }
        }
    }
}

/// The object's current state, for the `before` of an audited change.
async fn snapshot(state: &AppState, from: From, pattern: &str, id: Option<&str>) -> Value {
    let raw = id.unwrap_or("");
    // Reads the object named by `raw` with the store method `$get`, as JSON.
    macro_rules! read {
        ($parse:path, $get:ident) => {
            match $parse(raw) {
                Some(i) => state.store.$get(i).await.ok().flatten().map(|v| json!(v)),
                None => None,
            }
        };
    }
    let value = match from {
        From::Service => read!(ServiceId::parse, get_service),
        From::Integration => read!(IntegrationId::parse, get_integration),
        From::Incident => read!(IncidentId::parse, get_incident),
        From::Alert => read!(AlertId::parse, get_alert),
        From::Global if pattern.starts_with("/api/v1/users/") => {
            read!(firebreak_core::UserId::parse, get_user)
        }
        From::Global if pattern.starts_with("/api/v1/teams/") => {
            read!(firebreak_core::TeamId::parse, get_team)
        }
        From::Global if pattern.starts_with("/api/v1/grants/") => {
            read!(firebreak_core::GrantId::parse, get_grant)
        }
        From::Global if pattern.starts_with("/api/v1/tokens/") => {
            read!(firebreak_core::TokenId::parse, get_token)
        }
        From::Global => None,
    };
    redact(value.unwrap_or(Value::Null))
}

/// Removes secrets (tokens, integration keys, passwords, TOTP secrets and codes) before anything
/// is audited.
pub fn redact(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            for k in [
                "token",
                "key",
                "password",
                "password_hash",
                "secret",
                "otpauth_uri",
                "recovery_codes",
                "code",
            ] {
                if map.contains_key(k) {
                    map.insert(k.to_string(), Value::String("[redacted]".into()));
                }
            }
            for (_, child) in map.iter_mut() {
                let taken = std::mem::take(child);
                *child = redact(taken);
            }
        }
        Value::Array(items) => {
            for child in items.iter_mut() {
                let taken = std::mem::take(child);
                *child = redact(taken);
            }
        }
        _ => {}
    }
    v
}

/// "POST /api/v1/services/{id}/integrations" → ("integration.create", "service")
fn action_name(method: &Method, pattern: &str) -> (String, String) {
    let parts: Vec<&str> = pattern
        .trim_start_matches("/api/v1/")
        .split('/')
        .filter(|p| *p != "{id}")
        .collect();
    let noun = parts.last().copied().unwrap_or("api");
    let object = parts
        .first()
        .copied()
        .unwrap_or("api")
        .trim_end_matches('s')
        .to_string();
    let verb = match (method.as_str(), noun) {
        (_, "acknowledge" | "resolve" | "rotate" | "confirm") => noun.to_string(),
        ("POST", _) => "create".into(),
        ("PATCH", _) => "update".into(),
        ("DELETE", _) => "delete".into(),
        (m, _) => m.to_lowercase(),
    };
    let subject = match noun {
        "acknowledge" | "resolve" | "rotate" | "confirm" => object.clone(),
        n => n.trim_end_matches('s').to_string(),
    };
    (format!("{subject}.{verb}"), object)
}

async fn audit(state: &AppState, entry: NewAuditEntry) {
    if let Err(e) = state.store.append_audit(entry).await {
        tracing::error!(error = %e, "could not append to the audit log");
    }
}

/// The middleware on every `/api/v1` route except the public API description.
pub async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let pattern = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    // Inside the nested `/api/v1` router the URI has lost its prefix; the original has it.
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let origin = origin(&req);
    let caller = match auth::authenticate(&state, req.headers()).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    let Some(rule) = rule_for(&method, &pattern) else {
        let allowed: Vec<&str> = RULES
            .iter()
            .filter(|(_, p, _)| *p == pattern)
            .map(|(m, _, _)| *m)
            .collect();
        if !allowed.is_empty() {
            let list = allowed.join(", ");
            let mut resp = Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed here (allowed: {list})"),
            )
            .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&list) {
                resp.headers_mut().insert(axum::http::header::ALLOW, v);
            }
            return resp;
        }
        tracing::error!(%method, %pattern, "route without an access rule refused");
        return Problem::new(StatusCode::FORBIDDEN, "this route has no access rule")
            .into_response();
    };
    let id = path_id(&pattern, &path);
    let from = match rule {
        Rule::Authenticated => From::Global,
        Rule::Need(_, from) => from,
    };
    if let Rule::Need(permission, from) = rule {
        let target = match target_of(&state, from, id.as_deref()).await {
            Ok(t) => t,
            Err(p) => return p.into_response(),
        };
        if let Decision::Deny(reason) = decide(&caller.subject, permission, &target) {
            deny_and_audit(&state, &caller, &origin, &method, &path, &reason).await;
            return Problem::new(StatusCode::FORBIDDEN, format!("not allowed: {reason}"))
                .into_response();
        }
    }
    let mutating = method != Method::GET;
    let before = if mutating && matches!(method, Method::PATCH | Method::DELETE) {
        snapshot(&state, from, &pattern, id.as_deref()).await
    } else {
        Value::Null
    };
    let mut req = req;
    req.extensions_mut().insert(caller.clone());
    req.extensions_mut().insert(origin.clone());
    let resp = next.run(req).await;
    if !mutating || !resp.status().is_success() {
        return resp;
    }
    // Audit the change with what the handler answered (secrets redacted).
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "response could not be read",
            )
            .into_response()
        }
    };
    let after: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let (action, object_kind) = action_name(&method, &pattern);
    let object_id = id.or_else(|| after.get("id").and_then(Value::as_str).map(str::to_string));
    audit(
        &state,
        NewAuditEntry {
            at: state.clock.now(),
            actor: caller.actor.clone(),
            action,
            object_kind,
            object_id,
            outcome: AuditOutcome::Done,
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            detail: json!({"method": method.as_str(), "path": path}),
            before,
            after: redact(after),
        },
    )
    .await;
    Response::from_parts(parts, Body::from(bytes))
}

/// Records a refused access (also used by handlers for checks on the request body).
pub async fn deny_and_audit(
    state: &AppState,
    caller: &Caller,
    origin: &Origin,
    method: &Method,
    path: &str,
    reason: &str,
) {
    audit(
        state,
        NewAuditEntry {
            at: state.clock.now(),
            actor: caller.actor.clone(),
            action: "access.denied".into(),
            object_kind: "route".into(),
            object_id: Some(format!("{method} {path}")),
            outcome: AuditOutcome::Denied,
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            detail: json!({"reason": reason}),
            before: Value::Null,
            after: Value::Null,
        },
    )
    .await;
}

/// A 403 for a check a handler makes on the request body, audited like the middleware's.
pub async fn forbid(
    state: &AppState,
    caller: &Caller,
    origin: &Origin,
    method: &Method,
    path: &str,
    reason: &str,
) -> Problem {
    deny_and_audit(state, caller, origin, method, path, reason).await;
    Problem::new(StatusCode::FORBIDDEN, format!("not allowed: {reason}"))
}

/// What lists may show this caller: `None` for internal users; for external users the services
/// and the still-open incidents their live grants name.
pub async fn visibility(
    state: &AppState,
    caller: &Caller,
) -> Result<Option<firebreak_core::access::Visibility>, Problem> {
    let Some(mut v) = caller.subject.visibility() else {
        return Ok(None);
    };
    let mut open = Vec::with_capacity(v.incident_ids.len());
    for id in v.incident_ids {
        if state
            .store
            .get_incident(id)
            .await?
            .is_some_and(|i| i.status != IncidentStatus::Resolved)
        {
            open.push(id);
        }
    }
    v.incident_ids = open;
    Ok(Some(v))
}

/// The services named by ids, as access decisions see them (for checks on request bodies).
pub async fn services_target(state: &AppState, ids: &[ServiceId]) -> Result<Target, Problem> {
    Ok(Target::Services(service_refs(state, ids).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_actions_from_routes() {
        assert_eq!(
            action_name(&Method::POST, "/api/v1/services"),
            ("service.create".into(), "service".into())
        );
        assert_eq!(
            action_name(&Method::POST, "/api/v1/services/{id}/integrations"),
            ("integration.create".into(), "service".into())
        );
        assert_eq!(
            action_name(&Method::POST, "/api/v1/incidents/{id}/acknowledge"),
            ("incident.acknowledge".into(), "incident".into())
        );
        assert_eq!(
            action_name(&Method::DELETE, "/api/v1/grants/{id}"),
            ("grant.delete".into(), "grant".into())
        );
        assert_eq!(
            path_id(
                "/api/v1/incidents/{id}/timeline",
                "/api/v1/incidents/42/timeline"
            )
            .as_deref(),
            Some("42")
        );
    }

    #[test]
    fn secrets_never_reach_the_audit_log() {
        let v = redact(
            json!({"id": "1", "key": "abc", "nested": [{"token": "t"}], "password_hash": "x"}),
        );
        assert_eq!(
            v,
            json!({"id": "1", "key": "[redacted]", "nested": [{"token": "[redacted]"}], "password_hash": "[redacted]"})
        );
    }
}
