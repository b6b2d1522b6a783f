//! `/alerts`: alerts newest first, filtered by status, severity and service, limited to what the
//! caller may see (external users: their grants), with links to their incidents.

use super::{problem_page, Chrome};
use crate::app::AppState;
use crate::auth::Caller;
use crate::http::access::{target_of, From};
use crate::http::problem::Problem;
use crate::web::pages::render;
use crate::web::session::{encode, Session};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use firebreak_core::access::Permission;
use firebreak_core::store::PageRequest;
use firebreak_core::{AlertFilter, AlertSeverity, AlertStatus, ServiceId};
use std::collections::HashMap;

/// Alerts on one page.
const PAGE_SIZE: u32 = 200;

pub struct AlertRow {
    pub id: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub summary: String,
    pub source: String,
    pub service: String,
    pub incident_id: Option<String>,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    user_name: Option<crate::web::pages::Who>,
    csrf: String,
    status: String,
    severity: String,
    service_id: String,
    service_name: Option<String>,
    status_options: [&'static str; 5],
    severities: [&'static str; 4],
    alerts: Vec<AlertRow>,
    /// The query string of the next (older) page, if there is one.
    older: Option<String>,
}

struct Filters {
    status: String,
    severity: String,
    service_id: String,
    filter: AlertFilter,
}

fn filters(q: &HashMap<String, String>) -> Result<Filters, Problem> {
    let status = q.get("status").cloned().unwrap_or_else(|| "open".into());
    let severity = q.get("severity").cloned().unwrap_or_default();
    let service_id = q.get("service_id").cloned().unwrap_or_default();
    let statuses = match status.as_str() {
        "open" => vec![AlertStatus::Triggered, AlertStatus::Acknowledged],
        "all" => vec![],
        s => vec![AlertStatus::parse(s)
            .ok_or_else(|| Problem::bad_request(format!("unknown status '{s}'")))?],
    };
    let sev = match severity.as_str() {
        "" => None,
        s => Some(
            AlertSeverity::parse(s)
                .ok_or_else(|| Problem::bad_request(format!("unknown severity '{s}'")))?,
        ),
    };
    let service = match service_id.as_str() {
        "" => None,
        s => Some(
            ServiceId::parse(s)
                .ok_or_else(|| Problem::bad_request(format!("'{s}' is not a service id")))?,
        ),
    };
    let cursor = match q.get("cursor").map(String::as_str) {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| Problem::bad_request(format!("'{c}' is not a cursor")))?,
        ),
    };
    Ok(Filters {
        status,
        severity,
        service_id,
        filter: AlertFilter {
            statuses,
            severity: sev,
            service_id: service,
            page: PageRequest {
                limit: PAGE_SIZE,
                cursor,
            },
            ..Default::default()
        },
    })
}

async fn service_name(
    state: &AppState,
    names: &mut HashMap<ServiceId, String>,
    id: ServiceId,
) -> Result<String, Problem> {
    if let Some(n) = names.get(&id) {
        return Ok(n.clone());
    }
    let name = match state.store.get_service(id).await? {
        Some(s) => s.name,
        None => format!("service {id} (deleted)"),
    };
    names.insert(id, name.clone());
    Ok(name)
}

async fn build(
    state: &AppState,
    caller: &Caller,
    chrome: Chrome,
    q: &HashMap<String, String>,
) -> Result<AlertsPage, Problem> {
    let Filters {
        status,
        severity,
        service_id,
        mut filter,
    } = filters(q)?;
    filter.visible = crate::http::access::visibility(state, caller).await?;
    let page = state.store.list_alerts(filter).await?;
    let mut names = HashMap::new();
    let mut alerts = Vec::with_capacity(page.items.len());
    for a in page.items {
        alerts.push(AlertRow {
            id: a.id.to_string(),
            severity: a.severity.as_str(),
            status: a.status.as_str(),
            summary: a.summary,
            source: a.source,
            service: service_name(state, &mut names, a.service_id).await?,
            incident_id: a.incident_id.map(|i| i.to_string()),
            count: a.count,
            first_seen: a.first_seen_at.to_string(),
            last_seen: a.last_seen_at.to_string(),
        });
    }
    // The filtered service's name, only to callers who may read that service.
    let service_name = match target_of(state, From::Service, Some(&service_id)).await {
        Ok(t) if caller.may(Permission::ReadConfig, &t) => match ServiceId::parse(&service_id) {
            Some(id) => Some(service_name(state, &mut names, id).await?),
            None => None,
        },
        _ => None,
    };
    let older = page.next_cursor.map(|c| {
        format!(
            "status={}&severity={}&service_id={}&cursor={}",
            encode(&status),
            encode(&severity),
            encode(&service_id),
            encode(&c)
        )
    });
    Ok(AlertsPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        status,
        severity,
        service_id,
        service_name,
        status_options: ["open", "triggered", "acknowledged", "resolved", "all"],
        severities: ["critical", "error", "warning", "info"],
        alerts,
        older,
    })
}

pub async fn page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let chrome = Chrome::of(&caller, &session);
    match build(&s, &caller, chrome, &q).await {
        Ok(page) => render(&page),
        Err(p) => problem_page(p),
    }
}
