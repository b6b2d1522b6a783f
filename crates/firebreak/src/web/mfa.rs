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
