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
    if let Err(retry) = s
        .token_limit
        .check(&format!("token:{}", caller.token.id), s.clock.now())
    {
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
            let mut out = Vec::new();
            for raw in list {
                out.push(TokenScope::parse(raw).ok_or_else(|| {
                    Problem::bad_request(format!(
                        "'scopes': '{raw}' is not one of: read, write, admin"
                    ))
                })?);
            }
            out.sort();
            out.dedup();
            out
        }
    };
    if scopes.is_empty() {
        return Err(Problem::bad_request(
            "'scopes' must name at least one scope",
        ));
    }
    if scopes.iter().any(|sc| !caller.token.scopes.contains(sc)) {
        return Err(deny("a token cannot have scopes the calling token lacks").await);
    }
    let expires_at = match &req.expires_in {
        Some(text) => {
            let d = DurationMs::parse(text)
                .map_err(|e| Problem::bad_request(format!("'expires_in': {e}")))?;
            if d.as_millis() < 60_000 || d.as_millis() > MAX_TOKEN_LIFETIME_MS {
                return Err(Problem::bad_request(
                    "'expires_in' must be between 1m and 1095d",
                ));
            }
            Some(s.clock.now().plus(d))
        }
        None => None,
    };
    let text = format!(
        "fb_{}",
        random_hex(24)
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    );
    let token = s
        .store
        .create_token(
            NewApiToken {
                name: req.name.trim().to_string(),
                token_hash: hash_token(&text),
                user_id,
                role: role.as_str().into(),
                scopes,
                expires_at,
            },
            s.clock.now(),
        )
        .await?;
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
