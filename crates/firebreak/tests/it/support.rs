//! Test support: start a server on 127.0.0.1:0 with a fake clock and a temp SQLite store, an
//! authenticated client, helpers to create services and integrations, child-process servers.

use firebreak::app::{self, AppState, Server};
use firebreak::auth;
use firebreak::client::{Answer, Client};
use firebreak::config::{Config, DatabaseUrl, Overrides};
use firebreak_core::{Clock, FakeClock, Store, Timestamp};
use firebreak_store_sqlite::SqliteStore;
use hyper::Method;
use serde_json::{json, Value};
use std::sync::Arc;

pub const TOKEN: &str = "test-admin-token-0123456789";
/// 2026-08-21T09:00:00Z
pub const T0: i64 = 1_787_302_800_000;

/// Whether this run is CI (where every leg must run, never skip).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

pub struct TestServer {
    pub server: Option<Server>,
    pub client: Client,
    pub anon: Client,
    pub clock: FakeClock,
    pub _dir: tempfile::TempDir,
}

pub fn test_config(max_body: Option<usize>) -> Config {
    let over = Overrides {
        listen: Some("127.0.0.1:0".into()),
        metrics_listen: Some("127.0.0.1:0".into()),
        database_url: Some("sqlite://unused.db".into()),
        max_body_bytes: max_body,
        ..Default::default()
    };
    let mut c = Config::load(None, &over).unwrap();
    c.workers = false;
    c
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("fb.db")).unwrap();
        Self::start_with(Arc::new(store), dir, test_config(None)).await
    }

    pub async fn start_with(
        store: Arc<dyn Store>,
        dir: tempfile::TempDir,
        mut config: Config,
    ) -> Self {
        store.migrate().await.unwrap();
        let clock = FakeClock::at(Timestamp::from_millis(T0));
        auth::bootstrap(store.as_ref(), &clock, Some(TOKEN.into()), None)
            .await
            .unwrap();
        config.database = DatabaseUrl::Sqlite(dir.path().join("fb.db"));
        let server = app::start(
            &config,
            store.clone(),
            Arc::new(clock.clone()) as Arc<dyn Clock>,
        )
        .await
        .unwrap();
        let client = Client::new(&server.url(), Some(TOKEN.into())).unwrap();
        let anon = Client::new(&server.url(), None).unwrap();
        TestServer {
            server: Some(server),
            client,
            anon,
            clock,
            _dir: dir,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.server.as_ref().unwrap().state
    }

    pub fn url(&self) -> String {
        self.server.as_ref().unwrap().url()
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.client.send(Method::GET, path, None).await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.client
            .send(Method::POST, path, Some(&body))
            .await
            .unwrap()
    }

    pub async fn post_raw(&self, path: &str, body: &[u8]) -> Answer {
        self.anon
            .send_raw(Method::POST, path, Some(body.to_vec()))
            .await
            .unwrap()
    }

    /// Creates a service and an integration of `kind`; returns (service id, integration key).
    pub async fn service_with(&self, name: &str, kind: &str) -> (String, String) {
        let s = self.post("/api/v1/services", json!({"name": name})).await;
        assert_eq!(s.status, 201, "{:?}", s.body);
        let sid = s.body["id"].as_str().unwrap().to_string();
        let i = self
            .post(
                &format!("/api/v1/services/{sid}/integrations"),
                json!({"kind": kind, "name": format!("{name}-{kind}")}),
            )
            .await;
        assert_eq!(i.status, 201, "{:?}", i.body);
        (sid, i.body["key"].as_str().unwrap().to_string())
    }

    pub async fn pd(
        &self,
        key: &str,
        action: &str,
        dedup: &str,
        summary: &str,
        severity: &str,
    ) -> Answer {
        let body = json!({
            "routing_key": key, "event_action": action, "dedup_key": dedup,
            "payload": {"summary": summary, "source": "test", "severity": severity}
        });
        self.anon
            .send(Method::POST, "/v2/enqueue", Some(&body))
            .await
            .unwrap()
    }

    pub async fn open_alerts(&self) -> Vec<Value> {
        let a = self.get("/api/v1/alerts?status=open&limit=500").await;
        assert_eq!(a.status, 200);
        a.body["items"].as_array().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.shutdown_handle().send(true);
        }
    }
}

/// Creates a service and an integration of `kind` through `admin`; returns the integration key.
pub async fn create_integration(admin: &Client, service: &str, kind: &str) -> String {
    let sid = admin
        .call(
            Method::POST,
            "/api/v1/services",
            Some(&json!({"name": service})),
        )
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let integration = admin
        .call(
            Method::POST,
            &format!("/api/v1/services/{sid}/integrations"),
            Some(&json!({"kind": kind, "name": format!("{service}-{kind}")})),
        )
        .await
        .unwrap();
    integration["key"].as_str().unwrap().to_string()
}

/// A firebreak server running as a child process (for CLI, crash and multi-process tests).
pub struct ChildServer {
    pub child: std::process::Child,
    pub url: String,
}

impl ChildServer {
    /// Starts `firebreak serve` and waits (bounded) for its "listening on" line.
    pub fn spawn(database_url: &str, workdir: &std::path::Path) -> ChildServer {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--database-url",
            database_url,
        ])
        .env("FIREBREAK_BOOTSTRAP_TOKEN", TOKEN);
        Self::spawn_cmd(cmd, workdir).0
    }

    /// Runs `cmd` (a `firebreak serve ...`) in `workdir`; returns the server and the stdout
    /// lines printed before "listening on".
    pub fn spawn_cmd(
        mut cmd: std::process::Command,
        workdir: &std::path::Path,
    ) -> (ChildServer, Vec<String>) {
        use std::io::{BufRead, BufReader};
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .current_dir(workdir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut before = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("firebreak: listening on ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send((url, std::mem::take(&mut before)));
                } else {
                    before.push(line);
                }
            }
        });
        let (url, before) = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("firebreak did not start within 30 s");
            }
        };
        (ChildServer { child, url }, before)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Talking to the console like a browser: forms, cookies, CSRF fields, test ids.
pub mod web {
    use super::TestServer;
    use firebreak::client::{Answer, Client};
    use hyper::Method;
    use serde_json::json;

    /// The password of every user the console tests create.
    pub const PASSWORD: &str = "correct horse battery staple";
    pub const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

    /// The `Set-Cookie` header that sets `name`, if any.
    pub fn set_cookie(a: &Answer, name: &str) -> Option<String> {
        a.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The value of a `Set-Cookie` header.
    pub fn cookie_value(set_cookie: &str) -> String {
        set_cookie
            .split(';')
            .next()
            .unwrap_or("")
            .split_once('=')
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    }

    /// The value of the first hidden `_csrf` input of a page.
    pub fn hidden_csrf(html: &str) -> String {
        let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field")
            + "name=\"_csrf\" value=\"".len();
        html[at..].split('"').next().unwrap().to_string()
    }

    /// Percent-encodes a form value.
    pub fn enc(v: &str) -> String {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    pub fn testid(id: &str) -> String {
        format!("data-testid=\"{id}\"")
    }

    pub fn text(a: &Answer) -> String {
        a.body.as_str().unwrap_or_default().to_string()
    }

    /// Signs in through the form like a browser (sign-in cookie, CSRF field); the answer of the
    /// sign-in post.
    pub async fn sign_in(c: &Client, email: &str, password: &str, next: &str) -> Answer {
        let page = c.send(Method::GET, "/signin", None).await.unwrap();
        let login = cookie_value(&set_cookie(&page, "fb_signin").unwrap());
        let csrf = hidden_csrf(page.body.as_str().unwrap());
        let body = format!(
            "email={}&password={}&_csrf={csrf}&next={}",
            enc(email),
            enc(password),
            enc(next)
        );
        c.send_with(
            Method::POST,
            "/signin",
            &[FORM, ("cookie", &format!("fb_signin={login}"))],
            Some(body.into_bytes()),
        )
        .await
        .unwrap()
    }

    /// Creates a user with `PASSWORD` through the API; returns the id.
    pub async fn user(t: &TestServer, email: &str, role: &str, external: bool) -> String {
        let u = t.post("/api/v1/users", json!({"email": email, "name": email, "role": role, "external": external, "password": PASSWORD})).await;
        assert_eq!(u.status, 201, "{:?}", u.body);
        u.body["id"].as_str().unwrap().to_string()
    }
}
