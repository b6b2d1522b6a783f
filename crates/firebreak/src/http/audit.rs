//! `/api/v1/audit`: the audit log for admins — filtered pages, a JSONL export for SIEMs, and the
//! raw chain (oldest first) that `firebreak audit verify` checks. Read-only: no route changes it.

use super::problem::Problem;
use super::query::{parse_query, Params};
use crate::app::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use firebreak_core::audit::{AuditFilter, AuditOutcome};
use firebreak_core::store::PageRequest;
use firebreak_core::AuditId;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(list))
        .route("/audit/export", get(export))
        .route("/audit/chain", get(chain))
}

const FILTERS: &[&str] = &[
    "actor_id",
    "action",
    "object_kind",
    "object_id",
    "outcome",
    "since",
    "until",
    "limit",
    "cursor",
];

fn filter(p: &Params) -> Result<AuditFilter, Problem> {
    p.check_known(FILTERS)?;
    Ok(AuditFilter {
        actor_id: p.get("actor_id").map(str::to_string),
        action: p.get("action").map(str::to_string),
        object_kind: p.get("object_kind").map(str::to_string),
        object_id: p.get("object_id").map(str::to_string),
        outcome: p
            .get("outcome")
            .map(|o| {
                AuditOutcome::parse(o).ok_or_else(|| {
                    Problem::bad_request(format!("'outcome' '{o}' is not one of: done, denied"))
                })
            })
            .transpose()?,
        since: p.time("since")?,
        until: p.time("until")?,
        page: p.page()?,
    })
}

async fn list(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    Ok(Json(s.store.list_audit(filter(&p)?).await?).into_response())
}

/// Entries exported in one response at most.
const EXPORT_MAX: usize = 100_000;

/// JSON Lines, newest first, with the same filters as the list (paging internally).
async fn export(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    let mut f = filter(&p)?;
    f.page = PageRequest {
        limit: PageRequest::MAX_LIMIT,
        cursor: f.page.cursor,
    };
    let mut out = String::new();
    let mut n = 0;
    loop {
        let page = s.store.list_audit(f.clone()).await?;
        for e in &page.items {
            out.push_str(&serde_json::to_string(e).unwrap_or_default());
            out.push('\n');
            n += 1;
        }
        match page.next_cursor.and_then(|c| c.parse().ok()) {
            Some(c) if n < EXPORT_MAX => f.page.cursor = Some(c),
            _ => break,
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}

async fn chain(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, Problem> {
    let p = parse_query(q.as_deref())?;
    p.check_known(&["after", "limit"])?;
    let after = p.id("after", AuditId::parse)?;
    let limit = match p.get("limit") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=5000).contains(n))
            .ok_or_else(|| Problem::bad_request("'limit' must be 1 to 5000"))?,
        None => 1000,
    };
    Ok(Json(s.store.audit_chain(after, limit).await?).into_response())
}
