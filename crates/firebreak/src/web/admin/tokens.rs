//! `/tokens`: the caller's API tokens (admins: everyone's), a form that creates a personal token
//! and shows its text once, and revoke buttons. The checks are those of `POST /api/v1/tokens` and
//! `DELETE /api/v1/tokens/{id}`: no scope the calling session lacks, expiry between 1m and 1095d,
//! only admins revoke other people's tokens.

use super::{audit_change, field, fields, no_store, problem_page, see_other, Change, Chrome};
use crate::app::AppState;
use crate::auth::{forget_tokens, Caller};
use crate::http::access::{forbid, Origin};
use crate::http::problem::Problem;
use crate::http::tokens::{escalates, issue, parse_expiry, parse_scopes, within_limit, IssueToken};
use crate::web::pages::render;
use crate::web::session::{form, Session};
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use firebreak_core::access::{Permission, Target, TokenScope};
use firebreak_core::store::PageRequest;
use firebreak_core::token::ApiToken;
use firebreak_core::{Timestamp, TokenId, UserId};
use serde_json::json;
use std::collections::HashMap;

/// Longest lifetime a token may be given (as the API).
/// Tokens on the page.
const PAGE_SIZE: u32 = 200;

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub scopes: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// active, expired or revoked
    pub state: &'static str,
    pub current: bool,
    pub can_revoke: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    user_name: Option<crate::web::pages::Who>,
    csrf: String,
    all_users: bool,
    tokens: Vec<TokenRow>,
    /// The scopes the caller may give (those of the session), and whether each is ticked.
    scopes: Vec<(&'static str, bool)>,
    error: Option<String>,
    form_name: String,
    form_expires: String,
}

#[derive(Template)]
#[template(path = "token_created.html")]
struct CreatedPage {
    user_name: Option<crate::web::pages::Who>,
    csrf: String,
    token: TokenRow,
    text: String,
}

fn is_admin(caller: &Caller) -> bool {
    caller.may(Permission::ManageAccess, &Target::Global)
}

/// Whether the caller may revoke this token (the API's rule).
fn may_revoke(caller: &Caller, token: &ApiToken) -> bool {
    let own = token.user_id.is_some() && token.user_id == caller.subject.user_id
        || token.id == caller.token.id;
    own || is_admin(caller)
}

fn state_of(token: &ApiToken, now: Timestamp) -> &'static str {
    if token.revoked_at.is_some() {
        "revoked"
    } else if token.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

async fn owner(
    state: &AppState,
    names: &mut HashMap<UserId, String>,
    token: &ApiToken,
) -> Result<String, Problem> {
    let Some(uid) = token.user_id else {
        return Ok(format!("service token ({})", token.role));
    };
    if let Some(n) = names.get(&uid) {
        return Ok(n.clone());
    }
    let name = match state.store.get_user(uid).await? {
        Some(u) => format!("{} <{}>", u.name, u.email),
        None => format!("user {uid}"),
    };
    names.insert(uid, name.clone());
    Ok(name)
}

fn row(caller: &Caller, token: &ApiToken, owner: String, now: Timestamp) -> TokenRow {
    let state = state_of(token, now);
    TokenRow {
        id: token.id.to_string(),
        name: token.name.clone(),
        owner,
        scopes: token
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        created_at: token.created_at.to_string(),
        expires_at: token.expires_at.map(|e| e.to_string()),
        state,
        current: token.id == caller.token.id,
        can_revoke: state == "active" && may_revoke(caller, token),
    }
}

async fn list_page(
    state: &AppState,
    caller: &Caller,
    chrome: Chrome,
) -> Result<TokensPage, Problem> {
    let page = PageRequest {
        limit: PAGE_SIZE,
        cursor: None,
    };
    let all_users = is_admin(caller);
    let items = match (all_users, caller.subject.user_id) {
        (true, _) => state.store.list_tokens(None, page).await?.items,
        (false, Some(uid)) => state.store.list_tokens(Some(uid), page).await?.items,
        (false, None) => vec![caller.token.clone()],
    };
    let now = state.clock.now();
    let mut names = HashMap::new();
    let mut tokens = Vec::with_capacity(items.len());
    for t in &items {
        let who = owner(state, &mut names, t).await?;
        tokens.push(row(caller, t, who, now));
    }
    Ok(TokensPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        all_users,
        tokens,
        scopes: caller
            .token
            .scopes
            .iter()
            .map(|s| (s.as_str(), *s == TokenScope::Read))
            .collect(),
        error: None,
        form_name: String::new(),
        form_expires: "90d".into(),
    })
}

pub async fn page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
) -> Response {
    match list_page(&s, &caller, Chrome::of(&caller, &session)).await {
        Ok(page) => render(&page),
        Err(p) => problem_page(p),
    }
}

/// What the create form asks for.
struct Asked {
    name: String,
    scopes: Vec<TokenScope>,
    expires_at: Option<Timestamp>,
}

/// Checks the form like the API checks its request body; the error is shown on the form.
fn asked(form: &[(String, String)], now: Timestamp) -> Result<Asked, String> {
    let name = field(form, "name");
    firebreak_core::service::validate_name("name", &name)?;
    let ticked = fields(form, "scope");
    let scopes = parse_scopes(ticked.iter().map(String::as_str))?;
    let expires_at = match field(form, "expires_in").trim() {
        "" => None,
        text => Some(parse_expiry(text, now)?),
    };
    Ok(Asked {
        name: name.trim().to_string(),
        scopes,
        expires_at,
    })
}

/// The tokens page again with the form's values and what is wrong with them.
async fn form_error(
    state: &AppState,
    caller: &Caller,
    chrome: Chrome,
    form: &[(String, String)],
    msg: String,
) -> Response {
    match list_page(state, caller, chrome).await {
        Ok(mut page) => {
            let ticked = fields(form, "scope");
            for (scope, on) in page.scopes.iter_mut() {
                *on = ticked.iter().any(|t| t == scope);
            }
            page.error = Some(msg);
            page.form_name = field(form, "name");
            page.form_expires = field(form, "expires_in");
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
    let chrome = Chrome::of(&caller, &session);
    let Some(user_id) = caller.subject.user_id else {
        return problem_page(Problem::bad_request(
            "a service token has no user to make a personal token for",
        ));
    };
    let now = s.clock.now();
    let asked = match asked(&form, now) {
        Ok(a) => a,
        Err(msg) => return form_error(&s, &caller, chrome, &form, msg).await,
    };
    // The API's limit: console and API share one budget per caller.
    if let Err(retry) = within_limit(&s, &caller) {
        let msg = format!("Too many tokens created; wait {retry} s and try again.");
        return problem_page(Problem::new(StatusCode::TOO_MANY_REQUESTS, msg));
    }
    if escalates(&caller, &asked.scopes) {
        let reason = "a token cannot have scopes the calling token lacks";
        let p = forbid(&s, &caller, &origin, &Method::POST, "/tokens", reason).await;
        return problem_page(p);
    }
    let issued = IssueToken {
        name: asked.name,
        user_id: Some(user_id),
        role: caller.subject.role,
        scopes: asked.scopes,
        expires_at: asked.expires_at,
    };
    let (token, text) = match issue(&s, issued).await {
        Ok(t) => t,
        Err(p) => return problem_page(p),
    };
    let change = Change::created("token.create", "/tokens", json!(token));
    audit_change(&s, &caller, &origin, change).await;
    let mut names = HashMap::new();
    let who = match owner(&s, &mut names, &token).await {
        Ok(w) => w,
        Err(p) => return problem_page(p),
    };
    no_store(render(&CreatedPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        token: row(&caller, &token, who, now),
        text,
    }))
}

pub async fn revoke(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    if let Err(resp) = form(&session, body).await {
        return resp;
    }
    match revoke_one(&s, &caller, &origin, &id).await {
        Ok(()) => see_other("/tokens"),
        Err(p) => problem_page(p),
    }
}

async fn revoke_one(
    s: &AppState,
    caller: &Caller,
    origin: &Origin,
    id: &str,
) -> Result<(), Problem> {
    let tid = TokenId::parse(id).ok_or_else(|| Problem::not_found(format!("token {id}")))?;
    let token = s
        .store
        .get_token(tid)
        .await?
        .ok_or_else(|| Problem::not_found(format!("token {tid}")))?;
    let path = format!("/tokens/{tid}/revoke");
    if !may_revoke(caller, &token) {
        let reason = "only admins revoke other users' tokens";
        return Err(forbid(s, caller, origin, &Method::POST, &path, reason).await);
    }
    let revoked = s
        .store
        .revoke_token(tid, s.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("token {tid}")))?;
    forget_tokens(s);
    let change = Change {
        action: "token.delete",
        object_kind: "token",
        object_id: Some(tid.to_string()),
        path: &path,
        before: json!(token),
        after: json!(revoked),
    };
    audit_change(s, caller, origin, change).await;
    Ok(())
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
    fn the_form_is_checked_like_the_api() {
        let now = Timestamp::from_millis(0);
        let ok = asked(
            &form(&[
                ("name", " ci "),
                ("scope", "write"),
                ("scope", "read"),
                ("expires_in", "90d"),
            ]),
            now,
        );
        assert!(ok.as_ref().is_ok_and(|a| a.name == "ci"
            && a.scopes == vec![TokenScope::Read, TokenScope::Write]
            && a.expires_at == Some(now.plus(firebreak_core::DurationMs::from_secs(90 * 86_400)))));
        assert!(asked(&form(&[("name", "x")]), now).is_err(), "no scope");
        assert!(asked(&form(&[("name", ""), ("scope", "read")]), now).is_err());
        assert!(asked(&form(&[("name", "x"), ("scope", "root")]), now).is_err());
        for bad in ["30s", "2000d", "soon"] {
            let f = form(&[("name", "x"), ("scope", "read"), ("expires_in", bad)]);
            assert!(asked(&f, now).is_err(), "{bad}");
        }
        let never = asked(
            &form(&[("name", "x"), ("scope", "read"), ("expires_in", "")]),
            now,
        );
        assert!(never.is_ok_and(|a| a.expires_at.is_none()));
    }
}
