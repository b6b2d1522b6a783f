//! The operator pages of the console over HTTP: alerts, services with integration keys and setup
//! snippets, API tokens, the audit log. Each renders for an allowed role and is refused (403) for
//! a denied one; keys are shown only to those who configure the service; a token is shown once
//! and works as a bearer token; revoking works; forms without the CSRF token are refused; names
//! are shown as text.

use crate::support::web::*;
use crate::support::*;
use firebreak::client::{Answer, Client};
use hyper::Method;
use serde_json::json;

/// A signed-in browser: its session cookie.
#[derive(Clone)]
struct Browser {
    c: Client,
    jar: String,
}

impl Browser {
    async fn sign_in(t: &TestServer, email: &str) -> Browser {
        let c = t.anon.clone();
        let page = c.send(Method::GET, "/signin", None).await.unwrap();
        let login = cookie_value(&set_cookie(&page, "fb_signin").unwrap());
        let csrf = hidden_csrf(page.body.as_str().unwrap());
        let body = format!(
            "email={}&password={}&_csrf={csrf}&next=/incidents",
            enc(email),
            enc(PASSWORD)
        );
        let a = c
            .send_with(
                Method::POST,
                "/signin",
                &[FORM, ("cookie", &format!("fb_signin={login}"))],
                Some(body.into_bytes()),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 303, "sign-in of {email}: {:?}", a.body);
        let session = cookie_value(&set_cookie(&a, "fb_session").unwrap());
        Browser {
            c,
            jar: format!("fb_session={session}"),
        }
    }

    /// A "browser" whose cookie holds an API token (a session is a token too).
    fn with_token(t: &TestServer, token: &str) -> Browser {
        Browser {
            c: t.anon.clone(),
            jar: format!("fb_session={token}"),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.get_with(path, &[]).await
    }

    async fn get_with(&self, path: &str, extra: &[(&str, &str)]) -> Answer {
        let mut headers = vec![("cookie", self.jar.as_str())];
        headers.extend_from_slice(extra);
        self.c
            .send_with(Method::GET, path, &headers, None)
            .await
            .unwrap()
    }

    async fn html(&self, path: &str) -> String {
        let a = self.get(path).await;
        assert_eq!(a.status, 200, "GET {path}: {:?}", a.body);
        a.body.as_str().unwrap().to_string()
    }

    /// The CSRF token of this session, from a page's sign-out form.
    async fn csrf(&self) -> String {
        hidden_csrf(&self.html("/tokens").await)
    }

    async fn post(&self, path: &str, body: &str) -> Answer {
        self.post_with(path, body, &[]).await
    }

    async fn post_with(&self, path: &str, body: &str, extra: &[(&str, &str)]) -> Answer {
        let mut headers = vec![FORM, ("cookie", self.jar.as_str())];
        headers.extend_from_slice(extra);
        self.c
            .send_with(Method::POST, path, &headers, Some(body.as_bytes().to_vec()))
            .await
            .unwrap()
    }
}

/// The text of the first element with this test id (up to the next `<`).
fn testid_text(html: &str, id: &str) -> String {
    let hook = testid(id);
    let at = html
        .find(&hook)
        .unwrap_or_else(|| panic!("no {id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').unwrap() + 1;
    rest[start..].split('<').next().unwrap().to_string()
}

async fn ingest(t: &TestServer, key: &str, summary: &str, severity: &str) -> String {
    let a = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{key}"),
            Some(&json!({"summary": summary, "severity": severity})),
        )
        .await
        .unwrap();
    assert!(a.status.is_success(), "{:?}", a.body);
    a.body["incident_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_page_renders_for_allowed_roles_and_is_refused_to_others() {
    let t = TestServer::start().await;
    let (sa, key_a) = t.service_with("granted", "generic").await;
    let (sb, key_b) = t.service_with("bravo-svc", "generic").await;
    let ia = ingest(&t, &key_a, "disk full on a", "critical").await;
    ingest(&t, &key_b, "disk full on b", "warning").await;
    user(&t, "root@example.com", "admin", false).await;
    user(&t, "olga@example.com", "observer", false).await;
    user(&t, "sam@example.com", "stakeholder", false).await;
    let ext = user(&t, "vendor@example.com", "responder", true).await;
    let g = t.post("/api/v1/grants", json!({"user_id": ext, "role": "responder", "service_ids": [sa], "expires_at": "2026-09-01T00:00:00Z"})).await;
    assert_eq!(g.status, 201);
    let admin = Browser::sign_in(&t, "root@example.com").await;
    let olga = Browser::sign_in(&t, "olga@example.com").await;
    let sam = Browser::sign_in(&t, "sam@example.com").await;
    let vendor = Browser::sign_in(&t, "vendor@example.com").await;

    // Allowed: 200 with the page's hook.
    let service_a = format!("/services/{sa}");
    for (who, path, hook) in [
        (&olga, "/alerts", "alerts-page"),
        (&olga, "/services", "services-page"),
        (&olga, service_a.as_str(), "service-detail"),
        (&sam, "/tokens", "tokens-page"),
        (&olga, "/tokens", "tokens-page"),
        (&admin, "/audit", "audit-page"),
        (&admin, "/alerts", "alerts-page"),
        (&vendor, "/alerts", "alerts-page"),
        (&vendor, service_a.as_str(), "service-detail"),
    ] {
        let html = who.html(path).await;
        assert!(html.contains(&testid(hook)), "{path}: {hook}");
        assert!(html.contains(&testid("nav-incidents")), "{path}: the nav");
    }

    // Denied: 403, like the API.
    let service_b = format!("/services/{sb}");
    for (who, path) in [
        (&sam, "/alerts"),
        (&sam, "/services"),
        (&sam, service_a.as_str()),
        (&olga, "/audit"),
        (&vendor, "/audit"),
        (&vendor, service_b.as_str()),
    ] {
        assert_eq!(who.get(path).await.status, 403, "{path}");
    }
    for api in ["/api/v1/alerts", "/api/v1/services"] {
        let bearer =
            Client::new(&t.url(), Some(sam.jar["fb_session=".len()..].to_string())).unwrap();
        assert_eq!(
            bearer.send(Method::GET, api, None).await.unwrap().status,
            403,
            "the API agrees: {api}"
        );
    }

    // Lists: newest first, filtered, and only what an external user's grants show.
    let all = olga.html("/alerts?status=all").await;
    let (a_at, b_at) = (
        all.find("disk full on a").unwrap(),
        all.find("disk full on b").unwrap(),
    );
    assert!(b_at < a_at, "newest first");
    assert!(
        all.contains(&format!("href=\"/incidents/{ia}\"")),
        "links to the incident"
    );
    let critical = olga.html("/alerts?severity=critical").await;
    assert!(critical.contains("disk full on a") && !critical.contains("disk full on b"));
    let of_b = olga.html(&format!("/alerts?service_id={sb}")).await;
    assert!(of_b.contains("disk full on b") && !of_b.contains("disk full on a"));
    let resolved = olga.html("/alerts?status=resolved").await;
    assert!(resolved.contains(&testid("no-alerts")));
    assert_eq!(olga.get("/alerts?status=bogus").await.status, 400);
    let seen = vendor.html("/alerts?status=all").await;
    assert!(seen.contains("disk full on a") && !seen.contains("disk full on b"));
    let peek = vendor.html(&format!("/alerts?service_id={sb}")).await;
    assert!(
        !peek.contains("bravo-svc") && !peek.contains("disk full on b"),
        "no names of services outside the grant"
    );
    let services = vendor.html("/services").await;
    assert!(services.contains(&format!("data-service-id=\"{sa}\"")));
    assert!(!services.contains(&format!("data-service-id=\"{sb}\"")));
    let services = olga.html("/services").await;
    assert!(services.contains(&format!("data-service-id=\"{sb}\"")));
    assert!(
        services.contains("bravo-svc-generic"),
        "integrations are listed"
    );

    // The audit page: newest entries, filters by outcome and action.
    let denied = admin.html("/audit?outcome=denied").await;
    assert!(denied.contains(&testid("audit-row")));
    assert!(!denied.contains("data-outcome=\"done\""));
    assert!(denied.contains("GET /audit") && denied.contains("127.0.0.1"));
    let created = admin.html("/audit?action=service.create").await;
    assert!(!created.contains("<code>access.denied</code>"));
    assert_eq!(created.matches(&testid("audit-row")).count(), 2);
    assert_eq!(admin.get("/audit?outcome=maybe").await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_keys_and_snippets_only_for_those_who_configure_the_service() {
    let t = TestServer::start().await;
    let mira = user(&t, "mira@example.com", "manager", false).await;
    user(&t, "olga@example.com", "observer", false).await;
    let team = t
        .post(
            "/api/v1/teams",
            json!({"name": "storage", "member_ids": [mira]}),
        )
        .await;
    assert_eq!(team.status, 201, "{:?}", team.body);
    let ours = t
        .post(
            "/api/v1/services",
            json!({"name": "db", "team_id": team.body["id"]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut keys = Vec::new();
    for kind in ["alertmanager", "pagerduty", "generic"] {
        let i = t
            .post(
                &format!("/api/v1/services/{ours}/integrations"),
                json!({"kind": kind, "name": format!("db-{kind}")}),
            )
            .await;
        keys.push(i.body["key"].as_str().unwrap().to_string());
    }
    let (theirs, their_key) = t.service_with("web", "generic").await;
    let mira = Browser::sign_in(&t, "mira@example.com").await;
    let olga = Browser::sign_in(&t, "olga@example.com").await;
    let host = [("host", "fb.example:9000")];

    // The manager of the owning team sees keys and snippets with the URL they reached us at.
    let page = mira.get_with(&format!("/services/{ours}"), &host).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["cache-control"], "no-store, private");
    let html = text(&page);
    for key in &keys {
        assert!(html.contains(key.as_str()), "key shown to the manager");
    }
    assert!(html.contains(&format!(
        "url: &#34;http://fb.example:9000/ingest/alertmanager/{}&#34;",
        keys[0]
    )));
    assert!(html.contains(&format!("routing_key: &#34;{}&#34;", keys[1])));
    assert!(html.contains("http://fb.example:9000/v2/enqueue"));
    assert!(html.contains(&format!(
        "curl -sS -X POST &#39;http://fb.example:9000/ingest/generic/{}&#39;",
        keys[2]
    )));
    for kind in ["alertmanager", "pagerduty", "generic"] {
        assert!(html.contains(&testid(&format!("snippet-{kind}"))), "{kind}");
    }
    assert!(html.contains(&testid("create-integration")));
    // An odd Host header never reaches a snippet.
    let odd = mira
        .get_with(&format!("/services/{ours}"), &[("host", "x\"><b>y")])
        .await;
    let odd = text(&odd);
    assert!(odd.contains("http://127.0.0.1:8080/ingest/generic/"));
    assert!(!odd.contains("<b>y") && !odd.contains("&#62;&#60;b&#62;"));

    // Not their team's service: readable, keys hidden.
    let other = mira.html(&format!("/services/{theirs}")).await;
    assert!(other.contains(&testid("key-hidden")));
    assert!(!other.contains(&their_key) && !other.contains(&testid("create-integration")));

    // An observer sees integrations, never keys or snippets, and cannot create one.
    let html = olga.html(&format!("/services/{ours}")).await;
    assert_eq!(html.matches(&testid("key-hidden")).count(), 3);
    for key in &keys {
        assert!(!html.contains(key.as_str()), "key hidden from the observer");
    }
    assert!(!html.contains("snippet-") && !html.contains(&testid("create-integration")));
    let csrf = olga.csrf().await;
    let post = olga
        .post(
            &format!("/services/{ours}/integrations"),
            &format!("_csrf={csrf}&kind=generic&name=sneaky"),
        )
        .await;
    assert_eq!(post.status, 403);

    // Creating one: no CSRF → 403; a bad form → 400 on the form; then the key, once.
    let path = format!("/services/{ours}/integrations");
    for body in [
        "kind=generic&name=x",
        "_csrf=&kind=generic&name=x",
        "_csrf=00&kind=generic&name=x",
    ] {
        assert_eq!(mira.post(&path, body).await.status, 403, "{body}");
    }
    let csrf = mira.csrf().await;
    let bad = mira
        .post(&path, &format!("_csrf={csrf}&kind=smoke-signals&name=x"))
        .await;
    assert_eq!(bad.status, 400);
    assert!(text(&bad).contains(&testid("form-error")));
    let made = mira
        .post_with(
            &path,
            &format!("_csrf={csrf}&kind=generic&name=ci+checks&severity_override=SEV2"),
            &host,
        )
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    assert_eq!(made.headers["cache-control"], "no-store, private");
    let html = text(&made);
    let key = testid_text(&html, "new-integration-key");
    assert_eq!(key.len(), 32);
    assert!(html.contains(&format!("http://fb.example:9000/ingest/generic/{key}")));
    let incident = ingest(&t, &key, "via the new key", "info").await;
    assert_eq!(
        t.get(&format!("/api/v1/incidents/{incident}")).await.body["severity"],
        "SEV2",
        "the key works and the override applies"
    );
    let audit = t.get("/api/v1/audit?action=integration.create").await;
    let last = &audit.body["items"][0];
    assert_eq!(last["actor"]["name"], "mira@example.com");
    assert_eq!(last["after"]["key"], "[redacted]");
    assert!(
        !audit.body.to_string().contains(&key),
        "no key in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_shown_once_work_as_bearer_tokens_and_can_be_revoked() {
    let t = TestServer::start().await;
    user(&t, "ana@example.com", "responder", false).await;
    user(&t, "bo@example.com", "responder", false).await;
    user(&t, "root@example.com", "admin", false).await;
    let ana = Browser::sign_in(&t, "ana@example.com").await;
    let bo = Browser::sign_in(&t, "bo@example.com").await;
    let admin = Browser::sign_in(&t, "root@example.com").await;

    let page = ana.html("/tokens").await;
    assert!(page.contains("this session"), "the session is listed");
    for scope in ["read", "write", "admin"] {
        assert!(page.contains(&testid(&format!("scope-{scope}"))));
    }
    let csrf = hidden_csrf(&page);

    // No CSRF → 403 and no token; a form without a scope → 400.
    for body in ["name=x&scope=read", "_csrf=nope&name=x&scope=read"] {
        assert_eq!(ana.post("/tokens", body).await.status, 403, "{body}");
    }
    let none = ana.post("/tokens", &format!("_csrf={csrf}&name=x")).await;
    assert_eq!(none.status, 400);
    assert!(text(&none).contains(&testid("form-error")));
    let late = ana
        .post(
            "/tokens",
            &format!("_csrf={csrf}&name=x&scope=read&expires_in=5000d"),
        )
        .await;
    assert_eq!(late.status, 400);

    // Created: the text once, usable as a bearer token, never again on the list.
    let made = ana
        .post(
            "/tokens",
            &format!("_csrf={csrf}&name=%3Cb%3Eci%3C%2Fb%3E&scope=read&expires_in=90d"),
        )
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    assert_eq!(made.headers["cache-control"], "no-store, private");
    let html = text(&made);
    let token = testid_text(&html, "new-token");
    assert!(token.starts_with("fb_"), "{token}");
    assert!(html.contains("&#60;b&#62;ci&#60;/b&#62;") && !html.contains("<b>ci"));
    let bearer = Client::new(&t.url(), Some(token.clone())).unwrap();
    let me = bearer.send(Method::GET, "/api/v1/me", None).await.unwrap();
    assert_eq!(me.status, 200);
    assert_eq!(me.body["token"]["scopes"], json!(["read"]), "{:?}", me.body);
    assert_eq!(
        bearer
            .send(
                Method::POST,
                "/api/v1/incidents",
                Some(&json!({"title": "x"}))
            )
            .await
            .unwrap()
            .status,
        403,
        "read scope only"
    );
    let list = ana.html("/tokens").await;
    assert!(!list.contains(&token), "shown once");
    assert!(
        list.contains("&#60;b&#62;ci&#60;/b&#62;"),
        "names are escaped"
    );
    let id = made_id(&html);
    assert!(list.contains(&format!("data-token-id=\"{id}\" data-state=\"active\"")));

    // Others' tokens: not listed, not revocable by a non-admin.
    let bo_list = bo.html("/tokens").await;
    assert!(!bo_list.contains(&format!("data-token-id=\"{id}\"")));
    let bo_csrf = hidden_csrf(&bo_list);
    let revoke = format!("/tokens/{id}/revoke");
    assert_eq!(
        bo.post(&revoke, &format!("_csrf={bo_csrf}")).await.status,
        403
    );
    assert_eq!(
        t.get("/api/v1/audit?outcome=denied").await.body["items"][0]["object_id"],
        format!("POST {revoke}")
    );
    assert_eq!(ana.post(&revoke, "").await.status, 403, "no CSRF");
    assert_eq!(
        bearer
            .send(Method::GET, "/api/v1/me", None)
            .await
            .unwrap()
            .status,
        200
    );

    // The owner revokes it: gone at once.
    let r = ana.post(&revoke, &format!("_csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.headers["location"], "/tokens");
    assert_eq!(
        bearer
            .send(Method::GET, "/api/v1/me", None)
            .await
            .unwrap()
            .status,
        401
    );
    let list = ana.html("/tokens").await;
    assert!(list.contains(&format!("data-token-id=\"{id}\" data-state=\"revoked\"")));
    let audit = t.get("/api/v1/audit?action=token.delete").await;
    assert_eq!(audit.body["items"][0]["object_id"], id);

    // Admins see everyone's tokens and may revoke them.
    let all = admin.html("/tokens").await;
    assert!(all.contains("bo@example.com") && all.contains(&format!("data-token-id=\"{id}\"")));
    let bo_session = bo_list
        .split("data-token-id=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let admin_csrf = hidden_csrf(&all);
    let r = admin
        .post(
            &format!("/tokens/{bo_session}/revoke"),
            &format!("_csrf={admin_csrf}"),
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(bo.get("/tokens").await.status, 303, "bo is signed out");

    // No escalation: a session holding a read-only token offers and gives only `read`.
    let limited = Browser::with_token(&t, &token_via_api(&t, &["read"]).await);
    let page = limited.html("/tokens").await;
    assert!(page.contains(&testid("scope-read")) && !page.contains(&testid("scope-write")));
    let csrf = hidden_csrf(&page);
    let up = limited
        .post(
            "/tokens",
            &format!("_csrf={csrf}&name=up&scope=read&scope=write"),
        )
        .await;
    assert_eq!(up.status, 403);
    let denied = t.get("/api/v1/audit?outcome=denied").await;
    assert_eq!(
        denied.body["items"][0]["detail"]["reason"],
        "a token cannot have scopes the calling token lacks"
    );
}

fn made_id(html: &str) -> String {
    let hook = "data-testid=\"token-created\" data-token-id=\"";
    let at = html.find(hook).unwrap() + hook.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// A personal token of the bootstrap admin with these scopes, made through the API.
async fn token_via_api(t: &TestServer, scopes: &[&str]) -> String {
    let me = t.get("/api/v1/me").await;
    let uid = me.body["user"]["id"].clone();
    let a = t
        .post(
            "/api/v1/tokens",
            json!({"user_id": uid, "name": "limited", "scopes": scopes}),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.body["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_alert_text_are_shown_as_text() {
    let t = TestServer::start().await;
    let s = t
        .post(
            "/api/v1/services",
            json!({"name": "<script>alert(1)</script>", "description": "<img src=x onerror=alert(2)>"}),
        )
        .await;
    let sid = s.body["id"].as_str().unwrap().to_string();
    let i = t
        .post(
            &format!("/api/v1/services/{sid}/integrations"),
            json!({"kind": "generic", "name": "<i>hook</i>"}),
        )
        .await;
    let key = i.body["key"].as_str().unwrap().to_string();
    ingest(&t, &key, "<svg onload=alert(3)> down", "critical").await;
    user(&t, "root@example.com", "admin", false).await;
    let admin = Browser::sign_in(&t, "root@example.com").await;
    for path in [
        "/alerts",
        "/services",
        &format!("/services/{sid}"),
        "/audit",
    ] {
        let html = admin.html(path).await;
        for raw in ["<script>alert", "<img src=x", "<i>hook", "<svg onload"] {
            assert!(!html.contains(raw), "{path}: {raw} unescaped");
        }
    }
    let alerts = admin.html("/alerts").await;
    assert!(alerts.contains("&#60;svg onload=alert(3)&#62; down"));
    assert!(alerts.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    let detail = admin.html(&format!("/services/{sid}")).await;
    assert!(detail.contains("&#60;i&#62;hook&#60;/i&#62;"));
    assert!(detail.contains("&#60;img src=x onerror=alert(2)&#62;"));
}
