//! `/teams`: teams and their members for everyone who may read the directory; admins create a
//! team and set its members. The checks are those of `POST /api/v1/teams` and
//! `PATCH /api/v1/teams/{id}`, audited as `team.create` and `team.update`.

use super::{all_teams, all_users, audit_change, field, fields, problem_page, refusal, see_other};
use super::{Change, Chrome};
use crate::app::AppState;
use crate::auth::{forget_tokens, Caller};
use crate::http::access::Origin;
use crate::http::problem::Problem;
use crate::web::pages::{render, Who};
use crate::web::session::{form, Session};
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use firebreak_core::access::{NewTeam, Permission, Target};
use firebreak_core::service::validate_name;
use firebreak_core::{TeamId, UserId};
use serde_json::json;
use std::collections::HashMap;

pub struct TeamRow {
    pub id: String,
    pub name: String,
    /// (user id, display name) of each member.
    pub members: Vec<(String, String)>,
    pub member_ids: Vec<String>,
}

#[derive(Template)]
#[template(path = "teams.html")]
struct TeamsPage {
    user_name: Option<Who>,
    csrf: String,
    teams: Vec<TeamRow>,
    /// Admins: the forms.
    can_manage: bool,
    /// (id, "name <email>") of every user, for the member checkboxes.
    people: Vec<(String, String)>,
    error: Option<String>,
    form_name: String,
    form_members: Vec<String>,
}

async fn build(state: &AppState, caller: &Caller, chrome: Chrome) -> Result<TeamsPage, Problem> {
    let users = all_users(state).await?;
    let names: HashMap<UserId, String> = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let teams = all_teams(state)
        .await?
        .into_iter()
        .map(|t| TeamRow {
            id: t.id.to_string(),
            member_ids: t.member_ids.iter().map(ToString::to_string).collect(),
            name: t.name,
            members: t
                .member_ids
                .iter()
                .map(|m| {
                    let name = names.get(m).cloned().unwrap_or_else(|| format!("user {m}"));
                    (m.to_string(), name)
                })
                .collect(),
        })
        .collect();
    let can_manage = caller.may(Permission::ManageAccess, &Target::Global);
    let people = if can_manage {
        users
            .into_iter()
            .map(|u| (u.id.to_string(), format!("{} <{}>", u.name, u.email)))
            .collect()
    } else {
        Vec::new()
    };
    Ok(TeamsPage {
        user_name: chrome.user_name,
        csrf: chrome.csrf,
        teams,
        can_manage,
        people,
        error: None,
        form_name: String::new(),
        form_members: Vec::new(),
    })
}

pub async fn page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
) -> Response {
    match build(&s, &caller, Chrome::of(&caller, &session)).await {
        Ok(page) => render(&page),
        Err(p) => problem_page(p),
    }
}

async fn again(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    msg: String,
    form: &[(String, String)],
) -> Response {
    match build(state, caller, Chrome::of(caller, session)).await {
        Ok(mut page) => {
            page.error = Some(msg);
            page.form_name = field(form, "name");
            page.form_members = fields(form, "member_id");
            (StatusCode::BAD_REQUEST, render(&page)).into_response()
        }
        Err(p) => problem_page(p),
    }
}

fn member_ids(form: &[(String, String)]) -> Result<Vec<UserId>, String> {
    fields(form, "member_id")
        .iter()
        .map(|r| UserId::parse(r).ok_or_else(|| format!("'member_ids': '{r}' is not an id")))
        .collect()
}

/// The team the form asks for, checked like `POST /api/v1/teams`.
fn new_team(form: &[(String, String)]) -> Result<NewTeam, String> {
    let name = field(form, "name");
    validate_name("name", &name)?;
    Ok(NewTeam {
        name: name.trim().to_string(),
        member_ids: member_ids(form)?,
    })
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
    let new = match new_team(&form) {
        Ok(n) => n,
        Err(msg) => return again(&s, &caller, &session, msg, &form).await,
    };
    let team = match s.store.create_team(new, s.clock.now()).await {
        Ok(t) => t,
        Err(e) => {
            return match refusal(e) {
                Ok(msg) => again(&s, &caller, &session, msg, &form).await,
                Err(p) => problem_page(p),
            }
        }
    };
    // Membership decides what managers and responders may touch: drop cached callers.
    forget_tokens(&s);
    let change = Change::created("team.create", "/teams", json!(team));
    audit_change(&s, &caller, &origin, change).await;
    see_other("/teams")
}

pub async fn set_members(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<Session>,
    Extension(origin): Extension<Origin>,
    Path(raw): Path<String>,
    body: Body,
) -> Response {
    let form = match form(&session, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let Some(id) = TeamId::parse(&raw) else {
        return problem_page(Problem::not_found(format!("team {raw}")));
    };
    let before = match s.store.get_team(id).await {
        Ok(Some(t)) => t,
        Ok(None) => return problem_page(Problem::not_found(format!("team {id}"))),
        Err(e) => return problem_page(e.into()),
    };
    let members = match member_ids(&form) {
        Ok(m) => m,
        Err(msg) => return again(&s, &caller, &session, msg, &[]).await,
    };
    let team = match s.store.set_team_members(id, members, s.clock.now()).await {
        Ok(Some(t)) => t,
        Ok(None) => return problem_page(Problem::not_found(format!("team {id}"))),
        Err(e) => {
            return match refusal(e) {
                Ok(msg) => again(&s, &caller, &session, msg, &[]).await,
                Err(p) => problem_page(p),
            }
        }
    };
    forget_tokens(&s);
    let path = format!("/teams/{id}/members");
    let change = Change {
        action: "team.update",
        object_kind: "team",
        object_id: Some(id.to_string()),
        path: &path,
        before: json!(before),
        after: json!(team),
    };
    audit_change(&s, &caller, &origin, change).await;
    see_other("/teams")
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
        let ok = new_team(&form(&[
            ("name", " sre "),
            ("member_id", "3"),
            ("member_id", "4"),
        ]));
        assert!(ok.is_ok_and(|t| t.name == "sre" && t.member_ids == vec![UserId(3), UserId(4)]));
        assert!(new_team(&form(&[("name", "")])).is_err());
        assert!(new_team(&form(&[("name", "x"), ("member_id", "me")])).is_err());
    }
}
