//! Adapter-specific tests against a live server (the shared contract is the conformance suite in
//! firebreak-testkit): how PostgreSQL errors map onto `StoreError`, saturated job due times, and
//! the row locks that keep timeline ids in commit order. Each test makes its own database; all
//! are skipped unless `FIREBREAK_TEST_DATABASE_URL` names an admin URL.

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
