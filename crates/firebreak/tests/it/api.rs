//! The JSON API: services and integrations, alerts and incidents, filters and pagination,
//! authentication, problem+json errors, and the OpenAPI document matching the routes.

use crate::support::*;
use hyper::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_and_integrations_crud() {
    let t = TestServer::start().await;
    let s = t
        .post(
            "/api/v1/services",
            json!({"name": "checkout", "description": "payments path"}),
        )
        .await;
    assert_eq!(s.status, 201);
    let sid = s.body["id"].as_str().unwrap().to_string();
    assert_eq!(s.body["name"], "checkout");
    assert_eq!(s.body["auto_resolve_incidents"], true);

    let list = t.get("/api/v1/services").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(list.body["next_cursor"].is_null());

    let patched = t
        .client
        .send(
            Method::PATCH,
            &format!("/api/v1/services/{sid}"),
            Some(&json!({"description": "new"})),
        )
        .await
        .unwrap();
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["description"], "new");
    assert_eq!(patched.body["name"], "checkout");

    let given_key = "e93facc04764012d7bfb002500d5d1a6";
    let i = t
        .post(
            &format!("/api/v1/services/{sid}/integrations"),
            json!({"kind": "pagerduty", "name": "pd", "key": given_key}),
        )
        .await;
    assert_eq!(i.status, 201);
    assert_eq!(i.body["key"], given_key);
    let g = t
        .post(
            &format!("/api/v1/services/{sid}/integrations"),
            json!({"kind": "generic", "name": "gen", "severity_override": "SEV3"}),
        )
        .await;
    assert_eq!(g.status, 201);
    let generated = g.body["key"].as_str().unwrap();
    assert_eq!(generated.len(), 32);
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
    let dup = t
        .post(
            &format!("/api/v1/services/{sid}/integrations"),
            json!({"kind": "generic", "name": "again", "key": given_key}),
        )
        .await;
    assert_eq!(dup.status, 409);

    let ints = t.get(&format!("/api/v1/services/{sid}/integrations")).await;
    assert_eq!(ints.body["items"].as_array().unwrap().len(), 2);
    let iid = i.body["id"].as_str().unwrap();
    let one = t.get(&format!("/api/v1/integrations/{iid}")).await;
    assert_eq!(one.body["kind"], "pagerduty");
    let renamed = t
        .client
        .send(
            Method::PATCH,
            &format!("/api/v1/integrations/{iid}"),
            Some(&json!({"name": "pd2", "auto_resolve_after": "4h"})),
        )
        .await
        .unwrap();
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["auto_resolve_after"], "4h");

    // Retiring the integration stops its key.
    let del = t
        .client
        .send(Method::DELETE, &format!("/api/v1/integrations/{iid}"), None)
        .await
        .unwrap();
    assert_eq!(del.status, 204);
    let sent = t.pd(given_key, "trigger", "k", "s", "critical").await;
    assert_eq!(sent.status, 400);
    assert_eq!(
        t.get(&format!("/api/v1/integrations/{iid}")).await.status,
        404
    );

    // Configuration changes are on the service timeline.
    let tl = t.get(&format!("/api/v1/services/{sid}/timeline")).await;
    let kinds: Vec<&str> = tl.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "service.created",
            "service.updated",
            "integration.created",
            "integration.created",
            "integration.updated",
            "integration.deleted"
        ]
    );

    let del = t
        .client
        .send(Method::DELETE, &format!("/api/v1/services/{sid}"), None)
        .await
        .unwrap();
    assert_eq!(del.status, 204);
    assert_eq!(t.get(&format!("/api/v1/services/{sid}")).await.status, 404);
    assert_eq!(
        t.client
            .send(Method::DELETE, &format!("/api/v1/services/{sid}"), None)
            .await
            .unwrap()
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_clear_problems_and_change_nothing() {
    let t = TestServer::start().await;
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "/api/v1/services",
            json!({"name": ""}),
            "'name' must not be empty",
        ),
        (
            "/api/v1/services",
            json!({"name": "x", "colour": "red"}),
            "unknown field `colour`",
        ),
        ("/api/v1/services", json!({"name": 5}), "invalid type"),
        ("/api/v1/services", json!([1, 2]), "invalid"),
        (
            "/api/v1/incidents",
            json!({"title": "t", "severity": "SEV9", "service_ids": ["1"]}),
            "SEV1",
        ),
        (
            "/api/v1/incidents",
            json!({"title": "t", "severity": "SEV1", "service_ids": []}),
            "at least one",
        ),
        (
            "/api/v1/incidents",
            json!({"title": "t", "severity": "SEV1", "service_ids": ["999"]}),
            "not found",
        ),
    ];
    for (path, body, needle) in cases {
        let a = t.post(path, body.clone()).await;
        assert_eq!(a.status, 400, "{path} {body}: {:?}", a.body);
        assert_eq!(a.headers["content-type"], "application/problem+json");
        let detail = a.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(needle),
            "{detail:?} should mention {needle:?}"
        );
    }
    let raw = t
        .client
        .send_raw(
            Method::POST,
            "/api/v1/services",
            Some(b"{\"name\": \"tru".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 400);
    let raw = t
        .client
        .send_raw(
            Method::POST,
            "/api/v1/services",
            Some(vec![0xff, 0xfe, 0x00]),
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 400);
    let s = t.post("/api/v1/services", json!({"name": "ok"})).await;
    let sid = s.body["id"].as_str().unwrap();
    let bad_kind = t
        .post(
            &format!("/api/v1/services/{sid}/integrations"),
            json!({"kind": "nagios", "name": "n"}),
        )
        .await;
    assert_eq!(bad_kind.status, 400);
    let bad_key = t
        .post(
            &format!("/api/v1/services/{sid}/integrations"),
            json!({"kind": "generic", "name": "n", "key": "short"}),
        )
        .await;
    assert_eq!(bad_key.status, 400);
    assert!(bad_key.body["detail"].as_str().unwrap().contains("32"));
    for q in [
        "status=bogus",
        "severity=SEV7",
        "since=yesterday",
        "limit=0",
        "limit=9999",
        "cursor=x",
        "service_id=abc",
        "colour=red",
    ] {
        let a = t.get(&format!("/api/v1/incidents?{q}")).await;
        assert_eq!(a.status, 400, "{q}");
    }
    assert_eq!(t.get("/api/v1/incidents/abc").await.status, 404);
    assert_eq!(t.get("/api/v1/incidents/999").await.status, 404);
    assert_eq!(t.get("/api/v1/nothing-here").await.status, 404);
    // Nothing above created anything but the one service.
    assert_eq!(
        t.get("/api/v1/services").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        t.get(&format!("/api/v1/services/{sid}/integrations"))
            .await
            .body["items"]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_needs_a_valid_bearer_token() {
    let t = TestServer::start().await;
    let a = t
        .anon
        .send(Method::GET, "/api/v1/incidents", None)
        .await
        .unwrap();
    assert_eq!(a.status, 401);
    assert_eq!(a.headers["content-type"], "application/problem+json");
    let bad =
        firebreak::client::Client::new(&t.url(), Some("wrong-token-wrong-token".into())).unwrap();
    assert_eq!(
        bad.send(Method::GET, "/api/v1/incidents", None)
            .await
            .unwrap()
            .status,
        401
    );
    assert_eq!(
        bad.send(
            Method::POST,
            "/api/v1/services",
            Some(&json!({"name": "x"}))
        )
        .await
        .unwrap()
        .status,
        401
    );
    // Health, readiness and the API description are public.
    assert_eq!(
        t.anon
            .send(Method::GET, "/healthz", None)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        t.anon
            .send(Method::GET, "/readyz", None)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        t.anon
            .send(Method::GET, "/api/v1/openapi.json", None)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        t.get("/api/v1/services").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_from_alerts_acknowledge_resolve_and_timeline() {
    let t = TestServer::start().await;
    let (sid, key) = t.service_with("checkout", "pagerduty").await;
    assert_eq!(
        t.pd(&key, "trigger", "db-down", "Database down", "critical")
            .await
            .status,
        202
    );
    t.clock.advance(firebreak_core::DurationMs::from_secs(30));
    assert_eq!(
        t.pd(&key, "trigger", "latency", "Latency high", "warning")
            .await
            .status,
        202
    );

    let page = t.get("/api/v1/incidents").await;
    let items = page.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "each PD alert opens its own incident");
    let newest = &items[0];
    assert_eq!(newest["title"], "Latency high");
    assert_eq!(newest["severity"], "SEV3");
    assert_eq!(newest["urgency"], "low");
    assert_eq!(newest["number"], 2);
    let first = &items[1];
    assert_eq!(first["severity"], "SEV1");
    assert_eq!(first["urgency"], "high");
    assert_eq!(first["service_ids"], json!([sid]));
    assert_eq!(first["detected_at"], "2026-08-21T09:00:00.000Z");
    let id = first["id"].as_str().unwrap();

    t.clock.advance(firebreak_core::DurationMs::from_secs(60));
    let acked = t
        .post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    assert_eq!(acked.status, 200);
    assert_eq!(acked.body["status"], "acknowledged");
    assert_eq!(acked.body["acknowledged_at"], "2026-08-21T09:01:30.000Z");
    let detail = t.get(&format!("/api/v1/incidents/{id}")).await;
    let alerts = detail.body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    for field in [
        "id",
        "service_id",
        "integration_id",
        "incident_id",
        "dedup_key",
        "status",
        "severity",
        "summary",
        "source",
        "labels",
        "details",
        "count",
        "first_seen_at",
        "last_seen_at",
    ] {
        assert!(alerts[0].get(field).is_some(), "alert lacks {field}");
    }
    assert_eq!(alerts[0]["status"], "acknowledged");

    t.clock.advance(firebreak_core::DurationMs::from_secs(60));
    let resolved = t
        .post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
        .await;
    assert_eq!(resolved.body["status"], "resolved");
    assert_eq!(resolved.body["resolved_at"], "2026-08-21T09:02:30.000Z");
    let tl = t.get(&format!("/api/v1/incidents/{id}/timeline")).await;
    let events = tl.body["items"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "incident.opened",
            "alert.triggered",
            "alert.acknowledged",
            "incident.acknowledged",
            "alert.resolved",
            "incident.resolved"
        ]
    );
    assert_eq!(events[2]["actor"]["kind"], "user");
    assert_eq!(events[0]["actor"]["kind"], "integration");

    // Filters.
    let open = t.get("/api/v1/incidents?status=open").await;
    assert_eq!(open.body["items"].as_array().unwrap().len(), 1);
    let sev1 = t.get("/api/v1/incidents?severity=SEV1").await;
    assert_eq!(sev1.body["items"].as_array().unwrap().len(), 1);
    let by_service = t
        .get(&format!(
            "/api/v1/incidents?service_id={sid}&status=resolved"
        ))
        .await;
    assert_eq!(by_service.body["items"].as_array().unwrap().len(), 1);
    let late = t.get("/api/v1/incidents?since=2026-08-21T09:00:10Z").await;
    assert_eq!(late.body["items"].as_array().unwrap().len(), 1);
    let early = t.get("/api/v1/incidents?until=2026-08-21T09:00:10Z").await;
    assert_eq!(early.body["items"][0]["id"], id);
    let warn = t
        .get("/api/v1/alerts?severity=warning&status=triggered")
        .await;
    assert_eq!(warn.body["items"].as_array().unwrap().len(), 1);

    // Alert-level actions.
    let aid = warn.body["items"][0]["id"].as_str().unwrap().to_string();
    let a = t
        .post(&format!("/api/v1/alerts/{aid}/acknowledge"), json!({}))
        .await;
    assert_eq!(a.body["status"], "acknowledged");
    let a = t
        .post(&format!("/api/v1/alerts/{aid}/resolve"), json!({}))
        .await;
    assert_eq!(a.body["status"], "resolved");
    let again = t
        .post(&format!("/api/v1/alerts/{aid}/resolve"), json!({}))
        .await;
    assert_eq!(again.status, 200, "resolving twice is harmless");
    assert_eq!(
        t.get("/api/v1/incidents?status=open").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_incidents_and_cursor_pagination() {
    let t = TestServer::start().await;
    let a = t.post("/api/v1/services", json!({"name": "a"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = t.post("/api/v1/services", json!({"name": "b"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = t
        .post(
            "/api/v1/incidents",
            json!({"title": "Checkout slow in EU", "severity": "SEV2", "service_ids": [a, b]}),
        )
        .await;
    assert_eq!(d.status, 201);
    assert_eq!(d.body["status"], "triggered");
    assert_eq!(d.body["urgency"], "high");
    assert_eq!(d.body["service_ids"].as_array().unwrap().len(), 2);
    let tl = t
        .get(&format!(
            "/api/v1/incidents/{}/timeline",
            d.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(tl.body["items"][0]["kind"], "incident.declared");

    for n in 0..11 {
        let r = t
            .post(
                "/api/v1/incidents",
                json!({"title": format!("i{n}"), "severity": "SEV4", "service_ids": [a]}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/incidents?limit=5&cursor={c}"),
            None => "/api/v1/incidents?limit=5".to_string(),
        };
        let page = t.get(&path).await;
        for i in page.body["items"].as_array().unwrap() {
            seen.push(i["number"].as_i64().unwrap());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, (1..=12).rev().collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_routes() {
    let t = TestServer::start().await;
    let doc = t
        .anon
        .send(Method::GET, "/api/v1/openapi.json", None)
        .await
        .unwrap()
        .body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, ops) in paths {
        let concrete = path
            .replace("{id}", "999999")
            .replace("{key}", "00000000000000000000000000000000");
        for (method, _) in ops.as_object().unwrap() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let a = t
                .client
                .send_raw(m, &concrete, Some(b"{}".to_vec()))
                .await
                .unwrap();
            assert_ne!(
                a.status, 405,
                "{method} {path} is documented but not routed"
            );
            let fallback = a.body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("no such route"));
            assert!(!fallback, "{method} {path} is documented but not routed");
        }
    }
    // And an undocumented path is not routed.
    let a = t.get("/api/v1/undocumented").await;
    assert!(a.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("no such route"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_keys_rotate() {
    let t = TestServer::start().await;
    let (_, key) = t.service_with("rotating", "pagerduty").await;
    assert_eq!(
        t.pd(&key, "trigger", "before", "s", "info").await.status,
        202
    );
    let iid = t.get("/api/v1/alerts").await.body["items"][0]["integration_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .post(&format!("/api/v1/integrations/{iid}/rotate"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new_key = r.body["key"].as_str().unwrap().to_string();
    assert_eq!(new_key.len(), 32);
    assert_ne!(new_key, key);
    assert_eq!(
        t.pd(&key, "trigger", "after", "s", "info").await.status,
        400,
        "the old key stops working"
    );
    assert_eq!(
        t.pd(&new_key, "trigger", "after", "s", "info").await.status,
        202
    );
    let audit = t
        .get("/api/v1/audit/export")
        .await
        .body
        .as_str()
        .unwrap()
        .to_string();
    assert!(audit.contains("integration.rotate"));
    assert!(
        !audit.contains(&new_key) && !audit.contains(&key),
        "keys are never audited"
    );
    assert_eq!(
        t.post("/api/v1/integrations/999/rotate", json!({}))
            .await
            .status,
        404
    );
}
