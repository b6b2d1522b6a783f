//! `/api/v1/me`, `/api/v1/users` and `/api/v1/teams`: who uses firebreak and which teams own
//! which services.

use super::body::json_body;
use super::problem::Problem;
use super::query::parse_query;
use crate::app::AppState;
use crate::auth::Caller;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use firebreak_core::access::{NewTeam, NewUser, Role, UserPatch};
use firebreak_core::service::validate_name;
use firebreak_core::{TeamId, UserId};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/me/password", axum::routing::post(change_password))
        .route("/me/mfa", axum::routing::post(mfa_start).delete(mfa_off))
        .route("/me/mfa/confirm", axum::routing::post(mfa_confirm))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).patch(update_user))
        .route("/teams", get(list_teams).post(create_team))
        .route("/teams/{id}", get(get_team).patch(update_team))
}

/// Argon2id PHC string of a password (at least `MIN_PASSWORD_CHARS`).
pub fn hash_password(password: &str) -> Result<String, Problem> {
    crate::auth::hash_password(password).map_err(Problem::bad_request)
}

pub(crate) fn parse_role(text: &str) -> Result<Role, Problem> {
    Role::parse(text).ok_or_else(|| {
        Problem::bad_request(format!(
            "'role' '{text}' is not one of: admin, manager, responder, observer, stakeholder"
        ))
    })
}

fn ids<T>(what: &str, raw: &[String], parse: fn(&str) -> Option<T>) -> Result<Vec<T>, Problem> {
    raw.iter()
        .map(|r| {
            parse(r).ok_or_else(|| Problem::bad_request(format!("'{what}': '{r}' is not an id")))
        })
        .collect()
}

pub(crate) fn validate_time_zone(tz: &str) -> Result<(), Problem> {
    let ok = !tz.is_empty()
        && tz.len() <= 64
        && tz
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request(format!(
            "'time_zone' '{tz}' is not an IANA time zone name like Europe/Berlin"
        )))
    }
}

pub(crate) fn validate_email(email: &str) -> Result<(), Problem> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request(format!(
            "'email' '{email}' is not an email address"
        )))
    }
}

fn store_conflict(e: firebreak_core::StoreError) -> Problem {
    match e {
        firebreak_core::StoreError::NotFound(what) => {
            Problem::bad_request(format!("{what} not found"))
        }
        other => other.into(),
    }
}

async fn me(Extension(caller): Extension<Caller>) -> Response {
    Json(json!({
        "user": caller.user,
        "token": {"id": caller.token.id, "name": caller.token.name, "scopes": caller.token.scopes, "expires_at": caller.token.expires_at},
        "role": caller.subject.role,
        "external": caller.subject.external,
        "grants": caller.subject.grants,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    name: String,
    role: String,
    #[serde(default)]
    external: bool,
    time_zone: Option<String>,
    password: Option<String>,
    #[serde(default)]
    team_ids: Vec<String>,
}

async fn create_user(State(s): State<AppState>, body: Body) -> Result<Response, Problem> {
    let req: CreateUser = json_body(body, s.max_body_bytes).await?;
    validate_email(req.email.trim())?;
    validate_name("name", &req.name).map_err(Problem::bad_request)?;
    let time_zone = req.time_zone.unwrap_or_else(|| "UTC".into());
    validate_time_zone(&time_zone)?;
    let new = NewUser {
        email: req.email.trim().to_string(),
        name: req.name.trim().to_string(),
        role: parse_role(&req.role)?,
        external: req.external,
        time_zone,
        password_hash: req.password.as_deref().map(hash_password).transpose()?,
        team_ids: ids("team_ids", &req.team_ids, TeamId::parse)?,
    };
    let user = s
        .store
        .create_user(new, s.clock.now())
        .await
        .map_err(store_conflict)?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn list_users(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    p.check_known(&["limit", "cursor"])?;
    Ok(Json(s.store.list_users(p.page()?).await?).into_response())
}

fn user_id(raw: &str) -> Result<UserId, Problem> {
    UserId::parse(raw).ok_or_else(|| Problem::not_found(format!("user {raw}")))
}

async fn get_user(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = user_id(&id)?;
    Ok(Json(
        s.store
            .get_user(id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("user {id}")))?,
    )
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    name: Option<String>,
    role: Option<String>,
    time_zone: Option<String>,
    disabled: Option<bool>,
    /// An admin-driven password reset.
    password: Option<String>,
    /// `false` turns the user's second factor off (a lost phone).
    mfa: Option<bool>,
}

async fn update_user(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let id = user_id(&id)?;
    let req: UpdateUser = json_body(body, s.max_body_bytes).await?;
    if let Some(n) = &req.name {
        validate_name("name", n).map_err(Problem::bad_request)?;
    }
    if let Some(tz) = &req.time_zone {
        validate_time_zone(tz)?;
    }
    let patch = UserPatch {
        name: req.name.map(|n| n.trim().to_string()),
        role: req.role.as_deref().map(parse_role).transpose()?,
        time_zone: req.time_zone,
        disabled: req.disabled,
        password_hash: req.password.as_deref().map(hash_password).transpose()?,
    };
    if req.mfa == Some(true) {
        return Err(Problem::bad_request(
            "'mfa' can only be set to false here; the user enrols at /api/v1/me/mfa",
        ));
    }
    let mut user = s
        .store
        .update_user(id, patch, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("user {id}")))?;
    if req.mfa == Some(false) {
        crate::mfa::turn_off(&s, &user).await?;
        user.mfa_enabled = false;
    }
    crate::auth::forget_tokens(&s);
    Ok(Json(user).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTeam {
    name: String,
    #[serde(default)]
    member_ids: Vec<String>,
}

async fn create_team(State(s): State<AppState>, body: Body) -> Result<Response, Problem> {
    let req: CreateTeam = json_body(body, s.max_body_bytes).await?;
    validate_name("name", &req.name).map_err(Problem::bad_request)?;
    let new = NewTeam {
        name: req.name.trim().to_string(),
        member_ids: ids("member_ids", &req.member_ids, UserId::parse)?,
    };
    let team = s
        .store
        .create_team(new, s.clock.now())
        .await
        .map_err(store_conflict)?;
    Ok((StatusCode::CREATED, Json(team)).into_response())
}

async fn list_teams(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    p.check_known(&["limit", "cursor"])?;
    Ok(Json(s.store.list_teams(p.page()?).await?).into_response())
}

fn team_id(raw: &str) -> Result<TeamId, Problem> {
    TeamId::parse(raw).ok_or_else(|| Problem::not_found(format!("team {raw}")))
}

async fn get_team(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = team_id(&id)?;
    Ok(Json(
        s.store
            .get_team(id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("team {id}")))?,
    )
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTeam {
    member_ids: Vec<String>,
}

async fn update_team(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let id = team_id(&id)?;
    let req: UpdateTeam = json_body(body, s.max_body_bytes).await?;
    let members = ids("member_ids", &req.member_ids, UserId::parse)?;
    let team = s
        .store
        .set_team_members(id, members, s.clock.now())
        .await
        .map_err(store_conflict)?
        .ok_or_else(|| Problem::not_found(format!("team {id}")))?;
    Ok(Json(team).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: Option<String>,
    new_password: String,
}

/// A signed-in user changes their own password (the current one is required when set).
async fn change_password(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Response, Problem> {
    let req: ChangePassword = json_body(body, s.max_body_bytes).await?;
    let Some(user) = &caller.user else {
        return Err(Problem::bad_request("a service token has no password"));
    };
    let (_, current_hash) = s
        .store
        .user_by_email(&user.email)
        .await?
        .ok_or_else(|| Problem::not_found(format!("user {}", user.id)))?;
    if let Some(hash) = current_hash {
        let given = req.current_password.as_deref().unwrap_or("");
        if !crate::auth::verify_password(&hash, given) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "'current_password' is wrong",
            ));
        }
    }
    let patch = UserPatch {
        password_hash: Some(hash_password(&req.new_password)?),
        ..Default::default()
    };
    s.store.update_user(user.id, patch, s.clock.now()).await?;
    Ok(Json(json!({"status": "changed"})).into_response())
}

fn signed_in_user(caller: &Caller) -> Result<&firebreak_core::access::User, Problem> {
    caller
        .user
        .as_ref()
        .ok_or_else(|| Problem::bad_request("a service token has no user and no second factor"))
}

/// Starts TOTP enrolment: a new secret and the `otpauth://` URI for an authenticator app.
async fn mfa_start(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, Problem> {
    let user = signed_in_user(&caller)?;
    let e = crate::mfa::start(&s, user).await?;
    Ok(Json(json!({"secret": e.secret, "otpauth_uri": e.uri})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MfaCode {
    code: String,
}

/// Turns the second factor on with a first code; answers the recovery codes, once.
async fn mfa_confirm(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Response, Problem> {
    let user = signed_in_user(&caller)?;
    let req: MfaCode = json_body(body, s.max_body_bytes).await?;
    let codes = crate::mfa::confirm(&s, user, &req.code).await?;
    Ok(Json(json!({"enabled": true, "recovery_codes": codes})).into_response())
}

/// Turns the second factor off; needs a current code (or a recovery code).
async fn mfa_off(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Response, Problem> {
    let user = signed_in_user(&caller)?;
    let req: MfaCode = json_body(body, s.max_body_bytes).await?;
    if !crate::mfa::check(&s, user, &req.code).await? {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "the code does not match",
        ));
    }
    crate::mfa::turn_off(&s, user).await?;
    Ok(Json(json!({"enabled": false})).into_response())
}
