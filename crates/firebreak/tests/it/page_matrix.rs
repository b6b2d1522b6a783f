//! The page matrix: every console page route × every kind of signed-in caller, against a
//! hand-written table of who may do what — the HTML half of `access_matrix`. Every rule in
//! `firebreak::web::PAGE_RULES` needs a row here and every row a rule, so a page added without
//! an access rule (or without an expectation) fails this test. Denials are 403 HTML pages and
//! each one is in the audit log; without a session every page sends the browser to sign in.

use crate::support::web::*;
use crate::support::*;
use firebreak::client::Answer;
use firebreak::web::PAGE_RULES;
use hyper::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

// The callers, as bits of an "allowed" set (as in `access_matrix`).
const ADMIN: u8 = 1;
const MANAGER: u8 = 2; // team A
const RESPONDER: u8 = 4; // team A
const OBSERVER: u8 = 8;
const STAKEHOLDER: u8 = 16;
/// External, with a responder grant on service A only.
const EXT: u8 = 32;
/// External, without any grant.
const EXT_NONE: u8 = 64;

const EVERYONE: u8 = ADMIN | MANAGER | RESPONDER | OBSERVER | STAKEHOLDER | EXT | EXT_NONE;
const INTERNAL: u8 = ADMIN | MANAGER | RESPONDER | OBSERVER | STAKEHOLDER;
/// Internal users who may read configuration and incident details.
const READERS: u8 = ADMIN | MANAGER | RESPONDER | OBSERVER;
/// Internal users who act on incidents of team A (and of team-less services).
const ACTORS: u8 = ADMIN | MANAGER | RESPONDER;
const CONFIG_A: u8 = ADMIN | MANAGER;

/// Grants made here end a week after the test clock's start.
const GRANT_EXPIRY: &str = "2026-08-28T09:00:00Z";

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn html(a: &Answer) -> &str {
    a.body.as_str().unwrap_or("")
}

struct Caller {
    bit: u8,
    name: &'static str,
    user_id: String,
    /// `fb_session=...`
    jar: String,
    /// The session's CSRF token.
    csrf: String,
}

/// A service of the fixture with its incident.
struct Svc {
    id: String,
    incident: String,
}

struct World {
    t: TestServer,
    team_c: String,
    a: Svc,
    b: Svc,
    zero: Svc,
    /// An internal user no caller is, for user and token rows.
    dummy: String,
    /// An external user no caller is, for grant rows.
    dummy_ext: String,
    callers: Vec<Caller>,
    counter: AtomicUsize,
}

/// A fresh object made (through the API, as the bootstrap admin) for each request, so
/// destructive requests do not depend on order.
#[derive(Clone)]
enum Fresh {
    /// An incident declared on this service: `/incidents/{id}/resolve`.
    Incident(String),
    /// A token of the caller: `/tokens/{id}/revoke`.
    OwnToken,
    /// A token of the dummy user: `/tokens/{id}/revoke`.
    OtherToken,
    /// A grant on the dummy external user: `/grants/{id}/revoke`.
    Grant,
}

enum Path {
    Fixed(String),
    Fresh(Fresh),
}

/// Where an allowed request's 303 goes.
#[derive(Clone, Copy)]
enum Loc {
    /// Not a redirect.
    None,
    To(&'static str),
    /// The request's path without its last segment (`/incidents/7/resolve` → `/incidents/7`).
    Parent,
}

type MakeForm = Box<dyn Fn(usize) -> String>;

struct Row {
    method: &'static str,
    pattern: &'static str,
    /// Which variant this row is (the object the path or form names).
    what: &'static str,
    path: Path,
    /// Form fields besides `_csrf` (made per request; `n` is unique per request).
    form: Option<MakeForm>,
    allowed: u8,
    /// The status an allowed caller gets.
    ok: u16,
    location: Loc,
}

fn row(method: &'static str, pattern: &'static str, what: &'static str, allowed: u8) -> Row {
    Row {
        method,
        pattern,
        what,
        path: Path::Fixed(pattern.to_string()),
        form: None,
        allowed,
        ok: 200,
        location: Loc::None,
    }
}

impl Row {
    /// The concrete path: the pattern with `{id}` filled in.
    fn id(mut self, id: &str) -> Self {
        self.path = Path::Fixed(self.pattern.replace("{id}", id));
        self
    }
    fn at(mut self, path: &str) -> Self {
        self.path = Path::Fixed(path.to_string());
        self
    }
    fn fresh(mut self, fresh: Fresh) -> Self {
        self.path = Path::Fresh(fresh);
        self
    }
    fn form(mut self, f: impl Fn(usize) -> String + 'static) -> Self {
        self.form = Some(Box::new(f));
        self
    }
    /// Allowed callers get this status (not 200).
    fn ok(mut self, status: u16) -> Self {
        self.ok = status;
        self
    }
    /// Allowed callers get a 303 to here.
    fn to(mut self, location: Loc) -> Self {
        self.ok = 303;
        self.location = location;
        self
    }
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

impl World {
    async fn call(&self, method: Method, path: &str, body: Value) -> Value {
        let a = self
            .t
            .client
            .send(method.clone(), path, Some(&body))
            .await
            .unwrap();
        assert!(
            a.status.is_success(),
            "setup {method} {path} {body}: {} {}",
            a.status,
            a.body
        );
        a.body
    }

    fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    async fn token_of(&self, user_id: &str) -> String {
        let n = self.next();
        id_of(
            &self
                .call(
                    Method::POST,
                    "/api/v1/tokens",
                    json!({"user_id": user_id, "name": format!("token-{n}")}),
                )
                .await,
        )
    }

    async fn path_for(&self, path: &Path, caller_user: &str) -> String {
        let fresh = match path {
            Path::Fixed(p) => return p.clone(),
            Path::Fresh(f) => f,
        };
        match fresh {
            Fresh::Incident(service) => {
                let n = self.next();
                let i = self
                    .call(
                        Method::POST,
                        "/api/v1/incidents",
                        json!({"title": format!("declared {n}"), "severity": "SEV3", "service_ids": [service]}),
                    )
                    .await;
                format!("/incidents/{}/resolve", id_of(&i))
            }
            Fresh::OwnToken => format!("/tokens/{}/revoke", self.token_of(caller_user).await),
            Fresh::OtherToken => format!("/tokens/{}/revoke", self.token_of(&self.dummy).await),
            Fresh::Grant => {
                let g = self
                    .call(
                        Method::POST,
                        "/api/v1/grants",
                        json!({"user_id": self.dummy_ext, "role": "observer", "service_ids": [self.b.id], "expires_at": GRANT_EXPIRY}),
                    )
                    .await;
                format!("/grants/{}/revoke", id_of(&g))
            }
        }
    }

    /// A request of a caller's session, with the session's CSRF token on a form.
    async fn send(&self, c: &Caller, m: &str, path: &str, form: Option<String>) -> Answer {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        if method == Method::GET {
            return self
                .t
                .anon
                .send_with(method, path, &[("cookie", &c.jar)], None)
                .await
                .unwrap();
        }
        let mut body = format!("_csrf={}", c.csrf);
        if let Some(f) = form.filter(|f| !f.is_empty()) {
            body.push('&');
            body.push_str(&f);
        }
        self.t
            .anon
            .send_with(
                method,
                path,
                &[FORM, ("cookie", &c.jar)],
                Some(body.into_bytes()),
            )
            .await
            .unwrap()
    }
}

async fn setup() -> World {
    let t = TestServer::start().await;
    let mut w = World {
        t,
        team_c: String::new(),
        a: Svc {
            id: String::new(),
            incident: String::new(),
        },
        b: Svc {
            id: String::new(),
            incident: String::new(),
        },
        zero: Svc {
            id: String::new(),
            incident: String::new(),
        },
        dummy: String::new(),
        dummy_ext: String::new(),
        callers: Vec::new(),
        counter: AtomicUsize::new(0),
    };
    let team = |name: &'static str| json!({"name": name, "member_ids": []});
    let team_a = id_of(&w.call(Method::POST, "/api/v1/teams", team("team-a")).await);
    let team_b = id_of(&w.call(Method::POST, "/api/v1/teams", team("team-b")).await);
    w.team_c = id_of(&w.call(Method::POST, "/api/v1/teams", team("team-c")).await);

    for (name, team) in [("sA", Some(&team_a)), ("sB", Some(&team_b)), ("s0", None)] {
        let mut body = json!({"name": name});
        if let Some(team) = team {
            body["team_id"] = json!(team);
        }
        let id = id_of(&w.call(Method::POST, "/api/v1/services", body).await);
        let i = w
            .call(
                Method::POST,
                &format!("/api/v1/services/{id}/integrations"),
                json!({"kind": "generic", "name": format!("{name}-generic")}),
            )
            .await;
        let key = i["key"].as_str().unwrap();
        let a =
            w.t.anon
                .send(
                    Method::POST,
                    &format!("/ingest/generic/{key}"),
                    Some(&json!({"summary": format!("{name} down"), "severity": "critical"})),
                )
                .await
                .unwrap();
        assert_eq!(a.status, 202, "{}", a.body);
        let incident = a.body["incident_id"]
            .as_str()
            .unwrap_or_else(|| panic!("the alert of {name} opened no incident: {}", a.body))
            .to_string();
        let svc = Svc { id, incident };
        match name {
            "sA" => w.a = svc,
            "sB" => w.b = svc,
            _ => w.zero = svc,
        }
    }

    let users: [(u8, &str, &str, bool, bool); 7] = [
        (ADMIN, "admin", "admin", false, false),
        (MANAGER, "manager", "manager", false, true),
        (RESPONDER, "responder", "responder", false, true),
        (OBSERVER, "observer", "observer", false, false),
        (STAKEHOLDER, "stakeholder", "stakeholder", false, false),
        (EXT, "external+grant", "responder", true, false),
        (EXT_NONE, "external", "responder", true, false),
    ];
    let mut ids = Vec::new();
    for (bit, name, role, external, in_team_a) in users {
        let login = name.replace('+', "-");
        let mut body = json!({"email": format!("{login}@example.com"), "name": login, "role": role, "external": external, "password": PASSWORD});
        if in_team_a {
            body["team_ids"] = json!([team_a]);
        }
        let user = w.call(Method::POST, "/api/v1/users", body).await;
        assert_eq!(user["role"], role);
        assert_eq!(user["external"], external);
        ids.push((bit, name, login, id_of(&user)));
    }
    let ext = &ids.iter().find(|u| u.0 == EXT).unwrap().3;
    w.call(
        Method::POST,
        "/api/v1/grants",
        json!({"user_id": ext, "role": "responder", "service_ids": [w.a.id], "expires_at": GRANT_EXPIRY}),
    )
    .await;
    w.dummy = id_of(
        &w.call(
            Method::POST,
            "/api/v1/users",
            json!({"email": "dummy@example.com", "name": "dummy", "role": "observer"}),
        )
        .await,
    );
    w.dummy_ext = id_of(
        &w.call(
            Method::POST,
            "/api/v1/users",
            json!({"email": "vendor@example.com", "name": "vendor", "role": "responder", "external": true}),
        )
        .await,
    );
    let members = w.t.get(&format!("/api/v1/teams/{team_a}")).await;
    assert_eq!(members.status, 200);
    assert_eq!(
        members.body["member_ids"].as_array().unwrap().len(),
        2,
        "manager and responder are in team A: {}",
        members.body
    );

    // Each caller signs in through the form; the CSRF token comes from a page of the session.
    for (bit, name, login, user_id) in ids {
        let signed = sign_in(
            &w.t.anon,
            &format!("{login}@example.com"),
            PASSWORD,
            "/incidents",
        )
        .await;
        assert_eq!(signed.status, 303, "{name} signs in: {}", signed.body);
        assert_eq!(header(&signed, "location"), "/incidents");
        let jar = format!(
            "fb_session={}",
            cookie_value(&set_cookie(&signed, "fb_session").unwrap())
        );
        let tokens =
            w.t.anon
                .send_with(Method::GET, "/tokens", &[("cookie", &jar)], None)
                .await
                .unwrap();
        assert_eq!(tokens.status, 200, "{name}: {}", tokens.body);
        let csrf = hidden_csrf(html(&tokens));
        w.callers.push(Caller {
            bit,
            name,
            user_id,
            jar,
            csrf,
        });
    }
    w
}

/// The hand-written table: for each page route (and each object where team scoping or grants
/// make a difference), who is allowed and what they get.
fn table(w: &World) -> Vec<Row> {
    let (a, b, z) = (&w.a, &w.b, &w.zero);
    let generic = |n: usize| format!("kind=generic&name=added-{n}");
    let (dummy, dummy_ext, sb, team_c) = (&w.dummy, w.dummy_ext.clone(), b.id.clone(), &w.team_c);
    vec![
        // Incidents.
        row("GET", "/incidents", "", INTERNAL | EXT),
        row("GET", "/incidents/live", "", INTERNAL | EXT),
        row("GET", "/incidents/{id}", "sA", INTERNAL | EXT).id(&a.incident),
        row("GET", "/incidents/{id}", "sB", INTERNAL).id(&b.incident),
        row("GET", "/incidents/{id}", "s0", INTERNAL).id(&z.incident),
        row("GET", "/incidents/{id}/live", "sA", INTERNAL | EXT).id(&a.incident),
        row("GET", "/incidents/{id}/live", "sB", INTERNAL).id(&b.incident),
        row("GET", "/incidents/{id}/live", "s0", INTERNAL).id(&z.incident),
        row("POST", "/incidents/{id}/acknowledge", "sA", ACTORS | EXT)
            .id(&a.incident)
            .to(Loc::Parent),
        row("POST", "/incidents/{id}/acknowledge", "sB", ADMIN)
            .id(&b.incident)
            .to(Loc::Parent),
        row("POST", "/incidents/{id}/acknowledge", "s0", ACTORS)
            .id(&z.incident)
            .to(Loc::Parent),
        row("POST", "/incidents/{id}/resolve", "sA", ACTORS | EXT)
            .fresh(Fresh::Incident(a.id.clone()))
            .to(Loc::Parent),
        row("POST", "/incidents/{id}/resolve", "sB", ADMIN)
            .fresh(Fresh::Incident(b.id.clone()))
            .to(Loc::Parent),
        row("POST", "/incidents/{id}/resolve", "s0", ACTORS)
            .fresh(Fresh::Incident(z.id.clone()))
            .to(Loc::Parent),
        // The second factor: nobody here has one, so none of these asks for a step-up.
        row("GET", "/mfa", "", EVERYONE),
        row("POST", "/mfa/start", "", EVERYONE),
        // The right code cannot be known here: a wrong one is a 400, past access control.
        row("POST", "/mfa/confirm", "", EVERYONE)
            .form(|_| "code=000000".into())
            .ok(400),
        // Off already, so turning it off needs no valid code.
        row("POST", "/mfa/off", "", EVERYONE)
            .form(|_| "code=000000".into())
            .to(Loc::To("/mfa")),
        row("GET", "/mfa/verify", "", EVERYONE).at("/mfa/verify?next=/tokens"),
        // Nobody here has a second factor, so there is nothing to verify: a 400, past access.
        row("POST", "/mfa/verify", "", EVERYONE)
            .form(|_| "code=000000&next=/tokens".into())
            .ok(400),
        // Alerts and services.
        row("GET", "/alerts", "", READERS | EXT),
        row("GET", "/services", "", READERS | EXT),
        row("GET", "/services/{id}", "sA", READERS | EXT).id(&a.id),
        row("GET", "/services/{id}", "sB", READERS).id(&b.id),
        row("GET", "/services/{id}", "s0", READERS).id(&z.id),
        row("POST", "/services/{id}/integrations", "sA", CONFIG_A)
            .id(&a.id)
            .form(generic),
        row("POST", "/services/{id}/integrations", "sB", ADMIN)
            .id(&b.id)
            .form(generic),
        row("POST", "/services/{id}/integrations", "s0", ADMIN)
            .id(&z.id)
            .form(generic),
        // Tokens: everyone manages their own; admins anyone's (the handler's check).
        row("GET", "/tokens", "", EVERYONE),
        row("POST", "/tokens", "", EVERYONE)
            .form(|n| format!("name=mine-{n}&scope=read&expires_in=90d")),
        row("POST", "/tokens/{id}/revoke", "own", EVERYONE)
            .fresh(Fresh::OwnToken)
            .to(Loc::To("/tokens")),
        row("POST", "/tokens/{id}/revoke", "another user's", ADMIN)
            .fresh(Fresh::OtherToken)
            .to(Loc::To("/tokens")),
        // Audit.
        row("GET", "/audit", "", ADMIN),
        // Users, teams and grants.
        row("GET", "/users", "", ADMIN),
        row("POST", "/users", "", ADMIN)
            .form(|n| format!("email=new-{n}@example.com&name=new+{n}&role=observer"))
            .to(Loc::To("/users")),
        row("POST", "/users/{id}/role", "", ADMIN)
            .id(dummy)
            .form(|_| "role=observer".into())
            .to(Loc::To("/users")),
        row("POST", "/users/{id}/disable", "", ADMIN)
            .id(dummy)
            .to(Loc::To("/users")),
        row("POST", "/users/{id}/enable", "", ADMIN)
            .id(dummy)
            .to(Loc::To("/users")),
        row("POST", "/users/{id}/password", "", ADMIN)
            .id(dummy)
            .form(|_| "password=matrix+password+123".into())
            .to(Loc::To("/users")),
        // Teams name their members: not something an external user's grant shows.
        row("GET", "/teams", "", READERS),
        row("POST", "/teams", "", ADMIN)
            .form(|n| format!("name=new-team-{n}"))
            .to(Loc::To("/teams")),
        row("POST", "/teams/{id}/members", "team C", ADMIN)
            .id(team_c)
            .to(Loc::To("/teams")),
        row("GET", "/grants", "", ADMIN),
        row("POST", "/grants", "", ADMIN)
            .form(move |_| {
                format!(
                    "user_id={dummy_ext}&role=observer&service_id={sb}&expires_at=2026-08-28T09:00"
                )
            })
            .to(Loc::To("/grants")),
        row("POST", "/grants/{id}/revoke", "", ADMIN)
            .fresh(Fresh::Grant)
            .to(Loc::To("/grants")),
        // Last: it ends the sessions the rows above use.
        row("POST", "/signout", "", EVERYONE).to(Loc::To("/signin")),
    ]
}

/// " (sA)" or "" for a row that has a single variant.
fn what(r: &Row) -> String {
    if r.what.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.what)
    }
}

/// Where an allowed request should be sent, if anywhere.
fn expected_location(r: &Row, path: &str) -> Option<String> {
    match r.location {
        Loc::None => None,
        Loc::To(l) => Some(l.to_string()),
        Loc::Parent => Some(path.rsplit_once('/').unwrap().0.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_for_every_role() {
    let w = setup().await;
    let rows = table(&w);

    // The table and the page rules cover the same routes.
    let ruled: BTreeSet<(String, String)> = PAGE_RULES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        ruled.len(),
        PAGE_RULES.len(),
        "PAGE_RULES has a route twice"
    );
    let expected: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.pattern.to_string()))
        .collect();
    let no_row: Vec<_> = ruled.difference(&expected).collect();
    assert!(
        no_row.is_empty(),
        "pages with an access rule but no row in this test's table: {no_row:?}"
    );
    let no_rule: Vec<_> = expected.difference(&ruled).collect();
    assert!(
        no_rule.is_empty(),
        "rows in this test's table without a page rule: {no_rule:?}"
    );
    assert_eq!(
        rows.last().map(|r| r.pattern),
        Some("/signout"),
        "sign-out comes last"
    );

    // The matrix.
    let mut wrong = Vec::new();
    let mut denials: Vec<(String, String)> = Vec::new();
    let mut requests = 0;
    for r in &rows {
        for c in &w.callers {
            let path = w.path_for(&r.path, &c.user_id).await;
            let form = r.form.as_ref().map(|f| f(w.next()));
            let a = w.send(c, r.method, &path, form).await;
            requests += 1;
            if a.status == 403 {
                // The audit log names the page by its path, without the query.
                let route = path.split('?').next().unwrap_or(&path);
                denials.push((c.user_id.clone(), format!("{} {route}", r.method)));
            }
            let location = header(&a, "location");
            let label = format!(
                "{} {}{} as {}: {} {location:?} {}",
                r.method,
                r.pattern,
                what(r),
                c.name,
                a.status,
                html(&a).chars().take(300).collect::<String>()
            );
            if r.allowed & c.bit != 0 {
                let want = expected_location(r, &path);
                if a.status != r.ok {
                    wrong.push(format!("expected allowed ({}): {label}", r.ok));
                } else if want.as_deref().is_some_and(|l| l != location) {
                    wrong.push(format!("expected a 303 to {want:?}: {label}"));
                }
            } else if a.status != 403 {
                wrong.push(format!("expected 403: {label}"));
            } else if !header(&a, "content-type").starts_with("text/html")
                || !html(&a).to_lowercase().contains("not allowed: ")
            {
                wrong.push(format!("403 is not the HTML refusal page: {label}"));
            }
        }

        // Without a session: to the sign-in page, for every page.
        let path = w.path_for(&r.path, &w.callers[0].user_id).await;
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        let a = if method == Method::GET {
            w.t.anon.send(method, &path, None).await.unwrap()
        } else {
            let form = r.form.as_ref().map(|f| f(w.next())).unwrap_or_default();
            w.t.anon
                .send_with(
                    method,
                    &path,
                    &[FORM],
                    Some(format!("_csrf=x&{form}").into_bytes()),
                )
                .await
                .unwrap()
        };
        let want = if r.method == "GET" {
            format!("/signin?next={}", path.split('?').next().unwrap())
        } else {
            "/signin?next=/incidents".to_string()
        };
        if a.status != 303 || header(&a, "location") != want {
            wrong.push(format!(
                "expected a 303 to {want} without a session: {} {}{}: {} {:?}",
                r.method,
                r.pattern,
                what(r),
                a.status,
                header(&a, "location")
            ));
        }
    }

    // Signed out: the sessions are gone.
    for c in &w.callers {
        let a = w.send(c, "GET", "/tokens", None).await;
        assert_eq!(a.status, 303, "{} after signing out", c.name);
        assert_eq!(header(&a, "location"), "/signin?next=/tokens");
    }

    // Every 403 is in the audit log, once.
    let mut audited: Vec<(String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/audit?outcome=denied&limit=500".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = w.t.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for e in page.body["items"].as_array().unwrap() {
            assert_eq!(e["outcome"], "denied", "{e}");
            assert_eq!(e["action"], "access.denied", "{e}");
            assert_eq!(e["object_kind"], "route", "{e}");
            assert!(
                e["detail"]["reason"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "{e}"
            );
            audited.push((
                e["actor"]["id"].as_str().unwrap_or("").to_string(),
                e["object_id"].as_str().unwrap_or("").to_string(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    denials.sort();
    audited.sort();
    let expected_denials: usize = rows
        .iter()
        .map(|r| (EVERYONE & !r.allowed).count_ones() as usize)
        .sum();
    assert!(
        expected_denials > 100,
        "{expected_denials} denials expected"
    );
    let (mut unaudited, mut unexplained) = (denials.clone(), Vec::new());
    for entry in audited {
        match unaudited.iter().position(|d| *d == entry) {
            Some(i) => {
                unaudited.remove(i);
            }
            None => unexplained.push(entry),
        }
    }
    assert!(
        unaudited.is_empty() && unexplained.is_empty(),
        "one audit entry per 403: 403s without an entry {unaudited:?}; entries without a 403 {unexplained:?}"
    );
    // Last, so the checks above run even when the table finds something.
    assert!(
        wrong.is_empty(),
        "{} of {requests} requests did not get what the table expects:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(
        denials.len(),
        expected_denials,
        "one 403 per denied row and caller"
    );
    assert_eq!(requests, rows.len() * w.callers.len());
}
