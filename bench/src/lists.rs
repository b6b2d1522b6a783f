//! The lists scenario (issue 3: "incident and alert lists stay under 100 ms server time with
//! 100,000 alerts and 10,000 incidents"): a fresh SQLite firebreak is loaded with Alertmanager
//! webhook batches of 10 alerts, one `groupKey` (so one incident) per request, and every odd
//! group is resolved again (half of the alerts and incidents stay open). Then the list
//! endpoints and the console's incident page are fetched one request at a time, each timed on
//! its own, after a few warm-up requests.

use crate::http::{self, Sequential};
use crate::procs::{self, Store};
use crate::workload::{self, Generator, Template};
use crate::Plan;
use anyhow::{anyhow, bail, Context, Result};
use hyper::header::{CONTENT_TYPE, SET_COOKIE};
use hyper::{HeaderMap, Method, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;

/// Alerts per webhook request (= per incident).
pub const ALERTS_PER_INCIDENT: u64 = 10;
/// `limit` of every measured list request.
pub const PAGE_LIMIT: usize = 50;
/// Unmeasured requests before each measured series.
pub const WARMUP_REQUESTS: usize = 5;
/// Measured requests per request kind.
pub const MEASURED_REQUESTS: usize = 50;
/// The console admin's password (the email is firebreak's default, `admin@localhost`).
const PASSWORD: &str = "firebreak-bench-console-password";
const EMAIL: &str = "admin@localhost";

/// What the lists scenario measured.
pub struct Lists {
    /// Incidents (= webhook groups) loaded, and alerts in them.
    pub incidents: u64,
    pub alerts: u64,
    /// What the API lists afterwards.
    pub listed_alerts: u64,
    pub open_alerts: u64,
    pub open_incidents: u64,
    /// Alerts/s of the firing load and of the resolving load.
    pub fire_rate: f64,
    pub resolve_rate: f64,
    /// The cursor used for the "middle" page, and how many alerts come after it.
    pub middle_cursor: String,
    pub rss_bytes: u64,
    /// The open counts the console page shows ("N triggered · M acknowledged").
    pub console_counts: Option<String>,
    /// (request as shown in the report, what was measured)
    pub kinds: Vec<(String, Sequential)>,
}

/// Runs the scenario on a fresh server; `incidents` webhook groups of 10 alerts each.
pub async fn run(plan: &Plan, incidents: u64, errors: &mut Vec<(String, String)>) -> Result<Lists> {
    let server = procs::spawn_firebreak_with_env(
        &plan.args.firebreak,
        &plan.work_dir,
        Store::Sqlite,
        &[
            ("FIREBREAK_BOOTSTRAP_PASSWORD", PASSWORD),
            ("FIREBREAK_BOOTSTRAP_EMAIL", EMAIL),
        ],
    )
    .await?;
    let out = measure(plan, &server, incidents, errors).await;
    let out = match out {
        Ok(v) => v,
        Err(e) => bail!("{e:#}; server log tail:\n{}", server.log_tail()),
    };
    server.stop().await?;
    Ok(out)
}

async fn measure(
    plan: &Plan,
    server: &procs::Server,
    incidents: u64,
    errors: &mut Vec<(String, String)>,
) -> Result<Lists> {
    let addr = server.addr;
    let keys = crate::setup(addr).await?;
    let path = format!("/ingest/alertmanager/{}", keys.alertmanager);
    let starts_at = workload::now_rfc3339();

    // Load: one firing group per request, then every odd group resolved.
    eprintln!(
        "  loading {} incidents × {ALERTS_PER_INCIDENT} alerts",
        incidents
    );
    let fire = Template::ListsWebhook {
        per_request: ALERTS_PER_INCIDENT as usize,
        starts_at: starts_at.clone(),
        resolve_at: None,
    };
    let fire_rate = load(plan, server, &path, fire, incidents).await?;
    let resolved_groups = incidents / 2;
    eprintln!("  resolving {resolved_groups} of them (every odd group)");
    let resolve = Template::ListsWebhook {
        per_request: ALERTS_PER_INCIDENT as usize,
        starts_at,
        resolve_at: Some(workload::now_rfc3339()),
    };
    let resolve_rate = load(plan, server, &path, resolve, resolved_groups).await?;
    let alerts = incidents * ALERTS_PER_INCIDENT;
    let open_groups = incidents - resolved_groups;

    // What the API says is in the store; the middle cursor comes from paging through it.
    eprintln!("  counting what the API lists");
    let (listed_alerts, middle) = count_pages(addr, "/api/v1/alerts?", alerts, alerts / 2).await?;
    let middle_cursor =
        middle.ok_or_else(|| anyhow!("paging through all alerts gave no middle cursor"))?;
    let (open_alerts, _) = count_pages(
        addr,
        "/api/v1/alerts?status=open&",
        open_groups * ALERTS_PER_INCIDENT,
        0,
    )
    .await?;
    let (open_incidents, _) =
        count_pages(addr, "/api/v1/incidents?status=open&", open_groups, 0).await?;
    let expect = [
        ("alerts", listed_alerts, alerts),
        (
            "open alerts",
            open_alerts,
            open_groups * ALERTS_PER_INCIDENT,
        ),
        ("open incidents", open_incidents, open_groups),
    ];
    for (what, got, want) in expect {
        if got != want {
            let name = "lists sanity check".to_string();
            let msg = format!("the API lists {got} {what}, expected {want}");
            eprintln!("  {name}: ERROR: {msg}");
            errors.push((name, msg));
        }
    }
    let rss_bytes = server.rss_bytes()?;

    // The console session: sign-in page (login CSRF cookie + hidden field), then the form.
    let session = sign_in(addr).await.context("signing in to the console")?;
    let session_cookie = format!("fb_session={session}");
    let bearer = format!("Bearer {}", procs::TOKEN);
    let api: &[(&str, &str)] = &[("authorization", &bearer)];
    let console: &[(&str, &str)] = &[("cookie", &session_cookie)];

    let cursor = crate::percent_encode(&middle_cursor);
    let kinds: [Kind; 5] = [
        Kind(
            "GET /api/v1/incidents?status=open&limit=50".into(),
            "/api/v1/incidents?status=open&limit=50".into(),
            api,
            Check::Items {
                field: "status",
                allowed: &["triggered", "acknowledged"],
            },
        ),
        Kind(
            "GET /api/v1/alerts?status=open&limit=50".into(),
            "/api/v1/alerts?status=open&limit=50".into(),
            api,
            Check::Items {
                field: "status",
                allowed: &["triggered", "acknowledged"],
            },
        ),
        Kind(
            "GET /api/v1/incidents?severity=SEV1&limit=50".into(),
            "/api/v1/incidents?severity=SEV1&limit=50".into(),
            api,
            Check::Items {
                field: "severity",
                allowed: &["SEV1"],
            },
        ),
        Kind(
            "GET /api/v1/alerts?limit=50&cursor=<middle>".into(),
            format!("/api/v1/alerts?limit=50&cursor={cursor}"),
            api,
            Check::Items {
                field: "status",
                allowed: &["triggered", "acknowledged", "resolved"],
            },
        ),
        Kind(
            "GET /incidents (console HTML)".into(),
            "/incidents".into(),
            console,
            Check::Html,
        ),
    ];
    let mut measured = Vec::new();
    for Kind(label, path, headers, check) in kinds {
        eprintln!("  {label}");
        let s =
            http::sequential_gets(addr, &path, headers, WARMUP_REQUESTS, MEASURED_REQUESTS).await?;
        if let Err(e) = check.verify(&s.last_body) {
            let name = "lists sanity check".to_string();
            let msg = format!("GET {path}: {e:#}");
            eprintln!("  {name}: ERROR: {msg}");
            errors.push((name, msg));
        }
        measured.push((label, s));
    }
    let console_counts = measured.last().and_then(|(_, s)| counts_text(&s.last_body));
    Ok(Lists {
        console_counts,
        incidents,
        alerts,
        listed_alerts,
        open_alerts,
        open_incidents,
        fire_rate,
        resolve_rate,
        middle_cursor,
        rss_bytes,
        kinds: measured,
    })
}

/// One request kind: (label in the report, path, headers, check of the answer).
struct Kind<'a>(String, String, Headers<'a>, Check);

type Headers<'a> = &'a [(&'a str, &'a str)];

/// What a measured answer must look like.
enum Check {
    /// JSON with 50 `items`, each with `field` one of `allowed`.
    Items {
        field: &'static str,
        allowed: &'static [&'static str],
    },
    /// The incident list page (not the sign-in form).
    Html,
}

impl Check {
    fn verify(&self, body: &[u8]) -> Result<()> {
        match self {
            Check::Items { field, allowed } => {
                let v: serde_json::Value =
                    serde_json::from_slice(body).context("the answer is not JSON")?;
                let items = v["items"]
                    .as_array()
                    .ok_or_else(|| anyhow!("no items in the answer"))?;
                if items.len() != PAGE_LIMIT {
                    bail!("{} items, expected {PAGE_LIMIT}", items.len());
                }
                if let Some(bad) = items
                    .iter()
                    .find(|i| !allowed.iter().any(|a| i[*field] == *a))
                {
                    bail!("an item with {field} {} (want {allowed:?})", bad[*field]);
                }
                Ok(())
            }
            Check::Html => {
                let text = String::from_utf8_lossy(body);
                if !text.contains("<html") || text.contains("name=\"password\"") {
                    bail!("not the incident list page");
                }
                if !text.contains("lists_r") {
                    bail!("the page shows none of the loaded incidents");
                }
                Ok(())
            }
        }
    }
}

/// Sends `requests` webhook bodies from `template` over the batch connections; alerts/s.
async fn load(
    plan: &Plan,
    server: &procs::Server,
    path: &str,
    template: Template,
    requests: u64,
) -> Result<f64> {
    let load = http::Load {
        addr: server.addr,
        path: path.to_string(),
        connections: plan.args.batch_connections,
        warmup: Duration::ZERO,
        duration: plan.load_limit,
        expect: StatusCode::OK,
        server_pid: server.pid(),
    };
    let gens = Generator::per_connection(template, load.connections, Some(requests));
    let res = http::run(&load, gens).await?;
    if res.total_requests < requests {
        bail!(
            "loaded only {} of {requests} webhook requests within {:?}",
            res.total_requests,
            plan.load_limit
        );
    }
    Ok((res.total_requests * ALERTS_PER_INCIDENT) as f64 / res.window.as_secs_f64().max(1e-9))
}

/// Pages through `base` (ending in `?` or `&`) 500 at a time; returns the number of items and
/// the `next_cursor` of the first page at which `middle` (> 0) items had been seen.
async fn count_pages(
    addr: SocketAddr,
    base: &str,
    expected: u64,
    middle: u64,
) -> Result<(u64, Option<String>)> {
    let mut count = 0u64;
    let mut cursor: Option<String> = None;
    let mut at_middle = None;
    for _ in 0..(expected / 500 + 50) {
        let mut path = format!("{base}limit=500");
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(&crate::percent_encode(c));
        }
        let v = http::request_json(addr, Method::GET, &path, None, StatusCode::OK).await?;
        count += v["items"].as_array().map_or(0, Vec::len) as u64;
        let next = v["next_cursor"].as_str().map(str::to_string);
        if middle > 0 && at_middle.is_none() && count >= middle {
            at_middle.clone_from(&next);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok((count, at_middle)),
        }
    }
    bail!("paging through {base} did not end (counted {count} so far)")
}

/// Signs in as the bootstrap admin like a browser; returns the session cookie's value.
async fn sign_in(addr: SocketAddr) -> Result<String> {
    let (status, headers, body) =
        http::request_with_headers(addr, Method::GET, "/signin", &[], None).await?;
    if status != StatusCode::OK {
        bail!("GET /signin answered {status}");
    }
    let login = cookie(&headers, "fb_signin").ok_or_else(|| anyhow!("no fb_signin cookie"))?;
    let html = String::from_utf8_lossy(&body);
    let marker = "name=\"_csrf\" value=\"";
    let at = html
        .find(marker)
        .ok_or_else(|| anyhow!("no _csrf field on the sign-in page"))?
        + marker.len();
    let csrf = html[at..].split('"').next().unwrap_or_default().to_string();
    let form = format!(
        "email={}&password={}&_csrf={}&next={}",
        crate::percent_encode(EMAIL),
        crate::percent_encode(PASSWORD),
        crate::percent_encode(&csrf),
        crate::percent_encode("/incidents")
    );
    let login_cookie = format!("fb_signin={login}");
    let (status, headers, body) = http::request_with_headers(
        addr,
        Method::POST,
        "/signin",
        &[
            (CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded"),
            ("cookie", &login_cookie),
        ],
        Some(form),
    )
    .await?;
    if status != StatusCode::SEE_OTHER {
        bail!(
            "POST /signin answered {status} (want 303): {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    cookie(&headers, "fb_session")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow!("POST /signin set no fb_session cookie"))
}

/// The value of cookie `name` from the answer's `Set-Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The text of the console's `data-testid="counts"` element, tags stripped.
fn counts_text(html: &[u8]) -> Option<String> {
    let html = String::from_utf8_lossy(html);
    let at = html.find("data-testid=\"counts\"")?;
    let rest = &html[at..];
    let body = &rest[rest.find('>')? + 1..];
    let end = body.find("</p>")?;
    let mut out = String::new();
    let mut in_tag = false;
    for ch in body[..end].chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    Some(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_counts_are_read() {
        let html = r#"<main><p class="counts" data-testid="counts"><span>500 triggered</span> · <span>0 acknowledged</span></p>"#;
        assert_eq!(
            counts_text(html.as_bytes()).as_deref(),
            Some("500 triggered · 0 acknowledged")
        );
        assert_eq!(counts_text(b"<p>nothing</p>"), None);
    }
}
