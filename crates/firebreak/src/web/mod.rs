//! The web console: server-rendered pages (askama templates in `templates/`), one stylesheet and
//! one small script of our own (`static/`), sessions in an HttpOnly cookie, CSRF tokens on every
//! form. Access is decided by the same `decide` as the API; every page route has a rule in
//! `PAGE_RULES`.

pub mod admin;
pub mod mfa;
pub mod pages;
pub mod session;

use crate::app::AppState;
use crate::http::access::{deny_and_audit, From, Origin, Rule};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use firebreak_core::access::Permission::*;

/// Content-Security-Policy of every console response: only our own scripts and styles.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Every signed-in page route and its rule (the sign-in page and static files are public).
#[rustfmt::skip]
pub const PAGE_RULES: &[(&str, &str, Rule)] = &[
    ("GET", "/incidents", Rule::Need(ReadIncidents, From::Global)),
    ("GET", "/incidents/live", Rule::Need(ReadIncidents, From::Global)),
    ("GET", "/incidents/{id}", Rule::Need(ReadIncidents, From::Incident)),
    ("GET", "/incidents/{id}/live", Rule::Need(ReadIncidents, From::Incident)),
    ("POST", "/incidents/{id}/acknowledge", Rule::Need(ActOnIncidents, From::Incident)),
    ("POST", "/incidents/{id}/resolve", Rule::Need(ActOnIncidents, From::Incident)),
    ("POST", "/signout", Rule::Authenticated),
    ("GET", "/mfa", Rule::Authenticated),
    ("POST", "/mfa/start", Rule::Authenticated),
    ("POST", "/mfa/confirm", Rule::Authenticated),
    ("POST", "/mfa/off", Rule::Authenticated),
    ("GET", "/mfa/verify", Rule::Authenticated),
    ("POST", "/mfa/verify", Rule::Authenticated),
    ("GET", "/alerts", Rule::Need(ReadIncidentDetails, From::Global)),
    ("GET", "/services", Rule::Need(ReadConfig, From::Global)),
    ("GET", "/services/{id}", Rule::Need(ReadConfig, From::Service)),
    ("POST", "/services/{id}/integrations", Rule::Need(ConfigureServices, From::Service)),
    ("GET", "/tokens", Rule::Authenticated),
    ("POST", "/tokens", Rule::Authenticated),
    ("POST", "/tokens/{id}/revoke", Rule::Authenticated),
    ("GET", "/audit", Rule::Need(ReadAudit, From::Global)),
    ("GET", "/users", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/users", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/users/{id}/role", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/users/{id}/disable", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/users/{id}/enable", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/users/{id}/password", Rule::Need(ManageAccess, From::Global)),
    ("GET", "/teams", Rule::Need(ReadDirectory, From::Global)),
    ("POST", "/teams", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/teams/{id}/members", Rule::Need(ManageAccess, From::Global)),
    ("GET", "/grants", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/grants", Rule::Need(ManageAccess, From::Global)),
    ("POST", "/grants/{id}/revoke", Rule::Need(ManageAccess, From::Global)),
];

pub fn router(state: AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/incidents", get(pages::incidents))
        .route("/incidents/live", get(pages::incidents_live))
        .route("/incidents/{id}", get(pages::incident))
        .route("/incidents/{id}/live", get(pages::incident_live))
        .route("/incidents/{id}/acknowledge", post(pages::acknowledge))
        .route("/incidents/{id}/resolve", post(pages::resolve))
        .route("/signout", post(session::sign_out))
        .route("/mfa", get(mfa::show))
        .route("/mfa/start", post(mfa::start))
        .route("/mfa/confirm", post(mfa::confirm))
        .route("/mfa/off", post(mfa::off))
        .route("/mfa/verify", get(mfa::verify_page).post(mfa::verify))
        .route("/alerts", get(admin::alerts::page))
        .route("/services", get(admin::services::list))
        .route("/services/{id}", get(admin::services::detail))
        .route(
            "/services/{id}/integrations",
            post(admin::services::create_integration),
        )
        .route(
            "/tokens",
            get(admin::tokens::page).post(admin::tokens::create),
        )
        .route("/tokens/{id}/revoke", post(admin::tokens::revoke))
        .route("/audit", get(admin::audit::page))
        .route(
            "/users",
            get(admin::people::page).post(admin::people::create),
        )
        .route("/users/{id}/role", post(admin::people::set_role))
        .route("/users/{id}/disable", post(admin::people::disable))
        .route("/users/{id}/enable", post(admin::people::enable))
        .route("/users/{id}/password", post(admin::people::reset_password))
        .route("/teams", get(admin::teams::page).post(admin::teams::create))
        .route("/teams/{id}/members", post(admin::teams::set_members))
        .route(
            "/grants",
            get(admin::grants::page).post(admin::grants::create),
        )
        .route("/grants/{id}/revoke", post(admin::grants::revoke))
        .route_layer(axum::middleware::from_fn_with_state(state, require_session));
    Router::new()
        .route("/", get(|| async { Redirect::to("/incidents") }))
        .route("/signin", get(session::sign_in_page).post(session::sign_in))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .merge(signed_in)
        .layer(axum::middleware::from_fn(security_headers))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("static/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("static/app.js"),
    )
        .into_response()
}

/// Strict CSP and friends on every console response.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// Signed-in pages: the session cookie's caller must pass the route's rule; state-changing
/// requests must carry the session's CSRF token. No session → the sign-in page.
async fn require_session(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let pattern = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let origin = Origin {
        ip: req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect()),
    };
    let Some((caller, session)) = session::from_cookie(&state, req.headers()).await else {
        let next_url = if method == Method::GET {
            path.clone()
        } else {
            "/incidents".into()
        };
        return Redirect::to(&format!("/signin?next={}", session::encode(&next_url)))
            .into_response();
    };
    if let Some(redirect) = second_factor_gate(&state, &caller, &req, &pattern) {
        return redirect;
    }
    let Some(rule) = PAGE_RULES
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == pattern)
        .map(|(_, _, r)| *r)
    else {
        return signed_in_error(
            StatusCode::FORBIDDEN,
            "This page has no access rule.",
            &caller,
            &session,
        );
    };
    if let Rule::Need(permission, from) = rule {
        let id = pattern
            .split('/')
            .position(|s| s == "{id}")
            .and_then(|i| path.split('/').nth(i))
            .map(str::to_string);
        let target = match crate::http::access::target_of(&state, from, id.as_deref()).await {
            Ok(t) => t,
            Err(p) => return signed_in_error(p.status, &p.detail, &caller, &session),
        };
        if let firebreak_core::access::Decision::Deny(reason) =
            firebreak_core::access::decide(&caller.subject, permission, &target)
        {
            deny_and_audit(&state, &caller, &origin, &method, &path, &reason).await;
            return signed_in_error(
                StatusCode::FORBIDDEN,
                &format!("Not allowed: {reason}."),
                &caller,
                &session,
            );
        }
    }
    let mut req = req;
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(session);
    req.extensions_mut().insert(origin);
    next.run(req).await
}

/// An error page for a signed-in person: with the header, so they can navigate and sign out.
pub fn signed_in_error(
    status: StatusCode,
    text: &str,
    caller: &crate::auth::Caller,
    session: &session::Session,
) -> Response {
    let page = pages::MessagePage {
        heading: status.canonical_reason().unwrap_or("Error").to_string(),
        text: text.to_string(),
        user_name: Some(pages::Who::of(caller)),
        csrf: session.csrf.clone(),
    };
    (status, pages::render(&page)).into_response()
}

/// A plain page with a status and a message.
pub fn page_error(status: StatusCode, text: &str) -> Response {
    let page = pages::MessagePage {
        heading: status.canonical_reason().unwrap_or("Error").to_string(),
        text: text.to_string(),
        user_name: None,
        csrf: String::new(),
    };
    (status, pages::render(&page)).into_response()
}

/// The second-factor rules of the console: a role that must use one sees nothing but enrolment
/// until it is on; sensitive actions need a second factor given within the step-up window.
fn second_factor_gate(
    state: &AppState,
    caller: &crate::auth::Caller,
    req: &Request,
    pattern: &str,
) -> Option<Response> {
    let user = caller.user.as_ref()?;
    let exempt = pattern.starts_with("/mfa") || pattern == "/signout";
    if !user.mfa_enabled && state.mfa_required_roles.contains(&user.role) && !exempt {
        return Some(admin::see_other("/mfa"));
    }
    let sensitive = req.method() == Method::POST && mfa::SENSITIVE.contains(&pattern);
    let fresh = caller.token.mfa_at.is_some_and(|at| {
        state.clock.now().as_millis() - at.as_millis() <= state.mfa_step_up_window.as_millis()
    });
    if sensitive && user.mfa_enabled && !fresh {
        // Back to the page the form was on (same site only) after the code.
        let from = req
            .headers()
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
            .map(|p| session::safe_next(&p))
            .unwrap_or_else(|| "/incidents".into());
        return Some(admin::see_other(&format!(
            "/mfa/verify?next={}",
            session::encode(&from)
        )));
    }
    None
}
