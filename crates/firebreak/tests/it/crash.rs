//! Crash safety: under concurrent ingest, kill -9 the server at random moments, restart it, and
//! check that every alert that got a 2xx is in the store. Zero lost.

use crate::support::*;
use firebreak::client::Client;
use hyper::Method;
use serde_json::json;
use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CYCLES: usize = 20;
const WRITERS: usize = 8;

/// A random number below `n`, from the hasher's per-process random keys.
fn random_below(n: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish() % n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_alert_is_lost_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("crash.db").display());
    let mut server = ChildServer::spawn(&db, dir.path());
    let admin = Client::new(&server.url, Some(TOKEN.into())).unwrap();
    let key = create_integration(&admin, "crash", "pagerduty").await;

    let acked: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let mut per_cycle = Vec::new();
    for cycle in 0..CYCLES {
        if cycle > 0 {
            server = ChildServer::spawn(&db, dir.path());
        }
        let before = acked.lock().unwrap().len();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let client = Client::new(&server.url, None).unwrap();
            let acked = acked.clone();
            let stop = stop.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                for seq in 0..100_000u32 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let dedup = format!("c{cycle}-w{w}-{seq}");
                    // 1 in 5 events repeats an earlier key of this writer.
                    let dedup = if seq % 5 == 4 { format!("c{cycle}-w{w}-{}", seq - 1) } else { dedup };
                    let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
                                      "payload": {"summary": "crash test", "source": "it", "severity": "error"}});
                    match client.send(Method::POST, "/v2/enqueue", Some(&body)).await {
                        Ok(a) if a.status == 202 => {
                            acked.lock().unwrap().insert(dedup);
                        }
                        Ok(a) if a.status == 503 => {}
                        Ok(a) => panic!("unexpected status {} {:?}", a.status, a.body),
                        Err(_) => break, // the server died under us
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + random_below(400))).await;
        server.kill9();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        per_cycle.push(acked.lock().unwrap().len() - before);
    }
    assert!(
        per_cycle.iter().all(|n| *n > 0),
        "every cycle got some alerts accepted: {per_cycle:?}"
    );

    let server = ChildServer::spawn(&db, dir.path());
    let admin = Client::new(&server.url, Some(TOKEN.into())).unwrap();
    let mut stored = HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/alerts?limit=500&cursor={c}"),
            None => "/api/v1/alerts?limit=500".into(),
        };
        let page = admin.call(Method::GET, &path, None).await.unwrap();
        for a in page["items"].as_array().unwrap() {
            assert!(
                stored.insert(a["dedup_key"].as_str().unwrap().to_string()),
                "duplicate open alert for one key"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let acked = acked.lock().unwrap();
    let lost: Vec<&String> = acked.iter().filter(|k| !stored.contains(*k)).collect();
    eprintln!(
        "crash test: {} cycles, {} alerts acknowledged with 202, {} stored",
        CYCLES,
        acked.len(),
        stored.len()
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged alerts lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
}
