//! Console sessions: password sign-in (Argon2id), a session that is a short-lived personal API
//! token kept in an HttpOnly, SameSite=Lax cookie, CSRF tokens derived from it, sign-out that
//! revokes it, and rate-limited, audited sign-in attempts.

use super::pages::{render, SignInPage};
use crate::app::AppState;
use crate::auth::{authenticate_token, hash_token, random_hex, Caller};
use crate::http::access::Origin;
use crate::http::body::read_limited;
use crate::http::query::parse_query;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use firebreak_core::access::TokenScope;
use firebreak_core::audit::{AuditOutcome, NewAuditEntry};
use firebreak_core::timeline::{Actor, ActorKind};
use firebreak_core::token::NewApiToken;
use firebreak_core::DurationMs;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub const SESSION_COOKIE: &str = "fb_session";
const SIGNIN_CSRF_COOKIE: &str = "fb_signin";
/// How long a console session lasts.
pub const SESSION_TTL: DurationMs = DurationMs::from_secs(12 * 3600);

/// The signed-in session of a console request.
#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    pub token_id: firebreak_core::TokenId,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The CSRF token of a session: derived from its secret, so it needs no storage.
pub fn csrf_for(session_secret: &str) -> String {
    let digest = Sha256::digest(format!("firebreak-csrf:{session_secret}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub async fn from_cookie(state: &AppState, headers: &HeaderMap) -> Option<(Caller, Session)> {
    let secret = cookie(headers, SESSION_COOKIE)?;
    let caller = authenticate_token(state, secret).await.ok()?;
    let session = Session {
        csrf: csrf_for(secret),
        token_id: caller.token.id,
    };
    Some((caller, session))
}

/// Percent-encodes a value for a query string.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Only same-site paths: no scheme, no `//host`, no backslashes (no open redirects).
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.contains("://")
        && next.len() < 512;
    if ok {
        next.to_string()
    } else {
        "/incidents".to_string()
    }
}

fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(resp: &mut Response, name: &str, value: &str, max_age: i64, secure: bool) {
    let flags = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{flags}");
    if let Ok(v) = HeaderValue::from_str(&text) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn origin_of(
    headers: &HeaderMap,
    connect: Option<&axum::extract::ConnectInfo<std::net::SocketAddr>>,
) -> Origin {
    Origin {
        ip: connect.map(|c| c.0.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect()),
    }
}

pub async fn sign_in_page(
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let next = safe_next(q.get("next").map(String::as_str).unwrap_or("/incidents"));
    let csrf = match cookie(&headers, SIGNIN_CSRF_COOKIE) {
        Some(c) if c.len() == 32 => c.to_string(),
        _ => random_hex(16).unwrap_or_default(),
    };
    let mut resp = render(&SignInPage {
        next,
        csrf: csrf.clone(),
        error: None,
        user_name: None,
    })
    .into_response();
    set_cookie(&mut resp, SIGNIN_CSRF_COOKIE, &csrf, 3600, secure(&headers));
    resp
}

async fn audit_signin(
    state: &AppState,
    origin: &Origin,
    email: &str,
    outcome: AuditOutcome,
    actor: Actor,
    reason: &str,
) {
    let entry = NewAuditEntry {
        at: state.clock.now(),
        actor,
        action: if outcome == AuditOutcome::Done {
            "session.create".into()
        } else {
            "session.failed".into()
        },
        object_kind: "session".into(),
        object_id: None,
        outcome,
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        detail: json!({"email": email, "reason": reason}),
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
    };
    if let Err(e) = state.store.append_audit(entry).await {
        tracing::error!(error = %e, "could not audit a sign-in");
    }
}

pub async fn sign_in(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let connect = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    let origin = origin_of(&headers, connect);
    let Ok(bytes) = read_limited(body, 16 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "sign-in form too large").into_response();
    };
    let form = parse_query(std::str::from_utf8(&bytes).ok())
        .map(|p| p.0)
        .unwrap_or_default();
    let field = |k: &str| {
        form.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let code = field("code");
    let (email, password, csrf, next) = (
        field("email"),
        field("password"),
        field("_csrf"),
        safe_next(&field("next")),
    );
    let again = |status: StatusCode, msg: &str| {
        if status != StatusCode::SERVICE_UNAVAILABLE {
            state.metrics.count_signin_failure();
        }
        let page = SignInPage {
            next: next.clone(),
            csrf: csrf.clone(),
            error: Some(msg.to_string()),
            user_name: None,
        };
        (status, render(&page)).into_response()
    };
    // Login CSRF: the form must carry the value of the cookie the sign-in page set.
    if !cookie(&headers, SIGNIN_CSRF_COOKIE).is_some_and(|c| !csrf.is_empty() && same(c, &csrf)) {
        return again(
            StatusCode::FORBIDDEN,
            "The form expired; please sign in again.",
        );
    }
    let limiter_key = format!(
        "{}|{}",
        origin.ip.as_deref().unwrap_or("-"),
        email.to_lowercase()
    );
    if state
        .signin_limit
        .check(&limiter_key, state.clock.now())
        .is_err()
    {
        audit_signin(
            &state,
            &origin,
            &email,
            AuditOutcome::Denied,
            Actor::system(),
            "too many attempts",
        )
        .await;
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts; wait a minute and try again.",
        );
    }
    let found = state.store.user_by_email(email.trim()).await.ok().flatten();
    let user = match found {
        Some((user, Some(hash)))
            if !user.disabled && crate::auth::verify_password(&hash, &password) =>
        {
            user
        }
        _ => {
            audit_signin(
                &state,
                &origin,
                &email,
                AuditOutcome::Denied,
                Actor::system(),
                "wrong email or password",
            )
            .await;
            return again(StatusCode::UNAUTHORIZED, "Wrong email or password.");
        }
    };
    // The second factor, for users who turned it on (a TOTP code once, or a recovery code).
    if user.mfa_enabled {
        if code.trim().is_empty() {
            return again(
                StatusCode::UNAUTHORIZED,
                "Enter the code from your authenticator app (or a recovery code).",
            );
        }
        match crate::mfa::check(&state, &user, &code).await {
            Ok(true) => {}
            Ok(false) => {
                audit_signin(
                    &state,
                    &origin,
                    &email,
                    AuditOutcome::Denied,
                    Actor::system(),
                    "wrong second factor",
                )
                .await;
                return again(StatusCode::UNAUTHORIZED, "Wrong email, password or code.");
            }
            Err(_) => {
                return again(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The store is unavailable; try again.",
                )
            }
        }
    }
    let Ok(secret) = random_hex(24) else {
        return again(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No randomness available.",
        );
    };
    let secret = format!("fbs_{secret}");
    let now = state.clock.now();
    let created = state
        .store
        .create_token(
            NewApiToken {
                name: "console session".into(),
                token_hash: hash_token(&secret),
                user_id: Some(user.id),
                role: user.role.as_str().into(),
                scopes: TokenScope::ALL.to_vec(),
                expires_at: Some(now.plus(SESSION_TTL)),
                // The session starts with a fresh second factor when one was given.
                mfa_at: user.mfa_enabled.then_some(now),
            },
            now,
        )
        .await;
    if created.is_err() {
        return again(
            StatusCode::SERVICE_UNAVAILABLE,
            "The store is unavailable; try again.",
        );
    }
    let actor = Actor {
        kind: ActorKind::User,
        id: Some(user.id.to_string()),
        name: user.name.clone(),
    };
    audit_signin(
        &state,
        &origin,
        &email,
        AuditOutcome::Done,
        actor,
        if user.mfa_enabled {
            "password and second factor"
        } else {
            "password"
        },
    )
    .await;
    let mut resp = Redirect::to(&next).into_response();
    *resp.status_mut() = StatusCode::SEE_OTHER;
    set_cookie(
        &mut resp,
        SESSION_COOKIE,
        &secret,
        SESSION_TTL.as_millis() / 1000,
        secure(&headers),
    );
    set_cookie(&mut resp, SIGNIN_CSRF_COOKIE, "", 0, secure(&headers));
    resp
}

/// Reads a console form body and checks its `_csrf` against the session.
pub async fn form(session: &Session, body: Body) -> Result<Vec<(String, String)>, Response> {
    let bytes = read_limited(body, 64 * 1024)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
    let form = parse_query(std::str::from_utf8(&bytes).ok())
        .map(|p| p.0)
        .unwrap_or_default();
    let csrf = form
        .iter()
        .rev()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if csrf.is_empty() || !same(csrf, &session.csrf) {
        return Err(super::page_error(StatusCode::FORBIDDEN, "The form is missing its CSRF token or it does not match your session. Reload the page and try again."));
    }
    Ok(form)
}

pub async fn sign_out(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(resp) = form(&session, body).await {
        return resp;
    }
    if let Err(e) = state
        .store
        .revoke_token(session.token_id, state.clock.now())
        .await
    {
        tracing::warn!(error = %e, "could not revoke a console session");
    }
    crate::auth::forget_tokens(&state);
    let mut resp = Redirect::to("/signin").into_response();
    *resp.status_mut() = StatusCode::SEE_OTHER;
    set_cookie(&mut resp, SESSION_COOKIE, "", 0, secure(&headers));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_same_site_only() {
        assert_eq!(safe_next("/incidents/4"), "/incidents/4");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "",
            "/x?u=http://e",
        ] {
            assert_eq!(safe_next(bad), "/incidents", "{bad}");
        }
    }

    #[test]
    fn csrf_tokens_compare_in_constant_time() {
        let t = csrf_for("secret");
        assert_eq!(t.len(), 64);
        assert!(same(&t, &csrf_for("secret")));
        assert!(!same(&t, &csrf_for("other")));
        assert!(!same(&t, ""));
    }
}
