//! `/grants` (admins): every grant (user, role, scope, expiry, state), a form that grants a role
//! on chosen services or on one incident until an expiry (a `datetime-local` value read as UTC),
//! and revoke buttons. The checks are those of `POST /api/v1/grants` and
//! `DELETE /api/v1/grants/{id}`, audited as `grant.create` and `grant.delete`.

use super::{all_users, audit_change, every_page, field, fields, problem_page, refusal};
use super::{see_other, Change, Chrome};
use crate::app::AppState;
use crate::auth::{forget_tokens, Caller};
use crate::http::access::Origin;
use crate::http::problem::Problem;
use crate::web::pages::{render, Who};
use crate::web::session::{form, Session};
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use firebreak_core::access::{Grant, GrantScope, NewGrant, Role};
use firebreak_core::store::PageRequest;
use firebreak_core::{GrantId, IncidentId, ServiceId, Timestamp, UserId};
use serde_json::json;
use std::collections::HashMap;

/// Ids one grant may name at most (as the API).
const MAX_SCOPE_IDS: usize = 1000;

pub struct GrantRow {
    pub id: String,
    pub user: String,
    pub external: bool,
    pub role: &'static str,
    /// services or incident
    pub scope_kind: &'static str,
    /// (link, label) of each service or incident.
    pub scope: Vec<(String, String)>,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    /// active, expired or revoked
    pub state: &'static str,
}

/// What the form holds (kept when it comes back with an error).
#[derive(Default)]
pub struct GrantForm {
    pub user_id: String,
    pub role: String,
    pub service_ids: Vec<String>,
    pub incident_id: String,
    pub expires_at: String,
}

#[derive(Template)]
#[template(path = "grants.html")]
struct GrantsPage {
    user_name: Option<Who>,
    csrf: String,
    grants: Vec<GrantRow>,
    /// (id, "name <email>", external) of every user.
    people: Vec<(String, String, bool)>,
    /// (id, name) of every service.
    services: Vec<(String, String)>,
    roles: [&'static str; 3],
    now: String,
    error: Option<String>,
    form: GrantForm,
}

fn state_of(g: &Grant, now: Timestamp) -> &'static str {
    if g.revoked_at.is_some() {
        "revoked"
    } else if g.expires_at <= now {
        "expired"
    } else {
        "active"
    }
}

/// A `datetime-local` value (`2026-09-01T17:30`, seconds optional) read as UTC; a full RFC 3339
/// date-time with its own offset is taken as it is.
pub fn utc_local(text: &str) -> Result<Timestamp, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("give an expiry".into());
    }
    let with_zone =
        if t.ends_with(['Z', 'z']) || t.get(10..).is_some_and(|r| r.contains(['+', '-'])) {
            t.to_string()
        } else if t.len() == 16 {
            format!("{t}:00Z")
        } else {
            format!("{t}Z")
        };
    Timestamp::parse(&with_zone).map_err(|e| format!("'expires_at': {e}"))
}

fn ids<T>(what: &str, raw: &[String], parse: fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    if raw.is_empty() || raw.len() > MAX_SCOPE_IDS {
        return Err(format!("'{what}' must name 1 to {MAX_SCOPE_IDS} ids"));
    }
    raw.iter()
        .map(|r| parse(r.trim()).ok_or_else(|| format!("'{what}': '{r}' is not an id")))
        .collect()
}

/// The grant the form asks for, checked like `POST /api/v1/grants` checks its body.
fn new_grant(form: &[(String, String)], now: Timestamp) -> Result<NewGrant, String> {
    let raw_user = field(form, "user_id");
    let user_id =
        UserId::parse(&raw_user).ok_or_else(|| format!("'user_id' '{raw_user}' is not an id"))?;
    let raw_role = field(form, "role");
    let role = Role::parse(&raw_role)
        .filter(|r| r.grantable())
        .ok_or_else(|| {
            format!("'role' '{raw_role}' cannot be granted (responder, observer or stakeholder)")
        })?;
    let services = fields(form, "service_id");
    let incident = field(form, "incident_id").trim().to_string();
    let scope = match (services.is_empty(), incident.is_empty()) {
        (false, true) => GrantScope::Services(ids("service_ids", &services, ServiceId::parse)?),
        (true, false) => {
            GrantScope::Incidents(ids("incident_ids", &[incident], IncidentId::parse)?)
        }
        _ => return Err("choose services or give an incident id, not both and not neither".into()),
    };
    let expires_at = utc_local(&field(form, "expires_at"))?;
    if expires_at <= now {
        return Err("'expires_at' must be in the future".into());
    }
    Ok(NewGrant {
        user_id,
        role,
        scope,
        expires_at,
    })
}

async fn build(state: &AppState, chrome: Chrome, form: GrantForm) -> Result<GrantsPage, Problem> {
    let now = state.clock.now();
    let users = all_users(state).await?;
    let names: HashMap<UserId, (String, bool)> = users
        .iter()
        .map(|u| (u.id, (format!("{} <{}>", u.name, u.email), u.external)))
        .collect();
    let services = every_page(|p| state.store.list_services(p, None)).await?;
    let service_names: HashMap<ServiceId, String> =
        services.iter().map(|s| (s.id, s.name.clone())).collect();
    let grants = every_page(|p: PageRequest| state.store.list_grants(None, p))
        .await?
        .into_iter()
        .map(|g| {
            let (user, external) = names
                .get(&g.user_id)
                .cloned()
                .unwrap_or_else(|| (format!("user {}", g.user_id), false));
            let (scope_kind, scope) = match &g.scope {
                GrantScope::Services(ids) => (
                    "services",
                    ids.iter()
                        .map(|id| {
                            let name = service_names
                                .get(id)
                                .cloned()
                                .unwrap_or_else(|| format!("service {id}"));
                            (format!("/services/{id}"), name)
                        })
                        .collect(),
                ),
                GrantScope::Incidents(ids) => (
                    "incident",
                    ids.iter()
                        .map(|id| (format!("/incidents/{id}"), format!("incident {id}")))
                        .collect(),
                ),
            };
            GrantRow {
                id: g.id.to_string(),
                user,
                external,
                role: g.role.as_str(),
                scope_kind,
                scope,
                expires_at: g.expires_at.to_string(),
                revoked_at: g.revoked_at.map(|r| r.to_string()),
                state: state_of(&g, now),
            }
        })
        .collect();
    Ok(GrantsPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        grants,
        people: users
            .into_iter()
            .map(|u| {
                (
                    u.id.to_string(),
                    format!("{} <{}>", u.name, u.email),
                    u.external,
                )
            })
            .collect(),
        services: services
            .into_iter()
            .map(|s| (s.id.to_string(), s.name))
            .collect(),
        roles: ["responder", "observer", "stakeholder"],
        now: now.to_string(),
        error: None,
        form,
    })
}

pub async fn page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
) -> Response {
    let fresh = GrantForm {
        role: "responder".into(),
        ..Default::default()
    };
    match build(&s, Chrome::of(&caller, &session), fresh).await {
        Ok(page) => render(&page),
        Err(p) => problem_page(p),
    }
}

async fn again(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    msg: String,
    form: &[(String, String)],
) -> Response {
    let kept = GrantForm {
        user_id: field(form, "user_id"),
        role: field(form, "role"),
        service_ids: fields(form, "service_id"),
        incident_id: field(form, "incident_id"),
        expires_at: field(form, "expires_at"),
    };
    match build(state, Chrome::of(caller, session), kept).await {
        Ok(mut page) => {
            page.error = Some(msg);
            (StatusCode::BAD_REQUEST, render(&page)).into_response()
        }
        Err(p) => problem_page(p),
    }
}

pub async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    body: Body,
) -> Response {
    let form = match form(&session, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let now = s.clock.now();
    let new = match new_grant(&form, now) {
        Ok(n) => n,
        Err(msg) => return again(&s, &caller, &session, msg, &form).await,
    };
    let grant = match s.store.create_grant(new, now).await {
        Ok(g) => g,
        Err(e) => {
            return match refusal(e) {
                Ok(msg) => again(&s, &caller, &session, msg, &form).await,
                Err(p) => problem_page(p),
            }
        }
    };
    forget_tokens(&s);
    let change = Change::created("grant.create", "/grants", json!(grant));
    audit_change(&s, &caller, &origin, change).await;
    see_other("/grants")
}

pub async fn revoke(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    Path(raw): Path<String>,
    body: Body,
) -> Response {
    if let Err(resp) = form(&session, body).await {
        return resp;
    }
    let Some(id) = GrantId::parse(&raw) else {
        return problem_page(Problem::not_found(format!("grant {raw}")));
    };
    let before = match s.store.get_grant(id).await {
        Ok(Some(g)) => g,
        Ok(None) => return problem_page(Problem::not_found(format!("grant {id}"))),
        Err(e) => return problem_page(e.into()),
    };
    let after = match s.store.revoke_grant(id, s.clock.now()).await {
        Ok(Some(g)) => g,
        Ok(None) => return problem_page(Problem::not_found(format!("grant {id}"))),
        Err(e) => return problem_page(e.into()),
    };
    forget_tokens(&s);
    let path = format!("/grants/{id}/revoke");
    let change = Change {
        action: "grant.delete",
        object_kind: "grant",
        object_id: Some(id.to_string()),
        path: &path,
        before: json!(before),
        after: json!(after),
    };
    audit_change(&s, &caller, &origin, change).await;
    see_other("/grants")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn datetime_local_is_utc() {
        let want = Timestamp::parse("2026-09-01T17:30:00Z").ok();
        assert_eq!(utc_local("2026-09-01T17:30").ok(), want);
        assert_eq!(utc_local("2026-09-01T17:30:00").ok(), want);
        assert_eq!(utc_local("2026-09-01T19:30:00+02:00").ok(), want);
        assert!(utc_local("").is_err() && utc_local("tomorrow").is_err());
    }

    #[test]
    fn the_form_is_checked_like_the_api() {
        let now = Timestamp::parse("2026-08-21T00:00:00Z").unwrap_or(Timestamp::from_millis(0));
        let base = [
            ("user_id", "7"),
            ("role", "responder"),
            ("expires_at", "2026-09-01T00:00"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut f = base.to_vec();
            f.extend_from_slice(extra);
            form(&f)
        };
        let ok = new_grant(&with(&[("service_id", "1"), ("service_id", "2")]), now);
        assert!(ok.is_ok_and(|g| g.scope
            == GrantScope::Services(vec![ServiceId(1), ServiceId(2)])
            && g.user_id == UserId(7)));
        let one = new_grant(&with(&[("incident_id", " 9 ")]), now);
        assert!(one.is_ok_and(|g| g.scope == GrantScope::Incidents(vec![IncidentId(9)])));
        assert!(new_grant(&with(&[]), now).is_err(), "neither");
        assert!(
            new_grant(&with(&[("service_id", "1"), ("incident_id", "9")]), now).is_err(),
            "both"
        );
        assert!(new_grant(&with(&[("incident_id", "x")]), now).is_err());
        let mut admin = with(&[("service_id", "1")]);
        admin.push(("role".into(), "admin".into()));
        assert!(new_grant(&admin, now).is_err(), "admin is not grantable");
        let mut past = with(&[("service_id", "1")]);
        past.push(("expires_at".into(), "2026-08-01T00:00".into()));
        assert!(new_grant(&past, now).is_err(), "expiry in the past");
    }
}
