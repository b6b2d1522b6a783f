//! The access pages of the console over HTTP: users, teams and grants. Admins see and change
//! them through forms (checked like the API, audited with the API's action names and
//! `"via": "console"`); others are refused (403, audited) or read only; forms without the CSRF
//! token are refused; names are shown as text; the header links only to pages the caller may open.

use crate::support::web::*;
use crate::support::*;
use firebreak::client::{Answer, Client};
use hyper::Method;
use serde_json::{json, Value};

/// Signs in with a password; the answer of the sign-in post.
/// A signed-in browser: its session cookie.
struct Browser {
    c: Client,
    jar: String,
}

impl Browser {
    async fn sign_in(t: &TestServer, email: &str) -> Browser {
        let a = sign_in(&t.anon, email, PASSWORD, "/incidents").await;
        assert_eq!(a.status, 303, "sign-in of {email}: {:?}", a.body);
        let session = cookie_value(&set_cookie(&a, "fb_session").unwrap());
        Browser {
            c: t.anon.clone(),
            jar: format!("fb_session={session}"),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.c
            .send_with(Method::GET, path, &[("cookie", self.jar.as_str())], None)
            .await
            .unwrap()
    }

    async fn html(&self, path: &str) -> String {
        let a = self.get(path).await;
        assert_eq!(a.status, 200, "GET {path}: {:?}", a.body);
        text(&a)
    }

    async fn csrf(&self) -> String {
        hidden_csrf(&self.html("/tokens").await)
    }

    async fn post(&self, path: &str, body: &str) -> Answer {
        self.c
            .send_with(
                Method::POST,
                path,
                &[FORM, ("cookie", self.jar.as_str())],
                Some(body.as_bytes().to_vec()),
            )
            .await
            .unwrap()
    }
}

/// The API's view of every item of a list.
async fn items(t: &TestServer, path: &str) -> Vec<Value> {
    let a = t.get(path).await;
    assert_eq!(a.status, 200, "{path}: {:?}", a.body);
    a.body["items"].as_array().unwrap().clone()
}

/// The newest audit entry with this action.
async fn last_audit(t: &TestServer, action: &str) -> Value {
    items(t, &format!("/api/v1/audit?action={action}")).await[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_pages_are_for_admins_and_the_nav_shows_what_one_may_open() {
    let t = TestServer::start().await;
    user(&t, "root@example.com", "admin", false).await;
    user(&t, "ray@example.com", "responder", false).await;
    user(&t, "olga@example.com", "observer", false).await;
    user(&t, "sam@example.com", "stakeholder", false).await;
    user(&t, "vendor@example.com", "responder", true).await;
    let admin = Browser::sign_in(&t, "root@example.com").await;
    let ray = Browser::sign_in(&t, "ray@example.com").await;
    let olga = Browser::sign_in(&t, "olga@example.com").await;
    let sam = Browser::sign_in(&t, "sam@example.com").await;
    let vendor = Browser::sign_in(&t, "vendor@example.com").await;

    for (path, hook) in [
        ("/users", "users-page"),
        ("/teams", "teams-page"),
        ("/grants", "grants-page"),
    ] {
        let html = admin.html(path).await;
        assert!(html.contains(&testid(hook)), "{path}");
    }
    let teams = admin.html("/teams").await;
    assert!(teams.contains(&testid("create-team")));

    // A responder: no users or grants (403, audited); teams read only.
    let before = items(&t, "/api/v1/audit?outcome=denied&limit=500")
        .await
        .len();
    for path in ["/users", "/grants"] {
        let a = ray.get(path).await;
        assert_eq!(a.status, 403, "{path}");
        assert!(
            text(&a).contains(&testid("nav-incidents")),
            "the error page keeps the nav"
        );
    }
    let denied = items(&t, "/api/v1/audit?outcome=denied&limit=500").await;
    assert_eq!(denied.len(), before + 2, "each refusal is audited");
    assert_eq!(denied[0]["object_id"], "GET /grants");
    assert_eq!(denied[1]["object_id"], "GET /users");
    let read_only = ray.html("/teams").await;
    assert!(read_only.contains(&testid("teams-page")));
    assert!(!read_only.contains(&testid("create-team")) && !read_only.contains("/members"));
    // Without the directory permission, no teams page either.
    for who in [&sam, &vendor] {
        assert_eq!(who.get("/teams").await.status, 403);
    }

    // The nav: only the links the caller may follow.
    let all = [
        "nav-incidents",
        "nav-alerts",
        "nav-services",
        "nav-users",
        "nav-teams",
        "nav-grants",
        "nav-tokens",
        "nav-audit",
    ];
    let nav_of = |html: &str| -> Vec<&'static str> {
        all.iter()
            .copied()
            .filter(|n| html.contains(&testid(n)))
            .collect()
    };
    assert_eq!(nav_of(&admin.html("/incidents").await), all.to_vec());
    assert_eq!(
        nav_of(&ray.html("/incidents").await),
        vec![
            "nav-incidents",
            "nav-alerts",
            "nav-services",
            "nav-teams",
            "nav-tokens"
        ]
    );
    assert_eq!(
        nav_of(&olga.html("/tokens").await),
        vec![
            "nav-incidents",
            "nav-alerts",
            "nav-services",
            "nav-teams",
            "nav-tokens"
        ]
    );
    assert_eq!(
        nav_of(&sam.html("/tokens").await),
        vec!["nav-incidents", "nav-tokens"]
    );
    // An external user without grants: nothing but the incident list and their tokens.
    assert_eq!(
        nav_of(&vendor.html("/tokens").await),
        vec!["nav-incidents", "nav-tokens"]
    );

    // An observer's tokens page shows their own tokens only.
    let mine = olga.html("/tokens").await;
    assert!(!mine.contains("Every user"));
    assert!(!mine.contains("root@example.com") && !mine.contains("ray@example.com"));
    assert_eq!(
        mine.matches(&testid("token-row")).count(),
        1,
        "their session only"
    );
    let everyone = admin.html("/tokens").await;
    assert!(everyone.contains("Every user") && everyone.contains("olga@example.com"));

    // Posts to the access forms are refused to a responder even with a good CSRF token.
    let csrf = ray.csrf().await;
    for path in ["/users", "/teams", "/grants"] {
        let a = ray
            .post(
                path,
                &format!("_csrf={csrf}&name=sneaky&email=s%40example.com&role=admin"),
            )
            .await;
        assert_eq!(a.status, 403, "{path}");
    }
    assert!(items(&t, "/api/v1/users")
        .await
        .iter()
        .all(|u| u["email"] != "s@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_and_changed_through_the_forms() {
    let t = TestServer::start().await;
    user(&t, "root@example.com", "admin", false).await;
    let team = t.post("/api/v1/teams", json!({"name": "storage"})).await;
    let team_id = team.body["id"].as_str().unwrap().to_string();
    let admin = Browser::sign_in(&t, "root@example.com").await;
    let csrf = admin.csrf().await;

    // Checked like the API: the form comes back with what is wrong.
    for (body, why) in [
        ("email=nope&name=N&role=observer", "email"),
        ("email=n%40example.com&name=&role=observer", "name"),
        ("email=n%40example.com&name=N&role=root", "role"),
        (
            "email=n%40example.com&name=N&role=observer&password=short",
            "password",
        ),
        (
            "email=n%40example.com&name=N&role=observer&time_zone=Mars%20Base",
            "time zone",
        ),
    ] {
        let a = admin.post("/users", &format!("_csrf={csrf}&{body}")).await;
        assert_eq!(a.status, 400, "{why}");
        assert!(text(&a).contains(&testid("form-error")), "{why}");
    }
    let kept = admin
        .post(
            "/users",
            &format!("_csrf={csrf}&email=kept%40example.com&name=Kept&role=root"),
        )
        .await;
    assert!(
        text(&kept).contains("value=\"kept@example.com\""),
        "the form keeps its values"
    );

    let made = admin
        .post(
            "/users",
            &format!(
                "_csrf={csrf}&email=nia%40example.com&name=Nia&role=observer&external=on\
                 &time_zone=Europe%2FBerlin&password={}&team_id={team_id}",
                enc(PASSWORD)
            ),
        )
        .await;
    assert_eq!(made.status, 303, "{:?}", made.body);
    assert_eq!(made.headers["location"], "/users");
    let nia = items(&t, "/api/v1/users")
        .await
        .into_iter()
        .find(|u| u["email"] == "nia@example.com")
        .unwrap();
    assert_eq!(nia["role"], "observer");
    assert_eq!(nia["external"], true);
    assert_eq!(nia["time_zone"], "Europe/Berlin");
    assert_eq!(nia["team_ids"], json!([team_id]));
    let nia_id = nia["id"].as_str().unwrap().to_string();
    let page = admin.html("/users").await;
    assert!(page.contains(&format!(
        "data-user-id=\"{nia_id}\" data-role=\"observer\" data-disabled=\"false\""
    )));
    assert!(page.contains("storage"));
    let dup = admin
        .post(
            "/users",
            &format!("_csrf={csrf}&email=nia%40example.com&name=Again&role=observer"),
        )
        .await;
    assert_eq!(dup.status, 400, "the email is taken");
    let audit = last_audit(&t, "user.create").await;
    assert_eq!(audit["object_id"], nia_id);
    assert_eq!(audit["detail"]["via"], "console");
    assert_eq!(audit["actor"]["name"], "root@example.com");
    Browser::sign_in(&t, "nia@example.com").await;

    // Change the role.
    let r = admin
        .post(
            &format!("/users/{nia_id}/role"),
            &format!("_csrf={csrf}&role=responder"),
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        t.get(&format!("/api/v1/users/{nia_id}")).await.body["role"],
        "responder"
    );
    let audit = last_audit(&t, "user.update").await;
    assert_eq!(audit["before"]["role"], "observer");
    assert_eq!(audit["after"]["role"], "responder");
    assert_eq!(audit["detail"]["via"], "console");
    let bad = admin
        .post(
            &format!("/users/{nia_id}/role"),
            &format!("_csrf={csrf}&role=overlord"),
        )
        .await;
    assert_eq!(bad.status, 400);

    // Disable: no more sign-ins, and the session stops working; enable again.
    let session = Browser::sign_in(&t, "nia@example.com").await;
    let r = admin
        .post(
            &format!("/users/{nia_id}/disable"),
            &format!("_csrf={csrf}"),
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        t.get(&format!("/api/v1/users/{nia_id}")).await.body["disabled"],
        true
    );
    assert_eq!(
        sign_in(&t.anon, "nia@example.com", PASSWORD, "/incidents")
            .await
            .status,
        401
    );
    assert_ne!(
        session.get("/incidents").await.status,
        200,
        "the session ends"
    );
    assert!(admin.html("/users").await.contains(&testid("enable-user")));
    let r = admin
        .post(&format!("/users/{nia_id}/enable"), &format!("_csrf={csrf}"))
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        t.get(&format!("/api/v1/users/{nia_id}")).await.body["disabled"],
        false
    );
    assert_eq!(
        sign_in(&t.anon, "nia@example.com", PASSWORD, "/incidents")
            .await
            .status,
        303
    );

    // Admin-driven password reset: the old one stops working, the new one works; no secret in
    // the audit log.
    let short = admin
        .post(
            &format!("/users/{nia_id}/password"),
            &format!("_csrf={csrf}&password=short"),
        )
        .await;
    assert_eq!(short.status, 400);
    let fresh = "a freshly reset passphrase";
    let r = admin
        .post(
            &format!("/users/{nia_id}/password"),
            &format!("_csrf={csrf}&password={}", enc(fresh)),
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        sign_in(&t.anon, "nia@example.com", PASSWORD, "/incidents")
            .await
            .status,
        401
    );
    assert_eq!(
        sign_in(&t.anon, "nia@example.com", fresh, "/incidents")
            .await
            .status,
        303
    );
    let export = t
        .client
        .call(Method::GET, "/api/v1/audit/export", None)
        .await
        .unwrap();
    let export = export.as_str().unwrap();
    assert!(!export.contains(fresh) && !export.contains(PASSWORD) && !export.contains("$argon2"));
    let unknown = admin
        .post("/users/999999/role", &format!("_csrf={csrf}&role=observer"))
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_and_grants_are_made_through_the_forms() {
    let t = TestServer::start().await;
    user(&t, "root@example.com", "admin", false).await;
    let ray = user(&t, "ray@example.com", "responder", false).await;
    let ext = user(&t, "vendor@example.com", "responder", true).await;
    let (sa, key_a) = t.service_with("granted", "generic").await;
    let (sb, _) = t.service_with("other", "generic").await;
    let admin = Browser::sign_in(&t, "root@example.com").await;
    let csrf = admin.csrf().await;

    // Teams.
    assert_eq!(
        admin
            .post("/teams", &format!("_csrf={csrf}&name="))
            .await
            .status,
        400
    );
    let r = admin
        .post(
            "/teams",
            &format!("_csrf={csrf}&name=storage&member_id={ray}"),
        )
        .await;
    assert_eq!(r.status, 303, "{:?}", r.body);
    let team = items(&t, "/api/v1/teams").await[0].clone();
    assert_eq!(team["name"], "storage");
    assert_eq!(team["member_ids"], json!([ray]));
    let team_id = team["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .post("/teams", &format!("_csrf={csrf}&name=storage"))
            .await
            .status,
        400,
        "the name is taken"
    );
    let audit = last_audit(&t, "team.create").await;
    assert_eq!(
        (audit["object_id"].clone(), audit["detail"]["via"].clone()),
        (json!(team_id), json!("console"))
    );
    let r = admin
        .post(
            &format!("/teams/{team_id}/members"),
            &format!("_csrf={csrf}&member_id={ray}&member_id={ext}"),
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        t.get(&format!("/api/v1/teams/{team_id}")).await.body["member_ids"],
        json!([ray, ext])
    );
    let audit = last_audit(&t, "team.update").await;
    assert_eq!(audit["before"]["member_ids"], json!([ray]));
    assert_eq!(audit["detail"]["via"], "console");
    let page = admin.html("/teams").await;
    assert!(page.contains("ray@example.com") && page.contains("vendor@example.com"));
    assert_eq!(
        admin
            .post(
                &format!("/teams/{team_id}/members"),
                &format!("_csrf={csrf}&member_id=424242")
            )
            .await
            .status,
        400,
        "unknown member"
    );

    // Grants: checked like the API.
    for (body, why) in [
        (format!("user_id={ext}&role=admin&service_id={sa}&expires_at=2026-09-01T12:30"), "role"),
        (format!("user_id={ext}&role=responder&expires_at=2026-09-01T12:30"), "no scope"),
        (format!("user_id={ext}&role=responder&service_id={sa}&incident_id=1&expires_at=2026-09-01T12:30"), "both"),
        (format!("user_id={ext}&role=responder&service_id={sa}&expires_at=2020-01-01T00:00"), "past"),
        (format!("user_id={ext}&role=responder&service_id={sa}&expires_at=soon"), "not a time"),
        (format!("user_id=424242&role=responder&service_id={sa}&expires_at=2026-09-01T12:30"), "no user"),
    ] {
        let a = admin.post("/grants", &format!("_csrf={csrf}&{body}")).await;
        assert_eq!(a.status, 400, "{why}");
        assert!(text(&a).contains(&testid("form-error")), "{why}");
    }
    let r = admin
        .post(
            "/grants",
            &format!("_csrf={csrf}&user_id={ext}&role=responder&service_id={sa}&expires_at=2026-09-01T12%3A30"),
        )
        .await;
    assert_eq!(r.status, 303, "{:?}", r.body);
    let grant = items(&t, "/api/v1/grants").await[0].clone();
    assert_eq!(grant["user_id"], json!(ext));
    assert_eq!(grant["role"], "responder");
    assert_eq!(grant["scope"], json!({"services": [sa]}));
    assert_eq!(
        grant["expires_at"], "2026-09-01T12:30:00.000Z",
        "read as UTC"
    );
    let grant_id = grant["id"].as_str().unwrap().to_string();
    let audit = last_audit(&t, "grant.create").await;
    assert_eq!(audit["object_id"], grant_id);
    assert_eq!(audit["detail"]["via"], "console");
    let page = admin.html("/grants").await;
    assert!(page.contains(&format!(
        "data-grant-id=\"{grant_id}\" data-state=\"active\""
    )));
    assert!(page.contains("granted") && page.contains("UTC"));

    // The grant works: the vendor sees that service's incidents and not the other's.
    let a = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{key_a}"),
            Some(&json!({"summary": "disk full", "severity": "critical"})),
        )
        .await
        .unwrap();
    let incident = a.body["incident_id"].as_str().unwrap().to_string();
    let vendor = Browser::sign_in(&t, "vendor@example.com").await;
    assert_eq!(vendor.get(&format!("/services/{sa}")).await.status, 200);
    assert_eq!(vendor.get(&format!("/services/{sb}")).await.status, 403);

    // An incident grant, then revocation.
    let r = admin
        .post(
            "/grants",
            &format!("_csrf={csrf}&user_id={ray}&role=observer&incident_id={incident}&expires_at=2026-08-30T00%3A00%3A00"),
        )
        .await;
    assert_eq!(r.status, 303, "{:?}", r.body);
    let second = items(&t, "/api/v1/grants").await[0].clone();
    assert_eq!(second["scope"], json!({"incidents": [incident]}));
    let r = admin
        .post(
            &format!("/grants/{grant_id}/revoke"),
            &format!("_csrf={csrf}"),
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(t.get(&format!("/api/v1/grants/{grant_id}")).await.body["revoked_at"].is_string());
    let audit = last_audit(&t, "grant.delete").await;
    assert_eq!(audit["object_id"], grant_id);
    assert_eq!(audit["detail"]["via"], "console");
    assert!(admin.html("/grants").await.contains(&format!(
        "data-grant-id=\"{grant_id}\" data-state=\"revoked\""
    )));
    assert_eq!(
        vendor.get(&format!("/services/{sa}")).await.status,
        403,
        "revoked at once"
    );
    assert_eq!(
        admin
            .post("/grants/999999/revoke", &format!("_csrf={csrf}"))
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_forms_need_the_csrf_token_and_show_names_as_text() {
    let t = TestServer::start().await;
    user(&t, "root@example.com", "admin", false).await;
    let (sid, _) = t.service_with("<i>svc</i>", "generic").await;
    let evil = t
        .post("/api/v1/users", json!({"email": "evil@example.com", "name": "<script>alert(1)</script>", "role": "responder", "external": true}))
        .await;
    let evil = evil.body["id"].as_str().unwrap().to_string();
    let team = t
        .post(
            "/api/v1/teams",
            json!({"name": "<b>team</b>", "member_ids": [evil]}),
        )
        .await;
    let team_id = team.body["id"].as_str().unwrap().to_string();
    let g = t
        .post("/api/v1/grants", json!({"user_id": evil, "role": "observer", "service_ids": [sid], "expires_at": "2026-09-01T00:00:00Z"}))
        .await;
    let grant_id = g.body["id"].as_str().unwrap().to_string();
    let admin = Browser::sign_in(&t, "root@example.com").await;

    let users_before = items(&t, "/api/v1/users").await.len();
    for path in [
        "/users".to_string(),
        format!("/users/{evil}/role"),
        format!("/users/{evil}/disable"),
        format!("/users/{evil}/enable"),
        format!("/users/{evil}/password"),
        "/teams".to_string(),
        format!("/teams/{team_id}/members"),
        "/grants".to_string(),
        format!("/grants/{grant_id}/revoke"),
    ] {
        for body in [
            "email=x%40example.com&name=x&role=admin&password=aaaaaaaaaaaaaaaa".to_string(),
            "_csrf=&name=x&role=admin".to_string(),
            "_csrf=0000&name=x&role=admin".to_string(),
        ] {
            assert_eq!(admin.post(&path, &body).await.status, 403, "{path} {body}");
        }
    }
    assert_eq!(items(&t, "/api/v1/users").await.len(), users_before);
    assert_eq!(
        t.get(&format!("/api/v1/users/{evil}")).await.body["role"],
        "responder"
    );
    assert!(t.get(&format!("/api/v1/grants/{grant_id}")).await.body["revoked_at"].is_null());
    assert_eq!(items(&t, "/api/v1/teams").await.len(), 1);

    for path in ["/users", "/teams", "/grants"] {
        let html = admin.html(path).await;
        for raw in ["<script>alert", "<b>team", "<i>svc"] {
            assert!(!html.contains(raw), "{path}: {raw} unescaped");
        }
    }
    assert!(admin
        .html("/users")
        .await
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(admin
        .html("/teams")
        .await
        .contains("&#60;b&#62;team&#60;/b&#62;"));
    let grants = admin.html("/grants").await;
    assert!(grants.contains("&#60;i&#62;svc&#60;/i&#62;") && grants.contains("&#60;script&#62;"));
}
