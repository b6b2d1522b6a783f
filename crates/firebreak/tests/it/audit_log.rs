//! The audit log end to end: changes and denials are recorded with actor and origin, secrets are
//! not, `firebreak audit verify` finds the chain intact, the database refuses to alter entries,
//! and tampering behind its back is reported at the first broken link.

use crate::support::*;
use firebreak::client::Client;
use hyper::Method;
use serde_json::json;
use std::process::Command;

fn verify(args: &[&str], url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["audit", "verify"])
        .args(args)
        .env("FIREBREAK_URL", url)
        .env("FIREBREAK_TOKEN", TOKEN)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chain_records_changes_and_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let db = format!("sqlite://{}", path.display());
    let mut server = ChildServer::spawn(&db, dir.path());
    let admin = Client::new(&server.url, Some(TOKEN.into())).unwrap();
    let key = create_integration(&admin, "payments", "generic").await;
    let user = admin
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&json!({"email": "obs@example.com", "name": "Obs", "role": "observer"})),
        )
        .await
        .unwrap();
    let token = admin
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&json!({"name": "obs", "user_id": user["id"]})),
        )
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let observer = Client::new(&server.url, Some(token.clone())).unwrap();
    let denied = observer
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&json!({"name": "nope"})),
        )
        .await
        .unwrap();
    assert_eq!(denied.status, 403);

    let export = admin
        .send(Method::GET, "/api/v1/audit/export", None)
        .await
        .unwrap();
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    let text = export.body.as_str().unwrap().to_string();
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "access.denied",
            "token.create",
            "user.create",
            "integration.create",
            "service.create"
        ]
    );
    assert_eq!(entries[0]["outcome"], "denied");
    assert_eq!(entries[0]["actor"]["name"], "Obs");
    assert_eq!(entries[0]["ip"], "127.0.0.1");
    assert_eq!(entries[4]["actor"]["kind"], "user");
    assert_eq!(entries[4]["after"]["name"], "payments");
    assert!(!text.contains(&token), "token text must not be audited");
    assert!(!text.contains(&key), "integration keys must not be audited");

    let o = verify(&[], &server.url);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("audit chain intact: 5 entries"));

    // The database itself refuses to alter the log.
    server.kill9();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let refused = conn.execute("UPDATE audit_log SET action = 'x' WHERE id = 2", []);
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    assert!(conn
        .execute("DELETE FROM audit_log WHERE id = 2", [])
        .is_err());

    // Someone with file access drops the guard and edits an entry: verify names it.
    conn.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET after = '{\"name\":\"evil\"}' WHERE id = 2;").unwrap();
    drop(conn);
    let o = verify(&["--database-url", &db], "http://127.0.0.1:1");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("audit chain broken at entry 2"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
}
