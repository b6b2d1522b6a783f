//! Ingest endpoints end to end: PagerDuty Events v2, Alertmanager webhook v4, generic JSON;
//! exact responses, dedup, grouping, bad input (4xx, nothing stored), size limit, back-pressure.

use crate::support::*;
use async_trait::async_trait;
use firebreak::client::Client;
use firebreak_core::access::{
    Grant, NewGrant, NewTeam, NewUser, Team, User, UserMfa, UserPatch, Visibility,
};
use firebreak_core::alert::{Alert, AlertFilter, ChangeEvent};
use firebreak_core::audit::{AuditEntry, AuditFilter, NewAuditEntry};
use firebreak_core::ids::*;
use firebreak_core::incident::{Incident, IncidentFilter, NewIncident};
use firebreak_core::jobs::{AutoResolveOutcome, Job};
use firebreak_core::service::*;
use firebreak_core::store::*;
use firebreak_core::timeline::{Actor, TimelineEvent};
use firebreak_core::token::{ApiToken, NewApiToken};
use firebreak_core::{DurationMs, Timestamp};
use firebreak_store_sqlite::SqliteStore;
use hyper::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const FIRING: &str = include_str!("testdata/alertmanager-webhook-v4.firing.json");
const RESOLVED: &str = include_str!("testdata/alertmanager-webhook-v4.resolved.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_events_v2_contract() {
    let t = TestServer::start().await;
    let (_, key) = t.service_with("checkout", "pagerduty").await;
    // The spec's example, verbatim shape.
    let example = json!({
        "routing_key": key, "event_action": "trigger", "dedup_key": "checkout-api/eu-west-1/HighErrorRate",
        "payload": {"summary": "[FIRING:2] HighErrorRate eu-west-1 (checkout-api critical payments)", "source": "prometheus.eu-west-1.example.com",
                    "severity": "critical", "timestamp": "2026-08-21T09:14:03.512+0000", "component": "checkout-api", "group": "payments",
                    "class": "HighErrorRate", "custom_details": {"firing_instances": ["10.0.3.17:8080"], "error_ratio": 0.071}},
        "client": "Prometheus Alertmanager", "links": [{"href": "https://grafana.example.com/d/checkout", "text": "Checkout dashboard"}],
        "some_future_field": true
    });
    let a = t
        .anon
        .send(Method::POST, "/v2/enqueue", Some(&example))
        .await
        .unwrap();
    assert_eq!(a.status, 202);
    assert_eq!(
        a.body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "checkout-api/eu-west-1/HighErrorRate"})
    );
    let again = t
        .anon
        .send(Method::POST, "/v2/enqueue", Some(&example))
        .await
        .unwrap();
    assert_eq!(again.status, 202);
    let alerts = t.open_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["count"], 2);
    assert_eq!(alerts[0]["labels"]["component"], "checkout-api");
    assert_eq!(
        alerts[0]["links"][0]["href"],
        "https://grafana.example.com/d/checkout"
    );

    // No dedup key: a new alert each time, key generated and returned.
    let mut keys = Vec::new();
    for _ in 0..2 {
        let body = json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}});
        let a = t
            .anon
            .send(Method::POST, "/v2/enqueue", Some(&body))
            .await
            .unwrap();
        assert_eq!(a.status, 202);
        keys.push(a.body["dedup_key"].as_str().unwrap().to_string());
    }
    assert_ne!(keys[0], keys[1]);
    assert_eq!(t.open_alerts().await.len(), 3);

    // Acknowledge/resolve of unknown keys: accepted and dropped.
    assert_eq!(
        t.pd(&key, "resolve", "never-seen", "", "").await.status,
        202
    );
    assert_eq!(
        t.pd(&key, "acknowledge", "never-seen", "", "").await.status,
        202
    );
    // Resolve without payload, then a trigger opens a new alert.
    let r = json!({"routing_key": key, "event_action": "resolve", "dedup_key": "checkout-api/eu-west-1/HighErrorRate"});
    assert_eq!(
        t.anon
            .send(Method::POST, "/v2/enqueue", Some(&r))
            .await
            .unwrap()
            .status,
        202
    );
    assert_eq!(
        t.anon
            .send(Method::POST, "/v2/enqueue", Some(&r))
            .await
            .unwrap()
            .status,
        202
    );
    assert_eq!(
        t.anon
            .send(Method::POST, "/v2/enqueue", Some(&example))
            .await
            .unwrap()
            .status,
        202
    );
    let all = t.get("/api/v1/alerts?limit=500").await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    let same_key: Vec<&Value> = all
        .iter()
        .filter(|a| a["dedup_key"] == "checkout-api/eu-west-1/HighErrorRate")
        .collect();
    assert_eq!(same_key.len(), 2);
    assert_eq!(same_key[0]["status"], "triggered");
    assert_eq!(same_key[1]["status"], "resolved");
    assert_ne!(same_key[0]["incident_id"], same_key[1]["incident_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_errors_have_pagerduty_shape() {
    let t = TestServer::start().await;
    let (_, key) = t.service_with("checkout", "pagerduty").await;
    let (_, generic_key) = t.service_with("other", "generic").await;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "Unrecognized object"),
        (vec![0xc3, 0x28, 0xff], 400, "Unrecognized object"),
        (b"[]".to_vec(), 400, ""),
        (json!({"routing_key": "short", "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "critical"}}).to_string().into_bytes(), 400, "invalid event"),
        (json!({"routing_key": key, "event_action": "explode"}).to_string().into_bytes(), 400, "invalid event"),
        (json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "CRITICAL"}}).to_string().into_bytes(), 400, "invalid event"),
        (json!({"routing_key": key, "event_action": "resolve"}).to_string().into_bytes(), 400, "invalid event"),
        (json!({"routing_key": "00000000000000000000000000000000", "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}}).to_string().into_bytes(), 400, "invalid event"),
        (json!({"routing_key": generic_key, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}}).to_string().into_bytes(), 400, "invalid event"),
        (json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "x".repeat(1025), "source": "x", "severity": "info"}}).to_string().into_bytes(), 400, "invalid event"),
    ];
    for (body, status, pd_status) in cases {
        let a = t.post_raw("/v2/enqueue", &body).await;
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&body));
        assert!(a.body["errors"].is_array(), "{:?}", a.body);
        if !pd_status.is_empty() {
            assert_eq!(a.body["status"], pd_status);
        }
    }
    let sev = t.post_raw("/v2/enqueue", json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "CRITICAL"}}).to_string().as_bytes()).await;
    assert_eq!(
        sev.body["errors"][0],
        "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')"
    );
    let short = t.post_raw("/v2/enqueue", json!({"routing_key": "short", "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}}).to_string().as_bytes()).await;
    assert!(short.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "Length of 'routing_key' is incorrect (should be 32 characters)"));
    // Oversized body: 413.
    let big = json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info", "custom_details": {"blob": "x".repeat(600 * 1024)}}});
    let a = t.post_raw("/v2/enqueue", big.to_string().as_bytes()).await;
    assert_eq!(a.status, 413);
    assert_eq!(t.open_alerts().await.len(), 0, "nothing was stored");
    assert_eq!(
        t.get("/api/v1/incidents").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_change_events_reach_service_and_open_incident_timelines() {
    let t = TestServer::start().await;
    let (sid, key) = t.service_with("checkout", "pagerduty").await;
    assert_eq!(
        t.pd(&key, "trigger", "k", "Broken", "error").await.status,
        202
    );
    let change = json!({"routing_key": key, "payload": {"summary": "Deployed checkout v42", "source": "ci", "timestamp": "2026-08-21T08:59:00Z"}, "links": [{"href": "https://ci.example/42"}]});
    let a = t
        .anon
        .send(Method::POST, "/v2/change/enqueue", Some(&change))
        .await
        .unwrap();
    assert_eq!(a.status, 202);
    let svc = t.get(&format!("/api/v1/services/{sid}/timeline")).await;
    assert!(svc.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "change.recorded"
            && e["payload"]["summary"] == "Deployed checkout v42"));
    let inc = t.get("/api/v1/incidents").await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tl = t.get(&format!("/api/v1/incidents/{inc}/timeline")).await;
    assert_eq!(
        tl.body["items"].as_array().unwrap().last().unwrap()["kind"],
        "change.recorded"
    );
    assert_eq!(
        t.open_alerts().await.len(),
        1,
        "a change event pages nobody and opens no alert"
    );
    let bad = t
        .anon
        .send(
            Method::POST,
            "/v2/change/enqueue",
            Some(&json!({"routing_key": key, "payload": {}})),
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_webhook_groups_by_group_key_and_resolves() {
    let t = TestServer::start().await;
    let (_, key) = t.service_with("payments", "alertmanager").await;
    let path = format!("/ingest/alertmanager/{key}");
    let a = t.post_raw(&path, FIRING.as_bytes()).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // Alertmanager re-sends the same group: nothing new.
    assert_eq!(t.post_raw(&path, FIRING.as_bytes()).await.status, 200);
    let alerts = t.open_alerts().await;
    assert_eq!(alerts.len(), 2);
    let mut fps: Vec<&str> = alerts
        .iter()
        .map(|a| a["dedup_key"].as_str().unwrap())
        .collect();
    fps.sort();
    assert_eq!(fps, ["9ec4e0bf5f475732", "e2bc5bc52c25e009"]);
    assert_eq!(
        alerts[0]["incident_id"], alerts[1]["incident_id"],
        "one incident per groupKey"
    );
    assert_eq!(alerts[0]["severity"], "critical");
    let incidents = t.get("/api/v1/incidents").await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["severity"], "SEV1");
    assert_eq!(incidents[0]["alert_count"], 2);

    let r = t.post_raw(&path, RESOLVED.as_bytes()).await;
    assert_eq!(r.status, 200);
    let again = t.post_raw(&path, RESOLVED.as_bytes()).await;
    assert_eq!(again.status, 200, "repeated resolves are harmless");
    assert_eq!(t.open_alerts().await.len(), 0);
    let inc = t
        .get(&format!(
            "/api/v1/incidents/{}",
            incidents[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(inc.body["status"], "resolved");
    let tl = t
        .get(&format!(
            "/api/v1/incidents/{}/timeline",
            incidents[0]["id"].as_str().unwrap()
        ))
        .await;
    let resolved_events = tl.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "incident.resolved")
        .count();
    assert_eq!(resolved_events, 1);

    // Bad input: 4xx with a clear detail; unknown key: 404; nothing stored.
    for body in [
        &b"{\"alerts\": 5}"[..],
        b"{\"version\": \"3\", \"alerts\": []}",
        b"\xff\xfe",
        b"{\"alerts\": [{\"status\": \"firing\"",
    ] {
        let a = t.post_raw(&path, body).await;
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(body));
        assert!(!a.body["detail"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        t.post_raw(
            "/ingest/alertmanager/00000000000000000000000000000000",
            FIRING.as_bytes()
        )
        .await
        .status,
        404
    );
    assert_eq!(
        t.get("/api/v1/alerts?limit=500").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_json_events() {
    let t = TestServer::start().await;
    let (_, key) = t.service_with("search", "generic").await;
    let path = format!("/ingest/generic/{key}");
    let body = json!({"summary": "Index lag 10m", "severity": "warning", "dedup_key": "lag", "source": "indexer-3",
                      "labels": {"region": "eu"}, "details": {"lag_s": 600}, "links": [{"href": "https://x.example", "text": "dash"}]});
    let a = t.anon.send(Method::POST, &path, Some(&body)).await.unwrap();
    assert_eq!(a.status, 202);
    assert_eq!(a.body["dedup_key"], "lag");
    assert_eq!(a.body["effect"], "opened");
    let alert = &t.open_alerts().await[0];
    assert_eq!(alert["labels"]["region"], "eu");
    assert_eq!(alert["details"]["lag_s"], 600);
    assert_eq!(alert["source"], "indexer-3");
    let ack = t
        .anon
        .send(
            Method::POST,
            &path,
            Some(&json!({"action": "acknowledge", "dedup_key": "lag"})),
        )
        .await
        .unwrap();
    assert_eq!(ack.body["effect"], "acknowledged");
    let inc = t.get("/api/v1/incidents").await.body["items"][0].clone();
    assert_eq!(
        inc["status"], "acknowledged",
        "acknowledging the only alert acknowledges the incident"
    );
    let res = t
        .anon
        .send(
            Method::POST,
            &path,
            Some(&json!({"action": "resolve", "dedup_key": "lag"})),
        )
        .await
        .unwrap();
    assert_eq!(res.body["effect"], "resolved");
    assert_eq!(
        t.get("/api/v1/incidents").await.body["items"][0]["status"],
        "resolved"
    );
    let no_key = t
        .anon
        .send(
            Method::POST,
            &path,
            Some(&json!({"summary": "s", "severity": "info"})),
        )
        .await
        .unwrap();
    assert_eq!(no_key.status, 202);
    assert_eq!(no_key.body["dedup_key"].as_str().unwrap().len(), 32);
    for bad in [
        json!({"severity": "info"}),
        json!({"summary": "s", "severity": "loud"}),
        json!({"summary": "s", "severity": "info", "bogus": 1}),
        json!({"action": "resolve"}),
        json!({"summary": "s", "severity": "info", "labels": {"a": 1}}),
    ] {
        let a = t.anon.send(Method::POST, &path, Some(&bad)).await.unwrap();
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.headers["content-type"], "application/problem+json");
    }
    assert_eq!(t.open_alerts().await.len(), 1);
}

/// A store whose ingest can be switched to answer `Busy`, to see back-pressure end to end.
struct Overloaded {
    inner: SqliteStore,
    busy: AtomicBool,
}

/// Implements a store capability trait by delegating to `inner`, plus any `extra` items.
macro_rules! delegate {
    ($tr:ident { $($extra:item)* } $($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        #[async_trait]
        impl $tr for Overloaded {
            $($extra)*
            $(async fn $name(&self, $($arg: $ty),*) -> $ret { self.inner.$name($($arg),*).await })*
        }
    };
}

delegate! {
    ServiceStore {}
        create_service(new: NewService, actor: Actor, now: Timestamp) -> StoreResult<Service>;
        get_service(id: ServiceId) -> StoreResult<Option<Service>>;
        list_services(page: PageRequest, visible: Option<Visibility>) -> StoreResult<Page<Service>>;
        update_service(id: ServiceId, patch: ServicePatch, actor: Actor, now: Timestamp) -> StoreResult<Option<Service>>;
        delete_service(id: ServiceId, actor: Actor, now: Timestamp) -> StoreResult<bool>;
        create_integration(service_id: ServiceId, new: NewIntegration, actor: Actor, now: Timestamp) -> StoreResult<Integration>;
        get_integration(id: IntegrationId) -> StoreResult<Option<Integration>>;
        integration_by_key(key: &str) -> StoreResult<Option<Integration>>;
        list_integrations(service_id: ServiceId) -> StoreResult<Vec<Integration>>;
        update_integration(id: IntegrationId, patch: IntegrationPatch, actor: Actor, now: Timestamp) -> StoreResult<Option<Integration>>;
        delete_integration(id: IntegrationId, actor: Actor, now: Timestamp) -> StoreResult<bool>;
}

delegate! {
    AlertStore {
        async fn ingest(&self, req: IngestRequest) -> StoreResult<Vec<IngestOutcome>> {
            if self.busy.load(Ordering::SeqCst) {
                return Err(StoreError::Busy);
            }
            self.inner.ingest(req).await
        }
    }
        record_change(integration: &Integration, change: ChangeEvent, now: Timestamp) -> StoreResult<TimelineEventId>;
        get_alert(id: AlertId) -> StoreResult<Option<Alert>>;
        list_alerts(filter: AlertFilter) -> StoreResult<Page<Alert>>;
        acknowledge_alert(id: AlertId, actor: Actor, now: Timestamp) -> StoreResult<Option<Alert>>;
        resolve_alert(id: AlertId, actor: Actor, now: Timestamp) -> StoreResult<Option<Alert>>;
}

delegate! {
    IncidentStore {}
        declare_incident(new: NewIncident, actor: Actor, now: Timestamp) -> StoreResult<Incident>;
        get_incident(id: IncidentId) -> StoreResult<Option<Incident>>;
        list_incidents(filter: IncidentFilter) -> StoreResult<Page<Incident>>;
        acknowledge_incident(id: IncidentId, actor: Actor, now: Timestamp) -> StoreResult<Option<Incident>>;
        resolve_incident(id: IncidentId, actor: Actor, now: Timestamp) -> StoreResult<Option<Incident>>;
        timeline(id: IncidentId, page: PageRequest) -> StoreResult<Page<TimelineEvent>>;
        service_timeline(id: ServiceId, page: PageRequest) -> StoreResult<Page<TimelineEvent>>;
        open_counts() -> StoreResult<(i64, i64)>;
        incident_status_counts(visible: Option<Visibility>) -> StoreResult<(i64, i64)>;
}

delegate! {
    JobStore {}
        claim_jobs(now: Timestamp, lease: DurationMs, limit: u32) -> StoreResult<Vec<Job>>;
        complete_job(id: JobId) -> StoreResult<()>;
        reschedule_job(id: JobId, run_at: Timestamp, error: Option<String>) -> StoreResult<()>;
        auto_resolve_alert(id: AlertId, now: Timestamp) -> StoreResult<AutoResolveOutcome>;
}

delegate! {
    TokenStore {}
        create_token(new: NewApiToken, now: Timestamp) -> StoreResult<ApiToken>;
        token_by_hash(hash: &str) -> StoreResult<Option<ApiToken>>;
        get_token(id: TokenId) -> StoreResult<Option<ApiToken>>;
        list_tokens(user_id: Option<UserId>, page: PageRequest) -> StoreResult<Page<ApiToken>>;
        revoke_token(id: TokenId, now: Timestamp) -> StoreResult<Option<ApiToken>>;
        count_tokens() -> StoreResult<i64>;
        mark_token_mfa(id: TokenId, at: Timestamp) -> StoreResult<bool>;
}

delegate! {
    AccessStore {}
        create_user(new: NewUser, now: Timestamp) -> StoreResult<User>;
        get_user(id: UserId) -> StoreResult<Option<User>>;
        user_by_email(email: &str) -> StoreResult<Option<(User, Option<String>)>>;
        list_users(page: PageRequest) -> StoreResult<Page<User>>;
        update_user(id: UserId, patch: UserPatch, now: Timestamp) -> StoreResult<Option<User>>;
        user_mfa(id: UserId) -> StoreResult<Option<UserMfa>>;
        set_user_mfa(id: UserId, mfa: UserMfa, now: Timestamp) -> StoreResult<bool>;
        create_team(new: NewTeam, now: Timestamp) -> StoreResult<Team>;
        get_team(id: TeamId) -> StoreResult<Option<Team>>;
        list_teams(page: PageRequest) -> StoreResult<Page<Team>>;
        set_team_members(id: TeamId, members: Vec<UserId>, now: Timestamp) -> StoreResult<Option<Team>>;
        create_grant(new: NewGrant, now: Timestamp) -> StoreResult<Grant>;
        get_grant(id: GrantId) -> StoreResult<Option<Grant>>;
        list_grants(user_id: Option<UserId>, page: PageRequest) -> StoreResult<Page<Grant>>;
        live_grants(user_id: UserId, now: Timestamp) -> StoreResult<Vec<Grant>>;
        revoke_grant(id: GrantId, now: Timestamp) -> StoreResult<Option<Grant>>;
}

delegate! {
    AuditStore {}
        append_audit(entry: NewAuditEntry) -> StoreResult<AuditEntry>;
        list_audit(filter: AuditFilter) -> StoreResult<Page<AuditEntry>>;
        audit_chain(after: Option<AuditId>, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

#[async_trait]
impl Store for Overloaded {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
    async fn ready(&self) -> StoreResult<()> {
        self.inner.ready().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_503_with_retry_after_and_nothing_half_done() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Overloaded {
        inner: SqliteStore::open(dir.path().join("fb.db")).unwrap(),
        busy: AtomicBool::new(false),
    });
    let t = TestServer::start_with(store.clone(), dir, test_config(None)).await;
    let (_, pd_key) = t.service_with("a", "pagerduty").await;
    let (_, am_key) = t.service_with("b", "alertmanager").await;
    let (_, gen_key) = t.service_with("c", "generic").await;
    store.busy.store(true, Ordering::SeqCst);
    let a = t.pd(&pd_key, "trigger", "k", "s", "critical").await;
    assert_eq!(a.status, 503);
    assert_eq!(a.headers["retry-after"], "1");
    let a = t
        .post_raw(&format!("/ingest/alertmanager/{am_key}"), FIRING.as_bytes())
        .await;
    assert_eq!(
        a.status, 503,
        "Alertmanager retries 5xx, so back-pressure must be 5xx"
    );
    assert_eq!(a.headers["retry-after"], "1");
    let a = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{gen_key}"),
            Some(&json!({"summary": "s", "severity": "info"})),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 503);
    store.busy.store(false, Ordering::SeqCst);
    assert_eq!(t.open_alerts().await.len(), 0);
    assert_eq!(
        t.pd(&pd_key, "trigger", "k", "s", "critical").await.status,
        202
    );
    assert_eq!(t.open_alerts().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_is_configurable_and_metrics_count_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("fb.db")).unwrap());
    let t = TestServer::start_with(store, dir, test_config(Some(4096))).await;
    let (_, key) = t.service_with("a", "generic").await;
    let big = json!({"summary": "s", "severity": "info", "details": {"x": "y".repeat(5000)}});
    let a = t
        .anon
        .send(Method::POST, &format!("/ingest/generic/{key}"), Some(&big))
        .await
        .unwrap();
    assert_eq!(a.status, 413);
    assert_eq!(a.headers["content-type"], "application/problem+json");
    let ok = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{key}"),
            Some(&json!({"summary": "s", "severity": "info", "dedup_key": "d"})),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 202);
    t.anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{key}"),
            Some(&json!({"summary": "s", "severity": "info", "dedup_key": "d"})),
        )
        .await
        .unwrap();
    let maddr = t.server.as_ref().unwrap().metrics_addr.unwrap();
    let m = Client::new(&format!("http://{maddr}"), None)
        .unwrap()
        .send(Method::GET, "/metrics", None)
        .await
        .unwrap();
    let text = m.body.as_str().unwrap();
    assert!(
        text.contains("firebreak_alerts_received_total{kind=\"generic\",outcome=\"opened\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("firebreak_alerts_received_total{kind=\"generic\",outcome=\"repeated\"} 1")
    );
    assert!(
        text.contains("firebreak_alerts_received_total{kind=\"generic\",outcome=\"rejected\"} 1")
    );
    assert!(text.contains("firebreak_open_alerts 1"));
    assert!(text.contains("firebreak_open_incidents 1"));
    assert!(text.contains("firebreak_ingest_duration_seconds_count{kind=\"generic\"} 3"));
    assert!(text.contains("firebreak_store_commit_batch_size_count"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_rate_limit_is_429_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("fb.db")).unwrap());
    let mut config = test_config(None);
    config.pagerduty_rate_limit_per_minute = Some(3);
    let t = TestServer::start_with(store, dir, config).await;
    let (_, key) = t.service_with("a", "pagerduty").await;
    let (_, other) = t.service_with("b", "pagerduty").await;
    for n in 0..3 {
        assert_eq!(
            t.pd(&key, "trigger", &format!("k{n}"), "s", "info")
                .await
                .status,
            202
        );
    }
    let limited = t.pd(&key, "trigger", "k3", "s", "info").await;
    assert_eq!(limited.status, 429);
    assert!(limited.body["errors"].is_array());
    assert_eq!(limited.headers["retry-after"], "60");
    assert_eq!(
        t.pd(&other, "trigger", "k3", "s", "info").await.status,
        202,
        "limits are per routing key"
    );
    t.clock.advance(DurationMs::from_secs(60));
    assert_eq!(
        t.pd(&key, "trigger", "k3", "s", "info").await.status,
        202,
        "a new minute"
    );
    assert_eq!(t.open_alerts().await.len(), 5);
}

/// Every ingest endpoint answers each kind of bad body with a 4xx and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_body_is_a_clear_4xx_on_every_endpoint() {
    let t = TestServer::start().await;
    let (_, pd) = t.service_with("a", "pagerduty").await;
    let (_, am) = t.service_with("b", "alertmanager").await;
    let (_, gen) = t.service_with("c", "generic").await;
    let valid_pd = json!({"routing_key": pd, "event_action": "trigger", "dedup_key": "d", "payload": {"summary": "s", "source": "x", "severity": "info"}}).to_string();
    let valid_gen = json!({"summary": "s", "severity": "info", "dedup_key": "d"}).to_string();
    let endpoints = [
        ("/v2/enqueue".to_string(), valid_pd.clone()),
        (
            "/v2/change/enqueue".to_string(),
            json!({"routing_key": pd, "payload": {"summary": "deploy"}}).to_string(),
        ),
        (format!("/ingest/alertmanager/{am}"), FIRING.to_string()),
        (format!("/ingest/generic/{gen}"), valid_gen.clone()),
    ];
    for (path, valid) in &endpoints {
        let truncated = valid.as_bytes()[..valid.len() / 2].to_vec();
        let mut non_utf8 = valid.as_bytes().to_vec();
        non_utf8.insert(valid.len() / 2, 0xff);
        let oversized = format!("{{\"pad\": \"{}\"}}", "x".repeat(600 * 1024)).into_bytes();
        let wrong_types = valid
            .replace("\"s\"", "7")
            .replace("\"deploy\"", "[1]")
            .replace("\"firing\"", "{}")
            .into_bytes();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("malformed", b"{\"a\": }".to_vec()),
            ("truncated", truncated),
            ("non-UTF-8", non_utf8),
            ("wrong types", wrong_types),
            ("not an object", b"\"just a string\"".to_vec()),
            ("oversized", oversized),
        ];
        for (what, body) in cases {
            let a = t.post_raw(path, &body).await;
            assert!(
                a.status.is_client_error(),
                "{path} {what}: {} {:?}",
                a.status,
                a.body
            );
            if what == "oversized" {
                assert_eq!(a.status, 413, "{path} {what}");
            }
            let says_something = a
                .body
                .get("detail")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.is_empty())
                || a.body
                    .get("errors")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty());
            assert!(
                says_something,
                "{path} {what}: the answer must say what is wrong: {:?}",
                a.body
            );
        }
    }
    assert_eq!(
        t.get("/api/v1/alerts").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        t.get("/api/v1/incidents").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

/// The SQLite writer keeps open alerts in memory; a restart must rebuild that from the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_and_acknowledgements_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("fb.db").display());
    let key;
    {
        let server = ChildServer::spawn(&db, dir.path());
        let c = Client::new(&server.url, Some(TOKEN.into())).unwrap();
        key = create_integration(&c, "r", "generic").await;
        for dedup in ["a", "b", "c"] {
            c.call(
                Method::POST,
                &format!("/ingest/generic/{key}"),
                Some(&json!({"summary": dedup, "severity": "error", "dedup_key": dedup})),
            )
            .await
            .unwrap();
        }
        c.call(
            Method::POST,
            &format!("/ingest/generic/{key}"),
            Some(&json!({"action": "acknowledge", "dedup_key": "b"})),
        )
        .await
        .unwrap();
        c.call(
            Method::POST,
            &format!("/ingest/generic/{key}"),
            Some(&json!({"action": "resolve", "dedup_key": "c"})),
        )
        .await
        .unwrap();
    }
    let server = ChildServer::spawn(&db, dir.path());
    let c = Client::new(&server.url, Some(TOKEN.into())).unwrap();
    let send = |body: Value| {
        let c = c.clone();
        let path = format!("/ingest/generic/{key}");
        async move { c.call(Method::POST, &path, Some(&body)).await.unwrap() }
    };
    assert_eq!(
        send(json!({"summary": "a", "severity": "error", "dedup_key": "a"})).await["effect"],
        "repeated"
    );
    assert_eq!(
        send(json!({"action": "acknowledge", "dedup_key": "b"})).await["effect"],
        "ignored",
        "b was acknowledged before the restart"
    );
    assert_eq!(
        send(json!({"action": "resolve", "dedup_key": "b"})).await["effect"],
        "resolved"
    );
    assert_eq!(
        send(json!({"summary": "c", "severity": "error", "dedup_key": "c"})).await["effect"],
        "opened",
        "c was resolved: a new alert"
    );
    let open = c
        .call(Method::GET, "/api/v1/alerts?status=open", None)
        .await
        .unwrap();
    let mut keys: Vec<(String, i64)> = open["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["dedup_key"].as_str().unwrap().to_string(),
                a["count"].as_i64().unwrap(),
            )
        })
        .collect();
    keys.sort();
    assert_eq!(keys, [("a".to_string(), 2), ("c".to_string(), 1)]);
}

/// Input a store could not take back out (NUL characters, deep nesting) is a 400 for every
/// format, and a sender is never told to retry bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_and_deep_nesting_are_400_not_503() {
    let t = TestServer::start().await;
    let (_, pd) = t.service_with("a", "pagerduty").await;
    let (_, gen) = t.service_with("b", "generic").await;
    let nul_pd = json!({"routing_key": pd, "event_action": "trigger", "payload": {"summary": "a\u{0}b", "source": "x", "severity": "info"}});
    let a = t
        .anon
        .send(Method::POST, "/v2/enqueue", Some(&nul_pd))
        .await
        .unwrap();
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert_eq!(a.body["status"], "invalid event");
    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let images = json!({"routing_key": pd, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}, "images": deep});
    assert_eq!(
        t.anon
            .send(Method::POST, "/v2/enqueue", Some(&images))
            .await
            .unwrap()
            .status,
        400
    );
    let details = json!({"summary": "s", "severity": "info", "details": {"d": deep}});
    let a = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{gen}"),
            Some(&details),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 400);
    assert!(a.body["detail"].as_str().unwrap().contains("nested deeper"));
    // Nesting within the limit is stored and reads back.
    let mut ok = json!("bottom");
    for _ in 0..25 {
        ok = json!({"n": ok});
    }
    let a = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{gen}"),
            Some(&json!({"summary": "s", "severity": "info", "details": ok})),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 202);
    assert_eq!(t.get("/api/v1/alerts").await.status, 200);
    assert_eq!(t.open_alerts().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_owns_a_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("owned.db");
    let first = SqliteStore::open(&path).unwrap();
    let second = SqliteStore::open(&path);
    let err = second
        .err()
        .expect("a second open of the same file must fail")
        .to_string();
    assert!(err.contains("in use by another firebreak process"), "{err}");
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        SqliteStore::open(&path).is_ok(),
        "the lock goes with its owner"
    );

    // As a user sees it: a second `serve` on the same store stops with one clear line.
    let db = format!("sqlite://{}", dir.path().join("served.db").display());
    let _server = ChildServer::spawn(&db, dir.path());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("in use by another firebreak process"), "{err}");
}
