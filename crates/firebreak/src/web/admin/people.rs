//! `/users` (admins): every user with their role, teams and state, a form that creates one, and
//! per-user actions: change the role, disable or enable, reset the password. The checks are those
//! of `POST /api/v1/users` and `PATCH /api/v1/users/{id}`, and the changes are audited under the
//! same action names (`user.create`, `user.update`); passwords never reach the audit log.

use super::{all_teams, all_users, audit_change, field, fields, problem_page, refusal, see_other};
use super::{Change, Chrome};
use crate::app::AppState;
use crate::auth::{forget_tokens, Caller};
use crate::http::access::Origin;
use crate::http::people::{hash_password, parse_role, validate_email, validate_time_zone};
use crate::http::problem::Problem;
use crate::web::pages::{render, Who};
use crate::web::session::{form, Session};
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use firebreak_core::access::{NewUser, UserPatch};
use firebreak_core::service::validate_name;
use firebreak_core::{TeamId, UserId};
use serde_json::json;
use std::collections::HashMap;

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub external: bool,
    pub teams: Vec<String>,
    pub disabled: bool,
    pub time_zone: String,
    /// The signed-in admin themself.
    pub is_self: bool,
}

/// What the create form holds (kept when it comes back with an error; never the password).
#[derive(Default)]
pub struct UserForm {
    pub email: String,
    pub name: String,
    pub role: String,
    pub external: bool,
    pub time_zone: String,
    pub team_ids: Vec<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    user_name: Option<Who>,
    csrf: String,
    users: Vec<UserRow>,
    roles: [&'static str; 5],
    /// (id, name) of every team.
    teams: Vec<(String, String)>,
    error: Option<String>,
    form: UserForm,
}

const ROLES: [&str; 5] = ["admin", "manager", "responder", "observer", "stakeholder"];

async fn build(
    state: &AppState,
    caller: &Caller,
    chrome: Chrome,
    error: Option<String>,
    form: UserForm,
) -> Result<UsersPage, Problem> {
    let teams = all_teams(state).await?;
    let names: HashMap<TeamId, String> = teams.iter().map(|t| (t.id, t.name.clone())).collect();
    let users = all_users(state)
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            is_self: Some(u.id) == caller.subject.user_id,
            teams: u
                .team_ids
                .iter()
                .map(|t| names.get(t).cloned().unwrap_or_else(|| format!("team {t}")))
                .collect(),
            name: u.name,
            email: u.email,
            role: u.role.as_str(),
            external: u.external,
            disabled: u.disabled,
            time_zone: u.time_zone,
        })
        .collect();
    Ok(UsersPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        users,
        roles: ROLES,
        teams: teams
            .into_iter()
            .map(|t| (t.id.to_string(), t.name))
            .collect(),
        error,
        form,
    })
}

/// The page again, 400, with what is wrong.
async fn again(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    msg: String,
    form: UserForm,
) -> Response {
    match build(state, caller, Chrome::of(caller, session), Some(msg), form).await {
        Ok(page) => (StatusCode::BAD_REQUEST, render(&page)).into_response(),
        Err(p) => problem_page(p),
    }
}

pub async fn page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
) -> Response {
    let fresh = UserForm {
        role: "responder".into(),
        time_zone: "UTC".into(),
        ..Default::default()
    };
    match build(&s, &caller, Chrome::of(&caller, &session), None, fresh).await {
        Ok(page) => render(&page),
        Err(p) => problem_page(p),
    }
}

fn kept(form: &[(String, String)]) -> UserForm {
    UserForm {
        email: field(form, "email"),
        name: field(form, "name"),
        role: field(form, "role"),
        external: !field(form, "external").is_empty(),
        time_zone: field(form, "time_zone"),
        team_ids: fields(form, "team_id"),
    }
}

/// The user the form asks for, checked like `POST /api/v1/users` checks its body.
fn new_user(form: &[(String, String)]) -> Result<NewUser, Problem> {
    let email = field(form, "email");
    validate_email(email.trim())?;
    let name = field(form, "name");
    validate_name("name", &name).map_err(Problem::bad_request)?;
    let time_zone = match field(form, "time_zone").trim() {
        "" => "UTC".to_string(),
        tz => tz.to_string(),
    };
    validate_time_zone(&time_zone)?;
    let password = field(form, "password");
    let team_ids = fields(form, "team_id")
        .iter()
        .map(|r| {
            TeamId::parse(r)
                .ok_or_else(|| Problem::bad_request(format!("'team_ids': '{r}' is not an id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewUser {
        email: email.trim().to_string(),
        name: name.trim().to_string(),
        role: parse_role(&field(form, "role"))?,
        external: !field(form, "external").is_empty(),
        time_zone,
        password_hash: (!password.is_empty())
            .then(|| hash_password(&password))
            .transpose()?,
        team_ids,
    })
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
    let new = match new_user(&form) {
        Ok(n) => n,
        Err(p) => return again(&s, &caller, &session, p.detail, kept(&form)).await,
    };
    let user = match s.store.create_user(new, s.clock.now()).await {
        Ok(u) => u,
        Err(e) => {
            return match refusal(e) {
                Ok(msg) => again(&s, &caller, &session, msg, kept(&form)).await,
                Err(p) => problem_page(p),
            }
        }
    };
    let change = Change::created("user.create", "/users", json!(user));
    audit_change(&s, &caller, &origin, change).await;
    see_other("/users")
}

/// What a per-user action changes.
enum Action {
    Role,
    Disable,
    Enable,
    Password,
}

impl Action {
    fn path(&self, id: &str) -> String {
        let what = match self {
            Action::Role => "role",
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Password => "password",
        };
        format!("/users/{id}/{what}")
    }

    /// The patch the form asks for, checked like `PATCH /api/v1/users/{id}`.
    fn patch(&self, form: &[(String, String)]) -> Result<UserPatch, Problem> {
        Ok(match self {
            Action::Role => UserPatch {
                role: Some(parse_role(&field(form, "role"))?),
                ..Default::default()
            },
            Action::Disable | Action::Enable => UserPatch {
                disabled: Some(matches!(self, Action::Disable)),
                ..Default::default()
            },
            Action::Password => UserPatch {
                password_hash: Some(hash_password(&field(form, "password"))?),
                ..Default::default()
            },
        })
    }
}

async fn change(
    s: AppState,
    caller: Caller,
    session: Session,
    origin: Origin,
    raw: String,
    body: Body,
    action: Action,
) -> Response {
    let form = match form(&session, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let Some(id) = UserId::parse(&raw) else {
        return problem_page(Problem::not_found(format!("user {raw}")));
    };
    let before = match s.store.get_user(id).await {
        Ok(Some(u)) => u,
        Ok(None) => return problem_page(Problem::not_found(format!("user {id}"))),
        Err(e) => return problem_page(e.into()),
    };
    let patch = match action.patch(&form) {
        Ok(p) => p,
        Err(p) => {
            let msg = format!("{} <{}>: {}", before.name, before.email, p.detail);
            return again(&s, &caller, &session, msg, UserForm::default()).await;
        }
    };
    let after = match s.store.update_user(id, patch, s.clock.now()).await {
        Ok(Some(u)) => u,
        Ok(None) => return problem_page(Problem::not_found(format!("user {id}"))),
        Err(e) => return problem_page(e.into()),
    };
    // Roles and disabled flags live in cached token lookups; drop them like the API does.
    forget_tokens(&s);
    let path = action.path(&id.to_string());
    let change = Change {
        action: "user.update",
        object_kind: "user",
        object_id: Some(id.to_string()),
        path: &path,
        before: json!(before),
        after: json!(after),
    };
    audit_change(&s, &caller, &origin, change).await;
    see_other("/users")
}

pub async fn set_role(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    change(s, caller, session, origin, id, body, Action::Role).await
}

pub async fn disable(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    change(s, caller, session, origin, id, body, Action::Disable).await
}

pub async fn enable(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    change(s, caller, session, origin, id, body, Action::Enable).await
}

pub async fn reset_password(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    change(s, caller, session, origin, id, body, Action::Password).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_core::access::Role;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_form_is_checked_like_the_api() {
        let ok = new_user(&form(&[
            ("email", " a@example.com "),
            ("name", "Ana"),
            ("role", "observer"),
            ("external", "on"),
            ("time_zone", ""),
        ]));
        assert!(ok.is_ok_and(|u| u.email == "a@example.com"
            && u.time_zone == "UTC"
            && u.external
            && u.password_hash.is_none()
            && u.role == Role::Observer));
        for bad in [
            &[("email", "nope"), ("name", "A"), ("role", "observer")][..],
            &[
                ("email", "a@example.com"),
                ("name", ""),
                ("role", "observer"),
            ],
            &[("email", "a@example.com"), ("name", "A"), ("role", "root")],
            &[
                ("email", "a@example.com"),
                ("name", "A"),
                ("role", "observer"),
                ("password", "short"),
            ],
            &[
                ("email", "a@example.com"),
                ("name", "A"),
                ("role", "observer"),
                ("time_zone", "Mars/Olympus Mons"),
            ],
            &[
                ("email", "a@example.com"),
                ("name", "A"),
                ("role", "observer"),
                ("team_id", "x"),
            ],
        ] {
            assert!(new_user(&form(bad)).is_err(), "{bad:?}");
        }
        assert!(ROLES.iter().all(|r| Role::parse(r).is_some()));
    }
}
