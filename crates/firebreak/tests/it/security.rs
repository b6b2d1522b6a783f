//! The security checks the API can show: token scopes and expiry, expired and revoked grants,
//! incident grants that end with the incident, revoked tokens and disabled users, audit chain
//! tampering (an entry removed behind the database's back), no secrets in the audit log, and
//! HTML/JS in alerts coming back as plain JSON data.

use crate::support::*;
use firebreak::client::{Answer, Client};
use firebreak_core::DurationMs;
use hyper::Method;
use serde_json::{json, Value};
use std::process::Command;

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

fn content_type(a: &Answer) -> &str {
    a.headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn send(c: &Client, method: Method, path: &str, body: Option<Value>) -> Answer {
    c.send(method, path, body.as_ref()).await.unwrap()
}

/// Asserts a 403 problem+json and returns its detail.
fn forbidden(a: &Answer, what: &str) -> String {
    assert_eq!(a.status, 403, "{what}: {}", a.body);
    assert_eq!(content_type(a), "application/problem+json", "{what}");
    a.body["detail"].as_str().unwrap_or("").to_string()
}

fn unauthorized(a: &Answer, what: &str) {
    assert_eq!(a.status, 401, "{what}: {}", a.body);
    assert_eq!(content_type(a), "application/problem+json", "{what}");
}

/// Creates a user as the bootstrap admin; returns its id.
async fn user(t: &TestServer, login: &str, role: &str, external: bool) -> String {
    let u = t
        .post(
            "/api/v1/users",
            json!({"email": format!("{login}@example.com"), "name": login, "role": role, "external": external}),
        )
        .await;
    assert_eq!(u.status, 201, "{}", u.body);
    id_of(&u.body)
}

/// A personal token for `user_id` made by the bootstrap admin (`extra` adds fields); returns
/// the token's id and a client using it.
async fn token(t: &TestServer, user_id: &str, extra: Value) -> (String, Client, String) {
    let mut body = json!({"user_id": user_id, "name": format!("token of {user_id}")});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let tok = t.post("/api/v1/tokens", body).await;
    assert_eq!(tok.status, 201, "{}", tok.body);
    let text = tok.body["token"].as_str().unwrap().to_string();
    (
        id_of(&tok.body),
        Client::new(&t.url(), Some(text.clone())).unwrap(),
        text,
    )
}

/// A service with a generic integration and one alert (and so one incident); returns
/// (service id, integration key, alert id, incident id).
async fn service_with_incident(t: &TestServer, name: &str) -> (String, String, String, String) {
    let (sid, key) = t.service_with(name, "generic").await;
    let a = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{key}"),
            Some(&json!({"summary": format!("{name} is down"), "severity": "critical", "dedup_key": name})),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 202, "{}", a.body);
    let alerts = t.get(&format!("/api/v1/alerts?service_id={sid}")).await;
    let alert = &alerts.body["items"][0];
    let incident = alert["incident_id"].as_str().unwrap().to_string();
    (sid, key, id_of(alert), incident)
}

async fn declare(t: &TestServer, service: &str, title: &str) -> String {
    let i = t
        .post(
            "/api/v1/incidents",
            json!({"title": title, "severity": "SEV2", "service_ids": [service]}),
        )
        .await;
    assert_eq!(i.status, 201, "{}", i.body);
    id_of(&i.body)
}

async fn grant(t: &TestServer, body: Value) -> String {
    let g = t.post("/api/v1/grants", body).await;
    assert_eq!(g.status, 201, "{}", g.body);
    id_of(&g.body)
}

/// The denials in the audit log, newest first.
async fn denials(t: &TestServer) -> Vec<Value> {
    let page = t.get("/api/v1/audit?outcome=denied&limit=500").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_scopes_are_enforced() {
    let t = TestServer::start().await;
    let (_, _, _, incident) = service_with_incident(&t, "checkout").await;
    let admin_id = id_of(&t.get("/api/v1/me").await.body["user"]);

    // A read-only token of an admin: reads, nothing else.
    let (_, read, _) = token(&t, &admin_id, json!({"scopes": ["read"]})).await;
    let me = send(&read, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["token"]["scopes"], json!(["read"]));
    assert_eq!(me.body["role"], "admin");
    let list = send(&read, Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let one = send(
        &read,
        Method::GET,
        &format!("/api/v1/incidents/{incident}"),
        None,
    )
    .await;
    assert_eq!(one.status, 200);
    let ack_path = format!("/api/v1/incidents/{incident}/acknowledge");
    let ack = send(&read, Method::POST, &ack_path, None).await;
    assert_eq!(
        forbidden(&ack, "acknowledge with a read token"),
        "not allowed: the token lacks the 'write' scope"
    );
    let create = send(
        &read,
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": "sneaky"})),
    )
    .await;
    assert_eq!(
        forbidden(&create, "POST /api/v1/services with a read token"),
        "not allowed: the token lacks the 'write' scope"
    );
    let audit = send(&read, Method::GET, "/api/v1/audit", None).await;
    assert_eq!(
        forbidden(&audit, "the audit log with a read token"),
        "not allowed: the token lacks the 'admin' scope"
    );
    assert_eq!(
        t.get(&format!("/api/v1/incidents/{incident}")).await.body["status"],
        "triggered",
        "the refused acknowledge changed nothing"
    );
    assert_eq!(
        t.get("/api/v1/services").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A token cannot get scopes its creating token lacks.
    for scopes in [json!(["read", "write"]), json!(["admin"]), json!(["write"])] {
        let wider = send(
            &read,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "wider", "scopes": scopes})),
        )
        .await;
        assert_eq!(
            forbidden(&wider, &format!("a token with {scopes} from a read token")),
            "not allowed: a token cannot have scopes the calling token lacks"
        );
    }
    // Creating tokens for others is managing access: the admin scope, which it lacks.
    let observer = user(&t, "olga", "observer", false).await;
    let for_other = send(
        &read,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({"name": "theirs", "user_id": observer})),
    )
    .await;
    forbidden(&for_other, "a token for another user from a read token");
    // Without 'scopes' a new token inherits the creating token's.
    let same = send(
        &read,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({"name": "same"})),
    )
    .await;
    assert_eq!(same.status, 201, "{}", same.body);
    assert_eq!(same.body["scopes"], json!(["read"]));
    let same_client =
        Client::new(&t.url(), Some(same.body["token"].as_str().unwrap().into())).unwrap();
    forbidden(
        &send(&same_client, Method::POST, &ack_path, None).await,
        "acknowledge with the inherited read token",
    );

    // read+write acts but does not manage access or read the audit log.
    let (_, rw, _) = token(&t, &admin_id, json!({"scopes": ["read", "write"]})).await;
    let ack = send(&rw, Method::POST, &ack_path, None).await;
    assert_eq!(ack.status, 200, "{}", ack.body);
    assert_eq!(ack.body["status"], "acknowledged");
    forbidden(
        &send(&rw, Method::GET, "/api/v1/users", None).await,
        "users with a read+write token",
    );

    // Every refusal above is audited with its reason.
    let refused = denials(&t).await;
    assert_eq!(refused.len(), 9);
    let reasons: Vec<&str> = refused
        .iter()
        .rev()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "the token lacks the 'write' scope",
            "the token lacks the 'write' scope",
            "the token lacks the 'admin' scope",
            "a token cannot have scopes the calling token lacks",
            "a token cannot have scopes the calling token lacks",
            "a token cannot have scopes the calling token lacks",
            "only admins create tokens for other users",
            "the token lacks the 'write' scope",
            "the token lacks the 'admin' scope",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire() {
    let t = TestServer::start().await;
    let uid = user(&t, "rita", "responder", false).await;
    let (_, c, _) = token(&t, &uid, json!({"expires_in": "1h"})).await;
    assert_eq!(send(&c, Method::GET, "/api/v1/me", None).await.status, 200);
    t.clock.advance(DurationMs::from_secs(3599));
    assert_eq!(send(&c, Method::GET, "/api/v1/me", None).await.status, 200);
    t.clock.advance(DurationMs::from_secs(1));
    let a = send(&c, Method::GET, "/api/v1/me", None).await;
    unauthorized(&a, "an expired token");
    assert_eq!(a.body["detail"], "the bearer token has expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_grant_is_refused() {
    let t = TestServer::start().await;
    let (sid, _, alert, incident) = service_with_incident(&t, "payments").await;
    let ext = user(&t, "vendor", "responder", true).await;
    let (_, c, _) = token(&t, &ext, json!({})).await;
    // T0 is 09:00; the grant ends at 09:05.
    grant(
        &t,
        json!({"user_id": ext, "role": "responder", "service_ids": [sid], "expires_at": "2026-08-21T09:05:00Z"}),
    )
    .await;
    let path = format!("/api/v1/incidents/{incident}");
    assert_eq!(send(&c, Method::GET, &path, None).await.status, 200);
    let ack = send(
        &c,
        Method::POST,
        &format!("/api/v1/alerts/{alert}/acknowledge"),
        None,
    )
    .await;
    assert_eq!(ack.status, 200, "{}", ack.body);
    t.clock.advance(DurationMs::from_secs(4 * 60 + 59));
    assert_eq!(send(&c, Method::GET, &path, None).await.status, 200);

    // Past the expiry (and past any caching of the token): nothing.
    t.clock.advance(DurationMs::from_secs(60));
    assert_eq!(
        forbidden(&send(&c, Method::GET, &path, None).await, "after expiry"),
        "not allowed: no grant covers this"
    );
    forbidden(
        &send(&c, Method::GET, "/api/v1/incidents", None).await,
        "the incident list after expiry",
    );
    forbidden(
        &send(&c, Method::POST, &format!("{path}/resolve"), None).await,
        "resolve after expiry",
    );
    let me = send(&c, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["grants"], json!([]));
    assert_eq!(
        t.get(&path).await.body["status"],
        "acknowledged",
        "the refused resolve changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_grant_ends_with_the_incident_and_revocation_is_immediate() {
    let t = TestServer::start().await;
    let (sid, _, _, incident) = service_with_incident(&t, "search").await;
    let other = declare(&t, &sid, "another search problem").await;
    let ext = user(&t, "contractor", "responder", true).await;
    let (_, c, _) = token(&t, &ext, json!({})).await;
    grant(
        &t,
        json!({"user_id": ext, "role": "responder", "incident_ids": [incident], "expires_at": "2026-08-22T09:00:00Z"}),
    )
    .await;
    let path = format!("/api/v1/incidents/{incident}");
    let got = send(&c, Method::GET, &path, None).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["alerts"].as_array().unwrap().len(), 1);
    let list = send(&c, Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(list.status, 200);
    let ids: Vec<String> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, vec![incident.clone()], "only the granted incident");
    forbidden(
        &send(&c, Method::GET, &format!("/api/v1/incidents/{other}"), None).await,
        "another incident of the same service",
    );
    forbidden(
        &send(&c, Method::GET, &format!("/api/v1/services/{sid}"), None).await,
        "the service of a granted incident",
    );
    let ack = send(&c, Method::POST, &format!("{path}/acknowledge"), None).await;
    assert_eq!(ack.status, 200, "{}", ack.body);

    // Resolved (by someone else): the grant has ended.
    let resolved = t.post(&format!("{path}/resolve"), json!({})).await;
    assert_eq!(resolved.status, 200);
    assert_eq!(
        forbidden(
            &send(&c, Method::GET, &path, None).await,
            "a resolved incident"
        ),
        "not allowed: no grant covers this"
    );
    forbidden(
        &send(&c, Method::GET, &format!("{path}/timeline"), None).await,
        "the timeline of a resolved incident",
    );
    let list = send(
        &c,
        Method::GET,
        "/api/v1/incidents?status=triggered,acknowledged,resolved",
        None,
    )
    .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["items"], json!([]), "nothing left to see");

    // A service grant, revoked: refused at once (no clock advance, no cache).
    let g = grant(
        &t,
        json!({"user_id": ext, "role": "observer", "service_ids": [sid], "expires_at": "2026-08-22T09:00:00Z"}),
    )
    .await;
    let other_path = format!("/api/v1/incidents/{other}");
    assert_eq!(send(&c, Method::GET, &other_path, None).await.status, 200);
    let revoked = t
        .client
        .send(Method::DELETE, &format!("/api/v1/grants/{g}"), None)
        .await
        .unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["revoked_at"], "2026-08-21T09:00:00.000Z");
    forbidden(
        &send(&c, Method::GET, &other_path, None).await,
        "after the grant was revoked",
    );
    // The ended incident grant still lets lists answer, with nothing in them.
    let services = send(&c, Method::GET, "/api/v1/services", None).await;
    assert_eq!(services.status, 200, "{}", services.body);
    assert_eq!(services.body["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_and_disabled_users_are_unauthenticated() {
    let t = TestServer::start().await;
    let uid = user(&t, "otto", "observer", false).await;
    let (tid, c, _) = token(&t, &uid, json!({})).await;
    let (_, c2, _) = token(&t, &uid, json!({})).await;
    assert_eq!(send(&c, Method::GET, "/api/v1/me", None).await.status, 200);

    let revoked = t
        .client
        .send(Method::DELETE, &format!("/api/v1/tokens/{tid}"), None)
        .await
        .unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    unauthorized(
        &send(&c, Method::GET, "/api/v1/me", None).await,
        "a revoked token",
    );
    assert_eq!(
        send(&c2, Method::GET, "/api/v1/me", None).await.status,
        200,
        "the user's other token still works"
    );

    let user_path = format!("/api/v1/users/{uid}");
    let off = t
        .client
        .send(Method::PATCH, &user_path, Some(&json!({"disabled": true})))
        .await
        .unwrap();
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["disabled"], true);
    let a = send(&c2, Method::GET, "/api/v1/incidents", None).await;
    unauthorized(&a, "a disabled user");
    assert_eq!(a.body["detail"], "the token's user is disabled");
    let on = t
        .client
        .send(Method::PATCH, &user_path, Some(&json!({"disabled": false})))
        .await
        .unwrap();
    assert_eq!(on.status, 200);
    assert_eq!(send(&c2, Method::GET, "/api/v1/me", None).await.status, 200);

    // Malformed and unknown credentials.
    unauthorized(
        &send(&t.anon, Method::GET, "/api/v1/me", None).await,
        "no token",
    );
    let bogus = Client::new(&t.url(), Some("fb_not-a-real-token".into())).unwrap();
    let a = send(&bogus, Method::GET, "/api/v1/me", None).await;
    unauthorized(&a, "an unknown token");
    assert_eq!(a.body["detail"], "the bearer token is not valid");
    // 401s are not denials of an authenticated caller: nothing audited.
    assert_eq!(denials(&t).await, Vec::<Value>::new());
}

fn audit_verify(args: &[&str], url: &str) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["audit", "verify"])
        .args(args)
        .env("FIREBREAK_URL", url)
        .env("FIREBREAK_TOKEN", TOKEN)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chain_detects_a_removed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tamper.db");
    let db = format!("sqlite://{}", path.display());
    let mut server = ChildServer::spawn(&db, dir.path());
    let admin = Client::new(&server.url, Some(TOKEN.into())).unwrap();
    for name in ["one", "two", "three", "four"] {
        admin
            .call(
                Method::POST,
                "/api/v1/services",
                Some(&json!({"name": name})),
            )
            .await
            .unwrap();
    }
    let chain = admin
        .call(Method::GET, "/api/v1/audit/chain", None)
        .await
        .unwrap();
    let ids: Vec<i64> = chain
        .as_array()
        .unwrap()
        .iter()
        .map(|e| id_of(e).parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{chain}");
    let (ok, out, err) = audit_verify(&[], &server.url);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("audit chain intact: 4 entries, last hash "),
        "{out}"
    );

    // The database refuses; someone with the file drops the guard and removes entry two.
    server.kill9();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let refused = conn
        .execute("DELETE FROM audit_log WHERE id = ?1", [&ids[1]])
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    conn.execute_batch("DROP TRIGGER audit_log_no_delete")
        .unwrap();
    assert_eq!(
        conn.execute("DELETE FROM audit_log WHERE id = ?1", [&ids[1]])
            .unwrap(),
        1
    );
    drop(conn);
    let expected = format!(
        "firebreak: error: audit chain broken at entry {}: its prev_hash does not match the entry before it (an entry was removed or reordered)",
        ids[2]
    );
    let (ok, _, err) = audit_verify(&["--database-url", &db], "http://127.0.0.1:1");
    assert!(!ok);
    assert_eq!(err.trim(), expected);

    // Through the API of a server on the tampered store, the same.
    let server = ChildServer::spawn(&db, dir.path());
    let (ok, _, err) = audit_verify(&[], &server.url);
    assert!(!ok);
    assert_eq!(err.trim(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_cannot_be_changed_through_the_api() {
    let t = TestServer::start().await;
    t.post("/api/v1/services", json!({"name": "x"})).await;
    for (m, p, _) in firebreak::http::access::RULES {
        if p.starts_with("/api/v1/audit") {
            assert_eq!(*m, "GET", "only reads of the audit log are routed: {m} {p}");
        }
    }
    let before = t.get("/api/v1/audit/chain").await;
    assert_eq!(before.status, 200);
    assert_eq!(before.body.as_array().unwrap().len(), 1);
    let one = id_of(&before.body[0]);
    let entry = format!("/api/v1/audit/{one}");
    for path in [
        "/api/v1/audit",
        "/api/v1/audit/export",
        "/api/v1/audit/chain",
        &entry,
    ] {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let a = t
                .client
                .send(m.clone(), path, Some(&json!({"action": "x"})))
                .await
                .unwrap();
            if path == entry {
                assert_eq!(a.status, 404, "{m} {path}: {}", a.body);
            } else {
                // Refused; which 4xx (405, not today's 403) is `a_wrong_method_is_405`'s concern.
                assert!(a.status.is_client_error(), "{m} {path}: {}", a.status);
            }
        }
    }
    let unrouted = t.get(&format!("/api/v1/audit/{one}")).await;
    assert_eq!(unrouted.status, 404, "{}", unrouted.body);
    assert_eq!(t.get("/api/v1/audit/chain").await.body, before.body);
}

/// A method a path does not have is 405 Method Not Allowed, as for any HTTP API — not a 403
/// "this route has no access rule" (which also logs an error for every such client mistake).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_405() {
    let t = TestServer::start().await;
    for (m, path) in [
        (Method::PUT, "/api/v1/services"),
        (Method::DELETE, "/api/v1/incidents"),
        (Method::POST, "/api/v1/audit"),
        (Method::PATCH, "/api/v1/me"),
    ] {
        let a = t.client.send(m.clone(), path, None).await.unwrap();
        assert_eq!(a.status, 405, "{m} {path}: {}", a.body);
        unauthorized(
            &t.anon.send(m.clone(), path, None).await.unwrap(),
            &format!("{m} {path} without a token"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_audit_log() {
    let t = TestServer::start().await;
    let password = "correct horse battery staple";
    let u = t
        .post(
            "/api/v1/users",
            json!({"email": "pat@example.com", "name": "pat", "role": "responder", "password": password}),
        )
        .await;
    assert_eq!(u.status, 201, "{}", u.body);
    let uid = id_of(&u.body);
    let (_, _, token_text) = token(&t, &uid, json!({})).await;
    let (sid, generated_key) = t.service_with("billing", "generic").await;
    let given_key = "5f0c2b8e9a7d4c3b2a1f0e9d8c7b6a59";
    let i = t
        .post(
            &format!("/api/v1/services/{sid}/integrations"),
            json!({"kind": "pagerduty", "name": "pd", "key": given_key}),
        )
        .await;
    assert_eq!(i.status, 201, "{}", i.body);
    assert_eq!(i.body["key"], given_key);
    let iid = id_of(&i.body);
    // Changes whose `before` snapshot holds the secret: a rename, a password reset, a delete.
    let renamed = t
        .client
        .send(
            Method::PATCH,
            &format!("/api/v1/integrations/{iid}"),
            Some(&json!({"name": "pd2"})),
        )
        .await
        .unwrap();
    assert_eq!(renamed.status, 200);
    let second_password = "another long passphrase";
    let reset = t
        .client
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{uid}"),
            Some(&json!({"password": second_password})),
        )
        .await
        .unwrap();
    assert_eq!(reset.status, 200, "{}", reset.body);
    let deleted = t
        .client
        .send(Method::DELETE, &format!("/api/v1/integrations/{iid}"), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, 204);

    let export = t.get("/api/v1/audit/export").await;
    assert_eq!(export.status, 200);
    assert_eq!(content_type(&export), "application/x-ndjson");
    let text = export.body.as_str().unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.create",
            "token.create",
            "service.create",
            "integration.create",
            "integration.create",
            "integration.update",
            "user.update",
            "integration.delete",
        ]
    );
    for secret in [
        token_text.as_str(),
        &generated_key,
        given_key,
        password,
        second_password,
        "$argon2",
    ] {
        assert!(!text.contains(secret), "'{secret}' is in the audit export");
    }
    assert_eq!(entries[6]["after"]["token"], "[redacted]");
    assert_eq!(entries[4]["after"]["key"], "[redacted]");
    assert_eq!(entries[3]["after"]["key"], "[redacted]");
    assert_eq!(entries[2]["before"]["key"], "[redacted]");
    assert_eq!(entries[0]["before"]["key"], "[redacted]");
    // The same for the paged list.
    let list = t.get("/api/v1/audit?limit=500").await;
    let listed = list.body.to_string();
    for secret in [token_text.as_str(), &generated_key, given_key, password] {
        assert!(!listed.contains(secret), "'{secret}' is in the audit list");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_alerts_is_returned_as_json_data() {
    let t = TestServer::start().await;
    let (sid, key) = t.service_with("web", "generic").await;
    let summary = "<script>alert('summary')</script> & \"quotes\"";
    let labels = json!({"team": "<img src=x onerror=alert(1)>", "<b>key</b>": "</title><svg onload=alert(2)>"});
    let details = json!({"html": "<iframe src=\"javascript:alert(3)\"></iframe>", "nested": ["<style>*{}</style>"]});
    let source = "<a href=\"//evil.example\">host</a>";
    let sent = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{key}"),
            Some(&json!({"summary": summary, "severity": "critical", "dedup_key": "<x>", "source": source,
                         "labels": labels, "details": details})),
        )
        .await
        .unwrap();
    assert_eq!(sent.status, 202, "{}", sent.body);

    let list = t.get(&format!("/api/v1/alerts?service_id={sid}")).await;
    assert_eq!(content_type(&list), "application/json");
    let alert = list.body["items"][0].clone();
    let one = t.get(&format!("/api/v1/alerts/{}", id_of(&alert))).await;
    assert_eq!(content_type(&one), "application/json");
    for a in [&alert, &one.body] {
        assert_eq!(a["summary"], summary);
        assert_eq!(a["labels"], labels);
        assert_eq!(a["details"], details);
        assert_eq!(a["source"], source);
        assert_eq!(a["dedup_key"], "<x>");
    }
    let incident = t
        .get(&format!(
            "/api/v1/incidents/{}",
            alert["incident_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(content_type(&incident), "application/json");
    assert_eq!(incident.body["title"], summary);
    assert_eq!(incident.body["alerts"][0]["labels"], labels);
}
