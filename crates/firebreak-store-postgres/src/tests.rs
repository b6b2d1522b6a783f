//! Adapter-specific tests against a live server (the shared contract is the conformance suite in
//! firebreak-testkit): how PostgreSQL errors map onto `StoreError`, saturated job due times, the
//! row locks that keep timeline ids in commit order, users, teams, grants, tokens and visibility
//! filters, the audit chain under concurrent appends from two pools and its append-only triggers,
//! users' second factor, and upgrading schema-1 and schema-2 databases. Each test makes its own
//! database; all are skipped unless `FIREBREAK_TEST_DATABASE_URL` names an admin URL.

use crate::PostgresStore;
use firebreak_core::store::{AlertStore, IngestRequest, JobStore, ServiceStore, StoreError};
use firebreak_core::{
    Actor, AlertAction, AlertEvent, AlertSeverity, ChangeEvent, DurationMs, IngestEffect,
    Integration, IntegrationKind, IntegrationPatch, NewIntegration, NewService, Store, Timestamp,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const T0: i64 = 1_787_302_800_000;
static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Db {
    admin: String,
    name: String,
    url: String,
}

async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

impl Db {
    async fn create() -> Option<Db> {
        let Ok(admin) = std::env::var("FIREBREAK_TEST_DATABASE_URL") else {
            eprintln!("skipping: FIREBREAK_TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!(
            "fb_pgunit_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        raw(&admin)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string())?;
        Some(Db {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }

    async fn store(&self) -> PostgresStore {
        let store = PostgresStore::connect(&self.url, 4).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    async fn drop_now(self) {
        raw(&self.admin)
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop database");
    }
}

fn actor() -> Actor {
    Actor::system()
}

async fn integration(store: &PostgresStore, new: NewIntegration) -> Integration {
    let svc = store
        .create_service(
            NewService {
                name: format!("svc-{}", new.key),
                description: String::new(),
                auto_resolve_incidents: true,
                team_id: None,
            },
            actor(),
            Timestamp::from_millis(T0),
        )
        .await
        .expect("create_service");
    store
        .create_integration(svc.id, new, actor(), Timestamp::from_millis(T0))
        .await
        .expect("create_integration")
}

fn new_integration(kind: IntegrationKind, key: &str) -> NewIntegration {
    NewIntegration {
        kind,
        name: key.into(),
        key: key.into(),
        severity_override: None,
        auto_resolve_after: None,
    }
}

fn trigger(dedup: &str, summary: &str) -> AlertEvent {
    AlertEvent {
        action: AlertAction::Trigger,
        dedup_key: dedup.into(),
        summary: summary.into(),
        severity: AlertSeverity::Error,
        source: "unit".into(),
        labels: BTreeMap::new(),
        details: serde_json::json!({}),
        links: Vec::new(),
        group_key: None,
    }
}

async fn ingest(
    store: &PostgresStore,
    integ: &Integration,
    ev: AlertEvent,
) -> Result<firebreak_core::IngestOutcome, StoreError> {
    store
        .ingest(IngestRequest {
            integration: integ.clone(),
            events: vec![ev],
            received_at: Timestamp::from_millis(T0 + 1_000),
        })
        .await
        .map(|mut o| o.pop().expect("one outcome"))
}

/// Invalid, with a one-line message of our own: no statement text, no PL/pgSQL context.
fn assert_short_invalid(result: Result<impl std::fmt::Debug, StoreError>, what: &str) {
    let Err(StoreError::Invalid(msg)) = result else {
        panic!("{what}: expected Invalid, got {result:?}");
    };
    for leak in [
        "INSERT",
        "SELECT",
        "UPDATE",
        "fb_ingest",
        "PL/pgSQL",
        "line ",
        "\n",
    ] {
        assert!(!msg.contains(leak), "{what}: message leaks {leak:?}: {msg}");
    }
    assert!(
        msg.chars().count() <= 220,
        "{what}: message too long: {msg}"
    );
    assert!(msg.starts_with("invalid data"), "{what}: {msg}");
    eprintln!("{what}: {msg}");
}

/// A long string that pglz cannot squeeze under the btree index row limit.
fn incompressible(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(ALPHABET[(x % 64) as usize])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_data_is_invalid_without_sql_text() {
    let Some(db) = Db::create().await else { return };
    let store = db.store().await;
    let integ = integration(&store, new_integration(IntegrationKind::Generic, "k-bad")).await;

    // 22021: a NUL byte in text.
    assert_short_invalid(
        ingest(&store, &integ, trigger("nul", "a \0 b")).await,
        "NUL in summary",
    );
    // 22P05: \u0000 in jsonb.
    let mut ev = trigger("json-nul", "json");
    ev.details = serde_json::json!({ "x": "a\u{0}b" });
    assert_short_invalid(ingest(&store, &integ, ev).await, "\\u0000 in details");
    // 54000: a dedup key too large for the open-alert index.
    assert_short_invalid(
        ingest(&store, &integ, trigger(&incompressible(40_000), "huge key")).await,
        "huge dedup key",
    );
    // 22008: a time PostgreSQL cannot hold, outside ingest.
    let job_integ = integration(
        &store,
        NewIntegration {
            auto_resolve_after: Some(DurationMs::from_millis(60_000)),
            ..new_integration(IntegrationKind::Generic, "k-job")
        },
    )
    .await;
    ingest(&store, &job_integ, trigger("job", "job"))
        .await
        .expect("ingest");
    let jobs = store
        .claim_jobs(
            Timestamp::from_millis(T0 + 120_000),
            DurationMs::from_millis(1_000),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 1);
    assert_short_invalid(
        store
            .reschedule_job(jobs[0].id, Timestamp::from_millis(i64::MAX), None)
            .await,
        "run_at out of range",
    );

    // Nothing of the above broke the store.
    let ok = ingest(&store, &integ, trigger("fine", "fine"))
        .await
        .expect("ingest");
    assert_eq!(ok.effect, IngestEffect::Opened);
    drop(store);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_unavailable() {
    // Port 1 on localhost: connection refused.
    match PostgresStore::connect("postgres://postgres@127.0.0.1:1/none", 1).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A huge auto_resolve_after saturates the job's due time instead of failing every alert the
/// integration sends (on the set-based path and the one-by-one path alike).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_auto_resolve_after_saturates() {
    let Some(db) = Db::create().await else { return };
    let store = db.store().await;
    for (i, after) in [i64::MAX, 10_000_000_000_000_000, 9_000_000_000_000_000]
        .into_iter()
        .enumerate()
    {
        let integ = integration(
            &store,
            NewIntegration {
                auto_resolve_after: Some(DurationMs::from_millis(after)),
                ..new_integration(IntegrationKind::Alertmanager, &format!("k-huge-{i}"))
            },
        )
        .await;
        let fast = ingest(&store, &integ, trigger("fast", "fast"))
            .await
            .unwrap_or_else(|e| panic!("after={after}, set-based path: {e:?}"));
        let mut grouped = trigger("slow", "slow");
        grouped.group_key = Some("g".into());
        let slow = ingest(&store, &integ, grouped)
            .await
            .unwrap_or_else(|e| panic!("after={after}, one-by-one path: {e:?}"));
        assert_eq!(
            (fast.effect, slow.effect),
            (IngestEffect::Opened, IngestEffect::Opened)
        );
    }
    let due = raw(&db.url)
        .await
        .query("SELECT fb_ms(run_at) FROM jobs ORDER BY id", &[])
        .await
        .expect("jobs");
    let due: Vec<i64> = due.iter().map(|r| r.get(0)).collect();
    let max = 9_224_318_015_999_000;
    let t = T0 + 1_000;
    assert_eq!(
        due,
        vec![
            max,
            max,
            max,
            max,
            t + 9_000_000_000_000_000,
            t + 9_000_000_000_000_000
        ]
    );
    drop(store);
    db.drop_now().await;
}

/// Timeline ids must be drawn in commit order per timeline (readers page by id). So an append to
/// an incident's timeline waits for whoever holds the incident, and one to a service's timeline
/// for whoever holds the service — here record_change and update_integration, which used not to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_appends_wait_for_the_timeline_lock() {
    let Some(db) = Db::create().await else { return };
    let store = db.store().await;
    let integ = integration(&store, new_integration(IntegrationKind::Generic, "k-lock")).await;
    let inc = ingest(&store, &integ, trigger("a", "a"))
        .await
        .expect("ingest")
        .incident_id
        .expect("incident");

    let mut holder = raw(&db.url).await;
    let tx = holder.transaction().await.expect("begin");
    tx.execute(
        "SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE",
        &[&inc.0],
    )
    .await
    .expect("lock incident");
    let change = {
        let store = store.clone();
        let integ = integ.clone();
        tokio::spawn(async move {
            store
                .record_change(
                    &integ,
                    ChangeEvent {
                        summary: "deploy".into(),
                        source: "ci".into(),
                        occurred_at: None,
                        details: serde_json::json!({}),
                        links: Vec::new(),
                    },
                    Timestamp::from_millis(T0 + 2_000),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !change.is_finished(),
        "record_change appended to an incident another transaction holds"
    );
    let held: i64 = tx
        .query_one(
            "INSERT INTO timeline_events (incident_id, kind, actor_kind, actor_name, at, payload) \
             VALUES ($1, 'note', 'system', 'unit', now(), '{}') RETURNING id",
            &[&inc.0],
        )
        .await
        .expect("append under the lock")
        .get(0);
    tx.commit().await.expect("commit");
    change.await.expect("task").expect("record_change");
    let ids: Vec<i64> = raw(&db.url)
        .await
        .query(
            "SELECT id FROM timeline_events WHERE incident_id = $1 AND kind = 'change.recorded'",
            &[&inc.0],
        )
        .await
        .expect("events")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(ids[0] > held, "the waiting append draws the later id");

    // The service timeline: update_integration waits for the service row.
    let tx = holder.transaction().await.expect("begin");
    tx.execute(
        "SELECT 1 FROM services WHERE id = $1 FOR NO KEY UPDATE",
        &[&integ.service_id.0],
    )
    .await
    .expect("lock service");
    let update = {
        let store = store.clone();
        let id = integ.id;
        tokio::spawn(async move {
            store
                .update_integration(
                    id,
                    IntegrationPatch {
                        name: Some("renamed".into()),
                        ..Default::default()
                    },
                    actor(),
                    Timestamp::from_millis(T0 + 3_000),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !update.is_finished(),
        "update_integration appended to a service timeline another transaction holds"
    );
    tx.commit().await.expect("commit");
    update
        .await
        .expect("task")
        .expect("update_integration")
        .expect("exists");
    drop(store);
    db.drop_now().await;
}

// ---- Access control and the audit log (migration 0002) ----------------------------------------

use firebreak_core::access::{GrantScope, NewGrant, NewTeam, NewUser, Role, TokenScope, UserPatch};
use firebreak_core::audit::{
    verify_chain, AuditEntry, AuditFilter, AuditOutcome, NewAuditEntry, GENESIS_HASH,
};
use firebreak_core::store::{AccessStore, AuditStore, IncidentStore, PageRequest, TokenStore};
use firebreak_core::{
    ActorKind, AlertFilter, AuditId, IncidentFilter, IncidentId, IncidentSeverity, NewApiToken,
    NewIncident, ServiceId, ServicePatch, TeamId, UserId,
};

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn new_user(email: &str, teams: &[TeamId]) -> NewUser {
    NewUser {
        email: email.into(),
        name: email.split('@').next().unwrap_or(email).into(),
        role: Role::Responder,
        external: false,
        time_zone: "Europe/Berlin".into(),
        password_hash: Some("$argon2id$v=19$stub".into()),
        team_ids: teams.to_vec(),
    }
}

fn page(limit: u32, cursor: Option<&String>) -> PageRequest {
    PageRequest {
        limit,
        cursor: cursor.map(|c| c.parse().expect("numeric cursor")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_teams() {
    let Some(db) = Db::create().await else { return };
    let store = db.store().await;

    let ops = store
        .create_team(
            NewTeam {
                name: "Ops".into(),
                member_ids: vec![],
            },
            at(0),
        )
        .await
        .expect("team");
    assert!(matches!(
        store
            .create_team(
                NewTeam {
                    name: "OPS".into(),
                    member_ids: vec![]
                },
                at(0)
            )
            .await,
        Err(StoreError::Conflict(_))
    ));

    let ana = store
        .create_user(new_user("Ana@Example.org", &[ops.id]), at(1))
        .await
        .expect("user");
    assert_eq!(ana.team_ids, vec![ops.id]);
    assert_eq!(ana.role, Role::Responder);
    assert_eq!(ana.time_zone, "Europe/Berlin");
    assert_eq!((ana.created_at, ana.updated_at), (at(1), at(1)));
    assert!(matches!(
        store
            .create_user(new_user("ana@EXAMPLE.org", &[]), at(2))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_user(new_user("bo@example.org", &[TeamId(999)]), at(2))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .user_by_email("bo@example.org")
            .await
            .expect("lookup")
            .is_none(),
        "a failed create leaves nothing behind"
    );
    let (found, hash) = store
        .user_by_email("ANA@example.ORG")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found, ana);
    assert_eq!(hash.as_deref(), Some("$argon2id$v=19$stub"));

    let bo = store
        .create_user(
            NewUser {
                external: true,
                password_hash: None,
                ..new_user("bo@example.org", &[])
            },
            at(3),
        )
        .await
        .expect("user");
    assert!(bo.external);
    assert_eq!(
        store.user_by_email("bo@example.org").await.expect("lookup"),
        Some((bo.clone(), None))
    );

    let updated = store
        .update_user(
            ana.id,
            UserPatch {
                name: Some("Ana B.".into()),
                role: Some(Role::Manager),
                disabled: Some(true),
                ..Default::default()
            },
            at(4),
        )
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(
        (
            updated.name.as_str(),
            updated.role,
            updated.disabled,
            updated.time_zone.as_str()
        ),
        ("Ana B.", Role::Manager, true, "Europe/Berlin")
    );
    assert_eq!((updated.created_at, updated.updated_at), (at(1), at(4)));
    let (_, hash) = store
        .user_by_email("ana@example.org")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(
        hash.as_deref(),
        Some("$argon2id$v=19$stub"),
        "untouched by a patch without one"
    );
    assert!(store
        .update_user(UserId(999), UserPatch::default(), at(4))
        .await
        .expect("update")
        .is_none());

    // Newest first, by cursor.
    let first = store.list_users(page(1, None)).await.expect("list");
    assert_eq!(first.items, vec![bo.clone()]);
    let second = store
        .list_users(page(1, first.next_cursor.as_ref()))
        .await
        .expect("list");
    assert_eq!(second.items, vec![updated.clone()]);
    assert!(second.next_cursor.is_none());

    // Members.
    assert!(matches!(
        store
            .create_team(
                NewTeam {
                    name: "Ghosts".into(),
                    member_ids: vec![UserId(999)]
                },
                at(5)
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    let dev = store
        .create_team(
            NewTeam {
                name: "Dev".into(),
                member_ids: vec![bo.id, ana.id, bo.id],
            },
            at(5),
        )
        .await
        .expect("team");
    assert_eq!(dev.member_ids, vec![ana.id, bo.id]);
    assert_eq!(
        store
            .get_user(ana.id)
            .await
            .expect("get")
            .expect("exists")
            .team_ids,
        vec![ops.id, dev.id]
    );
    let dev2 = store
        .set_team_members(dev.id, vec![bo.id], at(6))
        .await
        .expect("set")
        .expect("exists");
    assert_eq!(dev2.member_ids, vec![bo.id]);
    assert_eq!((dev2.created_at, dev2.updated_at), (at(5), at(6)));
    assert!(matches!(
        store
            .set_team_members(dev.id, vec![UserId(999)], at(7))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.get_team(dev.id).await.expect("get"),
        Some(dev2.clone()),
        "a refused change changes nothing"
    );
    assert!(store
        .set_team_members(TeamId(999), vec![], at(7))
        .await
        .expect("set")
        .is_none());
    let teams = store.list_teams(page(10, None)).await.expect("list");
    assert_eq!(
        teams.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![dev.id, ops.id]
    );
    assert!(store.get_team(TeamId(999)).await.expect("get").is_none());

    // Services belong to a team.
    assert!(matches!(
        store
            .create_service(
                NewService {
                    name: "svc".into(),
                    description: String::new(),
                    auto_resolve_incidents: true,
                    team_id: Some(TeamId(999)),
                },
                actor(),
                at(8)
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    let svc = store
        .create_service(
            NewService {
                name: "svc".into(),
                description: String::new(),
                auto_resolve_incidents: true,
                team_id: Some(ops.id),
            },
            actor(),
            at(8),
        )
        .await
        .expect("service");
    assert_eq!(svc.team_id, Some(ops.id));
    let renamed = store
        .update_service(
            svc.id,
            ServicePatch {
                name: Some("svc2".into()),
                ..Default::default()
            },
            actor(),
            at(9),
        )
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(renamed.team_id, Some(ops.id), "kept when not patched");
    assert!(matches!(
        store
            .update_service(
                svc.id,
                ServicePatch {
                    team_id: Some(Some(TeamId(999))),
                    ..Default::default()
                },
                actor(),
                at(10)
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    let moved = store
        .update_service(
            svc.id,
            ServicePatch {
                team_id: Some(Some(dev.id)),
                ..Default::default()
            },
            actor(),
            at(10),
        )
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(moved.team_id, Some(dev.id));
    let cleared = store
        .update_service(
            svc.id,
            ServicePatch {
                team_id: Some(None),
                ..Default::default()
            },
            actor(),
            at(11),
        )
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(cleared.team_id, None);
    assert_eq!(store.get_service(svc.id).await.expect("get"), Some(cleared));
    drop(store);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_and_tokens() {
    let Some(db) = Db::create().await else { return };
    let store = db.store().await;
    let ext = store
        .create_user(
            NewUser {
                external: true,
                ..new_user("ext@example.org", &[])
            },
            at(0),
        )
        .await
        .expect("user");
    let integ = integration(&store, new_integration(IntegrationKind::Generic, "k-grant")).await;
    let inc = ingest(&store, &integ, trigger("g", "g"))
        .await
        .expect("ingest")
        .incident_id
        .expect("incident");
    let grant = |user_id, scope, expires_at| NewGrant {
        user_id,
        role: Role::Responder,
        scope,
        expires_at,
    };

    for (bad, what) in [
        (
            grant(
                UserId(999),
                GrantScope::Services(vec![integ.service_id]),
                at(1000),
            ),
            "user",
        ),
        (
            grant(
                ext.id,
                GrantScope::Services(vec![integ.service_id, ServiceId(999)]),
                at(1000),
            ),
            "service",
        ),
        (
            grant(
                ext.id,
                GrantScope::Incidents(vec![IncidentId(999)]),
                at(1000),
            ),
            "incident",
        ),
    ] {
        match store.create_grant(bad, at(1)).await {
            Err(StoreError::NotFound(msg)) => assert!(msg.starts_with(what), "{msg}"),
            other => panic!("{what}: expected NotFound, got {other:?}"),
        }
    }

    let services = store
        .create_grant(
            grant(
                ext.id,
                GrantScope::Services(vec![integ.service_id]),
                at(1000),
            ),
            at(1),
        )
        .await
        .expect("grant");
    assert_eq!(services.scope, GrantScope::Services(vec![integ.service_id]));
    assert_eq!(
        (
            services.created_at,
            services.expires_at,
            services.revoked_at
        ),
        (at(1), at(1000), None)
    );
    let incidents = store
        .create_grant(
            NewGrant {
                role: Role::Observer,
                ..grant(ext.id, GrantScope::Incidents(vec![inc]), at(500))
            },
            at(2),
        )
        .await
        .expect("grant");
    let short = store
        .create_grant(
            grant(ext.id, GrantScope::Incidents(vec![inc]), at(100)),
            at(3),
        )
        .await
        .expect("grant");
    assert_eq!(
        store.get_grant(incidents.id).await.expect("get"),
        Some(incidents.clone())
    );

    let live = |now| {
        let store = store.clone();
        async move {
            store
                .live_grants(ext.id, now)
                .await
                .expect("live")
                .into_iter()
                .map(|g| g.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        live(at(50)).await,
        vec![services.id, incidents.id, short.id]
    );
    assert_eq!(
        live(at(100)).await,
        vec![services.id, incidents.id],
        "expired at expires_at"
    );
    let revoked = store
        .revoke_grant(incidents.id, at(60))
        .await
        .expect("revoke")
        .expect("exists");
    assert_eq!(revoked.revoked_at, Some(at(60)));
    let again = store
        .revoke_grant(incidents.id, at(70))
        .await
        .expect("revoke")
        .expect("exists");
    assert_eq!(again.revoked_at, Some(at(60)), "idempotent");
    assert!(store
        .revoke_grant(firebreak_core::GrantId(999), at(70))
        .await
        .expect("revoke")
        .is_none());
    assert_eq!(live(at(61)).await, vec![services.id, short.id]);

    let all = store.list_grants(None, page(2, None)).await.expect("list");
    assert_eq!(
        all.items.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![short.id, incidents.id]
    );
    let rest = store
        .list_grants(Some(ext.id), page(2, all.next_cursor.as_ref()))
        .await
        .expect("list");
    assert_eq!(rest.items, vec![services.clone()]);
    assert!(store
        .list_grants(Some(UserId(999)), page(2, None))
        .await
        .expect("list")
        .items
        .is_empty());

    // Tokens: personal and service tokens, scopes, revocation.
    let token = |name: &str, user_id, scopes: Vec<TokenScope>| NewApiToken {
        name: name.into(),
        token_hash: format!("{name:0>64}"),
        user_id,
        role: "responder".into(),
        scopes,
        expires_at: None,
        mfa_at: None,
    };
    assert!(matches!(
        store
            .create_token(token("ghost", Some(UserId(999)), vec![]), at(0))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let personal = store
        .create_token(token("mine", Some(ext.id), vec![TokenScope::Read]), at(10))
        .await
        .expect("token");
    assert_eq!(
        (
            personal.user_id,
            personal.scopes.clone(),
            personal.revoked_at
        ),
        (Some(ext.id), vec![TokenScope::Read], None)
    );
    let service = store
        .create_token(token("ci", None, TokenScope::ALL.to_vec()), at(11))
        .await
        .expect("token");
    assert!(matches!(
        store.create_token(token("ci", None, vec![]), at(12)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_token(personal.id).await.expect("get"),
        Some(personal.clone())
    );
    let mine = store
        .list_tokens(Some(ext.id), page(10, None))
        .await
        .expect("list");
    assert_eq!(mine.items, vec![personal.clone()]);
    let every = store.list_tokens(None, page(1, None)).await.expect("list");
    assert_eq!(every.items, vec![service.clone()]);
    let older = store
        .list_tokens(None, page(1, every.next_cursor.as_ref()))
        .await
        .expect("list");
    assert_eq!(older.items, vec![personal.clone()]);

    let hash = format!("{:0>64}", "mine");
    assert!(store.token_by_hash(&hash).await.expect("by hash").is_some());
    let gone = store
        .revoke_token(personal.id, at(20))
        .await
        .expect("revoke")
        .expect("exists");
    assert_eq!(gone.revoked_at, Some(at(20)));
    assert_eq!(
        store
            .revoke_token(personal.id, at(30))
            .await
            .expect("revoke")
            .expect("exists")
            .revoked_at,
        Some(at(20)),
        "idempotent"
    );
    assert!(
        store.token_by_hash(&hash).await.expect("by hash").is_none(),
        "a revoked token no longer authenticates"
    );
    assert_eq!(store.get_token(personal.id).await.expect("get"), Some(gone));
    assert!(store
        .revoke_token(firebreak_core::TokenId(999), at(30))
        .await
        .expect("revoke")
        .is_none());
    assert_eq!(store.count_tokens().await.expect("count"), 2);
    drop(store);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_filters_lists() {
    let Some(db) = Db::create().await else { return };
    let store = db.store().await;
    let i1 = integration(&store, new_integration(IntegrationKind::Generic, "k-vis-1")).await;
    let i2 = integration(&store, new_integration(IntegrationKind::Generic, "k-vis-2")).await;
    let (s1, s2) = (i1.service_id, i2.service_id);
    let o1 = ingest(&store, &i1, trigger("a", "a"))
        .await
        .expect("ingest");
    let o2 = ingest(&store, &i2, trigger("b", "b"))
        .await
        .expect("ingest");
    let (inc1, inc2) = (o1.incident_id.expect("inc"), o2.incident_id.expect("inc"));
    let (a1, a2) = (o1.alert_id.expect("alert"), o2.alert_id.expect("alert"));
    let both = store
        .declare_incident(
            NewIncident {
                title: "both".into(),
                severity: IncidentSeverity::Sev2,
                urgency: None,
                service_ids: vec![s1, s2],
            },
            actor(),
            at(5),
        )
        .await
        .expect("declare")
        .id;

    let vis = |services: Vec<ServiceId>, incidents: Vec<IncidentId>| {
        Some(firebreak_core::access::Visibility {
            service_ids: services,
            incident_ids: incidents,
        })
    };
    let incidents = |visible| {
        let store = store.clone();
        async move {
            store
                .list_incidents(IncidentFilter {
                    visible,
                    ..Default::default()
                })
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|i| i.id)
                .collect::<Vec<_>>()
        }
    };
    let alerts = |visible| {
        let store = store.clone();
        async move {
            store
                .list_alerts(AlertFilter {
                    visible,
                    ..Default::default()
                })
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|a| a.id)
                .collect::<Vec<_>>()
        }
    };
    let services = |visible| {
        let store = store.clone();
        async move {
            store
                .list_services(PageRequest::default(), visible)
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(incidents(None).await, vec![both, inc2, inc1]);
    assert_eq!(incidents(vis(vec![s1], vec![])).await, vec![both, inc1]);
    assert_eq!(incidents(vis(vec![], vec![inc2])).await, vec![inc2]);
    assert_eq!(
        incidents(vis(vec![s1], vec![inc2])).await,
        vec![both, inc2, inc1]
    );
    assert!(incidents(vis(vec![], vec![])).await.is_empty());

    assert_eq!(alerts(None).await, vec![a2, a1]);
    assert_eq!(alerts(vis(vec![s2], vec![])).await, vec![a2]);
    assert_eq!(alerts(vis(vec![], vec![inc1])).await, vec![a1]);
    assert!(alerts(vis(vec![], vec![both])).await.is_empty());
    assert!(alerts(vis(vec![], vec![])).await.is_empty());

    assert_eq!(services(None).await, vec![s2, s1]);
    assert_eq!(services(vis(vec![s1], vec![inc2])).await, vec![s1]);
    assert!(services(vis(vec![], vec![inc1])).await.is_empty());
    drop(store);
    db.drop_now().await;
}

fn audit_entry(n: usize, actor_id: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: at(n as i64),
        actor: Actor {
            kind: ActorKind::User,
            id: Some(actor_id.into()),
            name: format!("user {actor_id}"),
        },
        action: if n % 2 == 1 {
            "access.denied".into()
        } else {
            "service.update".into()
        },
        object_kind: "service".into(),
        object_id: Some(n.to_string()),
        outcome: if n % 2 == 1 {
            AuditOutcome::Denied
        } else {
            AuditOutcome::Done
        },
        ip: Some("203.0.113.7".into()),
        user_agent: (n % 3 == 1).then(|| "curl/8".into()),
        // Keys out of order, nesting, floats, escapes and non-ASCII: jsonb would re-format these.
        detail: serde_json::json!({"zeta": n, "alpha": {"b": [1.5, -0.0, 1e300, 0.1], "a": null}, "text": "ü 😀 \"q\" \u{1}"}),
        before: serde_json::Value::Null,
        after: serde_json::json!({"name": format!("svc-{n}"), "big": 12345678901234567_u64}),
    }
}

async fn whole_chain(store: &PostgresStore, page_size: u32) -> Vec<AuditEntry> {
    let mut all = Vec::new();
    let mut prev = GENESIS_HASH.to_string();
    let mut after = None;
    loop {
        let chunk = store.audit_chain(after, page_size).await.expect("chain");
        if chunk.is_empty() {
            break;
        }
        prev = verify_chain(&prev, &chunk).unwrap_or_else(|b| panic!("broken chain: {b:?}"));
        after = chunk.last().map(|e| e.id);
        all.extend(chunk);
    }
    all
}

/// Appends from two stores (two pools: two nodes) at once still make one unbroken chain in id
/// order, whose entries read back byte for byte as hashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_chain_under_concurrency() {
    let Some(db) = Db::create().await else { return };
    let a = db.store().await;
    let b = PostgresStore::connect(&db.url, 4).await.expect("connect b");
    let mut tasks = Vec::new();
    for (node, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for worker in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..15 {
                    let n = node * 1000 + worker * 100 + i;
                    let e = audit_entry(n, &format!("{node}-{worker}"));
                    let got = store.append_audit(e.clone()).await.expect("append");
                    assert_eq!(got.entry, e);
                    mine.push(got);
                }
                mine
            }));
        }
    }
    let mut appended = Vec::new();
    for t in tasks {
        appended.extend(t.await.expect("task"));
    }
    assert_eq!(appended.len(), 120);

    let chain = whole_chain(&a, 7).await;
    assert_eq!(chain.len(), 120);
    assert!(chain.windows(2).all(|w| w[0].id < w[1].id));
    appended.sort_by_key(|e| e.id);
    assert_eq!(chain, appended, "what was read is what append answered");

    // Stored exactly as serde_json wrote it.
    let raw_rows = raw(&db.url)
        .await
        .query(
            "SELECT detail, before, after FROM audit_log WHERE id = $1",
            &[&chain[0].id.0],
        )
        .await
        .expect("raw");
    let (detail, before, after): (String, String, String) =
        (raw_rows[0].get(0), raw_rows[0].get(1), raw_rows[0].get(2));
    assert_eq!(
        (detail, before, after),
        (
            serde_json::to_string(&chain[0].entry.detail).expect("json"),
            "null".to_string(),
            serde_json::to_string(&chain[0].entry.after).expect("json"),
        )
    );

    // Filters and newest-first paging.
    let denied = a
        .list_audit(AuditFilter {
            outcome: Some(AuditOutcome::Denied),
            actor_id: Some("1-2".into()),
            page: PageRequest {
                limit: 5,
                cursor: None,
            },
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(denied.items.len(), 5);
    assert!(denied
        .items
        .iter()
        .all(|e| e.entry.outcome == AuditOutcome::Denied
            && e.entry.actor.id.as_deref() == Some("1-2")));
    assert!(denied.items.windows(2).all(|w| w[0].id > w[1].id));
    let rest = a
        .list_audit(AuditFilter {
            outcome: Some(AuditOutcome::Denied),
            actor_id: Some("1-2".into()),
            page: page(5, denied.next_cursor.as_ref()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(rest.items.len(), 2, "7 of the 15 entries are denials");
    assert!(rest.next_cursor.is_none());
    let by_object = a
        .list_audit(AuditFilter {
            action: Some("service.update".into()),
            object_kind: Some("service".into()),
            object_id: Some("1304".into()),
            since: Some(at(1304)),
            until: Some(at(1305)),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(by_object.items.len(), 1);
    assert_eq!(by_object.items[0].entry, audit_entry(1304, "1-3"));
    assert!(a
        .list_audit(AuditFilter {
            object_id: Some("1304".into()),
            until: Some(at(1304)),
            ..Default::default()
        })
        .await
        .expect("list")
        .items
        .is_empty());
    assert_eq!(
        a.audit_chain(Some(AuditId(chain[118].id.0)), 10)
            .await
            .expect("chain"),
        vec![chain[119].clone()]
    );
    drop((a, b));
    db.drop_now().await;
}

/// The database itself refuses to change or remove audit entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_is_append_only() {
    let Some(db) = Db::create().await else { return };
    let store = db.store().await;
    for n in 0..3 {
        store
            .append_audit(audit_entry(n, "u"))
            .await
            .expect("append");
    }
    let client = raw(&db.url).await;
    for sql in [
        "UPDATE audit_log SET action = 'forged' WHERE id = (SELECT min(id) FROM audit_log)",
        "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
        "TRUNCATE audit_log",
    ] {
        let err = client.batch_execute(sql).await.expect_err(sql);
        let msg = err.as_db_error().map(|d| d.message().to_string());
        assert_eq!(
            msg.as_deref(),
            Some("the audit log is append-only"),
            "{sql}"
        );
    }
    assert_eq!(whole_chain(&store, 100).await.len(), 3);
    drop(store);
    db.drop_now().await;
}

/// Upgrading a database at schema 1: existing tokens keep working with every scope and no user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_2_upgrades_existing_tokens() {
    let Some(db) = Db::create().await else { return };
    let client = raw(&db.url).await;
    client
        .batch_execute(crate::schema::MIGRATIONS[0].1)
        .await
        .expect("0001");
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now()); \
             INSERT INTO schema_migrations (version) VALUES (1); \
             INSERT INTO services (name, created_at, updated_at) VALUES ('old', now(), now()); \
             INSERT INTO api_tokens (name, token_hash, role, created_at) VALUES ('old', 'h-old', 'admin', now());",
        )
        .await
        .expect("schema 1 data");
    let store = PostgresStore::connect(&db.url, 2).await.expect("connect");
    assert!(matches!(
        store.ready().await,
        Err(StoreError::Unavailable(_))
    ));
    store.migrate().await.expect("migrate");
    store.ready().await.expect("ready");
    let token = store
        .token_by_hash("h-old")
        .await
        .expect("by hash")
        .expect("still there");
    assert_eq!(
        (token.user_id, token.scopes, token.revoked_at),
        (None, TokenScope::ALL.to_vec(), None)
    );
    let services = store
        .list_services(PageRequest::default(), None)
        .await
        .expect("list");
    assert_eq!(services.items.len(), 1);
    assert_eq!(services.items[0].team_id, None);
    drop(store);
    db.drop_now().await;
}

// ---- A second factor for users (migration 0003) -----------------------------------------------

use firebreak_core::access::UserMfa;

/// `user_mfa` and `set_user_mfa` round-trip every field (including clearing them), bump
/// `updated_at`, and every query that builds a `User` reports `mfa_enabled`; tokens round-trip
/// `mfa_at` through every token query and `mark_token_mfa`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_mfa_round_trips() {
    let Some(db) = Db::create().await else { return };
    let store = db.store().await;
    let ana = store
        .create_user(new_user("ana@example.org", &[]), at(0))
        .await
        .expect("user");
    assert!(!ana.mfa_enabled);
    assert_eq!(
        store.user_mfa(ana.id).await.expect("mfa"),
        Some(UserMfa::default())
    );
    assert_eq!(store.user_mfa(UserId(999)).await.expect("mfa"), None);
    assert!(!store
        .set_user_mfa(UserId(999), UserMfa::default(), at(1))
        .await
        .expect("set"));

    let pending = UserMfa {
        secret: Some("JBSWY3DPEHPK3PXP".into()),
        enabled: false,
        recovery_hashes: vec![],
        last_step: None,
    };
    assert!(store
        .set_user_mfa(ana.id, pending.clone(), at(1))
        .await
        .expect("set"));
    assert_eq!(
        store.user_mfa(ana.id).await.expect("mfa"),
        Some(pending.clone())
    );
    let got = store.get_user(ana.id).await.expect("get").expect("exists");
    assert!(!got.mfa_enabled);
    assert_eq!(got.updated_at, at(1));

    let on = UserMfa {
        enabled: true,
        recovery_hashes: vec!["a1".repeat(32), "b2".repeat(32)],
        last_step: Some(59_593_426),
        ..pending
    };
    assert!(store
        .set_user_mfa(ana.id, on.clone(), at(2))
        .await
        .expect("set"));
    assert_eq!(store.user_mfa(ana.id).await.expect("mfa"), Some(on));

    let got = store.get_user(ana.id).await.expect("get").expect("exists");
    assert!(got.mfa_enabled);
    assert_eq!((got.created_at, got.updated_at), (at(0), at(2)));
    let (by_email, hash) = store
        .user_by_email("ANA@example.org")
        .await
        .expect("lookup")
        .expect("exists");
    assert!(by_email.mfa_enabled);
    assert_eq!(hash.as_deref(), Some("$argon2id$v=19$stub"));
    let listed = store.list_users(page(10, None)).await.expect("list");
    assert_eq!(listed.items, vec![got.clone()]);
    let patched = store
        .update_user(
            ana.id,
            UserPatch {
                name: Some("Ana B.".into()),
                ..UserPatch::default()
            },
            at(3),
        )
        .await
        .expect("update")
        .expect("exists");
    assert!(patched.mfa_enabled);

    assert!(store
        .set_user_mfa(ana.id, UserMfa::default(), at(4))
        .await
        .expect("reset"));
    assert_eq!(
        store.user_mfa(ana.id).await.expect("mfa"),
        Some(UserMfa::default())
    );
    assert!(
        !store
            .get_user(ana.id)
            .await
            .expect("get")
            .expect("exists")
            .mfa_enabled
    );

    // Tokens remember when the second factor was given (console sessions, step-up).
    let session = |name: &str, mfa_at| NewApiToken {
        name: name.into(),
        token_hash: format!("{name:0>64}"),
        user_id: Some(ana.id),
        role: "responder".into(),
        scopes: TokenScope::ALL.to_vec(),
        expires_at: Some(at(1_000)),
        mfa_at,
    };
    let plain = store
        .create_token(session("plain", None), at(5))
        .await
        .expect("token");
    assert_eq!(plain.mfa_at, None);
    let stepped = store
        .create_token(session("stepped", Some(at(5))), at(5))
        .await
        .expect("token");
    assert_eq!(stepped.mfa_at, Some(at(5)));
    assert_eq!(
        store.get_token(stepped.id).await.expect("get"),
        Some(stepped.clone())
    );
    assert!(store.mark_token_mfa(plain.id, at(6)).await.expect("mark"));
    assert!(!store
        .mark_token_mfa(firebreak_core::TokenId(999), at(6))
        .await
        .expect("mark"));
    let plain = store
        .get_token(plain.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(plain.mfa_at, Some(at(6)));
    assert!(store.mark_token_mfa(stepped.id, at(7)).await.expect("mark"));
    let by_hash = store
        .token_by_hash(&format!("{:0>64}", "stepped"))
        .await
        .expect("by hash")
        .expect("live");
    assert_eq!(by_hash.mfa_at, Some(at(7)), "a later step-up moves mfa_at");
    let listed = store
        .list_tokens(Some(ana.id), page(10, None))
        .await
        .expect("list");
    assert_eq!(listed.items, vec![by_hash.clone(), plain.clone()]);
    let revoked = store
        .revoke_token(by_hash.id, at(8))
        .await
        .expect("revoke")
        .expect("exists");
    assert_eq!(
        (revoked.mfa_at, revoked.revoked_at),
        (Some(at(7)), Some(at(8)))
    );
    drop(store);
    db.drop_now().await;
}

/// Upgrading a database at schema 2: existing users have no second factor, existing tokens no
/// `mfa_at`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_3_upgrades_existing_users() {
    let Some(db) = Db::create().await else { return };
    let client = raw(&db.url).await;
    for (_, sql) in &crate::schema::MIGRATIONS[..2] {
        client.batch_execute(sql).await.expect("0001, 0002");
    }
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now()); \
             INSERT INTO schema_migrations (version) VALUES (1), (2); \
             INSERT INTO users (email, name, role, created_at, updated_at) \
             VALUES ('old@example.org', 'old', 'admin', now(), now()); \
             INSERT INTO api_tokens (name, token_hash, user_id, role, created_at) \
             VALUES ('old', 'h-old', (SELECT id FROM users), 'admin', now());",
        )
        .await
        .expect("schema 2 data");
    let store = PostgresStore::connect(&db.url, 2).await.expect("connect");
    assert!(matches!(
        store.ready().await,
        Err(StoreError::Unavailable(_))
    ));
    store.migrate().await.expect("migrate");
    store.ready().await.expect("ready");
    let (old, _) = store
        .user_by_email("old@example.org")
        .await
        .expect("lookup")
        .expect("still there");
    assert!(!old.mfa_enabled);
    assert_eq!(
        store.user_mfa(old.id).await.expect("mfa"),
        Some(UserMfa::default())
    );
    let token = store
        .token_by_hash("h-old")
        .await
        .expect("by hash")
        .expect("still there");
    assert_eq!((token.user_id, token.mfa_at), (Some(old.id), None));
    assert!(store.mark_token_mfa(token.id, at(1)).await.expect("mark"));
    assert_eq!(
        store
            .get_token(token.id)
            .await
            .expect("get")
            .expect("exists")
            .mfa_at,
        Some(at(1))
    );
    drop(store);
    db.drop_now().await;
}
