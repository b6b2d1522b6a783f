//! The access matrix: every `/api/v1` route × every kind of caller, against a hand-written table
//! of who may do what. Every rule in `firebreak::http::access::RULES` needs a row here and every
//! row a rule, and every operation of the OpenAPI document needs a rule — so a route added
//! without an access rule (or without an expectation) fails this test. Denials are 403
//! problem+json and each one is in the audit log; without a token every route answers 401.

use crate::support::*;
use firebreak::client::{Answer, Client};
use firebreak::http::access::RULES;
use hyper::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

// The callers, as bits of an "allowed" set.
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

const NAMES: [(u8, &str); 7] = [
    (ADMIN, "admin"),
    (MANAGER, "manager"),
    (RESPONDER, "responder"),
    (OBSERVER, "observer"),
    (STAKEHOLDER, "stakeholder"),
    (EXT, "external+grant"),
    (EXT_NONE, "external"),
];

/// Grants made here end a week after the test clock's start.
const GRANT_EXPIRY: &str = "2026-08-28T09:00:00Z";
const ALL_STATUSES: &str = "status=triggered,acknowledged,resolved&limit=500";

struct Caller {
    bit: u8,
    name: &'static str,
    user_id: String,
    client: Client,
}

/// A service of the fixture with its generic integration, alert and incident.
struct Svc {
    id: String,
    integration: String,
    key: String,
    alert: String,
    incident: String,
}

struct World {
    t: TestServer,
    team_a: String,
    team_b: String,
    /// A team no caller is in, for PATCH.
    team_c: String,
    a: Svc,
    b: Svc,
    zero: Svc,
    /// An internal user no caller is, for user and token rows.
    dummy: String,
    /// An external user no caller is, for grant rows.
    dummy_ext: String,
    /// A grant on `dummy_ext`.
    grant: String,
    callers: Vec<Caller>,
    counter: AtomicUsize,
}

/// A fresh object made (as the bootstrap admin) for each request, so destructive requests do
/// not depend on order.
#[derive(Clone)]
enum Fresh {
    /// A service of this team (or none).
    Service(Option<String>),
    /// An integration of this service.
    Integration(String),
    /// An integration of this service, to rotate its key.
    IntegrationRotate(String),
    /// An alert ingested through this integration key, of this service.
    Alert { key: String, service: String },
    /// An incident declared on this service.
    Incident(String),
    /// A token of the caller.
    OwnToken,
    /// A token of the dummy user.
    OtherToken,
    /// A grant on the dummy external user.
    Grant,
}

enum Path {
    Fixed(String),
    Fresh(Fresh),
}

type MakeBody = Box<dyn Fn(usize) -> Value>;

struct Row {
    method: &'static str,
    pattern: &'static str,
    /// Which variant this row is (the object the path or body names).
    what: &'static str,
    path: Path,
    body: Option<MakeBody>,
    allowed: u8,
    /// A non-2xx status that still shows the request got past access control (e.g. a 400 for
    /// a code that cannot be computed here).
    past_access: Option<u16>,
}

fn row(method: &'static str, pattern: &'static str, what: &'static str, allowed: u8) -> Row {
    Row {
        method,
        pattern,
        what,
        path: Path::Fixed(pattern.to_string()),
        body: None,
        allowed,
        past_access: None,
    }
}

impl Row {
    /// The concrete path: the pattern with `{id}` filled in.
    fn id(mut self, id: &str) -> Self {
        self.path = Path::Fixed(self.pattern.replace("{id}", id));
        self
    }
    fn fresh(mut self, fresh: Fresh) -> Self {
        self.path = Path::Fresh(fresh);
        self
    }
    /// Allowed callers may get this status instead of a 2xx (see `past_access`).
    fn past_access(mut self, status: u16) -> Self {
        self.past_access = Some(status);
        self
    }
    /// A body made per request (`n` is unique per request, for names that must be unique).
    fn body(mut self, f: impl Fn(usize) -> Value + 'static) -> Self {
        self.body = Some(Box::new(f));
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
    fn admin(&self) -> &Client {
        &self.t.client
    }

    async fn call(&self, method: Method, path: &str, body: Value) -> Value {
        let a = self
            .admin()
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

    async fn service(&self, name: &str, team: Option<&str>) -> String {
        let mut body = json!({"name": name});
        if let Some(team) = team {
            body["team_id"] = json!(team);
        }
        id_of(&self.call(Method::POST, "/api/v1/services", body).await)
    }

    async fn integration(&self, service: &str) -> Value {
        let n = self.next();
        self.call(
            Method::POST,
            &format!("/api/v1/services/{service}/integrations"),
            json!({"kind": "generic", "name": format!("generic-{n}")}),
        )
        .await
    }

    /// Ingests an alert with a fresh dedup key; returns the alert id.
    async fn alert(&self, key: &str, service: &str) -> String {
        let dedup = format!("fresh-{}", self.next());
        let a = self
            .t
            .anon
            .send(
                Method::POST,
                &format!("/ingest/generic/{key}"),
                Some(&json!({"summary": format!("alert {dedup}"), "severity": "critical", "dedup_key": dedup})),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 202, "{}", a.body);
        let list = self
            .t
            .get(&format!(
                "/api/v1/alerts?service_id={service}&{ALL_STATUSES}"
            ))
            .await;
        assert_eq!(list.status, 200);
        let found: Vec<&Value> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["dedup_key"] == dedup.as_str())
            .collect();
        assert_eq!(found.len(), 1, "{}", list.body);
        id_of(found[0])
    }

    async fn incident(&self, service: &str) -> String {
        let n = self.next();
        id_of(
            &self
                .call(
                    Method::POST,
                    "/api/v1/incidents",
                    json!({"title": format!("declared {n}"), "severity": "SEV3", "service_ids": [service]}),
                )
                .await,
        )
    }

    async fn token_of(&self, user_id: &str) -> Value {
        let n = self.next();
        self.call(
            Method::POST,
            "/api/v1/tokens",
            json!({"user_id": user_id, "name": format!("token-{n}")}),
        )
        .await
    }

    async fn path_for(&self, path: &Path, caller_user: &str) -> String {
        let fresh = match path {
            Path::Fixed(p) => return p.clone(),
            Path::Fresh(f) => f,
        };
        match fresh {
            Fresh::Service(team) => {
                let name = format!("fresh-service-{}", self.next());
                format!(
                    "/api/v1/services/{}",
                    self.service(&name, team.as_deref()).await
                )
            }
            Fresh::Integration(service) => {
                format!(
                    "/api/v1/integrations/{}",
                    id_of(&self.integration(service).await)
                )
            }
            Fresh::IntegrationRotate(service) => {
                format!(
                    "/api/v1/integrations/{}/rotate",
                    id_of(&self.integration(service).await)
                )
            }
            Fresh::Alert { key, service } => {
                format!("/api/v1/alerts/{}/resolve", self.alert(key, service).await)
            }
            Fresh::Incident(service) => {
                format!("/api/v1/incidents/{}/resolve", self.incident(service).await)
            }
            Fresh::OwnToken => {
                format!(
                    "/api/v1/tokens/{}",
                    id_of(&self.token_of(caller_user).await)
                )
            }
            Fresh::OtherToken => {
                format!(
                    "/api/v1/tokens/{}",
                    id_of(&self.token_of(&self.dummy).await)
                )
            }
            Fresh::Grant => {
                let g = self
                    .call(
                        Method::POST,
                        "/api/v1/grants",
                        json!({"user_id": self.dummy_ext, "role": "observer", "service_ids": [self.b.id], "expires_at": GRANT_EXPIRY}),
                    )
                    .await;
                format!("/api/v1/grants/{}", id_of(&g))
            }
        }
    }
}

async fn setup() -> World {
    let t = TestServer::start().await;
    let placeholder = || Svc {
        id: String::new(),
        integration: String::new(),
        key: String::new(),
        alert: String::new(),
        incident: String::new(),
    };
    let mut w = World {
        t,
        team_a: String::new(),
        team_b: String::new(),
        team_c: String::new(),
        a: placeholder(),
        b: placeholder(),
        zero: placeholder(),
        dummy: String::new(),
        dummy_ext: String::new(),
        grant: String::new(),
        callers: Vec::new(),
        counter: AtomicUsize::new(0),
    };
    let team = |name: &'static str| json!({"name": name, "member_ids": []});
    w.team_a = id_of(&w.call(Method::POST, "/api/v1/teams", team("team-a")).await);
    w.team_b = id_of(&w.call(Method::POST, "/api/v1/teams", team("team-b")).await);
    w.team_c = id_of(&w.call(Method::POST, "/api/v1/teams", team("team-c")).await);

    for (name, team) in [
        ("sA", Some(w.team_a.clone())),
        ("sB", Some(w.team_b.clone())),
        ("s0", None),
    ] {
        let id = w.service(name, team.as_deref()).await;
        let i = w.integration(&id).await;
        let key = i["key"].as_str().unwrap().to_string();
        let alert = w.alert(&key, &id).await;
        let got = w.t.get(&format!("/api/v1/alerts/{alert}")).await;
        let incident = got.body["incident_id"]
            .as_str()
            .unwrap_or_else(|| panic!("the alert of {name} opened no incident: {}", got.body))
            .to_string();
        let svc = Svc {
            id,
            integration: id_of(&i),
            key,
            alert,
            incident,
        };
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
        (EXT, "contractor", "responder", true, false),
        (EXT_NONE, "outsider", "responder", true, false),
    ];
    let url = w.t.url();
    for (bit, login, role, external, in_team_a) in users {
        let mut body = json!({"email": format!("{login}@example.com"), "name": login, "role": role, "external": external});
        if in_team_a {
            body["team_ids"] = json!([w.team_a]);
        }
        let user_id = id_of(&w.call(Method::POST, "/api/v1/users", body).await);
        let token = w.token_of(&user_id).await;
        let text = token["token"].as_str().unwrap().to_string();
        let name = NAMES.iter().find(|(b, _)| *b == bit).unwrap().1;
        w.callers.push(Caller {
            bit,
            name,
            user_id,
            client: Client::new(&url, Some(text)).unwrap(),
        });
    }
    let ext = w
        .callers
        .iter()
        .find(|c| c.bit == EXT)
        .unwrap()
        .user_id
        .clone();
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
    w.grant = id_of(
        &w.call(
            Method::POST,
            "/api/v1/grants",
            json!({"user_id": w.dummy_ext, "role": "observer", "service_ids": [w.b.id], "expires_at": GRANT_EXPIRY}),
        )
        .await,
    );

    // The fixture is what the table assumes.
    for c in &w.callers {
        let me = c
            .client
            .send(Method::GET, "/api/v1/me", None)
            .await
            .unwrap();
        assert_eq!(me.status, 200, "{}: {}", c.name, me.body);
        let teams = if c.bit & (MANAGER | RESPONDER) != 0 {
            json!([w.team_a])
        } else {
            json!([])
        };
        assert_eq!(me.body["user"]["team_ids"], teams, "{}", c.name);
        assert_eq!(
            me.body["external"],
            c.bit & (EXT | EXT_NONE) != 0,
            "{}",
            c.name
        );
        let grants = if c.bit == EXT { 1 } else { 0 };
        assert_eq!(
            me.body["grants"].as_array().unwrap().len(),
            grants,
            "{}",
            c.name
        );
    }
    w
}

/// The hand-written table: for each route (and each object where team scoping or grants make a
/// difference), who is allowed.
fn table(w: &World) -> Vec<Row> {
    let (a, b, z) = (&w.a, &w.b, &w.zero);
    let team = |t: Option<&String>| {
        let t = t.cloned();
        move |n: usize| {
            let mut v = json!({"name": format!("new-service-{n}")});
            if let Some(t) = &t {
                v["team_id"] = json!(t);
            }
            v
        }
    };
    let declare = |s: &String| {
        let s = s.clone();
        move |n: usize| json!({"title": format!("declared by caller {n}"), "severity": "SEV3", "service_ids": [s]})
    };
    let describe = |n: usize| json!({"description": format!("described {n}")});
    let rename = |n: usize| json!({"name": format!("renamed-{n}")});
    let generic = |n: usize| json!({"kind": "generic", "name": format!("added-{n}")});
    let (dummy, dummy_ext, sb) = (w.dummy.clone(), w.dummy_ext.clone(), b.id.clone());
    vec![
        row("GET", "/api/v1/me", "", EVERYONE),
        row("POST", "/api/v1/me/password", "", EVERYONE).body(|_| json!({"new_password": "matrix password 123"})),
        row("POST", "/api/v1/me/mfa", "", EVERYONE),
        // The right code cannot be known here: a wrong one is a 400, past access control.
        row("POST", "/api/v1/me/mfa/confirm", "", EVERYONE).body(|_| json!({"code": "000000"})).past_access(400),
        // The second factor is off for everyone here, so turning it off needs no valid code.
        row("DELETE", "/api/v1/me/mfa", "", EVERYONE).body(|_| json!({"code": "000000"})),
        // Services.
        row("GET", "/api/v1/services", "", READERS | EXT),
        row("POST", "/api/v1/services", "team A", CONFIG_A).body(team(Some(&w.team_a))),
        row("POST", "/api/v1/services", "team B", ADMIN).body(team(Some(&w.team_b))),
        row("POST", "/api/v1/services", "no team", ADMIN).body(team(None)),
        row("GET", "/api/v1/services/{id}", "sA", READERS | EXT).id(&a.id),
        row("GET", "/api/v1/services/{id}", "sB", READERS).id(&b.id),
        row("GET", "/api/v1/services/{id}", "s0", READERS).id(&z.id),
        row("PATCH", "/api/v1/services/{id}", "sA", CONFIG_A).id(&a.id).body(describe),
        row("PATCH", "/api/v1/services/{id}", "sB", ADMIN).id(&b.id).body(describe),
        row("PATCH", "/api/v1/services/{id}", "s0", ADMIN).id(&z.id).body(describe),
        row("DELETE", "/api/v1/services/{id}", "team A", CONFIG_A)
            .fresh(Fresh::Service(Some(w.team_a.clone()))),
        row("DELETE", "/api/v1/services/{id}", "team B", ADMIN)
            .fresh(Fresh::Service(Some(w.team_b.clone()))),
        row("DELETE", "/api/v1/services/{id}", "no team", ADMIN).fresh(Fresh::Service(None)),
        row("GET", "/api/v1/services/{id}/integrations", "sA", READERS | EXT).id(&a.id),
        row("GET", "/api/v1/services/{id}/integrations", "sB", READERS).id(&b.id),
        row("POST", "/api/v1/services/{id}/integrations", "sA", CONFIG_A).id(&a.id).body(generic),
        row("POST", "/api/v1/services/{id}/integrations", "sB", ADMIN).id(&b.id).body(generic),
        row("POST", "/api/v1/services/{id}/integrations", "s0", ADMIN).id(&z.id).body(generic),
        row("GET", "/api/v1/services/{id}/timeline", "sA", READERS | EXT).id(&a.id),
        row("GET", "/api/v1/services/{id}/timeline", "sB", READERS).id(&b.id),
        // Integrations.
        row("GET", "/api/v1/integrations/{id}", "sA", READERS | EXT).id(&a.integration),
        row("GET", "/api/v1/integrations/{id}", "sB", READERS).id(&b.integration),
        row("PATCH", "/api/v1/integrations/{id}", "sA", CONFIG_A).id(&a.integration).body(rename),
        row("PATCH", "/api/v1/integrations/{id}", "sB", ADMIN).id(&b.integration).body(rename),
        row("PATCH", "/api/v1/integrations/{id}", "s0", ADMIN).id(&z.integration).body(rename),
        row("DELETE", "/api/v1/integrations/{id}", "sA", CONFIG_A)
            .fresh(Fresh::Integration(a.id.clone())),
        row("DELETE", "/api/v1/integrations/{id}", "sB", ADMIN)
            .fresh(Fresh::Integration(b.id.clone())),
        row("DELETE", "/api/v1/integrations/{id}", "s0", ADMIN)
            .fresh(Fresh::Integration(z.id.clone())),
        row("POST", "/api/v1/integrations/{id}/rotate", "sA", CONFIG_A).fresh(Fresh::IntegrationRotate(a.id.clone())),
        row("POST", "/api/v1/integrations/{id}/rotate", "sB", ADMIN).fresh(Fresh::IntegrationRotate(b.id.clone())),
        row("POST", "/api/v1/integrations/{id}/rotate", "s0", ADMIN).fresh(Fresh::IntegrationRotate(z.id.clone())),
        // Alerts.
        row("GET", "/api/v1/alerts", "", READERS | EXT),
        row("GET", "/api/v1/alerts/{id}", "sA", READERS | EXT).id(&a.alert),
        row("GET", "/api/v1/alerts/{id}", "sB", READERS).id(&b.alert),
        row("GET", "/api/v1/alerts/{id}", "s0", READERS).id(&z.alert),
        row("POST", "/api/v1/alerts/{id}/acknowledge", "sA", ACTORS | EXT).id(&a.alert),
        row("POST", "/api/v1/alerts/{id}/acknowledge", "sB", ADMIN).id(&b.alert),
        row("POST", "/api/v1/alerts/{id}/acknowledge", "s0", ACTORS).id(&z.alert),
        row("POST", "/api/v1/alerts/{id}/resolve", "sA", ACTORS | EXT).fresh(Fresh::Alert {
            key: a.key.clone(),
            service: a.id.clone(),
        }),
        row("POST", "/api/v1/alerts/{id}/resolve", "sB", ADMIN).fresh(Fresh::Alert {
            key: b.key.clone(),
            service: b.id.clone(),
        }),
        row("POST", "/api/v1/alerts/{id}/resolve", "s0", ACTORS).fresh(Fresh::Alert {
            key: z.key.clone(),
            service: z.id.clone(),
        }),
        // Incidents.
        row("GET", "/api/v1/incidents", "", INTERNAL | EXT),
        row("POST", "/api/v1/incidents", "sA", ACTORS).body(declare(&a.id)),
        row("POST", "/api/v1/incidents", "sB", ADMIN).body(declare(&b.id)),
        row("POST", "/api/v1/incidents", "s0", ACTORS).body(declare(&z.id)),
        row("GET", "/api/v1/incidents/{id}", "sA", INTERNAL | EXT).id(&a.incident),
        row("GET", "/api/v1/incidents/{id}", "sB", INTERNAL).id(&b.incident),
        row("GET", "/api/v1/incidents/{id}", "s0", INTERNAL).id(&z.incident),
        row("GET", "/api/v1/incidents/{id}/timeline", "sA", READERS | EXT).id(&a.incident),
        row("GET", "/api/v1/incidents/{id}/timeline", "sB", READERS).id(&b.incident),
        row("POST", "/api/v1/incidents/{id}/acknowledge", "sA", ACTORS | EXT).id(&a.incident),
        row("POST", "/api/v1/incidents/{id}/acknowledge", "sB", ADMIN).id(&b.incident),
        row("POST", "/api/v1/incidents/{id}/acknowledge", "s0", ACTORS).id(&z.incident),
        row("POST", "/api/v1/incidents/{id}/resolve", "sA", ACTORS | EXT)
            .fresh(Fresh::Incident(a.id.clone())),
        row("POST", "/api/v1/incidents/{id}/resolve", "sB", ADMIN)
            .fresh(Fresh::Incident(b.id.clone())),
        row("POST", "/api/v1/incidents/{id}/resolve", "s0", ACTORS)
            .fresh(Fresh::Incident(z.id.clone())),
        // Users and teams.
        row("GET", "/api/v1/users", "", ADMIN),
        row("POST", "/api/v1/users", "", ADMIN).body(|n| {
            json!({"email": format!("new-{n}@example.com"), "name": format!("new {n}"), "role": "observer"})
        }),
        row("GET", "/api/v1/users/{id}", "", ADMIN).id(&w.dummy),
        row("PATCH", "/api/v1/users/{id}", "", ADMIN).id(&w.dummy).body(|n| json!({"name": format!("dummy {n}")})),
        // Teams name their members: not something an external user's grant shows.
        row("GET", "/api/v1/teams", "", READERS),
        row("POST", "/api/v1/teams", "", ADMIN)
            .body(|n| json!({"name": format!("new-team-{n}"), "member_ids": []})),
        row("GET", "/api/v1/teams/{id}", "team A", READERS).id(&w.team_a),
        row("GET", "/api/v1/teams/{id}", "team B", READERS).id(&w.team_b),
        row("PATCH", "/api/v1/teams/{id}", "team C", ADMIN).id(&w.team_c)
            .body(|_| json!({"member_ids": []})),
        // Tokens: everyone manages their own; admins anyone's.
        row("GET", "/api/v1/tokens", "", EVERYONE),
        row("POST", "/api/v1/tokens", "own", EVERYONE)
            .body(|n| json!({"name": format!("mine-{n}")})),
        row("POST", "/api/v1/tokens", "another user's", ADMIN)
            .body(move |n| json!({"name": format!("theirs-{n}"), "user_id": dummy})),
        row("DELETE", "/api/v1/tokens/{id}", "own", EVERYONE).fresh(Fresh::OwnToken),
        row("DELETE", "/api/v1/tokens/{id}", "another user's", ADMIN).fresh(Fresh::OtherToken),
        // Grants.
        row("GET", "/api/v1/grants", "", ADMIN),
        row("POST", "/api/v1/grants", "", ADMIN).body(move |_| {
            json!({"user_id": dummy_ext, "role": "observer", "service_ids": [sb], "expires_at": GRANT_EXPIRY})
        }),
        row("GET", "/api/v1/grants/{id}", "", ADMIN).id(&w.grant),
        row("DELETE", "/api/v1/grants/{id}", "", ADMIN).fresh(Fresh::Grant),
        // Audit.
        row("GET", "/api/v1/audit", "", ADMIN),
        row("GET", "/api/v1/audit/export", "", ADMIN),
        row("GET", "/api/v1/audit/chain", "", ADMIN),
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

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap()
}

fn content_type(a: &Answer) -> &str {
    a.headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn ids(list: &Answer) -> BTreeSet<String> {
    list.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", list.body))
        .iter()
        .map(id_of)
        .collect()
}

/// Sends a request as a caller; records a 403 (for the audit count) and checks its form.
async fn send(
    c: &Caller,
    m: &str,
    path: &str,
    body: Option<&Value>,
    denials: &mut Vec<(String, String)>,
) -> Answer {
    let a = c.client.send(method(m), path, body).await.unwrap();
    if a.status == 403 {
        // The audit log names the route by its path, without the query.
        let route = path.split('?').next().unwrap_or(path);
        denials.push((c.user_id.clone(), format!("{m} {route}")));
    }
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_for_every_role() {
    let w = setup().await;
    let rows = table(&w);

    // The table, the rules and the API description cover the same routes.
    let ruled: BTreeSet<(String, String)> = RULES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(ruled.len(), RULES.len(), "RULES has a route twice");
    let expected: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.pattern.to_string()))
        .collect();
    let no_row: Vec<_> = ruled.difference(&expected).collect();
    assert!(
        no_row.is_empty(),
        "routes with an access rule but no row in this test's table: {no_row:?}"
    );
    let no_rule: Vec<_> = expected.difference(&ruled).collect();
    assert!(
        no_rule.is_empty(),
        "rows in this test's table without an access rule: {no_rule:?}"
    );
    let doc =
        w.t.anon
            .send(Method::GET, "/api/v1/openapi.json", None)
            .await
            .unwrap();
    assert_eq!(doc.status, 200);
    let mut documented = BTreeSet::new();
    for (path, ops) in doc.body["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
            continue;
        }
        for m in ops.as_object().unwrap().keys() {
            if m != "parameters" {
                documented.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    let undocumented_rule: Vec<_> = documented.difference(&ruled).collect();
    assert!(
        undocumented_rule.is_empty(),
        "API operations without an access rule: {undocumented_rule:?}"
    );
    assert_eq!(documented, ruled, "RULES and the OpenAPI document differ");

    // The matrix.
    let mut wrong = Vec::new();
    let mut denials: Vec<(String, String)> = Vec::new();
    for r in &rows {
        for c in &w.callers {
            let path = w.path_for(&r.path, &c.user_id).await;
            let body = r.body.as_ref().map(|f| f(w.next()));
            let a = send(c, r.method, &path, body.as_ref(), &mut denials).await;
            let label = format!(
                "{} {}{} as {}: {} {}",
                r.method,
                r.pattern,
                what(r),
                c.name,
                a.status,
                a.body
            );
            if r.allowed & c.bit != 0 {
                if !a.status.is_success() && r.past_access != Some(a.status.as_u16()) {
                    wrong.push(format!("expected allowed (2xx): {label}"));
                }
            } else if a.status != 403 {
                wrong.push(format!("expected 403: {label}"));
            } else if content_type(&a) != "application/problem+json" {
                wrong.push(format!("403 is not problem+json: {label}"));
            }
        }
        // Without credentials: 401, for every route.
        let admin_id = &w.callers[0].user_id;
        let path = w.path_for(&r.path, admin_id).await;
        let body = r.body.as_ref().map(|f| f(w.next()));
        let a =
            w.t.anon
                .send(method(r.method), &path, body.as_ref())
                .await
                .unwrap();
        if a.status != 401 || content_type(&a) != "application/problem+json" {
            wrong.push(format!(
                "expected 401 problem+json without a token: {} {}{}: {} {}",
                r.method,
                r.pattern,
                what(r),
                a.status,
                a.body
            ));
        }
    }

    // External users see only what their grant names.
    let ext = w.callers.iter().find(|c| c.bit == EXT).unwrap();
    let none = w.callers.iter().find(|c| c.bit == EXT_NONE).unwrap();
    for (list, of_a) in [
        (
            format!("/api/v1/incidents?{ALL_STATUSES}"),
            format!("/api/v1/incidents?service_id={}&{ALL_STATUSES}", w.a.id),
        ),
        (
            format!("/api/v1/alerts?{ALL_STATUSES}"),
            format!("/api/v1/alerts?service_id={}&{ALL_STATUSES}", w.a.id),
        ),
    ] {
        let theirs = send(ext, "GET", &list, None, &mut denials).await;
        assert_eq!(theirs.status, 200, "{list}: {}", theirs.body);
        let all_of_a = w.t.get(&of_a).await;
        assert_eq!(all_of_a.status, 200);
        assert!(ids(&all_of_a).len() >= 2, "{}", all_of_a.body);
        assert_eq!(ids(&theirs), ids(&all_of_a), "{list} as the external user");
        let everything = w.t.get(&list).await;
        assert!(
            ids(&everything).len() > ids(&theirs).len(),
            "the other services have objects too"
        );
        let refused = send(none, "GET", &list, None, &mut denials).await;
        assert_eq!(
            refused.status, 403,
            "{list} without a grant: {}",
            refused.body
        );
    }
    for item in send(
        ext,
        "GET",
        &format!("/api/v1/incidents?{ALL_STATUSES}"),
        None,
        &mut denials,
    )
    .await
    .body["items"]
        .as_array()
        .unwrap()
    {
        assert_eq!(item["service_ids"], json!([w.a.id]), "{item}");
    }
    for item in send(
        ext,
        "GET",
        &format!("/api/v1/alerts?{ALL_STATUSES}"),
        None,
        &mut denials,
    )
    .await
    .body["items"]
        .as_array()
        .unwrap()
    {
        assert_eq!(item["service_id"], w.a.id.as_str(), "{item}");
    }
    let services = send(ext, "GET", "/api/v1/services?limit=500", None, &mut denials).await;
    assert_eq!(services.status, 200);
    assert_eq!(ids(&services), BTreeSet::from([w.a.id.clone()]));
    let refused = send(none, "GET", "/api/v1/services", None, &mut denials).await;
    assert_eq!(refused.status, 403);
    let other = send(
        ext,
        "GET",
        &format!("/api/v1/incidents/{}", w.b.incident),
        None,
        &mut denials,
    )
    .await;
    assert_eq!(other.status, 403);
    assert_eq!(content_type(&other), "application/problem+json");
    let own = send(
        ext,
        "GET",
        &format!("/api/v1/incidents/{}", w.a.incident),
        None,
        &mut denials,
    )
    .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.body["alerts"].as_array().unwrap().len(), 1);
    // Stakeholders see the summary of an incident, not its alerts.
    let stakeholder = w.callers.iter().find(|c| c.bit == STAKEHOLDER).unwrap();
    let summary = send(
        stakeholder,
        "GET",
        &format!("/api/v1/incidents/{}", w.a.incident),
        None,
        &mut denials,
    )
    .await;
    assert_eq!(summary.status, 200);
    assert_eq!(summary.body["id"], w.a.incident.as_str());
    assert_eq!(summary.body["alerts"], json!([]));

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
    assert!(denials.len() > 100, "{} denials", denials.len());
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
        "{} of {} requests did not get what the table expects:\n{}",
        wrong.len(),
        rows.len() * w.callers.len(),
        wrong.join("\n")
    );
}
