//! `/services` and `/services/{id}`: services the caller may see, their integrations, and for
//! those who configure a service its integration keys with copy-paste setup snippets; a form
//! creates an integration and shows its key on the result page.

use super::{audit_change, base_url, field, no_store, problem_page, Change, Chrome};
use crate::app::AppState;
use crate::auth::{random_hex, Caller};
use crate::http::access::Origin;
use crate::http::problem::Problem;
use crate::web::pages::render;
use crate::web::session::{form, Session};
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use firebreak_core::access::{Permission, ServiceRef, Target};
use firebreak_core::service::validate_name;
use firebreak_core::store::PageRequest;
use firebreak_core::{
    IncidentSeverity, Integration, IntegrationKind, NewIntegration, Service, ServiceId,
};
use serde_json::json;
use std::collections::HashMap;

/// Services on one page.
const PAGE_SIZE: u32 = 200;

pub struct IntegrationRow {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub severity_override: Option<&'static str>,
    pub created_at: String,
    /// `None`: hidden from this caller.
    pub key: Option<String>,
    /// The setup snippet with the key in it; `None` when the key is hidden.
    pub snippet: Option<String>,
}

pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub integrations: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage {
    user_name: Option<crate::web::pages::Who>,
    csrf: String,
    services: Vec<ServiceRow>,
    older: Option<String>,
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    user_name: Option<crate::web::pages::Who>,
    csrf: String,
    service: Service,
    team: Option<String>,
    integrations: Vec<IntegrationRow>,
    can_configure: bool,
    kinds: [&'static str; 3],
    severities: [&'static str; 4],
    error: Option<String>,
    form_kind: String,
    form_name: String,
}

#[derive(Template)]
#[template(path = "integration_created.html")]
struct CreatedPage {
    user_name: Option<crate::web::pages::Who>,
    csrf: String,
    service: Service,
    integration: IntegrationRow,
}

/// The copy-paste setup for a sender of this integration's kind (keys are bound to a kind).
pub fn snippet(kind: IntegrationKind, base: &str, key: &str) -> String {
    match kind {
        IntegrationKind::Alertmanager => format!(
            "# alertmanager.yml\n\
             route:\n  receiver: firebreak\n\
             receivers:\n  - name: firebreak\n    webhook_configs:\n      \
             - url: \"{base}/ingest/alertmanager/{key}\"\n        send_resolved: true\n"
        ),
        IntegrationKind::Pagerduty => format!(
            "# Any PagerDuty Events API v2 sender: point it at {base}/v2/enqueue\n\
             # with routing_key {key}. In alertmanager.yml:\n\
             receivers:\n  - name: firebreak\n    pagerduty_configs:\n      \
             - routing_key: \"{key}\"\n        url: \"{base}/v2/enqueue\"\n\n\
             # Or by hand:\n\
             curl -sS -X POST '{base}/v2/enqueue' \\\n  -H 'Content-Type: application/json' \\\n  \
             -d '{{\"routing_key\": \"{key}\", \"event_action\": \"trigger\", \"dedup_key\": \"test-1\", \
             \"payload\": {{\"summary\": \"Test alert\", \"source\": \"curl\", \"severity\": \"critical\"}}}}'\n"
        ),
        IntegrationKind::Generic => format!(
            "curl -sS -X POST '{base}/ingest/generic/{key}' \\\n  -H 'Content-Type: application/json' \\\n  \
             -d '{{\"summary\": \"Disk full on db-1\", \"severity\": \"critical\", \"dedup_key\": \"db-1/disk\", \"source\": \"db-1\"}}'\n\n\
             # Resolve it again:\n\
             curl -sS -X POST '{base}/ingest/generic/{key}' \\\n  -H 'Content-Type: application/json' \\\n  \
             -d '{{\"action\": \"resolve\", \"dedup_key\": \"db-1/disk\"}}'\n"
        ),
    }
}

fn may_configure(caller: &Caller, service: &Service) -> bool {
    let target = Target::Services(vec![ServiceRef {
        id: service.id,
        team_id: service.team_id,
    }]);
    caller.may(Permission::ConfigureServices, &target)
}

fn row(i: Integration, show_key: bool, base: &str) -> IntegrationRow {
    IntegrationRow {
        id: i.id.to_string(),
        kind: i.kind.as_str(),
        name: i.name,
        severity_override: i.severity_override.map(IncidentSeverity::as_str),
        created_at: i.created_at.to_string(),
        snippet: show_key.then(|| snippet(i.kind, base, &i.key)),
        key: show_key.then_some(i.key),
    }
}

async fn list_page(
    state: &AppState,
    caller: &Caller,
    chrome: Chrome,
    q: &HashMap<String, String>,
) -> Result<ServicesPage, Problem> {
    let cursor = match q.get("cursor").map(String::as_str) {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| Problem::bad_request(format!("'{c}' is not a cursor")))?,
        ),
    };
    let visible = crate::http::access::visibility(state, caller).await?;
    let page = state
        .store
        .list_services(
            PageRequest {
                limit: PAGE_SIZE,
                cursor,
            },
            visible,
        )
        .await?;
    let mut services = Vec::with_capacity(page.items.len());
    for s in page.items {
        let integrations = state
            .store
            .list_integrations(s.id)
            .await?
            .into_iter()
            .map(|i| (i.kind.as_str(), i.name))
            .collect();
        services.push(ServiceRow {
            id: s.id.to_string(),
            name: s.name,
            description: s.description,
            integrations,
        });
    }
    Ok(ServicesPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        services,
        older: page.next_cursor,
    })
}

pub async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match list_page(&s, &caller, Chrome::of(&caller, &session), &q).await {
        Ok(page) => render(&page),
        Err(p) => problem_page(p),
    }
}

async fn load(state: &AppState, raw: &str) -> Result<Service, Problem> {
    let id = ServiceId::parse(raw).ok_or_else(|| Problem::not_found(format!("service {raw}")))?;
    state
        .store
        .get_service(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("service {id}")))
}

async fn detail_page(
    state: &AppState,
    caller: &Caller,
    chrome: Chrome,
    service: Service,
    base: &str,
) -> Result<ServicePage, Problem> {
    let can_configure = may_configure(caller, &service);
    let integrations = state
        .store
        .list_integrations(service.id)
        .await?
        .into_iter()
        .map(|i| row(i, can_configure, base))
        .collect();
    let team = match service.team_id {
        Some(t) if caller.may(Permission::ReadDirectory, &Target::Global) => {
            state.store.get_team(t).await?.map(|t| t.name)
        }
        _ => None,
    };
    Ok(ServicePage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        service,
        team,
        integrations,
        can_configure,
        kinds: ["alertmanager", "pagerduty", "generic"],
        severities: ["SEV1", "SEV2", "SEV3", "SEV4"],
        error: None,
        form_kind: "alertmanager".into(),
        form_name: String::new(),
    })
}

pub async fn detail(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let chrome = Chrome::of(&caller, &session);
    let page = match load(&s, &id).await {
        Ok(service) => detail_page(&s, &caller, chrome, service, &base_url(&headers)).await,
        Err(p) => Err(p),
    };
    match page {
        Ok(page) => no_store(render(&page)),
        Err(p) => problem_page(p),
    }
}

/// The integration a form asks for, or what is wrong with the form.
fn new_integration(form: &[(String, String)]) -> Result<NewIntegration, String> {
    let kind_text = field(form, "kind");
    let kind = IntegrationKind::parse(&kind_text).ok_or_else(|| {
        format!("'{kind_text}' is not a kind of integration (alertmanager, pagerduty, generic)")
    })?;
    let name = field(form, "name");
    validate_name("name", &name)?;
    let severity_override = match field(form, "severity_override").as_str() {
        "" => None,
        s => Some(
            IncidentSeverity::parse(s)
                .ok_or_else(|| format!("'{s}' is not one of SEV1, SEV2, SEV3, SEV4"))?,
        ),
    };
    let key = random_hex(16).map_err(|e| e.to_string())?;
    Ok(NewIntegration {
        kind,
        name: name.trim().to_string(),
        key,
        severity_override,
        auto_resolve_after: None,
    })
}

pub async fn create_integration(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let form = match form(&session, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let service = match load(&s, &id).await {
        Ok(service) => service,
        Err(p) => return problem_page(p),
    };
    let base = base_url(&headers);
    let chrome = Chrome::of(&caller, &session);
    let new = match new_integration(&form) {
        Ok(n) => n,
        Err(msg) => {
            return match detail_page(&s, &caller, chrome, service, &base).await {
                Ok(mut page) => {
                    page.error = Some(msg);
                    page.form_kind = field(&form, "kind");
                    page.form_name = field(&form, "name");
                    (StatusCode::BAD_REQUEST, no_store(render(&page))).into_response()
                }
                Err(p) => problem_page(p),
            };
        }
    };
    let created = s
        .store
        .create_integration(service.id, new, caller.actor.clone(), s.clock.now())
        .await;
    let integration = match created {
        Ok(i) => i,
        Err(e) => return problem_page(e.into()),
    };
    let path = format!("/services/{}/integrations", service.id);
    let change = Change {
        action: "integration.create",
        object_kind: "service",
        object_id: Some(service.id.to_string()),
        path: &path,
        before: serde_json::Value::Null,
        after: json!(integration),
    };
    audit_change(&s, &caller, &origin, change).await;
    no_store(render(&CreatedPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        integration: row(integration, true, &base),
        service,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_name_the_endpoint_of_their_kind() {
        let am = snippet(IntegrationKind::Alertmanager, "http://fb:8080", "K1");
        assert!(am.contains("webhook_configs:"));
        assert!(am.contains("url: \"http://fb:8080/ingest/alertmanager/K1\""));
        let pd = snippet(IntegrationKind::Pagerduty, "http://fb:8080", "K2");
        assert!(pd.contains("routing_key: \"K2\""));
        assert!(pd.contains("'http://fb:8080/v2/enqueue'"));
        assert!(pd.contains("\"routing_key\": \"K2\", \"event_action\": \"trigger\""));
        let generic = snippet(IntegrationKind::Generic, "http://fb:8080", "K3");
        assert!(generic.contains("curl -sS -X POST 'http://fb:8080/ingest/generic/K3'"));
        assert!(generic.contains("\"action\": \"resolve\""));
    }
}
