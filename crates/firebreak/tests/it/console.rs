//! The console over HTTP (the browser tests in e2e/ drive it for real): sign-in with login CSRF,
//! cookie flags, no session fixation, no open redirects, rate-limited and audited failures, CSRF
//! on every form, access decided per page like the API, HTML escaped, strict CSP.

use crate::support::web::*;
use crate::support::*;
use firebreak::client::Client;
use hyper::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sessions_and_csrf() {
    let t = TestServer::start().await;
    user(&t, "ana@example.com", "responder", false).await;
    let (_, key) = t.service_with("web", "generic").await;
    let a = t
        .anon
        .send(
            Method::POST,
            &format!("/ingest/generic/{key}"),
            Some(&json!({"summary": "<img src=x onerror=alert(1)> down", "severity": "critical"})),
        )
        .await
        .unwrap();
    let incident = a.body["incident_id"].as_str().unwrap().to_string();
    let c = t.anon.clone();

    // Pages need a session; the sign-in page has a strict CSP.
    let r = c.send(Method::GET, "/incidents", None).await.unwrap();
    assert_eq!(r.status, 303);
    assert_eq!(r.headers["location"], "/signin?next=/incidents");
    let page = c.send(Method::GET, "/signin", None).await.unwrap();
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));

    // Wrong password, and a form without the sign-in cookie: refused, audited.
    assert_eq!(
        sign_in(&c, "ana@example.com", "wrong password!!", "/incidents")
            .await
            .status,
        401
    );
    let no_cookie = c
        .send_with(
            Method::POST,
            "/signin",
            &[FORM],
            Some(
                format!(
                    "email=ana@example.com&password={}&_csrf=x",
                    PASSWORD.replace(' ', "+")
                )
                .into_bytes(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(no_cookie.status, 403, "login CSRF");
    let failed = t.get("/api/v1/audit?action=session.failed").await;
    assert_eq!(failed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(failed.body["items"][0]["ip"], "127.0.0.1");

    // A good sign-in: a new session cookie with the right flags; an offsite `next` is ignored.
    let ok = sign_in(&c, "ana@example.com", PASSWORD, "//evil.example/").await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.headers["location"], "/incidents", "no open redirect");
    let cookie = set_cookie(&ok, "fb_session").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback");
    let session = cookie_value(&cookie);
    let again = cookie_value(
        &set_cookie(
            &sign_in(&c, "ana@example.com", PASSWORD, "/incidents").await,
            "fb_session",
        )
        .unwrap(),
    );
    assert_ne!(
        session, again,
        "every sign-in issues a fresh session (no fixation)"
    );
    let jar = format!("fb_session={session}");

    let list = c
        .send_with(Method::GET, "/incidents", &[("cookie", &jar)], None)
        .await
        .unwrap();
    assert_eq!(list.status, 200);
    let html = list.body.as_str().unwrap();
    assert!(
        html.contains("&#60;img src=x onerror=alert(1)&#62; down"),
        "alert text is escaped"
    );
    assert!(!html.contains("<img src=x"));
    assert!(
        html.contains("data-testid=\"incident-services\">web</td>"),
        "the list names each incident's services"
    );
    let room = c
        .send_with(
            Method::GET,
            &format!("/incidents/{incident}"),
            &[("cookie", &jar)],
            None,
        )
        .await
        .unwrap();
    let csrf = hidden_csrf(room.body.as_str().unwrap());

    // CSRF: no token, or a wrong one → 403 and nothing changes; the right one acknowledges.
    let ack = format!("/incidents/{incident}/acknowledge");
    for body in ["", "_csrf=0000", "_csrf="] {
        let r = c
            .send_with(
                Method::POST,
                &ack,
                &[FORM, ("cookie", &jar)],
                Some(body.as_bytes().to_vec()),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 403, "{body:?}");
    }
    assert_eq!(
        t.get(&format!("/api/v1/incidents/{incident}")).await.body["status"],
        "triggered"
    );
    let r = c
        .send_with(
            Method::POST,
            &ack,
            &[FORM, ("cookie", &jar)],
            Some(format!("_csrf={csrf}").into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 303);
    assert_eq!(
        t.get(&format!("/api/v1/incidents/{incident}")).await.body["status"],
        "acknowledged"
    );
    let tl = t
        .get(&format!("/api/v1/incidents/{incident}/timeline"))
        .await;
    let ack_event = tl.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "incident.acknowledged")
        .unwrap()
        .clone();
    assert_eq!(
        ack_event["actor"]["name"], "ana@example.com",
        "the person, not a token, acted"
    );

    // Signing out revokes the session.
    let out = c
        .send_with(
            Method::POST,
            "/signout",
            &[FORM, ("cookie", &jar)],
            Some(format!("_csrf={csrf}").into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(out.status, 303);
    t.clock.advance(firebreak_core::DurationMs::from_secs(11)); // past the token cache
    let after = c
        .send_with(Method::GET, "/incidents", &[("cookie", &jar)], None)
        .await
        .unwrap();
    assert_eq!(after.status, 303, "the old cookie no longer works");

    // Sessions expire.
    t.clock
        .advance(firebreak_core::DurationMs::parse("13h").unwrap());
    let expired = c
        .send_with(
            Method::GET,
            "/incidents",
            &[("cookie", &format!("fb_session={again}"))],
            None,
        )
        .await
        .unwrap();
    assert_eq!(expired.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_rate_limited() {
    let t = TestServer::start().await;
    user(&t, "bob@example.com", "observer", false).await;
    for _ in 0..10 {
        assert_eq!(
            sign_in(&t.anon, "bob@example.com", "not the password", "/")
                .await
                .status,
            401
        );
    }
    assert_eq!(
        sign_in(&t.anon, "bob@example.com", PASSWORD, "/")
            .await
            .status,
        429,
        "even the right password waits"
    );
    t.clock.advance(firebreak_core::DurationMs::from_secs(60));
    assert_eq!(
        sign_in(&t.anon, "bob@example.com", PASSWORD, "/")
            .await
            .status,
        303
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_same_access_rules_as_the_api() {
    let t = TestServer::start().await;
    let (sa, key_a) = t.service_with("granted", "generic").await;
    let (_, key_b) = t.service_with("other", "generic").await;
    let inc = |key: String| {
        let anon = t.anon.clone();
        async move {
            let a = anon
                .send(
                    Method::POST,
                    &format!("/ingest/generic/{key}"),
                    Some(&json!({"summary": format!("down {key}"), "severity": "error"})),
                )
                .await
                .unwrap();
            a.body["incident_id"].as_str().unwrap().to_string()
        }
    };
    let (ia, ib) = (inc(key_a).await, inc(key_b).await);
    let ext = user(&t, "vendor@example.com", "responder", true).await;
    let g = t.post("/api/v1/grants", json!({"user_id": ext, "role": "responder", "service_ids": [sa], "expires_at": "2026-09-01T00:00:00Z"})).await;
    assert_eq!(g.status, 201);
    user(&t, "sam@example.com", "stakeholder", false).await;
    user(&t, "olga@example.com", "observer", false).await;

    let session = |email: &'static str| {
        let c = t.anon.clone();
        async move {
            format!(
                "fb_session={}",
                cookie_value(
                    &set_cookie(&sign_in(&c, email, PASSWORD, "/").await, "fb_session").unwrap()
                )
            )
        }
    };
    let vendor = session("vendor@example.com").await;
    let list = t
        .anon
        .send_with(Method::GET, "/incidents", &[("cookie", &vendor)], None)
        .await
        .unwrap();
    let html = list.body.as_str().unwrap().to_string();
    assert!(html.contains(&format!("data-incident-id=\"{ia}\"")));
    assert!(
        !html.contains(&format!("data-incident-id=\"{ib}\"")),
        "the other service's incident is not listed"
    );
    let other = t
        .anon
        .send_with(
            Method::GET,
            &format!("/incidents/{ib}"),
            &[("cookie", &vendor)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(other.status, 403);
    let live = t
        .anon
        .send_with(
            Method::GET,
            &format!("/incidents/{ib}/live"),
            &[("cookie", &vendor)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(live.status, 403);
    let mine = t
        .anon
        .send_with(
            Method::GET,
            &format!("/incidents/{ia}"),
            &[("cookie", &vendor)],
            None,
        )
        .await
        .unwrap();
    assert!(
        mine.body
            .as_str()
            .unwrap()
            .contains("data-testid=\"acknowledge\""),
        "a responder grant may act"
    );

    let olga = session("olga@example.com").await;
    let room = t
        .anon
        .send_with(
            Method::GET,
            &format!("/incidents/{ia}"),
            &[("cookie", &olga)],
            None,
        )
        .await
        .unwrap();
    let html = room.body.as_str().unwrap().to_string();
    assert!(
        html.contains("data-testid=\"alerts\"") && !html.contains("data-testid=\"acknowledge\""),
        "observers read, no buttons"
    );
    let csrf = hidden_csrf(&html);
    let post = t
        .anon
        .send_with(
            Method::POST,
            &format!("/incidents/{ia}/acknowledge"),
            &[FORM, ("cookie", &olga)],
            Some(format!("_csrf={csrf}").into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(post.status, 403, "and the form post is refused too");

    let sam = session("sam@example.com").await;
    let room = t
        .anon
        .send_with(
            Method::GET,
            &format!("/incidents/{ia}"),
            &[("cookie", &sam)],
            None,
        )
        .await
        .unwrap();
    let html = room.body.as_str().unwrap().to_string();
    assert_eq!(room.status, 200);
    assert!(
        !html.contains("data-testid=\"alerts\"") && !html.contains("data-testid=\"timeline\""),
        "stakeholders see the summary only"
    );

    let denied = t.get("/api/v1/audit?outcome=denied").await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(denied, 3, "each refused page is audited");
    // Page rules are unique (one rule per method and path).
    let rules = firebreak::web::PAGE_RULES;
    for (i, (m, p, _)) in rules.iter().enumerate() {
        assert!(
            !rules[i + 1..].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
            "{m} {p} has two rules"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_admin_signs_in_and_passwords_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--database-url",
        &format!("sqlite://{}", dir.path().join("b.db").display()),
    ])
    .env("FIREBREAK_BOOTSTRAP_TOKEN", TOKEN)
    .env("FIREBREAK_BOOTSTRAP_PASSWORD", PASSWORD)
    .env("FIREBREAK_BOOTSTRAP_EMAIL", "root@example.com");
    let (server, lines) = ChildServer::spawn_cmd(cmd, dir.path());
    assert!(
        lines.iter().any(|l| l.contains("sign in to the console")),
        "{lines:?}"
    );
    let c = Client::new(&server.url, None).unwrap();
    let ok = sign_in(&c, "root@example.com", PASSWORD, "/incidents").await;
    assert_eq!(ok.status, 303, "{:?}", ok.body);

    // Changing one's own password needs the current one.
    let admin = Client::new(&server.url, Some(TOKEN.into())).unwrap();
    let wrong = admin
        .send(
            Method::POST,
            "/api/v1/me/password",
            Some(&json!({"current_password": "nope", "new_password": "a brand new secret"})),
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 403);
    let short = admin
        .send(
            Method::POST,
            "/api/v1/me/password",
            Some(&json!({"current_password": PASSWORD, "new_password": "short"})),
        )
        .await
        .unwrap();
    assert_eq!(short.status, 400);
    let changed = admin
        .send(
            Method::POST,
            "/api/v1/me/password",
            Some(&json!({"current_password": PASSWORD, "new_password": "a brand new secret"})),
        )
        .await
        .unwrap();
    assert_eq!(changed.status, 200);
    assert_eq!(
        sign_in(&c, "root@example.com", PASSWORD, "/").await.status,
        401
    );
    assert_eq!(
        sign_in(&c, "root@example.com", "a brand new secret", "/")
            .await
            .status,
        303
    );
    let audit = admin
        .call(Method::GET, "/api/v1/audit/export", None)
        .await
        .unwrap();
    assert!(
        !audit.as_str().unwrap().contains("brand new secret"),
        "passwords never reach the audit log"
    );

    // Token creation is rate limited per caller.
    let mut last = 0;
    for n in 0..31 {
        last = admin
            .send(
                Method::POST,
                "/api/v1/tokens",
                Some(&json!({"name": format!("t{n}")})),
            )
            .await
            .unwrap()
            .status
            .as_u16();
    }
    assert_eq!(last, 429);
}

/// Sign-in with password + TOTP: enrol through the API, confirm with a first code, then the
/// console asks for a code; a code works once; a recovery code works once; an admin can reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_totp_and_recovery_codes() {
    use firebreak_core::{totp, Clock};
    let t = TestServer::start().await;
    let uid = user(&t, "mia@example.com", "responder", false).await;
    let mia = {
        let ok = sign_in(&t.anon, "mia@example.com", PASSWORD, "/").await;
        assert_eq!(ok.status, 303);
        let session = cookie_value(&set_cookie(&ok, "fb_session").unwrap());
        Client::new(&t.url(), Some(session)).unwrap()
    };
    let start = mia
        .send(Method::POST, "/api/v1/me/mfa", None)
        .await
        .unwrap();
    assert_eq!(start.status, 200, "{:?}", start.body);
    let secret_b32 = start.body["secret"].as_str().unwrap().to_string();
    assert!(start.body["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/firebreak:mia@example.com?secret="));
    let secret = totp::base32_decode(&secret_b32).unwrap();
    let wrong = mia
        .send(
            Method::POST,
            "/api/v1/me/mfa/confirm",
            Some(&json!({"code": "000000"})),
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 400);
    let code = totp::code_at(&secret, t.clock.now()).unwrap();
    let on = mia
        .send(
            Method::POST,
            "/api/v1/me/mfa/confirm",
            Some(&json!({"code": code})),
        )
        .await
        .unwrap();
    assert_eq!(on.status, 200, "{:?}", on.body);
    let recovery: Vec<String> = on.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(
        t.get(&format!("/api/v1/users/{uid}")).await.body["mfa_enabled"],
        true
    );

    // The password alone no longer signs in; the confirming code cannot be replayed.
    assert_eq!(
        sign_in(&t.anon, "mia@example.com", PASSWORD, "/")
            .await
            .status,
        401
    );
    let with = |code: String| {
        let c = t.anon.clone();
        async move {
            let page = c.send(Method::GET, "/signin", None).await.unwrap();
            let login = cookie_value(&set_cookie(&page, "fb_signin").unwrap());
            let csrf = hidden_csrf(page.body.as_str().unwrap());
            let body = format!(
                "email=mia@example.com&password={}&code={code}&_csrf={csrf}&next=/",
                PASSWORD.replace(' ', "+")
            );
            c.send_with(
                Method::POST,
                "/signin",
                &[FORM, ("cookie", &format!("fb_signin={login}"))],
                Some(body.into_bytes()),
            )
            .await
            .unwrap()
            .status
        }
    };
    assert_eq!(with(code.clone()).await, 401, "a code works once");
    t.clock.advance(firebreak_core::DurationMs::from_secs(30));
    let next = totp::code_at(&secret, t.clock.now()).unwrap();
    assert_eq!(with(next.clone()).await, 303);
    assert_eq!(with(next).await, 401, "and not twice");
    assert_eq!(
        with(recovery[0].clone()).await,
        303,
        "a recovery code stands in for the device"
    );
    assert_eq!(with(recovery[0].clone()).await, 401, "once");
    assert_eq!(
        with(recovery[1].to_uppercase()).await,
        303,
        "case and dashes do not matter"
    );

    // The console page shows the state; an admin resets a lost device.
    let page = t.anon.send(Method::GET, "/signin", None).await.unwrap();
    assert!(page.body.as_str().unwrap().contains("data-testid=\"code\""));
    let reset = t
        .client
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{uid}"),
            Some(&json!({"mfa": false})),
        )
        .await
        .unwrap();
    assert_eq!(reset.status, 200);
    assert_eq!(reset.body["mfa_enabled"], false);
    assert_eq!(
        sign_in(&t.anon, "mia@example.com", PASSWORD, "/")
            .await
            .status,
        303
    );
    let audit = t
        .get("/api/v1/audit/export")
        .await
        .body
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !audit.contains(&secret_b32),
        "the TOTP secret never reaches the audit log"
    );
    assert!(!audit.contains(&recovery[2]), "nor do recovery codes");
}

/// An admin requires a second factor per role; sensitive actions ask for it again when it is
/// older than the step-up window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_required_per_role_and_step_up() {
    use firebreak_core::{totp, Clock, DurationMs};
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        firebreak_store_sqlite::SqliteStore::open(dir.path().join("fb.db")).unwrap(),
    );
    let mut config = test_config(None);
    config.mfa_required_roles = vec![firebreak_core::access::Role::Responder];
    config.mfa_step_up_window = DurationMs::parse("15m").unwrap();
    let t = TestServer::start_with(store, dir, config).await;
    user(&t, "rex@example.com", "responder", false).await;

    // Signed in without a second factor: only the enrolment page opens.
    let ok = sign_in(&t.anon, "rex@example.com", PASSWORD, "/incidents").await;
    let jar = format!(
        "fb_session={}",
        cookie_value(&set_cookie(&ok, "fb_session").unwrap())
    );
    let r = t
        .anon
        .send_with(Method::GET, "/incidents", &[("cookie", &jar)], None)
        .await
        .unwrap();
    assert_eq!(r.status, 303);
    assert_eq!(r.headers["location"], "/mfa");
    assert_eq!(
        t.anon
            .send_with(Method::GET, "/mfa", &[("cookie", &jar)], None)
            .await
            .unwrap()
            .status,
        200
    );

    // Enrol (the session token also works as a bearer token), then sign in with a code.
    let bearer = Client::new(&t.url(), Some(cookie_value(&jar))).unwrap();
    let secret = totp::base32_decode(
        bearer
            .call(Method::POST, "/api/v1/me/mfa", None)
            .await
            .unwrap()["secret"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let code = totp::code_at(&secret, t.clock.now()).unwrap();
    bearer
        .call(
            Method::POST,
            "/api/v1/me/mfa/confirm",
            Some(&json!({"code": code})),
        )
        .await
        .unwrap();
    t.clock.advance(DurationMs::from_secs(30));
    let page = t.anon.send(Method::GET, "/signin", None).await.unwrap();
    let login = cookie_value(&set_cookie(&page, "fb_signin").unwrap());
    let csrf = hidden_csrf(page.body.as_str().unwrap());
    let code = totp::code_at(&secret, t.clock.now()).unwrap();
    let body = format!(
        "email=rex@example.com&password={}&code={code}&_csrf={csrf}&next=/incidents",
        PASSWORD.replace(' ', "+")
    );
    let ok = t
        .anon
        .send_with(
            Method::POST,
            "/signin",
            &[FORM, ("cookie", &format!("fb_signin={login}"))],
            Some(body.into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 303);
    let jar = format!(
        "fb_session={}",
        cookie_value(&set_cookie(&ok, "fb_session").unwrap())
    );
    let tokens = t
        .anon
        .send_with(Method::GET, "/tokens", &[("cookie", &jar)], None)
        .await
        .unwrap();
    assert_eq!(tokens.status, 200, "enrolled: the console opens");
    let csrf = hidden_csrf(tokens.body.as_str().unwrap());
    let make = |name: &'static str| {
        let (c, jar, csrf) = (t.anon.clone(), jar.clone(), csrf.clone());
        async move {
            let body = format!("_csrf={csrf}&name={name}&scope=read");
            c.send_with(
                Method::POST,
                "/tokens",
                &[
                    FORM,
                    ("cookie", &jar),
                    ("referer", "http://127.0.0.1/tokens"),
                ],
                Some(body.into_bytes()),
            )
            .await
            .unwrap()
        }
    };
    // Within the window the sensitive action goes through.
    let fresh = make("fresh").await;
    assert!(
        fresh
            .headers
            .get("location")
            .is_none_or(|l| !l.to_str().unwrap().starts_with("/mfa/verify")),
        "{:?}",
        fresh.status
    );
    assert_eq!(fresh.status, 200, "the new token is shown");

    // Sixteen minutes later it asks for the second factor again, then lets it through.
    t.clock.advance(DurationMs::parse("16m").unwrap());
    let stale = make("stale").await;
    assert_eq!(stale.status, 303);
    assert_eq!(stale.headers["location"], "/mfa/verify?next=/tokens");
    let code = totp::code_at(&secret, t.clock.now()).unwrap();
    let v = t
        .anon
        .send_with(
            Method::POST,
            "/mfa/verify",
            &[FORM, ("cookie", &jar)],
            Some(format!("_csrf={csrf}&next=/tokens&code={code}").into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(v.status, 303);
    assert_eq!(v.headers["location"], "/tokens");
    assert_eq!(make("again").await.status, 200, "fresh again");
    // Reading is never gated.
    assert_eq!(
        t.anon
            .send_with(Method::GET, "/incidents", &[("cookie", &jar)], None)
            .await
            .unwrap()
            .status,
        200
    );
}
