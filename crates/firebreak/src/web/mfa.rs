//! The console's second-factor page: turn TOTP on (QR code, first code, recovery codes shown
//! once) and off (with a current or recovery code).

use super::admin::{no_store, problem_page, see_other, Chrome};
use super::pages::{render, Who};
use super::session::{form, Session};
use crate::app::AppState;
use crate::auth::Caller;
use crate::http::problem::Problem;
use crate::mfa::{self, Enrolment};
use askama::Template;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage {
    user_name: Option<Who>,
    csrf: String,
    enabled: bool,
    enrolment: Option<Enrolment>,
    recovery_codes: Option<Vec<String>>,
    error: Option<String>,
}

fn page(chrome: Chrome, enabled: bool) -> MfaPage {
    MfaPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        enabled,
        enrolment: None,
        recovery_codes: None,
        error: None,
    }
}

fn user(caller: &Caller) -> Result<&firebreak_core::access::User, Problem> {
    caller
        .user
        .as_ref()
        .ok_or_else(|| Problem::bad_request("a service token has no second factor"))
}

pub async fn show(
    State(_s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
) -> Response {
    let enabled = caller.user.as_ref().is_some_and(|u| u.mfa_enabled);
    render(&page(Chrome::of(&caller, &session), enabled))
}

pub async fn start(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    body: Body,
) -> Response {
    if let Err(resp) = form(&session, body).await {
        return resp;
    }
    let u = match user(&caller) {
        Ok(u) => u,
        Err(p) => return problem_page(p),
    };
    match mfa::start(&s, u).await {
        Ok(e) => {
            let mut p = page(Chrome::of(&caller, &session), false);
            p.enrolment = Some(e);
            no_store(render(&p))
        }
        Err(p) => problem_page(p),
    }
}

pub async fn confirm(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    body: Body,
) -> Response {
    let fields = match form(&session, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let code = fields
        .iter()
        .rev()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let u = match user(&caller) {
        Ok(u) => u,
        Err(p) => return problem_page(p),
    };
    match mfa::confirm(&s, u, &code).await {
        Ok(codes) => {
            crate::auth::forget_tokens(&s);
            let mut p = page(Chrome::of(&caller, &session), true);
            p.recovery_codes = Some(codes);
            no_store(render(&p))
        }
        Err(problem) if problem.status == StatusCode::BAD_REQUEST => {
            let mut p = page(Chrome::of(&caller, &session), false);
            p.error = Some(problem.detail);
            (StatusCode::BAD_REQUEST, render(&p)).into_response()
        }
        Err(p) => problem_page(p),
    }
}

pub async fn off(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    body: Body,
) -> Response {
    let fields = match form(&session, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let code = fields
        .iter()
        .rev()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let u = match user(&caller) {
        Ok(u) => u,
        Err(p) => return problem_page(p),
    };
    match mfa::check(&s, u, &code).await {
        Ok(true) => match mfa::turn_off(&s, u).await {
            Ok(()) => {
                crate::auth::forget_tokens(&s);
                see_other("/mfa")
            }
            Err(p) => problem_page(p),
        },
        Ok(false) => {
            let mut p = page(Chrome::of(&caller, &session), true);
            p.error = Some("The code does not match.".into());
            (StatusCode::FORBIDDEN, render(&p)).into_response()
        }
        Err(p) => problem_page(p),
    }
}

#[derive(Template)]
#[template(path = "mfa_verify.html")]
struct VerifyPage {
    user_name: Option<Who>,
    csrf: String,
    next: String,
    error: Option<String>,
}

/// Step-up: asks for the second factor again before a sensitive action.
pub async fn verify_page(
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let chrome = Chrome::of(&caller, &session);
    let next = super::session::safe_next(q.get("next").map(String::as_str).unwrap_or("/incidents"));
    no_store(render(&VerifyPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        next,
        error: None,
    }))
}

pub async fn verify(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    body: Body,
) -> Response {
    let fields = match form(&session, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let field = |k: &str| {
        fields
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let next = super::session::safe_next(&field("next"));
    let u = match user(&caller) {
        Ok(u) => u,
        Err(p) => return problem_page(p),
    };
    if !u.mfa_enabled {
        // Nothing to verify: a session must not be marked as having given a factor it has not.
        return problem_page(Problem::bad_request(
            "no second factor is on for you; set one up at /mfa first",
        ));
    }
    match mfa::check(&s, u, &field("code")).await {
        Ok(true) => match s
            .store
            .mark_token_mfa(session.token_id, s.clock.now())
            .await
        {
            Ok(_) => {
                crate::auth::forget_tokens(&s);
                see_other(&next)
            }
            Err(e) => problem_page(e.into()),
        },
        Ok(false) => {
            let chrome = Chrome::of(&caller, &session);
            let page = VerifyPage {
                user_name: chrome.user_name,
                csrf: chrome.csrf,
                next,
                error: Some("The code does not match.".into()),
            };
            (StatusCode::FORBIDDEN, render(&page)).into_response()
        }
        Err(p) => problem_page(p),
    }
}

/// Console actions that change access or reveal secrets: they need a recent second factor.
pub const SENSITIVE: &[&str] = &[
    "/tokens",
    "/tokens/{id}/revoke",
    "/users",
    "/users/{id}/role",
    "/users/{id}/disable",
    "/users/{id}/enable",
    "/users/{id}/password",
    "/teams",
    "/teams/{id}/members",
    "/grants",
    "/grants/{id}/revoke",
    "/services/{id}/integrations",
    "/mfa/off",
];
