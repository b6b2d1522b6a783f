//! Access: users, teams, services owned by teams, the visibility filters on lists, grants for
//! external responders, and API tokens that belong to users.

use super::{alerts_all, assert_newest_first, cursor_of, incidents_all, newest_first, page};
use crate::builders::{
    ack, actor, at, ingest_one, service, service_with_integration, trigger, unique_name,
    unique_token_hash,
};
use firebreak_core::access::{
    Grant, GrantScope, NewGrant, NewTeam, NewUser, Role, Team, TokenScope, User, UserPatch,
    Visibility,
};
use firebreak_core::store::{Page, PageRequest, StoreError, StoreResult};
use firebreak_core::{
    AlertFilter, AlertSeverity, ApiToken, GrantId, IncidentFilter, IncidentId, IncidentSeverity,
    IncidentStatus, IntegrationKind, NewApiToken, NewIncident, NewService, ServiceId, ServicePatch,
    Store, TeamId, Timestamp, TokenId, UserId,
};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

const MISSING_USER: UserId = UserId(i64::MAX - 7);
const MISSING_TEAM: TeamId = TeamId(i64::MAX - 7);
const MISSING_GRANT: GrantId = GrantId(i64::MAX - 7);
const MISSING_TOKEN: TokenId = TokenId(i64::MAX - 7);
const MISSING_SERVICE: ServiceId = ServiceId(i64::MAX - 7);
const MISSING_INCIDENT: IncidentId = IncidentId(i64::MAX - 7);

/// More pages than any listing here can produce.
const MAX_PAGES: usize = 100_000;

// ---------------------------------------------------------------------------------------------
// Helpers (also used by the audit cases).

/// One page of a paginated listing, as the store methods return it.
pub(crate) type PageFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<Page<T>>> + Send + 'a>>;

/// Every item of a cursor-paginated listing, walking pages of `limit`. Checks the page contract
/// on the way: no page longer than `limit`, a page followed by another is full and its
/// `next_cursor` is its last id, items newest first (ids strictly decreasing) across pages.
pub(crate) async fn collect_pages<'a, T>(
    what: &str,
    limit: u32,
    id_of: impl Fn(&T) -> i64,
    mut fetch: impl FnMut(PageRequest) -> PageFuture<'a, T>,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let p = fetch(page(limit, cursor))
            .await
            .unwrap_or_else(|e| panic!("{what} (limit {limit}, cursor {cursor:?}) failed: {e}"));
        assert!(
            p.items.len() <= limit as usize,
            "{what}: a page holds at most `limit` ({limit}) items, got {}",
            p.items.len()
        );
        if let Some(c) = cursor {
            let ids: Vec<i64> = p.items.iter().map(&id_of).collect();
            assert!(
                ids.iter().all(|id| *id < c),
                "{what}: the page after cursor {c} must hold only older (smaller) ids, got {ids:?}"
            );
        }
        cursor = cursor_of(&p.next_cursor, what);
        if let Some(c) = cursor {
            assert_eq!(
                p.items.len(),
                limit as usize,
                "{what}: a page followed by another must be full"
            );
            assert_eq!(
                p.items.last().map(&id_of),
                Some(c),
                "{what}: next_cursor must be the last id of the page"
            );
        }
        out.extend(p.items);
        if cursor.is_none() {
            let ids: Vec<i64> = out.iter().map(&id_of).collect();
            assert_newest_first(&ids, what);
            return out;
        }
    }
    panic!("{what}: next_cursor never became null");
}

pub(crate) fn expect_not_found<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected StoreError::NotFound, got {other:?}"),
    }
}

pub(crate) fn expect_conflict<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected StoreError::Conflict, got {other:?}"),
    }
}

/// A unique address with upper-case letters in it (emails are compared case-insensitively).
fn unique_email(prefix: &str) -> String {
    format!("{}@Example.Test", unique_name(prefix))
}

/// An internal responder with a unique email, no password and no teams.
fn new_user(prefix: &str) -> NewUser {
    NewUser {
        email: unique_email(prefix),
        name: format!("Test {prefix}"),
        role: Role::Responder,
        external: false,
        time_zone: "UTC".into(),
        password_hash: None,
        team_ids: vec![],
    }
}

async fn create_user(store: &dyn Store, new: NewUser, now: Timestamp) -> User {
    let email = new.email.clone();
    store
        .create_user(new, now)
        .await
        .unwrap_or_else(|e| panic!("create_user({email}) failed: {e}"))
}

async fn user(store: &dyn Store, prefix: &str) -> User {
    create_user(store, new_user(prefix), at(0)).await
}

async fn get_user(store: &dyn Store, id: UserId) -> User {
    store
        .get_user(id)
        .await
        .unwrap_or_else(|e| panic!("get_user({id}) failed: {e}"))
        .unwrap_or_else(|| panic!("get_user({id}) returned None for an existing user"))
}

async fn create_team(
    store: &dyn Store,
    name: &str,
    member_ids: Vec<UserId>,
    now: Timestamp,
) -> Team {
    store
        .create_team(
            NewTeam {
                name: name.to_string(),
                member_ids,
            },
            now,
        )
        .await
        .unwrap_or_else(|e| panic!("create_team({name}) failed: {e}"))
}

async fn get_team(store: &dyn Store, id: TeamId) -> Team {
    store
        .get_team(id)
        .await
        .unwrap_or_else(|e| panic!("get_team({id}) failed: {e}"))
        .unwrap_or_else(|| panic!("get_team({id}) returned None for an existing team"))
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort();
    v
}

/// The items of `all` whose id is in `mine`, in listing order.
fn only<T>(all: &[T], mine: &[i64], id_of: impl Fn(&T) -> i64) -> Vec<i64> {
    all.iter()
        .map(id_of)
        .filter(|id| mine.contains(id))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Users.

/// create_user round-trips every field and its teams; emails are unique regardless of case
/// (`Conflict`); an unknown team is `NotFound` and creates nothing; get_user and user_by_email
/// (any case, with the password hash given).
pub async fn case_users(store: &dyn Store) {
    let t1 = create_team(store, &unique_name("users-a"), vec![], at(100)).await;
    let t2 = create_team(store, &unique_name("users-b"), vec![], at(100)).await;
    let email = unique_email("Ada.Lovelace");
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA";
    let created = create_user(
        store,
        NewUser {
            email: email.clone(),
            name: "Ada Lovelace (Zürich — 東京)".into(),
            role: Role::Manager,
            external: false,
            time_zone: "Europe/Zurich".into(),
            password_hash: Some(hash.into()),
            team_ids: vec![t2.id, t1.id],
        },
        at(1_000),
    )
    .await;
    assert_eq!(created.email, email, "the email is kept as given");
    assert_eq!(created.name, "Ada Lovelace (Zürich — 東京)");
    assert_eq!(created.role, Role::Manager);
    assert!(!created.external);
    assert_eq!(created.time_zone, "Europe/Zurich");
    assert!(!created.disabled, "a new user is enabled");
    assert_eq!(
        sorted(&created.team_ids),
        sorted(&[t1.id, t2.id]),
        "team_ids are the teams given"
    );
    assert_eq!(created.created_at, at(1_000));
    assert_eq!(created.updated_at, at(1_000));
    assert_eq!(
        get_user(store, created.id).await,
        created,
        "get_user answers what create_user did"
    );
    for (t, name) in [(t1.id, "first"), (t2.id, "second")] {
        assert_eq!(
            get_team(store, t).await.member_ids,
            vec![created.id],
            "the user is a member of the {name} team it was created in"
        );
    }

    for spelling in [email.clone(), email.to_lowercase(), email.to_uppercase()] {
        assert_eq!(
            store.user_by_email(&spelling).await.expect("user_by_email"),
            Some((created.clone(), Some(hash.to_string()))),
            "user_by_email({spelling}) finds the user (any case) with its password hash"
        );
    }
    assert_eq!(
        store
            .user_by_email(&unique_email("nobody"))
            .await
            .expect("user_by_email"),
        None,
        "an unknown email answers None"
    );

    let ext = create_user(
        store,
        NewUser {
            email: unique_email("contractor"),
            name: "Outside Help".into(),
            role: Role::Observer,
            external: true,
            time_zone: "Asia/Tokyo".into(),
            password_hash: None,
            team_ids: vec![],
        },
        at(2_000),
    )
    .await;
    assert!(ext.external, "external round-trips");
    assert_eq!(ext.role, Role::Observer);
    assert_eq!(ext.team_ids, Vec::<TeamId>::new());
    assert_ne!(ext.id, created.id);
    assert_eq!(
        store
            .user_by_email(&ext.email)
            .await
            .expect("user_by_email"),
        Some((ext.clone(), None)),
        "a user without a password has no hash"
    );

    for (dup, what) in [
        (email.clone(), "the same email"),
        (email.to_lowercase(), "the email in lower case"),
        (email.to_uppercase(), "the email in upper case"),
    ] {
        let again = store
            .create_user(
                NewUser {
                    email: dup,
                    ..new_user("dup")
                },
                at(3_000),
            )
            .await;
        expect_conflict(
            again,
            &format!("create_user with {what} as an existing user"),
        );
    }
    assert_eq!(
        store.user_by_email(&email).await.expect("user_by_email"),
        Some((created.clone(), Some(hash.to_string()))),
        "a refused duplicate changes nothing"
    );

    let orphan = new_user("orphan");
    let orphan_email = orphan.email.clone();
    let refused = store
        .create_user(
            NewUser {
                team_ids: vec![t1.id, MISSING_TEAM],
                ..orphan.clone()
            },
            at(4_000),
        )
        .await;
    expect_not_found(refused, "create_user with an unknown team");
    assert_eq!(
        store
            .user_by_email(&orphan_email)
            .await
            .expect("user_by_email"),
        None,
        "a refused user is not created"
    );
    assert_eq!(
        get_team(store, t1.id).await.member_ids,
        vec![created.id],
        "a refused user joins no team"
    );
    let later = create_user(store, orphan, at(5_000)).await;
    assert_eq!(later.email, orphan_email, "its email is still free");

    assert_eq!(
        store.get_user(MISSING_USER).await.expect("get_user"),
        None,
        "get_user of a missing user answers None"
    );
}

/// list_users pages newest first, the same across page sizes.
pub async fn case_user_pagination(store: &dyn Store) {
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(
            create_user(store, new_user("paged"), at(1_000 + i))
                .await
                .id
                .0,
        );
    }
    let all = collect_pages(
        "list_users",
        PageRequest::MAX_LIMIT,
        |u: &User| u.id.0,
        |p| store.list_users(p),
    )
    .await;
    assert_eq!(
        only(&all, &mine, |u| u.id.0),
        newest_first(mine.clone()),
        "every created user is listed, newest first"
    );
    for limit in [1, 2, 3] {
        let paged = collect_pages(
            "list_users",
            limit,
            |u: &User| u.id.0,
            |p| store.list_users(p),
        )
        .await;
        assert_eq!(
            paged, all,
            "list_users with limit {limit} across pages must equal the single-page listing"
        );
    }
}

/// update_user changes what the patch names (name, role, time zone, disabled, password hash)
/// and nothing else; `None` for a missing user.
pub async fn case_update_user(store: &dyn Store) {
    let team = create_team(store, &unique_name("upd-team"), vec![], at(100)).await;
    let u = create_user(
        store,
        NewUser {
            password_hash: Some("hash-one".into()),
            team_ids: vec![team.id],
            ..new_user("upd")
        },
        at(1_000),
    )
    .await;

    let renamed = store
        .update_user(
            u.id,
            UserPatch {
                name: Some("Renamed Person".into()),
                ..Default::default()
            },
            at(2_000),
        )
        .await
        .expect("update_user")
        .expect("the user exists");
    assert_eq!(
        renamed,
        User {
            name: "Renamed Person".into(),
            updated_at: at(2_000),
            ..u.clone()
        },
        "only the name (and updated_at) change"
    );
    assert_eq!(
        store.user_by_email(&u.email).await.expect("user_by_email"),
        Some((renamed.clone(), Some("hash-one".into()))),
        "the password hash is kept when the patch has none"
    );

    let changed = store
        .update_user(
            u.id,
            UserPatch {
                name: None,
                role: Some(Role::Observer),
                time_zone: Some("America/Argentina/Buenos_Aires".into()),
                disabled: Some(true),
                password_hash: Some("hash-two".into()),
            },
            at(3_000),
        )
        .await
        .expect("update_user")
        .expect("the user exists");
    assert_eq!(
        changed,
        User {
            role: Role::Observer,
            time_zone: "America/Argentina/Buenos_Aires".into(),
            disabled: true,
            updated_at: at(3_000),
            ..renamed.clone()
        },
        "role, time zone and disabled change; the name stays"
    );
    assert_eq!(get_user(store, u.id).await, changed);
    assert_eq!(
        store
            .user_by_email(&u.email.to_lowercase())
            .await
            .expect("user_by_email"),
        Some((changed.clone(), Some("hash-two".into()))),
        "the new password hash replaces the old one"
    );

    let enabled = store
        .update_user(
            u.id,
            UserPatch {
                disabled: Some(false),
                ..Default::default()
            },
            at(4_000),
        )
        .await
        .expect("update_user")
        .expect("the user exists");
    assert_eq!(
        enabled,
        User {
            disabled: false,
            updated_at: at(4_000),
            ..changed.clone()
        },
        "a disabled user can be enabled again"
    );
    assert_eq!(
        store.user_by_email(&u.email).await.expect("user_by_email"),
        Some((enabled, Some("hash-two".into())))
    );

    assert_eq!(
        store
            .update_user(
                MISSING_USER,
                UserPatch {
                    name: Some("ghost".into()),
                    ..Default::default()
                },
                at(5_000),
            )
            .await
            .expect("update_user"),
        None,
        "update_user of a missing user answers None"
    );
}

// ---------------------------------------------------------------------------------------------
// Teams.

/// create_team (members sorted by id), duplicate names (`Conflict`), unknown members (`NotFound`,
/// nothing created), set_team_members replacing the members (users' team_ids follow), list_teams.
pub async fn case_teams(store: &dyn Store) {
    let a = user(store, "team-a").await;
    let b = user(store, "team-b").await;
    let c = user(store, "team-c").await;
    let name = unique_name("Payments Team");
    let team = create_team(store, &name, vec![c.id, a.id], at(1_000)).await;
    assert_eq!(team.name, name);
    assert_eq!(
        team.member_ids,
        vec![a.id, c.id],
        "member_ids are sorted by id"
    );
    assert_eq!(team.created_at, at(1_000));
    assert_eq!(team.updated_at, at(1_000));
    assert_eq!(get_team(store, team.id).await, team);
    assert_eq!(get_user(store, a.id).await.team_ids, vec![team.id]);
    assert_eq!(get_user(store, c.id).await.team_ids, vec![team.id]);
    assert_eq!(
        get_user(store, b.id).await.team_ids,
        Vec::<TeamId>::new(),
        "a user not in the team is in no team"
    );

    let dup = store
        .create_team(
            NewTeam {
                name: name.clone(),
                member_ids: vec![],
            },
            at(2_000),
        )
        .await;
    expect_conflict(dup, "create_team with a name that is taken");

    let other_name = unique_name("ghost-team");
    let refused = store
        .create_team(
            NewTeam {
                name: other_name.clone(),
                member_ids: vec![a.id, MISSING_USER],
            },
            at(2_000),
        )
        .await;
    expect_not_found(refused, "create_team with an unknown member");
    assert_eq!(
        get_user(store, a.id).await.team_ids,
        vec![team.id],
        "a refused team has no members"
    );
    let other = create_team(store, &other_name, vec![b.id], at(2_500)).await;
    assert_eq!(
        other.name, other_name,
        "the refused team's name is still free"
    );
    assert_eq!(get_user(store, b.id).await.team_ids, vec![other.id]);

    let replaced = store
        .set_team_members(team.id, vec![b.id, a.id], at(3_000))
        .await
        .expect("set_team_members")
        .expect("the team exists");
    assert_eq!(
        replaced,
        Team {
            member_ids: vec![a.id, b.id],
            updated_at: at(3_000),
            ..team.clone()
        },
        "set_team_members replaces the members (sorted) and sets updated_at"
    );
    assert_eq!(get_team(store, team.id).await, replaced);
    assert_eq!(get_user(store, a.id).await.team_ids, vec![team.id]);
    assert_eq!(
        sorted(&get_user(store, b.id).await.team_ids),
        sorted(&[team.id, other.id]),
        "b is now in both teams"
    );
    assert_eq!(
        get_user(store, c.id).await.team_ids,
        Vec::<TeamId>::new(),
        "c was removed from the team"
    );
    assert_eq!(
        get_team(store, other.id).await.member_ids,
        vec![b.id],
        "other teams are untouched"
    );

    let refused = store
        .set_team_members(team.id, vec![c.id, MISSING_USER], at(4_000))
        .await;
    expect_not_found(refused, "set_team_members with an unknown member");
    assert_eq!(
        get_team(store, team.id).await,
        replaced,
        "a refused replacement changes nothing"
    );

    let emptied = store
        .set_team_members(team.id, vec![], at(5_000))
        .await
        .expect("set_team_members")
        .expect("the team exists");
    assert_eq!(emptied.member_ids, Vec::<UserId>::new());
    assert_eq!(get_user(store, a.id).await.team_ids, Vec::<TeamId>::new());
    assert_eq!(get_user(store, b.id).await.team_ids, vec![other.id]);

    assert_eq!(
        store
            .set_team_members(MISSING_TEAM, vec![a.id], at(6_000))
            .await
            .expect("set_team_members"),
        None,
        "set_team_members of a missing team answers None"
    );
    assert_eq!(
        store.get_team(MISSING_TEAM).await.expect("get_team"),
        None,
        "get_team of a missing team answers None"
    );

    let all = collect_pages(
        "list_teams",
        PageRequest::MAX_LIMIT,
        |t: &Team| t.id.0,
        |p| store.list_teams(p),
    )
    .await;
    assert_eq!(
        only(&all, &[team.id.0, other.id.0], |t| t.id.0),
        vec![other.id.0, team.id.0],
        "both teams are listed, newest first"
    );
    assert_eq!(
        all.iter().find(|t| t.id == team.id),
        Some(&emptied),
        "the listing shows the current team"
    );
    for limit in [1, 2] {
        let paged = collect_pages(
            "list_teams",
            limit,
            |t: &Team| t.id.0,
            |p| store.list_teams(p),
        )
        .await;
        assert_eq!(
            paged, all,
            "list_teams with limit {limit} across pages must equal the single-page listing"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Services and visibility.

/// Services carry an owning team: set on create, kept when a patch does not name it, changed by
/// `Some(Some(team))`, cleared by `Some(None)`; an unknown team is `NotFound`.
pub async fn case_service_team(store: &dyn Store) {
    let t1 = create_team(store, &unique_name("svc-team-1"), vec![], at(100)).await;
    let t2 = create_team(store, &unique_name("svc-team-2"), vec![], at(100)).await;
    let svc = store
        .create_service(
            NewService {
                name: unique_name("owned"),
                description: "owned by a team".into(),
                auto_resolve_incidents: true,
                team_id: Some(t1.id),
            },
            actor(),
            at(1_000),
        )
        .await
        .expect("create_service");
    assert_eq!(svc.team_id, Some(t1.id), "team_id round-trips");
    assert_eq!(
        store.get_service(svc.id).await.expect("get_service"),
        Some(svc.clone())
    );
    let teamless = service(store, &unique_name("teamless")).await;
    assert_eq!(teamless.team_id, None);

    let ghost_name = unique_name("ghost-owned");
    let refused = store
        .create_service(
            NewService {
                name: ghost_name.clone(),
                description: String::new(),
                auto_resolve_incidents: false,
                team_id: Some(MISSING_TEAM),
            },
            actor(),
            at(1_000),
        )
        .await;
    expect_not_found(refused, "create_service with an unknown team");
    let listed = collect_pages(
        "list_services",
        PageRequest::MAX_LIMIT,
        |s: &firebreak_core::Service| s.id.0,
        |p| store.list_services(p, None),
    )
    .await;
    assert!(
        listed.iter().all(|s| s.name != ghost_name),
        "a refused service is not created"
    );

    let described = store
        .update_service(
            svc.id,
            ServicePatch {
                description: Some("still owned".into()),
                ..Default::default()
            },
            actor(),
            at(2_000),
        )
        .await
        .expect("update_service")
        .expect("the service exists");
    assert_eq!(
        described.team_id,
        Some(t1.id),
        "a patch without team_id keeps the team"
    );
    let moved = store
        .update_service(
            svc.id,
            ServicePatch {
                team_id: Some(Some(t2.id)),
                ..Default::default()
            },
            actor(),
            at(3_000),
        )
        .await
        .expect("update_service")
        .expect("the service exists");
    assert_eq!(
        moved.team_id,
        Some(t2.id),
        "Some(Some(team)) moves the service"
    );
    assert_eq!(moved.description, "still owned");

    let refused = store
        .update_service(
            svc.id,
            ServicePatch {
                team_id: Some(Some(MISSING_TEAM)),
                ..Default::default()
            },
            actor(),
            at(4_000),
        )
        .await;
    expect_not_found(refused, "update_service to an unknown team");
    assert_eq!(
        store
            .get_service(svc.id)
            .await
            .expect("get_service")
            .map(|s| s.team_id),
        Some(Some(t2.id)),
        "a refused update changes nothing"
    );

    let cleared = store
        .update_service(
            svc.id,
            ServicePatch {
                team_id: Some(None),
                ..Default::default()
            },
            actor(),
            at(5_000),
        )
        .await
        .expect("update_service")
        .expect("the service exists");
    assert_eq!(cleared.team_id, None, "Some(None) removes the owning team");
    assert_eq!(
        store.get_service(svc.id).await.expect("get_service"),
        Some(cleared)
    );
}

/// list_services with a visibility shows only the services it names (live ones), across pages;
/// an empty visibility shows nothing; `None` shows everything.
pub async fn case_list_services_visibility(store: &dyn Store) {
    let a = service(store, &unique_name("vis-svc-a")).await;
    let b = service(store, &unique_name("vis-svc-b")).await;
    let retired = service(store, &unique_name("vis-svc-retired")).await;
    assert!(
        store
            .delete_service(retired.id, actor(), at(1_000))
            .await
            .expect("delete_service"),
        "the service is retired"
    );
    let list = |v: Option<Visibility>, limit: u32| {
        collect_pages(
            "list_services",
            limit,
            |s: &firebreak_core::Service| s.id.0,
            move |p| store.list_services(p, v.clone()),
        )
    };
    let ids = |list: Vec<firebreak_core::Service>| list.iter().map(|s| s.id.0).collect::<Vec<_>>();

    assert_eq!(
        ids(list(
            Some(Visibility {
                service_ids: vec![a.id],
                incident_ids: vec![],
            }),
            PageRequest::MAX_LIMIT
        )
        .await),
        vec![a.id.0],
        "only the visible service"
    );
    let both = Visibility {
        service_ids: vec![a.id, b.id, retired.id, MISSING_SERVICE],
        incident_ids: vec![],
    };
    for limit in [1, PageRequest::MAX_LIMIT] {
        assert_eq!(
            ids(list(Some(both.clone()), limit).await),
            vec![b.id.0, a.id.0],
            "the visible live services, newest first (limit {limit})"
        );
    }
    assert_eq!(
        ids(list(Some(Visibility::default()), PageRequest::MAX_LIMIT).await),
        Vec::<i64>::new(),
        "an empty visibility shows no service"
    );
    let everything = ids(list(None, PageRequest::MAX_LIMIT).await);
    assert!(
        everything.contains(&a.id.0) && everything.contains(&b.id.0),
        "no visibility shows every service"
    );
}

/// The visibility filter on list_incidents (incidents of the granted services, or the listed
/// incidents) and list_alerts (alerts of the granted services, or of the listed incidents),
/// combined with the other filters and pagination; `None` shows everything.
pub async fn case_list_visibility_filters(store: &dyn Store) {
    let (sa, pa) = service_with_integration(store, "vis-a", IntegrationKind::Pagerduty).await;
    let (sb, pb) = service_with_integration(store, "vis-b", IntegrationKind::Pagerduty).await;
    let (_sc, pc) = service_with_integration(store, "vis-c", IntegrationKind::Pagerduty).await;
    let opened = |o: firebreak_core::IngestOutcome| {
        (
            o.alert_id.expect("the outcome must name its alert").0,
            o.incident_id.expect("the outcome must name its incident").0,
        )
    };
    let (xa, ia) = opened(
        ingest_one(
            store,
            &pa,
            trigger(&unique_name("k"), "a", AlertSeverity::Error),
            at(1_000),
        )
        .await,
    );
    let kb1 = unique_name("k");
    let (yb1, ib1) = opened(
        ingest_one(
            store,
            &pb,
            trigger(&kb1, "b1", AlertSeverity::Error),
            at(2_000),
        )
        .await,
    );
    ingest_one(store, &pb, ack(&kb1), at(2_500)).await;
    let (yb2, ib2) = opened(
        ingest_one(
            store,
            &pb,
            trigger(&unique_name("k"), "b2", AlertSeverity::Error),
            at(3_000),
        )
        .await,
    );
    let (zc, ic) = opened(
        ingest_one(
            store,
            &pc,
            trigger(&unique_name("k"), "c", AlertSeverity::Error),
            at(4_000),
        )
        .await,
    );
    let declare = |services: Vec<ServiceId>, t: i64| {
        store.declare_incident(
            NewIncident {
                title: "declared".into(),
                severity: IncidentSeverity::Sev3,
                urgency: None,
                service_ids: services,
            },
            actor(),
            at(t),
        )
    };
    let d_ab = declare(vec![sa.id, sb.id], 5_000)
        .await
        .expect("declare_incident")
        .id
        .0;
    let d_b = declare(vec![sb.id], 6_000)
        .await
        .expect("declare_incident")
        .id
        .0;
    let vis = |services: &[ServiceId], incidents: &[i64]| {
        Some(Visibility {
            service_ids: services.to_vec(),
            incident_ids: incidents.iter().map(|i| IncidentId(*i)).collect(),
        })
    };
    let granted = vis(&[sa.id], &[ib1]);

    let incident_checks: Vec<(&str, IncidentFilter, Vec<i64>)> = vec![
        (
            "service a or incident b1",
            IncidentFilter {
                visible: granted.clone(),
                ..Default::default()
            },
            vec![ia, ib1, d_ab],
        ),
        (
            "services a and b",
            IncidentFilter {
                visible: vis(&[sa.id, sb.id], &[]),
                ..Default::default()
            },
            vec![ia, ib1, ib2, d_ab, d_b],
        ),
        (
            "incidents b2 and c only",
            IncidentFilter {
                visible: vis(&[], &[ib2, ic]),
                ..Default::default()
            },
            vec![ib2, ic],
        ),
        (
            "an unknown service and incident",
            IncidentFilter {
                visible: vis(&[MISSING_SERVICE], &[MISSING_INCIDENT.0]),
                ..Default::default()
            },
            vec![],
        ),
        (
            "empty visibility",
            IncidentFilter {
                visible: Some(Visibility::default()),
                ..Default::default()
            },
            vec![],
        ),
        (
            "service b filter and (service a or incident b1)",
            IncidentFilter {
                service_id: Some(sb.id),
                visible: granted.clone(),
                ..Default::default()
            },
            vec![ib1, d_ab],
        ),
        (
            "acknowledged and (service a or incident b1)",
            IncidentFilter {
                statuses: vec![IncidentStatus::Acknowledged],
                visible: granted.clone(),
                ..Default::default()
            },
            vec![ib1],
        ),
    ];
    for (what, filter, expected) in incident_checks {
        for limit in [PageRequest::MAX_LIMIT, 1] {
            let got: Vec<i64> = collect_pages(
                "list_incidents",
                limit,
                |i: &firebreak_core::Incident| i.id.0,
                |p| {
                    store.list_incidents(IncidentFilter {
                        page: p,
                        ..filter.clone()
                    })
                },
            )
            .await
            .iter()
            .map(|i| i.id.0)
            .collect();
            assert_eq!(
                got,
                newest_first(expected.clone()),
                "list_incidents visible to {what} (limit {limit})"
            );
        }
    }
    let all_incidents: Vec<i64> = incidents_all(store, IncidentFilter::default())
        .await
        .iter()
        .map(|i| i.id.0)
        .collect();
    for id in [ia, ib1, ib2, ic, d_ab, d_b] {
        assert!(
            all_incidents.contains(&id),
            "without visibility every incident is listed (missing {id})"
        );
    }

    let alert_checks: Vec<(&str, AlertFilter, Vec<i64>)> = vec![
        (
            "service a or incident b1",
            AlertFilter {
                visible: granted.clone(),
                ..Default::default()
            },
            vec![xa, yb1],
        ),
        (
            "services a and b",
            AlertFilter {
                visible: vis(&[sa.id, sb.id], &[]),
                ..Default::default()
            },
            vec![xa, yb1, yb2],
        ),
        (
            "incidents b2, c and a declared one",
            AlertFilter {
                visible: vis(&[], &[ib2, ic, d_ab]),
                ..Default::default()
            },
            vec![yb2, zc],
        ),
        (
            "empty visibility",
            AlertFilter {
                visible: Some(Visibility::default()),
                ..Default::default()
            },
            vec![],
        ),
        (
            "service b filter and (service a or incident b1)",
            AlertFilter {
                service_id: Some(sb.id),
                visible: granted.clone(),
                ..Default::default()
            },
            vec![yb1],
        ),
        (
            "triggered and (service a or incident b1)",
            AlertFilter {
                statuses: vec![firebreak_core::AlertStatus::Triggered],
                visible: granted.clone(),
                ..Default::default()
            },
            vec![xa],
        ),
    ];
    for (what, filter, expected) in alert_checks {
        for limit in [PageRequest::MAX_LIMIT, 1] {
            let got: Vec<i64> = collect_pages(
                "list_alerts",
                limit,
                |a: &firebreak_core::Alert| a.id.0,
                |p| {
                    store.list_alerts(AlertFilter {
                        page: p,
                        ..filter.clone()
                    })
                },
            )
            .await
            .iter()
            .map(|a| a.id.0)
            .collect();
            assert_eq!(
                got,
                newest_first(expected.clone()),
                "list_alerts visible to {what} (limit {limit})"
            );
        }
    }
    let all_alerts: Vec<i64> = alerts_all(store, AlertFilter::default())
        .await
        .iter()
        .map(|a| a.id.0)
        .collect();
    for id in [xa, yb1, yb2, zc] {
        assert!(
            all_alerts.contains(&id),
            "without visibility every alert is listed (missing {id})"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Grants.

fn by_id(mut grants: Vec<Grant>) -> Vec<Grant> {
    grants.sort_by_key(|g| g.id);
    grants
}

/// create_grant (services and incidents scopes round-trip), unknown user/service/incident
/// (`NotFound`), get_grant, list_grants newest first, live_grants (not expired at `now`, not
/// revoked), revoke_grant idempotent (the first revocation time stays).
pub async fn case_grants(store: &dyn Store) {
    let ext = create_user(
        store,
        NewUser {
            external: true,
            role: Role::Observer,
            ..new_user("grantee")
        },
        at(0),
    )
    .await;
    let other = user(store, "grantee-2").await;
    let (sa, pa) = service_with_integration(store, "grant-a", IntegrationKind::Pagerduty).await;
    let sb = service(store, &unique_name("grant-b")).await;
    let inc = ingest_one(
        store,
        &pa,
        trigger(&unique_name("k"), "granted incident", AlertSeverity::Error),
        at(500),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident");

    let grant = |user_id: UserId, role: Role, scope: GrantScope, expires: i64, now: i64| async move {
        store
            .create_grant(
                NewGrant {
                    user_id,
                    role,
                    scope,
                    expires_at: at(expires),
                },
                at(now),
            )
            .await
    };

    let g1 = grant(
        ext.id,
        Role::Responder,
        GrantScope::Services(vec![sb.id, sa.id]),
        10_000,
        1_000,
    )
    .await
    .expect("create_grant");
    assert_eq!(
        g1,
        Grant {
            id: g1.id,
            user_id: ext.id,
            role: Role::Responder,
            scope: GrantScope::Services(vec![sb.id, sa.id]),
            expires_at: at(10_000),
            created_at: at(1_000),
            revoked_at: None,
        },
        "a services grant round-trips"
    );
    let g2 = grant(
        ext.id,
        Role::Observer,
        GrantScope::Incidents(vec![inc]),
        5_000,
        2_000,
    )
    .await
    .expect("create_grant");
    assert_eq!(
        g2,
        Grant {
            id: g2.id,
            user_id: ext.id,
            role: Role::Observer,
            scope: GrantScope::Incidents(vec![inc]),
            expires_at: at(5_000),
            created_at: at(2_000),
            revoked_at: None,
        },
        "an incidents grant round-trips"
    );
    let g3 = grant(
        ext.id,
        Role::Stakeholder,
        GrantScope::Services(vec![sa.id]),
        20_000,
        3_000,
    )
    .await
    .expect("create_grant");
    let g_other = grant(
        other.id,
        Role::Responder,
        GrantScope::Services(vec![sa.id]),
        20_000,
        3_000,
    )
    .await
    .expect("create_grant");
    let ids = [g1.id, g2.id, g3.id, g_other.id];
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "grant ids increase: {ids:?}"
    );
    for g in [&g1, &g2, &g3, &g_other] {
        assert_eq!(
            store.get_grant(g.id).await.expect("get_grant").as_ref(),
            Some(g),
            "get_grant answers what create_grant did"
        );
    }

    expect_not_found(
        grant(
            MISSING_USER,
            Role::Observer,
            GrantScope::Services(vec![sa.id]),
            10_000,
            3_000,
        )
        .await,
        "create_grant for an unknown user",
    );
    expect_not_found(
        grant(
            ext.id,
            Role::Observer,
            GrantScope::Services(vec![sa.id, MISSING_SERVICE]),
            10_000,
            3_000,
        )
        .await,
        "create_grant on an unknown service",
    );
    expect_not_found(
        grant(
            ext.id,
            Role::Observer,
            GrantScope::Incidents(vec![inc, MISSING_INCIDENT]),
            10_000,
            3_000,
        )
        .await,
        "create_grant on an unknown incident",
    );

    let mine = vec![g3.clone(), g2.clone(), g1.clone()];
    for limit in [1, 2, PageRequest::MAX_LIMIT] {
        assert_eq!(
            collect_pages("list_grants(user)", limit, |g: &Grant| g.id.0, |p| {
                store.list_grants(Some(ext.id), p)
            })
            .await,
            mine,
            "list_grants of the user: exactly its grants, newest first (limit {limit}); refused grants are not created"
        );
    }
    assert_eq!(
        collect_pages(
            "list_grants(other)",
            PageRequest::MAX_LIMIT,
            |g: &Grant| g.id.0,
            |p| store.list_grants(Some(other.id), p)
        )
        .await,
        vec![g_other.clone()],
        "list_grants of another user"
    );
    let all = collect_pages(
        "list_grants(None)",
        2,
        |g: &Grant| g.id.0,
        |p| store.list_grants(None, p),
    )
    .await;
    let ours: Vec<Grant> = all
        .iter()
        .filter(|g| ids.contains(&g.id))
        .cloned()
        .collect();
    assert_eq!(
        ours,
        vec![g_other.clone(), g3.clone(), g2.clone(), g1.clone()],
        "list_grants(None) lists every user's grants, newest first"
    );

    let live = |user: UserId, t: i64| async move {
        by_id(
            store
                .live_grants(user, at(t))
                .await
                .unwrap_or_else(|e| panic!("live_grants failed: {e}")),
        )
    };
    assert_eq!(
        live(ext.id, 4_000).await,
        vec![g1.clone(), g2.clone(), g3.clone()],
        "every grant is live before expiry"
    );

    let revoked = store
        .revoke_grant(g3.id, at(3_500))
        .await
        .expect("revoke_grant")
        .expect("the grant exists");
    assert_eq!(
        revoked,
        Grant {
            revoked_at: Some(at(3_500)),
            ..g3.clone()
        },
        "revoke_grant sets revoked_at and nothing else"
    );
    let again = store
        .revoke_grant(g3.id, at(3_800))
        .await
        .expect("revoke_grant")
        .expect("the grant exists");
    assert_eq!(
        again, revoked,
        "revoking again changes nothing (revoked_at keeps the first time)"
    );
    assert_eq!(
        store.get_grant(g3.id).await.expect("get_grant"),
        Some(revoked.clone())
    );

    assert_eq!(
        live(ext.id, 4_000).await,
        vec![g1.clone(), g2.clone()],
        "a revoked grant is not live"
    );
    assert_eq!(
        live(ext.id, 4_999).await,
        vec![g1.clone(), g2.clone()],
        "live until just before expires_at"
    );
    assert_eq!(
        live(ext.id, 5_000).await,
        vec![g1.clone()],
        "a grant is no longer live at its expires_at"
    );
    assert_eq!(
        live(ext.id, 10_000).await,
        Vec::<Grant>::new(),
        "every grant of the user has expired or was revoked"
    );
    assert_eq!(
        live(other.id, 4_000).await,
        vec![g_other.clone()],
        "live_grants is per user"
    );
    assert_eq!(
        collect_pages(
            "list_grants(user)",
            PageRequest::MAX_LIMIT,
            |g: &Grant| g.id.0,
            |p| { store.list_grants(Some(ext.id), p) }
        )
        .await,
        vec![revoked, g2, g1],
        "list_grants still lists revoked grants, with revoked_at"
    );

    assert_eq!(
        store
            .revoke_grant(MISSING_GRANT, at(6_000))
            .await
            .expect("revoke_grant"),
        None,
        "revoke_grant of a missing grant answers None"
    );
    assert_eq!(
        store.get_grant(MISSING_GRANT).await.expect("get_grant"),
        None,
        "get_grant of a missing grant answers None"
    );
}

// ---------------------------------------------------------------------------------------------
// Tokens of users.

/// Personal tokens: user_id and scopes round-trip, unknown user (`NotFound`), get_token,
/// list_tokens per user and for everyone, revoke_token (token_by_hash stops finding it;
/// idempotent, the first revocation time stays).
pub async fn case_user_tokens(store: &dyn Store) {
    let u = user(store, "token-owner").await;
    let v = user(store, "token-owner-2").await;
    let before = store.count_tokens().await.expect("count_tokens");
    let new_token = |user_id: Option<UserId>, scopes: Vec<TokenScope>, hash: &str| NewApiToken {
        name: unique_name("personal"),
        token_hash: hash.to_string(),
        user_id,
        role: "responder".into(),
        scopes,
        expires_at: None,
        mfa_at: None,
    };
    let create = |new: NewApiToken, t: i64| async move {
        let name = new.name.clone();
        store
            .create_token(new, at(t))
            .await
            .unwrap_or_else(|e| panic!("create_token({name}) failed: {e}"))
    };

    let h1 = unique_token_hash();
    let new1 = new_token(Some(u.id), vec![TokenScope::Read, TokenScope::Write], &h1);
    let t1 = create(new1.clone(), 1_000).await;
    assert_eq!(t1.user_id, Some(u.id), "user_id round-trips");
    assert_eq!(
        sorted(&t1.scopes),
        vec![TokenScope::Read, TokenScope::Write],
        "scopes round-trip"
    );
    assert_eq!(t1.name, new1.name);
    assert_eq!(t1.role, "responder");
    assert_eq!(t1.created_at, at(1_000));
    assert_eq!(t1.expires_at, None);
    assert_eq!(t1.revoked_at, None);
    assert_eq!(
        store.get_token(t1.id).await.expect("get_token").as_ref(),
        Some(&t1),
        "get_token answers what create_token did"
    );
    assert_eq!(
        store
            .token_by_hash(&h1)
            .await
            .expect("token_by_hash")
            .as_ref(),
        Some(&t1),
        "token_by_hash finds a personal token with its user and scopes"
    );

    let h2 = unique_token_hash();
    let t2 = create(
        NewApiToken {
            expires_at: Some(at(99_000)),
            ..new_token(Some(u.id), vec![TokenScope::Read], &h2)
        },
        2_000,
    )
    .await;
    assert_eq!(t2.scopes, vec![TokenScope::Read]);
    assert_eq!(t2.expires_at, Some(at(99_000)));
    let hv = unique_token_hash();
    let tv = create(
        new_token(Some(v.id), vec![TokenScope::Admin, TokenScope::Read], &hv),
        3_000,
    )
    .await;
    assert_eq!(
        sorted(&tv.scopes),
        vec![TokenScope::Read, TokenScope::Admin],
        "scopes round-trip"
    );
    let hs = unique_token_hash();
    let ts = create(
        NewApiToken {
            role: "admin".into(),
            ..new_token(None, TokenScope::ALL.to_vec(), &hs)
        },
        4_000,
    )
    .await;
    assert_eq!(ts.user_id, None, "a service token has no user");
    assert_eq!(sorted(&ts.scopes), TokenScope::ALL.to_vec());

    let hx = unique_token_hash();
    let refused = store
        .create_token(
            new_token(Some(MISSING_USER), vec![TokenScope::Read], &hx),
            at(5_000),
        )
        .await;
    expect_not_found(refused, "create_token for an unknown user");
    assert_eq!(
        store.token_by_hash(&hx).await.expect("token_by_hash"),
        None,
        "a refused token is not created"
    );
    assert_eq!(
        store.count_tokens().await.expect("count_tokens"),
        before + 4,
        "four tokens were created"
    );

    let id_of = |t: &ApiToken| t.id.0;
    for limit in [1, PageRequest::MAX_LIMIT] {
        assert_eq!(
            collect_pages("list_tokens(user)", limit, id_of, |p| store
                .list_tokens(Some(u.id), p))
            .await,
            vec![t2.clone(), t1.clone()],
            "list_tokens of a user: only its tokens, newest first (limit {limit})"
        );
    }
    assert_eq!(
        collect_pages(
            "list_tokens(other user)",
            PageRequest::MAX_LIMIT,
            id_of,
            |p| { store.list_tokens(Some(v.id), p) }
        )
        .await,
        vec![tv.clone()],
        "list_tokens of another user"
    );
    let all = collect_pages("list_tokens(None)", 2, id_of, |p| {
        store.list_tokens(None, p)
    })
    .await;
    let mine = [t1.id, t2.id, tv.id, ts.id];
    assert_eq!(
        all.iter()
            .filter(|t| mine.contains(&t.id))
            .cloned()
            .collect::<Vec<_>>(),
        vec![ts.clone(), tv.clone(), t2.clone(), t1.clone()],
        "list_tokens(None) lists every token (personal and service), newest first"
    );

    let revoked = store
        .revoke_token(t1.id, at(6_000))
        .await
        .expect("revoke_token")
        .expect("the token exists");
    assert_eq!(
        revoked,
        ApiToken {
            revoked_at: Some(at(6_000)),
            ..t1.clone()
        },
        "revoke_token sets revoked_at and nothing else"
    );
    assert_eq!(
        store.token_by_hash(&h1).await.expect("token_by_hash"),
        None,
        "token_by_hash no longer finds a revoked token"
    );
    assert_eq!(
        store.get_token(t1.id).await.expect("get_token"),
        Some(revoked.clone()),
        "get_token still shows a revoked token"
    );
    let again = store
        .revoke_token(t1.id, at(7_000))
        .await
        .expect("revoke_token")
        .expect("the token exists");
    assert_eq!(
        again, revoked,
        "revoking again changes nothing (revoked_at keeps the first time)"
    );
    assert_eq!(
        store.token_by_hash(&h2).await.expect("token_by_hash"),
        Some(t2),
        "the user's other token still works"
    );
    assert_eq!(
        store
            .revoke_token(MISSING_TOKEN, at(8_000))
            .await
            .expect("revoke_token"),
        None,
        "revoke_token of a missing token answers None"
    );
    assert_eq!(
        store.get_token(MISSING_TOKEN).await.expect("get_token"),
        None,
        "get_token of a missing token answers None"
    );
}

/// `incident_status_counts`: open incidents by status, whole store or only what `visible` shows.
pub async fn case_incident_status_counts(store: &dyn Store) {
    let (before_t, before_a) = store.incident_status_counts(None).await.unwrap();
    let (sa, pa) = service_with_integration(store, "count-a", IntegrationKind::Pagerduty).await;
    let (_sb, pb) = service_with_integration(store, "count-b", IntegrationKind::Pagerduty).await;
    let ka = unique_name("k");
    ingest_one(
        store,
        &pa,
        trigger(&ka, "a1", AlertSeverity::Error),
        at(1_000),
    )
    .await;
    ingest_one(
        store,
        &pa,
        trigger(&unique_name("k"), "a2", AlertSeverity::Error),
        at(1_001),
    )
    .await;
    ingest_one(store, &pa, ack(&ka), at(1_002)).await;
    let kb = unique_name("k");
    ingest_one(
        store,
        &pb,
        trigger(&kb, "b1", AlertSeverity::Error),
        at(1_003),
    )
    .await;
    let resolved_b = ingest_one(
        store,
        &pb,
        trigger(&unique_name("k"), "b2", AlertSeverity::Error),
        at(1_004),
    )
    .await;
    store
        .resolve_incident(resolved_b.incident_id.unwrap(), actor(), at(1_005))
        .await
        .unwrap();
    assert_eq!(
        store.incident_status_counts(None).await.unwrap(),
        (before_t + 2, before_a + 1),
        "whole store: a2 and b1 triggered, a1 acknowledged, b2 resolved (not counted)"
    );
    let only_a = Visibility {
        service_ids: vec![sa.id],
        incident_ids: vec![],
    };
    assert_eq!(
        store.incident_status_counts(Some(only_a)).await.unwrap(),
        (1, 1)
    );
    assert_eq!(
        store
            .incident_status_counts(Some(Visibility::default()))
            .await
            .unwrap(),
        (0, 0)
    );
}

/// Rotating an integration key: the new key finds the integration, the old one does not, and a
/// key taken by another integration is refused.
pub async fn case_integration_key_rotation(store: &dyn Store) {
    let (_s, i) = service_with_integration(store, "rotate", IntegrationKind::Generic).await;
    let (_s2, other) =
        service_with_integration(store, "rotate-other", IntegrationKind::Generic).await;
    let new_key = format!(
        "{:0>32}",
        unique_name("k").replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    let new_key: String = new_key.chars().rev().take(32).collect();
    let patch = firebreak_core::IntegrationPatch {
        key: Some(new_key.clone()),
        ..Default::default()
    };
    let rotated = store
        .update_integration(i.id, patch, actor(), at(1_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.key, new_key);
    assert_eq!(rotated.name, i.name, "nothing else changes");
    assert!(
        store.integration_by_key(&i.key).await.unwrap().is_none(),
        "the old key no longer finds it"
    );
    assert_eq!(
        store
            .integration_by_key(&new_key)
            .await
            .unwrap()
            .map(|x| x.id),
        Some(i.id)
    );
    let clash = firebreak_core::IntegrationPatch {
        key: Some(other.key.clone()),
        ..Default::default()
    };
    let refused = store
        .update_integration(i.id, clash, actor(), at(2_000))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(
        store.get_integration(i.id).await.unwrap().unwrap().key,
        new_key,
        "a refused rotation changes nothing"
    );
}
