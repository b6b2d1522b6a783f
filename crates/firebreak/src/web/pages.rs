//! Console pages: the incident list (open first, filters, counts, live), the incident room
//! (alerts, timeline, acknowledge/resolve, live), and the page templates.

use super::session::{form, Session};
use crate::app::AppState;
use crate::auth::Caller;
use crate::http::access::services_target;
use crate::http::problem::Problem;
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use firebreak_core::access::{Permission, Target};
use firebreak_core::store::PageRequest;
use firebreak_core::{
    Alert, AlertFilter, Incident, IncidentFilter, IncidentId, IncidentSeverity, IncidentStatus,
    TimelineEvent,
};
use std::collections::HashMap;

/// Renders a template; a template error is a 500 page, never a panic.
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page could not be rendered",
            )
                .into_response()
        }
    }
}

/// The links of the header a signed-in caller may open (everyone: incidents and API tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nav {
    pub alerts: bool,
    pub services: bool,
    pub people: bool,
    pub teams: bool,
    pub grants: bool,
    pub audit: bool,
}

impl Nav {
    pub fn of(caller: &Caller) -> Self {
        let may = |p: Permission| caller.may(p, &Target::Global);
        Nav {
            alerts: may(Permission::ReadIncidentDetails),
            services: may(Permission::ReadConfig),
            people: may(Permission::ManageAccess),
            teams: may(Permission::ReadDirectory),
            grants: may(Permission::ManageAccess),
            audit: may(Permission::ReadAudit),
        }
    }
}

/// Who is signed in, as the layout shows them: their name and the links they may follow.
/// Every page extending `layout.html` carries one in `user_name` (`None` before sign-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub name: String,
    pub nav: Nav,
}

impl Who {
    pub fn of(caller: &Caller) -> Self {
        Who {
            name: display_name(caller),
            nav: Nav::of(caller),
        }
    }
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub heading: String,
    pub text: String,
    pub user_name: Option<Who>,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    pub next: String,
    pub csrf: String,
    pub error: Option<String>,
    pub user_name: Option<Who>,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    user_name: Option<Who>,
    csrf: String,
    status: String,
    severity: String,
    query: String,
    status_options: Vec<(&'static str, &'static str)>,
    severities: Vec<&'static str>,
    counts: (usize, usize),
    incidents: Vec<Listed>,
}

#[derive(Template)]
#[template(path = "incidents_live.html")]
struct IncidentsLive {
    counts: (usize, usize),
    incidents: Vec<Listed>,
}

/// An incident in the list, with the names of its services.
struct Listed {
    incident: Incident,
    services: String,
}

/// Names the services of each incident (one store read per distinct service).
async fn with_service_names(
    state: &AppState,
    incidents: Vec<Incident>,
) -> Result<Vec<Listed>, Problem> {
    let mut names: HashMap<firebreak_core::ServiceId, String> = HashMap::new();
    let mut out = Vec::with_capacity(incidents.len());
    for incident in incidents {
        let mut list = Vec::with_capacity(incident.service_ids.len());
        for id in &incident.service_ids {
            if !names.contains_key(id) {
                let name = state
                    .store
                    .get_service(*id)
                    .await?
                    .map(|s| s.name)
                    .unwrap_or_else(|| format!("service {id}"));
                names.insert(*id, name);
            }
            if let Some(n) = names.get(id) {
                list.push(n.clone());
            }
        }
        out.push(Listed {
            incident,
            services: list.join(", "),
        });
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    user_name: Option<Who>,
    csrf: String,
    incident: Incident,
    alerts: Vec<Alert>,
    timeline: Vec<TimelineEvent>,
    can_act: bool,
    show_details: bool,
}

#[derive(Template)]
#[template(path = "incident_live.html")]
struct IncidentLive {
    csrf: String,
    incident: Incident,
    alerts: Vec<Alert>,
    timeline: Vec<TimelineEvent>,
    can_act: bool,
    show_details: bool,
}

/// How the console names the signed-in person.
pub fn display_name(caller: &Caller) -> String {
    caller
        .user
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| caller.token.name.clone())
}

fn problem_page(p: Problem) -> Response {
    super::page_error(p.status, &p.detail)
}

/// The list's data: incidents matching the filters (open first by default) and open counts.
async fn list(
    state: &AppState,
    caller: &Caller,
    q: &HashMap<String, String>,
) -> Result<(String, String, Vec<Listed>, (usize, usize)), Problem> {
    let status = q.get("status").cloned().unwrap_or_else(|| "open".into());
    let severity = q.get("severity").cloned().unwrap_or_default();
    let statuses = match status.as_str() {
        "open" => vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
        "all" => vec![],
        s => vec![IncidentStatus::parse(s)
            .ok_or_else(|| Problem::bad_request(format!("unknown status '{s}'")))?],
    };
    let sev = match severity.as_str() {
        "" => None,
        s => Some(
            IncidentSeverity::parse(s)
                .ok_or_else(|| Problem::bad_request(format!("unknown severity '{s}'")))?,
        ),
    };
    let visible = crate::http::access::visibility(state, caller).await?;
    let filter = IncidentFilter {
        statuses,
        severity: sev,
        visible: visible.clone(),
        page: PageRequest {
            limit: 200,
            cursor: None,
        },
        ..Default::default()
    };
    let incidents = state.store.list_incidents(filter).await?.items;
    let (triggered, acknowledged) = state.store.incident_status_counts(visible).await?;
    let counts = (
        usize::try_from(triggered).unwrap_or(0),
        usize::try_from(acknowledged).unwrap_or(0),
    );
    let incidents = with_service_names(state, incidents).await?;
    Ok((status, severity, incidents, counts))
}

pub async fn incidents(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (status, severity, incidents, counts) = match list(&s, &caller, &q).await {
        Ok(v) => v,
        Err(p) => return problem_page(p),
    };
    let query = format!(
        "status={}&severity={}",
        super::session::encode(&status),
        super::session::encode(&severity)
    );
    render(&IncidentsPage {
        user_name: Some(Who::of(&caller)),
        csrf: session.csrf,
        status,
        severity,
        query,
        status_options: vec![
            ("open", "open"),
            ("triggered", "triggered"),
            ("acknowledged", "acknowledged"),
            ("resolved", "resolved"),
            ("all", "all"),
        ],
        severities: vec!["SEV1", "SEV2", "SEV3", "SEV4"],
        counts,
        incidents,
    })
}

pub async fn incidents_live(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match list(&s, &caller, &q).await {
        Ok((_, _, incidents, counts)) => render(&IncidentsLive { counts, incidents }),
        Err(p) => problem_page(p),
    }
}

/// The room's data, and what the caller may see and do in it.
async fn room(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<(Incident, Vec<Alert>, Vec<TimelineEvent>, bool, bool), Problem> {
    let id = IncidentId::parse(raw).ok_or_else(|| Problem::not_found(format!("incident {raw}")))?;
    let incident = state
        .store
        .get_incident(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("incident {id}")))?;
    let services = match services_target(state, &incident.service_ids).await? {
        Target::Services(refs) => refs,
        _ => Vec::new(),
    };
    let target = Target::Incident {
        id,
        services,
        open: incident.status != IncidentStatus::Resolved,
    };
    let show_details = caller.may(Permission::ReadIncidentDetails, &target);
    let can_act = caller.may(Permission::ActOnIncidents, &target);
    let (alerts, timeline) = if show_details {
        let alerts = state
            .store
            .list_alerts(AlertFilter {
                incident_id: Some(id),
                page: PageRequest {
                    limit: 200,
                    cursor: None,
                },
                ..Default::default()
            })
            .await?
            .items;
        let timeline = state
            .store
            .timeline(
                id,
                PageRequest {
                    limit: PageRequest::MAX_LIMIT,
                    cursor: None,
                },
            )
            .await?
            .items;
        (alerts, timeline)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok((incident, alerts, timeline, can_act, show_details))
}

pub async fn incident(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    match room(&s, &caller, &id).await {
        Ok((incident, alerts, timeline, can_act, show_details)) => render(&IncidentPage {
            user_name: Some(Who::of(&caller)),
            csrf: session.csrf,
            incident,
            alerts,
            timeline,
            can_act,
            show_details,
        }),
        Err(p) => problem_page(p),
    }
}

pub async fn incident_live(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    match room(&s, &caller, &id).await {
        Ok((incident, alerts, timeline, can_act, show_details)) => render(&IncidentLive {
            csrf: session.csrf,
            incident,
            alerts,
            timeline,
            can_act,
            show_details,
        }),
        Err(p) => problem_page(p),
    }
}

async fn act(
    s: AppState,
    caller: Caller,
    session: Session,
    raw: String,
    body: Body,
    resolve: bool,
) -> Response {
    if let Err(resp) = form(&session, body).await {
        return resp;
    }
    let Some(id) = IncidentId::parse(&raw) else {
        return problem_page(Problem::not_found(format!("incident {raw}")));
    };
    let now = s.clock.now();
    let done = if resolve {
        s.store
            .resolve_incident(id, caller.actor.clone(), now)
            .await
    } else {
        s.store
            .acknowledge_incident(id, caller.actor.clone(), now)
            .await
    };
    match done {
        Ok(Some(_)) => {
            let mut resp = Redirect::to(&format!("/incidents/{id}")).into_response();
            *resp.status_mut() = StatusCode::SEE_OTHER;
            resp
        }
        Ok(None) => problem_page(Problem::not_found(format!("incident {id}"))),
        Err(e) => problem_page(e.into()),
    }
}

pub async fn acknowledge(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    act(s, caller, session, id, body, false).await
}

pub async fn resolve(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    act(s, caller, session, id, body, true).await
}
