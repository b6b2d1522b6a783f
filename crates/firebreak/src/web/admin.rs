//! Console pages for operators: the alert list, services with their integrations (keys and
//! copy-paste setup snippets only for those who configure the service), personal API tokens
//! (shown once, revocable), the audit log, users, teams and grants (admins). Access is decided by `PAGE_RULES` like
//! every page; forms carry the session's CSRF token; changes are audited like the API's.

pub mod alerts;
pub mod audit;
pub mod grants;
pub mod people;
pub mod services;
pub mod teams;
pub mod tokens;

use super::session::Session;
use crate::app::AppState;
use crate::auth::Caller;
use crate::http::access::{redact, Origin};
use crate::http::problem::Problem;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use firebreak_core::access::{Team, User};
use firebreak_core::audit::{AuditOutcome, NewAuditEntry};
use firebreak_core::store::PageRequest;
use firebreak_core::StoreError;
use serde_json::{json, Value};

/// The server's URL in setup snippets when the request does not name a usable host.
pub const FALLBACK_BASE_URL: &str = "http://127.0.0.1:8080";

/// What every page's layout needs: who is signed in and the CSRF token of the sign-out form.
pub struct Chrome {
    pub user_name: Option<crate::web::pages::Who>,
    pub csrf: String,
}

impl Chrome {
    pub fn of(caller: &Caller, session: &Session) -> Self {
        Chrome {
            user_name: Some(crate::web::pages::Who::of(caller)),
            csrf: session.csrf.clone(),
        }
    }
}

pub fn problem_page(p: Problem) -> Response {
    super::page_error(p.status, &p.detail)
}

/// A 303 to a page of ours (after a form post).
pub fn see_other(path: &str) -> Response {
    let mut resp = Redirect::to(path).into_response();
    *resp.status_mut() = StatusCode::SEE_OTHER;
    resp
}

/// Pages that show a secret must not be kept by caches or the browser's history.
pub fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    resp
}

/// The last value of a form field ("" when absent).
pub fn field(form: &[(String, String)], name: &str) -> String {
    form.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Every value of a repeated form field (checkboxes).
pub fn fields(form: &[(String, String)], name: &str) -> Vec<String> {
    form.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Rows read for a directory listing at most (pages of `PageRequest::MAX_LIMIT`).
const DIRECTORY_PAGES: usize = 20;

/// Reads every page of a newest-first store listing (at most `DIRECTORY_PAGES` pages).
async fn every_page<T, F, Fut>(mut list: F) -> Result<Vec<T>, Problem>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = firebreak_core::store::StoreResult<firebreak_core::Page<T>>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..DIRECTORY_PAGES {
        let page = list(PageRequest {
            limit: PageRequest::MAX_LIMIT,
            cursor,
        })
        .await?;
        out.extend(page.items);
        match page.next_cursor.and_then(|c| c.parse::<i64>().ok()) {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(out)
}

/// Every user, newest first.
pub async fn all_users(state: &AppState) -> Result<Vec<User>, Problem> {
    every_page(|p| state.store.list_users(p)).await
}

/// Every team, newest first.
pub async fn all_teams(state: &AppState) -> Result<Vec<Team>, Problem> {
    every_page(|p| state.store.list_teams(p)).await
}

/// What a form can be told about a store refusal (unknown ids, taken names); anything else is
/// an error page.
pub fn refusal(e: StoreError) -> Result<String, Problem> {
    match e {
        StoreError::NotFound(what) => Ok(format!("{what} not found")),
        StoreError::Conflict(msg) | StoreError::Invalid(msg) => Ok(msg),
        other => Err(other.into()),
    }
}

/// A host header we are willing to print into a snippet: a name or address and a port only.
fn usable_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && !host.starts_with(['.', '-', ':'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// This server's URL as the caller reached it (`Host`, and `X-Forwarded-Proto: https` behind a
/// TLS proxy), for setup snippets; the loopback default when the header is missing or odd.
pub fn base_url(headers: &HeaderMap) -> String {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    match headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|h| usable_host(h))
    {
        Some(host) if https => format!("https://{host}"),
        Some(host) => format!("http://{host}"),
        None => FALLBACK_BASE_URL.to_string(),
    }
}

/// A change made through the console, in the audit log like the same change through the API
/// (same action names; secrets redacted).
pub struct Change<'a> {
    pub action: &'a str,
    pub object_kind: &'a str,
    pub object_id: Option<String>,
    pub path: &'a str,
    pub before: Value,
    pub after: Value,
}

impl<'a> Change<'a> {
    /// A new object made by a console form: nothing before, the object after, its kind from the
    /// action (`grant.create` → `grant`) and its id from the object.
    pub fn created(action: &'a str, path: &'a str, after: Value) -> Self {
        Change {
            action,
            object_kind: action.split('.').next().unwrap_or(action),
            object_id: after.get("id").and_then(Value::as_str).map(str::to_string),
            path,
            before: Value::Null,
            after,
        }
    }
}

pub async fn audit_change(state: &AppState, caller: &Caller, origin: &Origin, change: Change<'_>) {
    let entry = NewAuditEntry {
        at: state.clock.now(),
        actor: caller.actor.clone(),
        action: change.action.to_string(),
        object_kind: change.object_kind.to_string(),
        object_id: change.object_id,
        outcome: AuditOutcome::Done,
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        detail: json!({"method": "POST", "path": change.path, "via": "console"}),
        before: redact(change.before),
        after: redact(change.after),
    };
    if let Err(e) = state.store.append_audit(entry).await {
        tracing::error!(error = %e, "could not append a console change to the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str, https: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(host) {
            h.insert(header::HOST, v);
        }
        if https {
            h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        }
        h
    }

    #[test]
    fn snippets_use_the_host_the_caller_reached() {
        assert_eq!(
            base_url(&with_host("fb.example:8443", false)),
            "http://fb.example:8443"
        );
        assert_eq!(
            base_url(&with_host("fb.example", true)),
            "https://fb.example"
        );
        assert_eq!(
            base_url(&with_host("[::1]:8080", false)),
            "http://[::1]:8080"
        );
        for odd in ["", "a b", "x\"><script>", "evil/path", "-x", "user@host"] {
            assert_eq!(base_url(&with_host(odd, false)), FALLBACK_BASE_URL, "{odd}");
        }
        assert_eq!(base_url(&HeaderMap::new()), FALLBACK_BASE_URL);
    }

    #[test]
    fn form_fields() {
        let form = vec![
            ("scope".to_string(), "read".to_string()),
            ("name".to_string(), "a".to_string()),
            ("scope".to_string(), "write".to_string()),
            ("name".to_string(), "b".to_string()),
        ];
        assert_eq!(field(&form, "name"), "b");
        assert_eq!(field(&form, "missing"), "");
        assert_eq!(fields(&form, "scope"), vec!["read", "write"]);
    }
}
