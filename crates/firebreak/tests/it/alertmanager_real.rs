//! A real Prometheus Alertmanager (Debian `prometheus-alertmanager`) sends its webhook to
//! firebreak: the alerts and their incident appear, then resolve.

use crate::support::*;
use firebreak::client::Client;
use firebreak_core::{Clock, DurationMs, SystemClock};
use hyper::Method;
use serde_json::{json, Value};
use std::time::Duration;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after 30 s waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_alertmanager_webhook_opens_and_resolves_an_incident() {
    if !std::path::Path::new(BINARY).exists() {
        assert!(
            !in_ci(),
            "{BINARY} is missing; .ci/run installs the Debian package prometheus-alertmanager"
        );
        eprintln!("skipping: {BINARY} not installed (apt-get install prometheus-alertmanager)");
        return;
    }
    let t = TestServer::start().await;
    let (_, key) = t.service_with("payments", "alertmanager").await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "route:\n  receiver: firebreak\n  group_by: ['alertname', 'cluster']\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: firebreak\n    webhook_configs:\n      - url: {}/ingest/alertmanager/{key}\n        send_resolved: true\n",
        t.url()
    );
    std::fs::write(dir.path().join("am.yml"), config).unwrap();
    let port = free_port();
    let am = Killed(
        std::process::Command::new(BINARY)
            .arg(format!(
                "--config.file={}",
                dir.path().join("am.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let am_client = Client::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
    wait_for("Alertmanager to be ready", || {
        let c = am_client.clone();
        async move {
            c.send(Method::GET, "/-/ready", None)
                .await
                .is_ok_and(|a| a.status == 200)
        }
    })
    .await;

    let now = SystemClock.now();
    let alerts = |ends: Option<String>| -> Value {
        Value::Array(
            ["10.0.3.17:8080", "10.0.3.18:8080"]
                .iter()
                .map(|instance| {
                    let mut a = json!({
                        "labels": {"alertname": "HighErrorRate", "cluster": "eu-west-1", "instance": instance, "severity": "critical"},
                        "annotations": {"summary": format!("5xx ratio above 5% on {instance}")},
                        "startsAt": now.to_rfc3339(),
                        "generatorURL": "http://prometheus.example/graph"
                    });
                    if let Some(e) = &ends {
                        a["endsAt"] = json!(e);
                    }
                    a
                })
                .collect(),
        )
    };
    let posted = am_client
        .send(Method::POST, "/api/v2/alerts", Some(&alerts(None)))
        .await
        .unwrap();
    assert_eq!(posted.status, 200, "{:?}", posted.body);

    wait_for("two open alerts in firebreak", || async {
        t.open_alerts().await.len() == 2
    })
    .await;
    let open = t.open_alerts().await;
    assert_eq!(
        open[0]["incident_id"], open[1]["incident_id"],
        "one incident for the Alertmanager group"
    );
    assert_eq!(open[0]["severity"], "critical");
    let incidents = t.get("/api/v1/incidents").await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["severity"], "SEV1");
    let id = incidents[0]["id"].as_str().unwrap().to_string();

    let ended = now.plus(DurationMs::from_secs(1)).to_rfc3339();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let posted = am_client
        .send(Method::POST, "/api/v2/alerts", Some(&alerts(Some(ended))))
        .await
        .unwrap();
    assert_eq!(posted.status, 200);
    wait_for("the incident to resolve", || {
        let path = format!("/api/v1/incidents/{id}");
        let t = &t;
        async move { t.get(&path).await.body["status"] == "resolved" }
    })
    .await;
    assert_eq!(t.open_alerts().await.len(), 0);
    drop(am);
}
