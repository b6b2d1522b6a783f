//! `/api/v1/tokens`: personal API tokens (act as their user, limited by scopes) and service tokens
//! (a role of their own, admins only). The token text is shown once; only its hash is stored.

use super::access::{forbid, Origin};
use super::body::json_body;
use super::problem::Problem;
use super::query::parse_query;
use crate::app::AppState;
use crate::auth::{forget_tokens, hash_token, random_hex, Caller};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use firebreak_core::access::{Permission, Role, Target, TokenScope};
use firebreak_core::token::NewApiToken;
use firebreak_core::{DurationMs, TokenId, UserId};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
}

/// Longest lifetime a token may be given.
const MAX_TOKEN_LIFETIME_MS: i64 = 3 * 365 * 86_400_000;

// ---- rules shared by the API and the console's token page ----

/// Scope names → scopes (sorted, no repeats, at least one).
pub(crate) fn parse_scopes<'a>(
    raw: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<TokenScope>, String> {
    let mut out = Vec::new();
    for r in raw {
        out.push(
            TokenScope::parse(r)
                .ok_or_else(|| format!("'scopes': '{r}' is not one of: read, write, admin"))?,
        );
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err("'scopes' must name at least one scope".into());
    }
    Ok(out)
}

/// An expiry like "90d" from `now`; between 1 minute and 1095 days.
pub(crate) fn parse_expiry(
    text: &str,
    now: firebreak_core::Timestamp,
) -> Result<firebreak_core::Timestamp, String> {
    let d = DurationMs::parse(text).map_err(|e| format!("'expires_in': {e}"))?;
    if d.as_millis() < 60_000 || d.as_millis() > MAX_TOKEN_LIFETIME_MS {
        return Err("'expires_in' must be between 1m and 1095d".into());
    }
    Ok(now.plus(d))
}

/// The per-caller budget of new tokens (shared by API and console); `Err(seconds to wait)`.
pub(crate) fn within_limit(s: &AppState, caller: &Caller) -> Result<(), u32> {
    s.token_limit
        .check(&format!("token:{}", caller.token.id), s.clock.now())
}

/// Whether a new token would have scopes the calling token lacks.
pub(crate) fn escalates(caller: &Caller, scopes: &[TokenScope]) -> bool {
    scopes.iter().any(|sc| !caller.token.scopes.contains(sc))
}

/// What `issue` needs.
pub(crate) struct IssueToken {
    pub name: String,
    pub user_id: Option<UserId>,
    pub role: Role,
    pub scopes: Vec<TokenScope>,
    pub expires_at: Option<firebreak_core::Timestamp>,
}

/// Makes a token: random text (returned once), only its hash stored.
pub(crate) async fn issue(
    s: &AppState,
    new: IssueToken,
) -> Result<(firebreak_core::token::ApiToken, String), Problem> {
    let text = format!(
        "fb_{}",
        random_hex(24)
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    );
    let token = s
        .store
        .create_token(
            NewApiToken {
                name: new.name,
                token_hash: hash_token(&text),
                user_id: new.user_id,
                role: new.role.as_str().into(),
                scopes: new.scopes,
                expires_at: new.expires_at,
                mfa_at: None,
            },
            s.clock.now(),
        )
        .await?;
    Ok((token, text))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    name: String,
    user_id: Option<String>,
    scopes: Option<Vec<String>>,
    expires_in: Option<String>,
    /// A service token (no user) with this role; admins only.
    role: Option<String>,
}

async fn create_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(origin): Extension<Origin>,
    body: Body,
) -> Result<Response, Problem> {
    let req: CreateToken = json_body(body, s.max_body_bytes).await?;
    firebreak_core::service::validate_name("name", &req.name).map_err(Problem::bad_request)?;
    if let Err(retry) = within_limit(&s, &caller) {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many tokens created; wait and retry",
        );
        p.retry_after_secs = Some(retry);
        return Err(p);
    }
    let admin = caller.may(Permission::ManageAccess, &Target::Global);
    let deny = |reason: &'static str| {
        forbid(
            &s,
            &caller,
            &origin,
            &Method::POST,
            "/api/v1/tokens",
            reason,
        )
    };
    let (user_id, role) = match (&req.role, &req.user_id) {
        (Some(_), Some(_)) => {
            return Err(Problem::bad_request(
                "give 'user_id' (a personal token) or 'role' (a service token), not both",
            ))
        }
        (Some(role), None) => {
            let role = Role::parse(role)
                .ok_or_else(|| Problem::bad_request(format!("'role' '{role}' is not a role")))?;
            if !admin {
                return Err(deny("only admins create service tokens").await);
            }
            (None, role)
        }
        (None, Some(raw)) => {
            let uid = UserId::parse(raw)
                .ok_or_else(|| Problem::bad_request(format!("'user_id' '{raw}' is not an id")))?;
            if Some(uid) != caller.subject.user_id && !admin {
                return Err(deny("only admins create tokens for other users").await);
            }
            let user = s
                .store
                .get_user(uid)
                .await?
                .ok_or_else(|| Problem::bad_request(format!("user {uid} not found")))?;
            (Some(uid), user.role)
        }
        (None, None) => match caller.subject.user_id {
            Some(uid) => (Some(uid), caller.subject.role),
            None => {
                return Err(Problem::bad_request(
                    "a service token has no user: give 'user_id' or 'role'",
                ))
            }
        },
    };
    let scopes = match &req.scopes {
        None => caller.token.scopes.clone(),
        Some(list) => {
            parse_scopes(list.iter().map(String::as_str)).map_err(Problem::bad_request)?
        }
    };
    if escalates(&caller, &scopes) {
        return Err(deny("a token cannot have scopes the calling token lacks").await);
    }
    let expires_at = match &req.expires_in {
        Some(text) => Some(parse_expiry(text, s.clock.now()).map_err(Problem::bad_request)?),
        None => None,
    };
    let issued = IssueToken {
        name: req.name.trim().to_string(),
        user_id,
        role,
        scopes,
        expires_at,
    };
    let (token, text) = issue(&s, issued).await?;
    let mut body = json!(token);
    body["token"] = json!(text);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list_tokens(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    p.check_known(&["limit", "cursor"])?;
    let page = p.page()?;
    if caller.may(Permission::ManageAccess, &Target::Global) {
        return Ok(Json(s.store.list_tokens(None, page).await?).into_response());
    }
    match caller.subject.user_id {
        Some(uid) => Ok(Json(s.store.list_tokens(Some(uid), page).await?).into_response()),
        None => Ok(Json(json!({"items": [caller.token], "next_cursor": null})).into_response()),
    }
}

async fn revoke_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let tid = TokenId::parse(&id).ok_or_else(|| Problem::not_found(format!("token {id}")))?;
    let token = s
        .store
        .get_token(tid)
        .await?
        .ok_or_else(|| Problem::not_found(format!("token {tid}")))?;
    let own = token.user_id.is_some() && token.user_id == caller.subject.user_id
        || token.id == caller.token.id;
    if !own && !caller.may(Permission::ManageAccess, &Target::Global) {
        let path = format!("/api/v1/tokens/{tid}");
        return Err(forbid(
            &s,
            &caller,
            &origin,
            &Method::DELETE,
            &path,
            "only admins revoke other users' tokens",
        )
        .await);
    }
    let revoked = s
        .store
        .revoke_token(tid, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("token {tid}")))?;
    forget_tokens(&s);
    Ok(Json(revoked).into_response())
}
