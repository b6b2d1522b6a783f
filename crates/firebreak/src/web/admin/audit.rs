//! `/audit`: the newest audit entries for admins, filtered by outcome and action.

use super::{problem_page, Chrome};
use crate::app::AppState;
use crate::auth::Caller;
use crate::http::problem::Problem;
use crate::web::pages::render;
use crate::web::session::Session;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use firebreak_core::audit::{AuditFilter, AuditOutcome};
use firebreak_core::store::PageRequest;
use std::collections::HashMap;

/// Entries on the page.
const PAGE_SIZE: u32 = 100;
/// Longest action filter accepted.
const MAX_ACTION_CHARS: usize = 100;

pub struct AuditRow {
    pub id: String,
    pub at: String,
    pub action: String,
    pub actor: String,
    pub actor_kind: &'static str,
    pub object: String,
    pub outcome: &'static str,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    user_name: Option<crate::web::pages::Who>,
    csrf: String,
    outcome: String,
    action: String,
    actions: [&'static str; 10],
    entries: Vec<AuditRow>,
}

fn filter(q: &HashMap<String, String>) -> Result<(String, String, AuditFilter), Problem> {
    let outcome = q.get("outcome").cloned().unwrap_or_default();
    let action = q
        .get("action")
        .map(|a| a.trim().to_string())
        .unwrap_or_default();
    if action.chars().count() > MAX_ACTION_CHARS {
        return Err(Problem::bad_request("the action filter is too long"));
    }
    let parsed =
        match outcome.as_str() {
            "" => None,
            o => Some(AuditOutcome::parse(o).ok_or_else(|| {
                Problem::bad_request(format!("'{o}' is not one of: done, denied"))
            })?),
        };
    let f = AuditFilter {
        action: (!action.is_empty()).then(|| action.clone()),
        outcome: parsed,
        page: PageRequest {
            limit: PAGE_SIZE,
            cursor: None,
        },
        ..Default::default()
    };
    Ok((outcome, action, f))
}

async fn build(
    state: &AppState,
    chrome: Chrome,
    q: &HashMap<String, String>,
) -> Result<AuditPage, Problem> {
    let (outcome, action, f) = filter(q)?;
    let entries = state
        .store
        .list_audit(f)
        .await?
        .items
        .into_iter()
        .map(|e| AuditRow {
            id: e.id.to_string(),
            at: e.entry.at.to_string(),
            action: e.entry.action,
            actor: e.entry.actor.name,
            actor_kind: e.entry.actor.kind.as_str(),
            object: match e.entry.object_id {
                Some(id) => format!("{} {id}", e.entry.object_kind),
                None => e.entry.object_kind,
            },
            outcome: e.entry.outcome.as_str(),
            ip: e.entry.ip.unwrap_or_default(),
        })
        .collect();
    Ok(AuditPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        outcome,
        action,
        actions: [
            "access.denied",
            "session.create",
            "session.failed",
            "token.create",
            "token.delete",
            "service.create",
            "integration.create",
            "user.create",
            "grant.create",
            "grant.delete",
        ],
        entries,
    })
}

pub async fn page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match build(&s, Chrome::of(&caller, &session), &q).await {
        Ok(page) => render(&page),
        Err(p) => problem_page(p),
    }
}
