//! The PostgreSQL adapter at the store level against a real server: migrations, two independent
//! stores (two pools — a stand-in for two firebreak processes) ingesting the
//! same keys at once. Needs `FIREBREAK_TEST_DATABASE_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`): each test creates its own database next to
//! the one named there and drops it afterwards. Without the variable the tests skip — except
//! under `CI=true`, where a skipped PostgreSQL run is a defect and the tests fail.

use firebreak_core::store::{AlertStore, IngestEffect, IngestRequest, StoreError};
use firebreak_core::{
    AlertFilter, AlertSeverity, AlertStatus, IncidentFilter, IntegrationKind, Store,
};
use firebreak_store_postgres::PostgresStore;
use firebreak_testkit::builders::{am_trigger, at, service_with_integration, trigger, unique_name};
use std::sync::Arc;
use tokio_postgres::NoTls;

/// The admin URL, or `None` to skip (outside CI).
fn admin_url() -> Option<String> {
    match std::env::var("FIREBREAK_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let ci = std::env::var("CI")
                .map(|v| v == "true" || v == "1")
                .unwrap_or(false);
            assert!(!ci, "CI=true but FIREBREAK_TEST_DATABASE_URL is not set: the PostgreSQL store tests must run in CI");
            eprintln!("skipping: FIREBREAK_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// A fresh database for one test; dropped (forcibly) by `drop_db`.
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

async fn admin_exec(admin: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(admin, NoTls)
        .await
        .expect("connect to the admin database");
    let task = tokio::spawn(conn);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
}

async fn create_db(tag: &str) -> Option<TestDb> {
    let admin = admin_url()?;
    let name = format!(
        "firebreak_test_{tag}_{}_{}",
        std::process::id(),
        firebreak_testkit::builders::next_unique()
    );
    admin_exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let config: tokio_postgres::Config = admin
        .parse()
        .expect("FIREBREAK_TEST_DATABASE_URL is a PostgreSQL URL");
    let url = match config.get_dbname() {
        Some(db) => match admin.rfind(&format!("/{db}")) {
            Some(i) => format!("{}/{name}{}", &admin[..i], &admin[i + db.len() + 1..]),
            None => panic!("cannot find the database name in {admin}"),
        },
        None => {
            let (base, query) = admin
                .split_once('?')
                .map_or((admin.as_str(), ""), |(b, q)| (b, q));
            let sep = if query.is_empty() { "" } else { "?" };
            format!("{}/{name}{sep}{query}", base.trim_end_matches('/'))
        }
    };
    Some(TestDb { admin, name, url })
}

async fn drop_db(db: TestDb) {
    admin_exec(
        &db.admin,
        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_before_migrate_and_concurrent_migrations() {
    let Some(db) = create_db("mig").await else {
        return;
    };
    let a = PostgresStore::connect(&db.url, 2).await.expect("connect a");
    let b = PostgresStore::connect(&db.url, 2).await.expect("connect b");
    assert!(
        matches!(a.ready().await, Err(StoreError::Unavailable(_))),
        "not ready before migrate"
    );
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.expect("migrate a");
    rb.expect("migrate b");
    a.ready().await.expect("ready a");
    b.ready().await.expect("ready b");
    drop((a, b));
    drop_db(db).await;
}

/// Two stores with their own pools and writers = two firebreak processes on one database. Both
/// hammer the same dedup keys and group keys: never two open alerts for one key, never two open
/// incidents for one group, and every trigger counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_same_keys() {
    let Some(db) = create_db("two").await else {
        return;
    };
    let a = PostgresStore::connect(&db.url, 8).await.expect("connect a");
    a.migrate().await.expect("migrate");
    let b = PostgresStore::connect(&db.url, 8).await.expect("connect b");
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a), Arc::new(b)];

    let (svc, integ) =
        service_with_integration(&*stores[0], "two-procs", IntegrationKind::Alertmanager).await;
    const KEYS: usize = 25;
    const GROUPS: usize = 5;
    const TASKS_PER_STORE: usize = 8;
    const ROUNDS: usize = 10;
    let prefix = unique_name("k");
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|k| format!("{prefix}-{k}")).collect());

    let mut handles = Vec::new();
    for (s, store) in stores.iter().enumerate() {
        for t in 0..TASKS_PER_STORE {
            let store = Arc::clone(store);
            let keys = Arc::clone(&keys);
            let integ = integ.clone();
            handles.push(tokio::spawn(async move {
                let mut opened = 0usize;
                let mut sent = 0usize;
                for round in 0..ROUNDS {
                    let received_at = at(1_000 + (round * 100 + t) as i64);
                    // Rotate the key order per task; some requests carry several events.
                    let start = (t * 7 + s * 3 + round) % KEYS;
                    let mut i = 0;
                    while i < KEYS {
                        let n = 1 + (i + t) % 3;
                        let events = (i..(i + n).min(KEYS))
                            .map(|j| {
                                let k = (start + j) % KEYS;
                                let key = &keys[k];
                                if k & 1 == 0 {
                                    am_trigger(
                                        key,
                                        &format!("grp-{}", k % GROUPS),
                                        "grouped",
                                        AlertSeverity::Critical,
                                    )
                                } else {
                                    trigger(key, "two processes", AlertSeverity::Warning)
                                }
                            })
                            .collect::<Vec<_>>();
                        i += events.len();
                        sent += events.len();
                        let req = IngestRequest {
                            integration: integ.clone(),
                            events,
                            received_at,
                        };
                        let out = loop {
                            match store.ingest(req.clone()).await {
                                Ok(out) => break out,
                                Err(StoreError::Busy) => tokio::task::yield_now().await,
                                Err(e) => panic!("ingest failed: {e}"),
                            }
                        };
                        opened += out
                            .iter()
                            .filter(|o| o.effect == IngestEffect::Opened)
                            .count();
                        assert!(out.iter().all(|o| matches!(
                            o.effect,
                            IngestEffect::Opened | IngestEffect::Repeated
                        )));
                    }
                }
                (opened, sent)
            }));
        }
    }
    let (mut opened, mut sent) = (0, 0);
    for h in handles {
        let (o, s) = h.await.expect("task");
        opened += o;
        sent += s;
    }
    assert_eq!(
        opened, KEYS,
        "each key opened exactly once across both processes"
    );

    let all = stores[1]
        .list_alerts(AlertFilter {
            service_id: Some(svc.id),
            page: firebreak_core::store::PageRequest {
                limit: 500,
                cursor: None,
            },
            ..Default::default()
        })
        .await
        .expect("list alerts");
    assert_eq!(all.items.len(), KEYS, "one alert per key, no duplicates");
    assert!(all.items.iter().all(|a| a.status == AlertStatus::Triggered));
    assert_eq!(
        all.items.iter().map(|a| a.count).sum::<i64>(),
        sent as i64,
        "every trigger counted"
    );

    let incidents = stores[0]
        .list_incidents(IncidentFilter {
            service_id: Some(svc.id),
            page: firebreak_core::store::PageRequest {
                limit: 500,
                cursor: None,
            },
            ..Default::default()
        })
        .await
        .expect("list incidents");
    // Even keys are grouped (GROUPS groups over them); odd keys open an incident each.
    let grouped = (0..KEYS)
        .filter(|k| k & 1 == 0)
        .map(|k| k % GROUPS)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let ungrouped = (0..KEYS).filter(|k| k & 1 == 1).count();
    assert_eq!(
        incidents.items.len(),
        grouped + ungrouped,
        "one incident per group, one per ungrouped key"
    );
    assert_eq!(
        incidents.items.iter().map(|i| i.alert_count).sum::<i64>(),
        KEYS as i64
    );
    assert_eq!(
        incidents
            .items
            .iter()
            .map(|i| i.open_alert_count)
            .sum::<i64>(),
        KEYS as i64
    );

    drop(stores);
    drop_db(db).await;
}

/// Runs `sql` on the test database and returns the first column of every row as i64.
async fn query_i64s(url: &str, sql: &str) -> Vec<i64> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    let task = tokio::spawn(conn);
    let rows = client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
    rows.iter().map(|r| r.get::<_, i64>(0)).collect()
}

/// Ingest (triggers, acknowledges, resolves, grouped and not) through one store while people
/// acknowledge and resolve alerts and incidents through another: no errors, and afterwards the
/// counters and statuses agree with the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_mixed_workload_keeps_invariants() {
    use firebreak_core::{AlertAction, AlertEvent};
    use firebreak_testkit::builders::actor;
    let Some(db) = create_db("mix").await else {
        return;
    };
    let a = PostgresStore::connect(&db.url, 8).await.expect("connect a");
    a.migrate().await.expect("migrate");
    let b = PostgresStore::connect(&db.url, 8).await.expect("connect b");
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a), Arc::new(b)];
    let (svc, integ) =
        service_with_integration(&*stores[0], "mixed", IntegrationKind::Alertmanager).await;
    let prefix = unique_name("m");

    let mut handles = Vec::new();
    for t in 0..12usize {
        let store = Arc::clone(&stores[t % 2]);
        let integ = integ.clone();
        let prefix = prefix.clone();
        handles.push(tokio::spawn(async move {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1);
            for round in 0..60usize {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let now = at(10_000 + (round * 10) as i64);
                if t % 3 == 2 {
                    // A person: acknowledge or resolve something open.
                    let open = store
                        .list_alerts(AlertFilter {
                            statuses: vec![AlertStatus::Triggered, AlertStatus::Acknowledged],
                            service_id: Some(svc.id),
                            page: firebreak_core::store::PageRequest {
                                limit: 20,
                                cursor: None,
                            },
                            ..Default::default()
                        })
                        .await
                        .expect("list");
                    let Some(alert) = open.items.get((x % 20) as usize % open.items.len().max(1))
                    else {
                        continue;
                    };
                    let r = match x % 4 {
                        0 => store
                            .acknowledge_alert(alert.id, actor(), now)
                            .await
                            .map(|_| ()),
                        1 => store
                            .resolve_alert(alert.id, actor(), now)
                            .await
                            .map(|_| ()),
                        2 => match alert.incident_id {
                            Some(i) => store
                                .acknowledge_incident(i, actor(), now)
                                .await
                                .map(|_| ()),
                            None => Ok(()),
                        },
                        _ => match alert.incident_id {
                            Some(i) => store.resolve_incident(i, actor(), now).await.map(|_| ()),
                            None => Ok(()),
                        },
                    };
                    r.expect("manual action");
                } else {
                    // A sender: a few events for 12 keys in 3 groups (and some ungrouped).
                    let events: Vec<AlertEvent> = (0..1 + (x % 4) as usize)
                        .map(|i| {
                            let k = ((x >> (8 + 4 * i)) % 12) as usize;
                            let key = format!("{prefix}-{k}");
                            let mut ev = match (x >> (3 + i)) % 5 {
                                0 => AlertEvent::action_only(AlertAction::Acknowledge, key),
                                1 => AlertEvent::action_only(AlertAction::Resolve, key),
                                _ => trigger(&key, "mixed", AlertSeverity::Error),
                            };
                            if k % 4 != 3 {
                                ev.group_key = Some(format!("{prefix}-g{}", k % 3));
                            }
                            ev
                        })
                        .collect();
                    let req = IngestRequest {
                        integration: integ.clone(),
                        events,
                        received_at: now,
                    };
                    loop {
                        match store.ingest(req.clone()).await {
                            Ok(_) => break,
                            Err(StoreError::Busy) => tokio::task::yield_now().await,
                            Err(e) => panic!("ingest failed: {e}"),
                        }
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    drop(stores);

    let check = |sql: &'static str| {
        let url = db.url.clone();
        async move { (sql, query_i64s(&url, sql).await) }
    };
    for (sql, bad) in [
        check("SELECT id FROM incidents i WHERE open_alert_count <> (SELECT count(*) FROM alerts a WHERE a.incident_id = i.id AND a.status <> 'resolved')").await,
        check("SELECT id FROM incidents i WHERE alert_count <> (SELECT count(*) FROM alerts a WHERE a.incident_id = i.id)").await,
        check("SELECT i.id FROM incidents i WHERE i.status = 'resolved' AND EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = i.id AND a.status <> 'resolved')").await,
        check("SELECT i.id FROM incidents i WHERE i.status = 'acknowledged' AND i.acknowledged_at IS NULL OR i.status = 'resolved' AND i.resolved_at IS NULL").await,
        check("SELECT count(*) FROM alerts WHERE status <> 'resolved' GROUP BY integration_id, dedup_key HAVING count(*) > 1").await,
        check("SELECT count(*) FROM incidents WHERE status <> 'resolved' AND group_key IS NOT NULL GROUP BY origin_integration_id, group_key HAVING count(*) > 1").await,
        check("SELECT a.id FROM alerts a WHERE a.incident_id IS NULL OR NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = a.incident_id)").await,
        check("SELECT e.id FROM timeline_events e WHERE e.alert_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.id = e.alert_id)").await,
    ] {
        assert!(bad.is_empty(), "invariant broken: {sql} → {bad:?}");
    }
    let numbers = query_i64s(&db.url, "SELECT number FROM incidents ORDER BY number").await;
    assert_eq!(
        numbers,
        (1..=numbers.len() as i64).collect::<Vec<_>>(),
        "incident numbers 1..N"
    );
    let deadlocks = query_i64s(
        &db.url,
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
    )
    .await;
    eprintln!(
        "mixed workload: {} incidents, deadlocks: {deadlocks:?}",
        numbers.len()
    );
    // Everyone locks advisory keys, then incidents, then alerts, each in one order: no cycles.
    assert_eq!(deadlocks, vec![0], "the lock order rules out deadlocks");
    drop_db(db).await;
}

/// Two stores claiming the same due jobs at once never get the same job; a lease hides a
/// claimed job until it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_claims_are_exclusive_across_processes() {
    use firebreak_core::DurationMs;
    use firebreak_testkit::builders::{integration_with, new_integration, service};
    let Some(db) = create_db("jobs").await else {
        return;
    };
    let a = PostgresStore::connect(&db.url, 4).await.expect("connect a");
    a.migrate().await.expect("migrate");
    let b = PostgresStore::connect(&db.url, 4).await.expect("connect b");
    let svc = service(&a, &unique_name("jobs")).await;
    let mut new = new_integration(IntegrationKind::Pagerduty);
    new.auto_resolve_after = Some(DurationMs::from_secs(60));
    let integ = integration_with(&a, svc.id, new).await;
    let events = (0..200)
        .map(|k| trigger(&format!("job-{k}"), "stale", AlertSeverity::Info))
        .collect();
    a.ingest(IngestRequest {
        integration: integ,
        events,
        received_at: at(0),
    })
    .await
    .expect("ingest");

    let due = at(60_000);
    let lease = DurationMs::from_secs(30);
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a), Arc::new(b)];
    let mut handles = Vec::new();
    for t in 0..8 {
        let store = Arc::clone(&stores[t % 2]);
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let jobs = store.claim_jobs(due, lease, 7).await.expect("claim");
                if jobs.is_empty() {
                    return got;
                }
                got.extend(jobs.into_iter().map(|j| j.id.0));
            }
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    let claimed = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        (claimed, all.len()),
        (200, 200),
        "every job claimed exactly once"
    );
    assert!(
        stores[1]
            .claim_jobs(at(60_000 + 29_999), lease, 500)
            .await
            .expect("claim")
            .is_empty(),
        "leased jobs stay hidden"
    );
    assert_eq!(
        stores[0]
            .claim_jobs(at(60_000 + 30_000), lease, 500)
            .await
            .expect("claim")
            .len(),
        200,
        "expired leases free the jobs"
    );
    drop(stores);
    drop_db(db).await;
}

/// A request for a retired integration fails with NotFound and one with bytes PostgreSQL cannot
/// store fails with Invalid — neither takes down the requests committed alongside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_fail_alone() {
    use firebreak_testkit::builders::actor;
    let Some(db) = create_db("bad").await else {
        return;
    };
    let store = PostgresStore::connect(&db.url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let store: Arc<dyn Store> = Arc::new(store);
    let (_, live) = service_with_integration(&*store, "live", IntegrationKind::Generic).await;
    let (_, retired) = service_with_integration(&*store, "retired", IntegrationKind::Generic).await;
    assert!(store
        .delete_integration(retired.id, actor(), at(1))
        .await
        .expect("delete"));

    let mut handles = Vec::new();
    for i in 0..60 {
        let store = Arc::clone(&store);
        let (integration, summary) = match i % 3 {
            0 => (live.clone(), "fine".to_string()),
            1 => (retired.clone(), "gone".to_string()),
            _ => (live.clone(), "nul \0 byte".to_string()),
        };
        handles.push(tokio::spawn(async move {
            let events = vec![trigger(&format!("bad-{i}"), &summary, AlertSeverity::Error)];
            (
                i,
                store
                    .ingest(IngestRequest {
                        integration,
                        events,
                        received_at: at(2),
                    })
                    .await,
            )
        }));
    }
    for h in handles {
        let (i, result) = h.await.expect("task");
        match i % 3 {
            0 => assert!(result.is_ok(), "request {i}: {result:?}"),
            1 => assert!(
                matches!(result, Err(StoreError::NotFound(_))),
                "request {i}: {result:?}"
            ),
            _ => assert!(
                matches!(result, Err(StoreError::Invalid(_))),
                "request {i}: {result:?}"
            ),
        }
    }
    let (open_alerts, _) = store.open_counts().await.expect("counts");
    assert_eq!(open_alerts, 20);
    drop(store);
    drop_db(db).await;
}
