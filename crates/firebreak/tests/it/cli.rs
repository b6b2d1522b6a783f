//! The binary as a user runs it: default `serve` (SQLite in ./firebreak-data, token printed once),
//! `migrate`, `config example`, and the client commands with one-line errors.

use crate::support::*;
use firebreak::client::Client;
use hyper::Method;
use std::process::{Command, Output};

fn firebreak(args: &[&str], url: &str, token: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    cmd.args(args)
        .env("FIREBREAK_URL", url)
        .env_remove("FIREBREAK_TOKEN");
    if let Some(t) = token {
        cmd.env("FIREBREAK_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_defaults_create_the_store_and_print_the_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
    ])
    .env_remove("FIREBREAK_BOOTSTRAP_TOKEN")
    .env_remove("FIREBREAK_DATABASE_URL");
    let (mut server, lines) = ChildServer::spawn_cmd(cmd, dir.path());
    assert!(
        dir.path().join("firebreak-data/firebreak.db").exists(),
        "default store location"
    );
    let token = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("fb_"))
        .expect("token printed on first start")
        .to_string();
    let c = Client::new(&server.url, Some(token.clone())).unwrap();
    assert_eq!(
        c.send(Method::GET, "/api/v1/incidents", None)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        c.send(Method::GET, "/readyz", None).await.unwrap().status,
        200
    );
    server.kill9();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
    ])
    .env_remove("FIREBREAK_BOOTSTRAP_TOKEN");
    let (server, lines) = ChildServer::spawn_cmd(cmd, dir.path());
    assert!(
        !lines.iter().any(|l| l.contains("fb_")),
        "the token is printed only once: {lines:?}"
    );
    let c = Client::new(&server.url, Some(token)).unwrap();
    assert_eq!(
        c.send(Method::GET, "/api/v1/incidents", None)
            .await
            .unwrap()
            .status,
        200,
        "the token survives restarts"
    );
}

#[test]
fn migrate_and_config_example() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let o = firebreak(
        &[
            "migrate",
            "--database-url",
            &format!("sqlite://{}", db.display()),
        ],
        "http://127.0.0.1:1",
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("migrations applied"));
    assert!(db.exists());
    let o = firebreak(&["config", "example"], "http://127.0.0.1:1", None);
    assert!(o.status.success());
    assert!(stdout(&o).contains("database_url = \"sqlite://./firebreak-data/firebreak.db\""));
    let o = firebreak(
        &["migrate", "--database-url", "mysql://nope"],
        "http://127.0.0.1:1",
        None,
    );
    assert!(!o.status.success());
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).starts_with("firebreak: error: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_send_list_ack_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::spawn(
        &format!("sqlite://{}", dir.path().join("fb.db").display()),
        dir.path(),
    );
    let c = Client::new(&server.url, Some(TOKEN.into())).unwrap();
    let key = create_integration(&c, "web", "generic").await;
    let url = server.url.clone();
    let run = move |args: Vec<String>, token: Option<&'static str>| {
        let url = url.clone();
        std::thread::spawn(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            firebreak(&refs, &url, token)
        })
        .join()
        .unwrap()
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let o = run(
        args(&[
            "alert",
            "send",
            "--integration-key",
            &key,
            "--summary",
            "Homepage 500s",
            "--severity",
            "critical",
            "--dedup-key",
            "home",
        ]),
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("opened"), "{}", stdout(&o));
    let o = run(
        args(&["incidents", "list", "--status", "open"]),
        Some(TOKEN),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Homepage 500s"));
    assert!(stdout(&o).contains("SEV1"));
    let id = c
        .call(Method::GET, "/api/v1/incidents", None)
        .await
        .unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = run(args(&["incident", "ack", &id]), Some(TOKEN));
    assert!(
        stdout(&o).contains("is acknowledged"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = run(args(&["incident", "resolve", &id]), Some(TOKEN));
    assert!(
        stdout(&o).contains("is resolved"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = run(
        args(&["incidents", "list", "--status", "open"]),
        Some(TOKEN),
    );
    assert!(stdout(&o).contains("no incidents"));
    let o = run(
        args(&[
            "alert",
            "send",
            "--integration-key",
            &key,
            "--resolve",
            "--dedup-key",
            "home",
        ]),
        None,
    );
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("ignored"),
        "the alert was resolved with its incident: {}",
        stdout(&o)
    );

    // Errors: one clear line, non-zero exit.
    for (a, token) in [
        (args(&["incident", "ack", "999"]), Some(TOKEN)),
        (args(&["incident", "ack", "#1"]), Some(TOKEN)),
        (
            args(&["incidents", "list", "--status", "open&limit=1"]),
            Some(TOKEN),
        ),
        (args(&["incidents", "list"]), None),
        (
            args(&["incidents", "list"]),
            Some("wrong-token-wrong-token"),
        ),
        (
            args(&[
                "alert",
                "send",
                "--integration-key",
                "00000000000000000000000000000000",
                "--summary",
                "x",
            ]),
            None,
        ),
        (
            args(&[
                "alert",
                "send",
                "--integration-key",
                &key,
                "--summary",
                "x",
                "--severity",
                "loud",
            ]),
            None,
        ),
        (
            args(&["alert", "send", "--integration-key", &key, "--resolve"]),
            None,
        ),
    ] {
        let o = run(a.clone(), token);
        assert!(!o.status.success(), "{a:?} should fail");
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "{a:?}: {err}");
        assert!(err.starts_with("firebreak: error: "), "{a:?}: {err}");
    }
    let o = firebreak(&["incidents", "list"], "http://127.0.0.1:1", Some(TOKEN));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot reach firebreak"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_and_environment_configure_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let file = dir.path().join("firebreak.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:1\"\nmetrics_listen = \"off\"\ndatabase_url = \"sqlite://{}\"\n",
            db.display()
        ),
    )
    .unwrap();
    // The file names the store; the environment overrides the file's listen address.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    cmd.args(["serve", "--config", file.to_str().unwrap()])
        .env("FIREBREAK_LISTEN", "127.0.0.1:0")
        .env("FIREBREAK_BOOTSTRAP_TOKEN", TOKEN);
    let (server, _) = ChildServer::spawn_cmd(cmd, dir.path());
    assert!(db.exists(), "the database named in the config file is used");
    assert!(!dir.path().join("firebreak-data").exists());
    let c = Client::new(&server.url, Some(TOKEN.into())).unwrap();
    assert_eq!(
        c.send(Method::GET, "/readyz", None).await.unwrap().status,
        200
    );
    drop(server);

    // FIREBREAK_DATABASE_URL alone selects the store; a bad config file is one clear error line.
    let db2 = dir.path().join("from-env.db");
    let o = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .arg("migrate")
        .env(
            "FIREBREAK_DATABASE_URL",
            format!("sqlite://{}", db2.display()),
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(db2.exists());
    std::fs::write(&file, "listen = 5\n").unwrap();
    let o = firebreak(
        &["serve", "--config", file.to_str().unwrap()],
        "http://127.0.0.1:1",
        None,
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).starts_with("firebreak: error: config file"),
        "{}",
        stderr(&o)
    );
}
