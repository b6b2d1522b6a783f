//! The command line: `serve`, `migrate`, `config example`, and client commands that call a
//! running firebreak (`alert send`, `incidents list`, `incident ack|resolve|show`).

use crate::app;
use crate::auth;
use crate::client::Client;
use crate::config::{Config, Overrides, EXAMPLE};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use firebreak_core::{Clock, SystemClock};
use hyper::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "firebreak",
    version,
    about = "Incident response in one binary: alerts become incidents, people get paged, outages get run and learned from."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API, ingest endpoints, workers, metrics).
    Serve(ServerArgs),
    /// Apply database migrations and exit.
    Migrate(ServerArgs),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// Send alert events (client; uses FIREBREAK_URL).
    Alert {
        #[command(subcommand)]
        what: AlertCmd,
    },
    /// List incidents (client; uses FIREBREAK_URL and FIREBREAK_TOKEN).
    Incidents {
        #[command(subcommand)]
        what: IncidentsCmd,
    },
    /// Act on one incident (client; uses FIREBREAK_URL and FIREBREAK_TOKEN).
    Incident {
        #[command(subcommand)]
        what: IncidentCmd,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        what: AuditCmd,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain of the audit log and report the first broken link. Reads the store
    /// directly with --database-url (the server must be stopped for SQLite), else asks the API.
    Verify {
        #[command(flatten)]
        client: ClientArgs,
        /// Read this store directly instead of calling the API.
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Args)]
struct ServerArgs {
    /// Settings file (TOML); see `firebreak config example`.
    #[arg(long, env = "FIREBREAK_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8080]
    #[arg(long, env = "FIREBREAK_LISTEN")]
    listen: Option<String>,
    /// Metrics listen address, or `off` [default: 127.0.0.1:9464]
    #[arg(long, env = "FIREBREAK_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// sqlite://PATH or postgres://... [default: sqlite://./firebreak-data/firebreak.db]
    #[arg(long, env = "FIREBREAK_DATABASE_URL")]
    database_url: Option<String>,
    /// Largest request body in bytes [default: 524288]
    #[arg(long, env = "FIREBREAK_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Connections in the PostgreSQL pool [default: 16]
    #[arg(long, env = "FIREBREAK_POSTGRES_POOL_SIZE")]
    postgres_pool_size: Option<usize>,
    /// Writes that may wait for the SQLite writer before ingest answers 503 [default: 16384]
    #[arg(long, env = "FIREBREAK_SQLITE_QUEUE_CAPACITY")]
    sqlite_queue_capacity: Option<usize>,
    /// Run background job workers: true or false [default: true]
    #[arg(long, env = "FIREBREAK_WORKERS")]
    workers: Option<bool>,
    /// Log filter, e.g. info or firebreak=debug [default: info]
    #[arg(long, env = "FIREBREAK_LOG")]
    log: Option<String>,
    /// Events per minute per routing key on /v2/enqueue before 429; 0 = no limit [default: 0]
    #[arg(long, env = "FIREBREAK_PAGERDUTY_RATE_LIMIT_PER_MINUTE")]
    pagerduty_rate_limit_per_minute: Option<u32>,
    /// Roles that must use a second factor in the console, comma-separated [default: none]
    #[arg(long, env = "FIREBREAK_MFA_REQUIRED_ROLES")]
    mfa_required_roles: Option<String>,
    /// Sensitive console actions re-ask for the second factor after this long [default: 15m]
    #[arg(long, env = "FIREBREAK_MFA_STEP_UP_WINDOW")]
    mfa_step_up_window: Option<String>,
}

impl ServerArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let over = Overrides {
            listen: self.listen.clone(),
            metrics_listen: self.metrics_listen.clone(),
            database_url: self.database_url.clone(),
            max_body_bytes: self.max_body_bytes,
            postgres_pool_size: self.postgres_pool_size,
            sqlite_queue_capacity: self.sqlite_queue_capacity,
            workers: self.workers,
            log: self.log.clone(),
            pagerduty_rate_limit_per_minute: self.pagerduty_rate_limit_per_minute,
            mfa_required_roles: self.mfa_required_roles.clone(),
            mfa_step_up_window: self.mfa_step_up_window.clone(),
        };
        Config::load(self.config.as_deref(), &over)
    }
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print a commented example firebreak.toml with every default.
    Example,
}

#[derive(Args)]
struct ClientArgs {
    /// firebreak base URL
    #[arg(long, env = "FIREBREAK_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API token
    #[arg(long, env = "FIREBREAK_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum AlertCmd {
    /// Send one event to a generic integration.
    Send {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        integration_key: String,
        #[arg(long)]
        summary: Option<String>,
        /// critical, error, warning or info
        #[arg(long, default_value = "error")]
        severity: String,
        #[arg(long)]
        dedup_key: Option<String>,
        #[arg(long)]
        source: Option<String>,
        /// Resolve the alert with this dedup key instead of triggering.
        #[arg(long, conflicts_with = "acknowledge")]
        resolve: bool,
        /// Acknowledge the alert with this dedup key instead of triggering.
        #[arg(long)]
        acknowledge: bool,
    },
}

#[derive(Subcommand)]
enum IncidentsCmd {
    /// List incidents, newest first.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// open, triggered, acknowledged, resolved (comma-separated)
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the raw JSON page.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum IncidentCmd {
    /// Acknowledge an incident (stops escalation).
    Ack {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
    /// Resolve an incident and its alerts.
    Resolve {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
    /// Show an incident with its alerts as JSON.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firebreak: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line (some causes, like TOML errors, span several lines).
fn one_line(e: &anyhow::Error) -> String {
    let text = e
        .chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn runtime(multi: bool) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = if multi {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.load()?;
            init_logging(&config.log);
            runtime(true)?.block_on(serve(config))
        }
        Command::Migrate(args) => {
            let config = args.load()?;
            init_logging(&config.log);
            runtime(false)?.block_on(async {
                let store = app::open_store(&config).await?;
                store.migrate().await.context("migration failed")?;
                println!("firebreak: migrations applied ({})", store.backend());
                Ok(())
            })
        }
        Command::Config {
            what: ConfigCmd::Example,
        } => {
            print!("{EXAMPLE}");
            Ok(())
        }
        Command::Alert { what } => runtime(false)?.block_on(alert_cmd(what)),
        Command::Incidents { what } => runtime(false)?.block_on(incidents_cmd(what)),
        Command::Incident { what } => runtime(false)?.block_on(incident_cmd(what)),
        Command::Audit {
            what:
                AuditCmd::Verify {
                    client,
                    database_url,
                },
        } => runtime(false)?.block_on(audit_verify(client, database_url)),
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = app::open_store(&config).await?;
    store.migrate().await.context("migration failed")?;
    let preset = std::env::var("FIREBREAK_BOOTSTRAP_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let password = std::env::var("FIREBREAK_BOOTSTRAP_PASSWORD")
        .ok()
        .filter(|t| !t.is_empty());
    let console_hint = if password.is_some() {
        "firebreak: sign in to the console at /signin as the admin (admin@localhost or FIREBREAK_BOOTSTRAP_EMAIL) with FIREBREAK_BOOTSTRAP_PASSWORD"
    } else {
        "firebreak: to use the console, give the admin a password: PATCH /api/v1/users/{id} {\"password\": \"...\"} (GET /api/v1/me shows the id), or start on an empty store with FIREBREAK_BOOTSTRAP_PASSWORD"
    };
    let from_env = preset.is_some();
    if let Some(token) = auth::bootstrap(store.as_ref(), clock.as_ref(), preset, password).await? {
        println!("{console_hint}");
        if from_env {
            println!("firebreak: empty store: installed the admin API token from FIREBREAK_BOOTSTRAP_TOKEN");
        } else {
            println!("firebreak: empty store: created the admin API token (shown once, keep it safe):\n\n    {token}\n\n  export FIREBREAK_TOKEN={token}");
        }
    }
    let server = app::start(&config, store.clone(), clock).await?;
    println!(
        "firebreak: listening on http://{} (store: {}, metrics: {})",
        server.addr,
        store.backend(),
        server
            .metrics_addr
            .map(|a| format!("http://{a}/metrics"))
            .unwrap_or_else(|| "off".into())
    );
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    server.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Percent-encodes a query-string value (everything but unreserved characters).
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn client(args: &ClientArgs, need_token: bool) -> anyhow::Result<Client> {
    if need_token && args.token.is_none() {
        anyhow::bail!("no API token: set FIREBREAK_TOKEN (or --token)");
    }
    Client::new(&args.url, args.token.clone())
}

async fn alert_cmd(cmd: AlertCmd) -> anyhow::Result<()> {
    let AlertCmd::Send {
        client: c,
        integration_key,
        summary,
        severity,
        dedup_key,
        source,
        resolve,
        acknowledge,
    } = cmd;
    let action = if resolve {
        "resolve"
    } else if acknowledge {
        "acknowledge"
    } else {
        "trigger"
    };
    if action != "trigger" && dedup_key.is_none() {
        anyhow::bail!("--dedup-key is required with --{action}");
    }
    if action == "trigger" && summary.is_none() {
        anyhow::bail!("--summary is required to trigger an alert");
    }
    let mut body = json!({"action": action, "severity": severity});
    if let Some(s) = summary {
        body["summary"] = json!(s);
    }
    if let Some(d) = dedup_key {
        body["dedup_key"] = json!(d);
    }
    if let Some(s) = source {
        body["source"] = json!(s);
    }
    let answer = client(&c, false)?
        .call(
            Method::POST,
            &format!("/ingest/generic/{integration_key}"),
            Some(&body),
        )
        .await?;
    println!(
        "{} {} (dedup key {})",
        answer
            .get("effect")
            .and_then(Value::as_str)
            .unwrap_or("accepted"),
        answer
            .get("incident_id")
            .and_then(Value::as_str)
            .map(|i| format!("incident {i}"))
            .unwrap_or_default(),
        answer
            .get("dedup_key")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );
    Ok(())
}

async fn incidents_cmd(cmd: IncidentsCmd) -> anyhow::Result<()> {
    let IncidentsCmd::List {
        client: c,
        status,
        limit,
        json,
    } = cmd;
    let mut path = format!("/api/v1/incidents?limit={limit}");
    if let Some(s) = status {
        path.push_str(&format!("&status={}", encode_query_value(&s)));
    }
    let page = client(&c, true)?.call(Method::GET, &path, None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    let items = page
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        println!("no incidents");
        return Ok(());
    }
    println!(
        "{:<8} {:<6} {:<6} {:<13} {:<24} TITLE",
        "ID", "NUMBER", "SEV", "STATUS", "DETECTED"
    );
    for i in items {
        let s = |k: &str| i.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        println!(
            "{:<8} #{:<5} {:<6} {:<13} {:<24} {}",
            s("id"),
            i.get("number").and_then(Value::as_i64).unwrap_or(0),
            s("severity"),
            s("status"),
            s("detected_at"),
            s("title")
        );
    }
    Ok(())
}

async fn incident_cmd(cmd: IncidentCmd) -> anyhow::Result<()> {
    let (c, id, action) = match cmd {
        IncidentCmd::Ack { client, id } => (client, id, Some("acknowledge")),
        IncidentCmd::Resolve { client, id } => (client, id, Some("resolve")),
        IncidentCmd::Show { client, id } => (client, id, None),
    };
    if id.starts_with('#') {
        anyhow::bail!("'{id}' is an incident number; give the incident id (the ID column of `firebreak incidents list`)");
    }
    let cl = client(&c, true)?;
    match action {
        Some(a) => {
            let inc = cl
                .call(Method::POST, &format!("/api/v1/incidents/{id}/{a}"), None)
                .await?;
            println!(
                "incident {} (#{}) is {}",
                inc.get("id").and_then(Value::as_str).unwrap_or(&id),
                inc.get("number").and_then(Value::as_i64).unwrap_or(0),
                inc.get("status").and_then(Value::as_str).unwrap_or("?")
            );
        }
        None => {
            let inc = cl
                .call(Method::GET, &format!("/api/v1/incidents/{id}"), None)
                .await?;
            println!("{}", serde_json::to_string_pretty(&inc)?);
        }
    }
    Ok(())
}

/// Verifies the audit chain page by page; `fetch(after)` gives the next entries oldest first.
async fn audit_verify(c: ClientArgs, database_url: Option<String>) -> anyhow::Result<()> {
    use firebreak_core::audit::{verify_chain, AuditEntry, GENESIS_HASH};
    const PAGE: u32 = 5000;
    let store = match &database_url {
        Some(url) => {
            let over = Overrides {
                database_url: Some(url.clone()),
                ..Default::default()
            };
            let config = Config::load(None, &over)?;
            let store = app::open_store(&config).await?;
            store.ready().await.context("the store is not migrated")?;
            Some(store)
        }
        None => None,
    };
    let api = match store {
        Some(_) => None,
        None => Some(client(&c, true)?),
    };
    let mut prev = GENESIS_HASH.to_string();
    let mut after: Option<firebreak_core::AuditId> = None;
    let mut count: u64 = 0;
    loop {
        let page: Vec<AuditEntry> = match (&store, &api) {
            (Some(store), _) => store.audit_chain(after, PAGE).await?,
            (None, Some(api)) => {
                let path = match after {
                    Some(a) => format!("/api/v1/audit/chain?after={a}&limit={PAGE}"),
                    None => format!("/api/v1/audit/chain?limit={PAGE}"),
                };
                serde_json::from_value(api.call(Method::GET, &path, None).await?)
                    .context("the API answered something that is not a list of audit entries")?
            }
            (None, None) => anyhow::bail!("nothing to read the audit log from"),
        };
        let Some(last) = page.last() else { break };
        let last_id = last.id;
        match verify_chain(&prev, &page) {
            Ok(hash) => prev = hash,
            Err(broken) => anyhow::bail!(
                "audit chain broken at entry {}: {}",
                broken.id,
                broken.reason
            ),
        }
        count += page.len() as u64;
        after = Some(last_id);
        if page.len() < PAGE as usize {
            break;
        }
    }
    println!("audit chain intact: {count} entries, last hash {prev}");
    Ok(())
}
