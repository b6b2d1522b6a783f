//! The jobs table doing a real duty: stale alerts auto-resolve, driven by the fake clock.

use crate::support::*;
use firebreak::workers::run_due_jobs;
use firebreak_core::DurationMs;
use hyper::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_alerts_auto_resolve_through_the_jobs_table() {
    let t = TestServer::start().await;
    let (sid, _) = t.service_with("batch", "generic").await;
    let i = t
        .post(
            &format!("/api/v1/services/{sid}/integrations"),
            json!({"kind": "generic", "name": "cron", "auto_resolve_after": "10m"}),
        )
        .await;
    let key = i.body["key"].as_str().unwrap().to_string();
    let path = format!("/ingest/generic/{key}");
    let send = |dedup: &'static str| {
        let anon = t.anon.clone();
        let path = path.clone();
        async move {
            anon.send(
                Method::POST,
                &path,
                Some(&json!({"summary": "job late", "severity": "warning", "dedup_key": dedup})),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(send("a").await.status, 202);
    assert_eq!(send("b").await.status, 202);
    let state = t.state().clone();
    assert_eq!(run_due_jobs(&state).await.unwrap(), 0, "nothing is due yet");

    t.clock.advance(DurationMs::parse("6m").unwrap());
    assert_eq!(send("b").await.status, 202, "b is seen again at +6m");
    t.clock.advance(DurationMs::parse("5m").unwrap());
    assert_eq!(run_due_jobs(&state).await.unwrap(), 2);
    let open = t.open_alerts().await;
    assert_eq!(open.len(), 1, "a went stale, b was seen 5 minutes ago");
    assert_eq!(open[0]["dedup_key"], "b");

    t.clock.advance(DurationMs::parse("4m").unwrap());
    assert_eq!(
        run_due_jobs(&state).await.unwrap(),
        0,
        "b's job was rescheduled to +16m"
    );
    t.clock.advance(DurationMs::parse("1m").unwrap());
    assert_eq!(run_due_jobs(&state).await.unwrap(), 1);
    assert_eq!(t.open_alerts().await.len(), 0);
    assert_eq!(
        run_due_jobs(&state).await.unwrap(),
        0,
        "completed jobs are gone"
    );

    let incidents = t.get("/api/v1/incidents?status=resolved").await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(incidents.len(), 2);
    let tl = t
        .get(&format!(
            "/api/v1/incidents/{}/timeline",
            incidents[1]["id"].as_str().unwrap()
        ))
        .await;
    let resolved = tl.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "alert.resolved")
        .unwrap()
        .clone();
    assert_eq!(resolved["actor"]["kind"], "system");
}
