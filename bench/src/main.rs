//! `firebreak-bench`: the performance harness. It spawns real firebreak servers (and, on
//! request, Prometheus Alertmanager side by side), drives them over keep-alive HTTP/1.1 from
//! 127.0.0.1, measures the same-run storage ceilings, and prints one table row per figure with
//! its target, the comparison measured in the same run, the ratio, and PASS/FAIL.

mod ceilings;
mod http;
mod lists;
mod procs;
mod report;
mod workload;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use hyper::{Method, StatusCode};
use procs::{Server, Store};
use report::Results;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use workload::{Generator, Template};

#[derive(Parser, Clone)]
#[command(
    name = "firebreak-bench",
    about = "Measures firebreak against its performance targets and same-run ceilings."
)]
pub struct Args {
    /// The firebreak binary to measure (build it with --release for real figures).
    #[arg(long)]
    firebreak: PathBuf,
    /// Also measure Prometheus Alertmanager side by side (e.g. /usr/bin/prometheus-alertmanager).
    #[arg(long)]
    alertmanager: Option<PathBuf>,
    /// `group_by` of Alertmanager's route (comma-separated; `...` = every label, one
    /// aggregation group per alert) [default: none, all alerts in one group].
    #[arg(long, value_delimiter = ',')]
    am_group_by: Vec<String>,
    /// PostgreSQL URL of an existing database to connect to; the harness creates (and drops) a
    /// fresh database `firebreak_bench_<pid>` next to it for the pg-single scenario.
    #[arg(long, env = "FIREBREAK_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Short run for CI: about 2 s per scenario, 10,000 alerts for the memory figure.
    #[arg(long)]
    smoke: bool,
    /// Measured seconds per throughput scenario (and for the ceilings) [default: 10, smoke: 2].
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds before each measured window [default: 1, smoke: 0.5].
    #[arg(long)]
    warmup: Option<f64>,
    /// Keep-alive connections for single-alert scenarios.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Keep-alive connections for batch scenarios (64 alerts per request).
    #[arg(long, default_value_t = 32)]
    batch_connections: usize,
    /// Alerts per batch request.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Share of single-alert events that repeat a dedup key already sent, in percent.
    #[arg(long, default_value_t = 30)]
    repeat_percent: u64,
    /// Worker threads of the client's tokio runtime (the client shares the cores with the
    /// server; keep it small).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Distinct open alerts loaded for the memory figure [default: 100000, smoke: 10000].
    #[arg(long)]
    memory_alerts: Option<u64>,
    /// Incidents loaded for the lists scenario, 10 alerts each, half of them resolved
    /// [default: 10000, smoke: 1000].
    #[arg(long)]
    lists_incidents: Option<u64>,
    /// Spawns measured for the start-time median.
    #[arg(long, default_value_t = 5)]
    start_runs: usize,
    /// Client connections of the PostgreSQL upsert ceiling.
    #[arg(long, default_value_t = 32)]
    pg_ceiling_clients: usize,
    /// Where temp dirs (stores, ceiling databases) go; must be the filesystem firebreak
    /// would use [default: the system temp dir].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Only these scenarios (comma-separated): ceiling, pd, am-batch, pg, memory, lists, start,
    /// alertmanager.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Exit non-zero when any target fails (without it only harness errors do).
    #[arg(long)]
    check: bool,
}

/// Settings resolved from the arguments.
pub struct Plan {
    pub args: Args,
    pub duration: Duration,
    pub warmup: Duration,
    pub memory_alerts: u64,
    pub lists_incidents: u64,
    pub work_dir: PathBuf,
    pub load_limit: Duration,
}

impl Plan {
    fn wants(&self, scenario: &str) -> bool {
        self.args.only.is_empty() || self.args.only.iter().any(|s| s == scenario)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args.client_threads.max(1);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("firebreak-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = run(args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
            _ = term.recv() => Err(anyhow!("terminated")),
        }
    });
    // Dropping the runtime drops any remaining tasks, and with them their children.
    rt.shutdown_timeout(Duration::from_secs(5));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("firebreak-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode> {
    let smoke = args.smoke;
    let secs = |v: Option<f64>, normal: f64, short: f64| -> Result<Duration> {
        let s = v.unwrap_or(if smoke { short } else { normal });
        if !(0.0..=3600.0).contains(&s) {
            bail!("durations must be between 0 and 3600 seconds");
        }
        Ok(Duration::from_secs_f64(s))
    };
    let duration = secs(args.duration, 10.0, 2.0)?;
    if duration.is_zero() {
        bail!("--duration must be positive");
    }
    let warmup = secs(args.warmup, 1.0, 0.5)?;
    let memory_alerts = args
        .memory_alerts
        .unwrap_or(if smoke { 10_000 } else { 100_000 });
    let lists_incidents = args
        .lists_incidents
        .unwrap_or(if smoke { 1_000 } else { 10_000 });
    if !(500..=1_000_000).contains(&lists_incidents) {
        bail!("--lists-incidents must be between 500 and 1,000,000");
    }
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    if !args.firebreak.is_file() {
        bail!("--firebreak {} is not a file", args.firebreak.display());
    }
    if let Some(am) = &args.alertmanager {
        if !am.is_file() {
            bail!("--alertmanager {} is not a file", am.display());
        }
    }
    if args.connections == 0 || args.batch_connections == 0 || args.batch_size == 0 {
        bail!("connection counts and the batch size must be positive");
    }
    if args.repeat_percent > 100 {
        bail!("--repeat-percent must be 0..=100");
    }
    let plan = Plan {
        duration,
        warmup,
        memory_alerts,
        lists_incidents,
        load_limit: if smoke {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(300)
        },
        work_dir,
        args,
    };
    let started = Instant::now();
    let mut r = Results::default();
    report::print_header(&plan);

    // The single-row ceiling runs half right before and half right after pd-single, so that
    // both see the same disk (fsync rates on shared virtual disks drift over minutes).
    let ceiling_dir = if plan.wants("ceiling") {
        Some(procs::TempDir::new(&plan.work_dir, "ceiling")?)
    } else {
        None
    };
    let halves = if plan.wants("pd") { 2 } else { 1 };
    let ceiling_part = plan.duration / halves;
    if let Some(dir) = &ceiling_dir {
        progress(started, "ceiling: SQLite batched commits");
        let d = plan.duration.min(Duration::from_secs(2));
        let out = sqlite_ceiling(dir, move |p| ceilings::sqlite_batched(&p, d)).await;
        r.sqlite_batched = record(&mut r.errors, "SQLite batched ceiling", out);
        progress(
            started,
            "ceiling: SQLite single-row durable commits (1st half)",
        );
        let out = sqlite_ceiling(dir, move |p| {
            ceilings::sqlite_single(&p, "ceiling-1.db", ceiling_part)
        })
        .await;
        if let Some(rate) = record(&mut r.errors, "SQLite ceiling", out) {
            r.sqlite_single_parts.push(rate);
        }
    }

    if plan.wants("pd") {
        progress(started, "pd-single on SQLite");
        let out = pd_single(&plan, Store::Sqlite, "pd-single SQLite", &mut r.errors).await;
        r.pd = record(&mut r.errors, "pd-single SQLite", out);
    }

    if let Some(dir) = &ceiling_dir {
        if halves == 2 {
            progress(
                started,
                "ceiling: SQLite single-row durable commits (2nd half)",
            );
            let out = sqlite_ceiling(dir, move |p| {
                ceilings::sqlite_single(&p, "ceiling-2.db", ceiling_part)
            })
            .await;
            if let Some(rate) = record(&mut r.errors, "SQLite ceiling", out) {
                r.sqlite_single_parts.push(rate);
            }
        }
    }
    drop(ceiling_dir);

    if plan.wants("am-batch") {
        progress(started, "am-batch on SQLite");
        let out = am_batch(&plan, &mut r.errors).await;
        r.am_batch = record(&mut r.errors, "am-batch SQLite", out);
    }

    if plan.wants("pg") {
        if let Some(url) = plan.args.postgres_url.clone() {
            progress(started, "pg-single on PostgreSQL");
            let out = postgres(&plan, &url, &mut r).await;
            record(&mut r.errors, "pg-single", out);
        }
    }

    if plan.wants("memory") {
        progress(started, "memory: idle RSS and RSS with open alerts");
        r.memory = record(&mut r.errors, "memory", memory_firebreak(&plan).await);
    }

    if plan.wants("lists") {
        progress(
            started,
            "lists: incident and alert lists on a large SQLite store",
        );
        let out = lists::run(&plan, plan.lists_incidents, &mut r.errors).await;
        r.lists = record(&mut r.errors, "lists", out);
    }

    if plan.wants("start") {
        progress(started, "start time: empty store to /readyz 200");
        let mut times = Vec::new();
        for _ in 0..plan.args.start_runs.max(1) {
            match procs::firebreak_start_time(&plan.args.firebreak, &plan.work_dir).await {
                Ok(t) => times.push(t),
                Err(e) => {
                    r.errors.push(("start time".into(), format!("{e:#}")));
                    break;
                }
            }
        }
        if !times.is_empty() {
            r.start = Some(times);
        }
    }

    if let Some(am_bin) = plan.args.alertmanager.clone() {
        if plan.wants("alertmanager") {
            alertmanager(&plan, &am_bin, &mut r, started).await;
        }
    }

    progress(started, "done");
    let verdicts = report::print(&plan, &r);
    if !r.errors.is_empty() {
        return Ok(ExitCode::from(2));
    }
    if plan.args.check && verdicts.failed > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a blocking SQLite ceiling measurement in `dir` off the runtime's worker threads.
async fn sqlite_ceiling(
    dir: &procs::TempDir,
    f: impl FnOnce(PathBuf) -> Result<ceilings::Rate> + Send + 'static,
) -> Result<ceilings::Rate> {
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || f(path)).await?
}

fn progress(started: Instant, what: &str) {
    eprintln!("[{:6.1}s] {what}", started.elapsed().as_secs_f64());
}

/// Keeps a scenario's value, or its error (and goes on with the next scenario).
fn record<T>(errors: &mut Vec<(String, String)>, name: &str, r: Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("  {name}: ERROR: {e:#}");
            errors.push((name.to_string(), format!("{e:#}")));
            None
        }
    }
}

/// Integration keys of a freshly set-up firebreak.
struct Keys {
    pagerduty: String,
    alertmanager: String,
}

/// Creates a service with a PagerDuty and an Alertmanager integration.
async fn setup(addr: SocketAddr) -> Result<Keys> {
    let svc = http::request_json(
        addr,
        Method::POST,
        "/api/v1/services",
        Some(r#"{"name":"bench"}"#.into()),
        StatusCode::CREATED,
    )
    .await?;
    let id = svc["id"]
        .as_str()
        .ok_or_else(|| anyhow!("service without id: {svc}"))?;
    let path = format!("/api/v1/services/{id}/integrations");
    let key = async |kind: &str| -> Result<String> {
        let body = format!(r#"{{"kind":"{kind}","name":"bench-{kind}"}}"#);
        let v =
            http::request_json(addr, Method::POST, &path, Some(body), StatusCode::CREATED).await?;
        v["key"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("integration without key: {v}"))
    };
    let pagerduty = key("pagerduty").await?;
    let alertmanager = key("alertmanager").await?;
    Ok(Keys {
        pagerduty,
        alertmanager,
    })
}

/// Records an error (and keeps the measurement) unless the server lists an open alert.
async fn sanity_open_alerts(addr: SocketAddr, scenario: &str, errors: &mut Vec<(String, String)>) {
    if let Err(e) = list_one_open_alert(addr).await {
        let name = format!("{scenario} sanity check");
        eprintln!("  {name}: ERROR: {e:#}");
        errors.push((name, format!("{e:#}")));
    }
}

/// Fails unless `GET /api/v1/alerts?status=open&limit=1` lists at least one alert.
async fn list_one_open_alert(addr: SocketAddr) -> Result<()> {
    let v = http::request_json(
        addr,
        Method::GET,
        "/api/v1/alerts?status=open&limit=1",
        None,
        StatusCode::OK,
    )
    .await?;
    let n = v["items"].as_array().map_or(0, Vec::len);
    if n == 0 {
        bail!("after the run GET /api/v1/alerts?status=open lists no alert: {v}");
    }
    Ok(())
}

/// Counts open alerts by paging through the API (500 per page, bounded).
async fn count_open_alerts(addr: SocketAddr, expected: u64) -> Result<u64> {
    let mut count = 0u64;
    let mut cursor: Option<String> = None;
    for _ in 0..(expected / 500 + 50) {
        let mut path = "/api/v1/alerts?status=open&limit=500".to_string();
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(&percent_encode(c));
        }
        let v = http::request_json(addr, Method::GET, &path, None, StatusCode::OK).await?;
        count += v["items"].as_array().map_or(0, Vec::len) as u64;
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(count),
        }
    }
    bail!("paging through open alerts did not end (counted {count} so far)")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pd_load(plan: &Plan, server: &Server, key: &str) -> (http::Load, Vec<Generator>) {
    let load = http::Load {
        addr: server.addr,
        path: "/v2/enqueue".into(),
        connections: plan.args.connections,
        warmup: plan.warmup,
        duration: plan.duration,
        expect: StatusCode::ACCEPTED,
        server_pid: server.pid(),
    };
    let gens = Generator::per_connection(
        Template::pd_single(key, plan.args.repeat_percent),
        plan.args.connections,
        None,
    );
    (load, gens)
}

/// Scenario 2 (and 4): PagerDuty single events over 64 keep-alive connections.
async fn pd_single(
    plan: &Plan,
    store: Store<'_>,
    scenario: &str,
    errors: &mut Vec<(String, String)>,
) -> Result<http::LoadResult> {
    let server = procs::spawn_firebreak(&plan.args.firebreak, &plan.work_dir, store).await?;
    let keys = setup(server.addr).await?;
    let (load, gens) = pd_load(plan, &server, &keys.pagerduty);
    let result = http::run(&load, gens).await;
    let result = match result {
        Ok(r) => r,
        Err(e) => bail!("{e:#}; server log tail:\n{}", server.log_tail()),
    };
    sanity_open_alerts(server.addr, scenario, errors).await;
    server.stop().await?;
    Ok(result)
}

/// Scenario 3: Alertmanager webhook batches, distinct alerts, one groupKey per request.
async fn am_batch(plan: &Plan, errors: &mut Vec<(String, String)>) -> Result<http::LoadResult> {
    let server =
        procs::spawn_firebreak(&plan.args.firebreak, &plan.work_dir, Store::Sqlite).await?;
    let keys = setup(server.addr).await?;
    let load = http::Load {
        addr: server.addr,
        path: format!("/ingest/alertmanager/{}", keys.alertmanager),
        connections: plan.args.batch_connections,
        warmup: plan.warmup,
        duration: plan.duration,
        expect: StatusCode::OK,
        server_pid: server.pid(),
    };
    let gens = Generator::per_connection(
        Template::Webhook {
            per_request: plan.args.batch_size,
            starts_at: workload::now_rfc3339(),
        },
        load.connections,
        None,
    );
    let result = match http::run(&load, gens).await {
        Ok(r) => r,
        Err(e) => bail!("{e:#}; server log tail:\n{}", server.log_tail()),
    };
    sanity_open_alerts(server.addr, "am-batch SQLite", errors).await;
    server.stop().await?;
    Ok(result)
}

/// Scenario 4: the PostgreSQL ceiling and pd-single on a fresh database, dropped afterwards.
async fn postgres(plan: &Plan, url: &str, r: &mut Results) -> Result<()> {
    let db = format!("firebreak_bench_{}", std::process::id());
    let db_url = with_database(url, &db)?;
    let (admin, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let conn_task = tokio::spawn(conn);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping a leftover database {db}"))?;
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .with_context(|| format!("creating database {db}"))?;
    let out = async {
        eprintln!(
            "  PostgreSQL ceiling: {} clients, single-row upserts",
            plan.args.pg_ceiling_clients
        );
        r.pg_ceiling = record(
            &mut r.errors,
            "PostgreSQL ceiling",
            ceilings::postgres_upserts(
                &db_url,
                plan.args.pg_ceiling_clients,
                plan.duration,
                plan.args.repeat_percent,
            )
            .await,
        );
        eprintln!("  pd-single against firebreak on {db_url}");
        pd_single(plan, Store::Postgres(&db_url), "pg-single", &mut r.errors).await
    }
    .await;
    // Always drop the database, also when the scenario failed.
    let dropped = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await;
    drop(admin);
    conn_task.abort();
    if let Err(e) = dropped {
        r.errors.push((
            "PostgreSQL cleanup".into(),
            format!("dropping database {db}: {e}"),
        ));
    }
    r.pg = Some(out.context("firebreak on PostgreSQL")?);
    Ok(())
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> Result<String> {
    let scheme_end = url
        .find("://")
        .ok_or_else(|| anyhow!("--postgres-url must look like postgres://user@host:port/db"))?
        + 3;
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    Ok(format!("{host_part}/{db}{query}"))
}

/// What the memory scenario measured.
pub struct Memory {
    pub idle_rss: u64,
    pub loaded_rss: u64,
    pub loaded_alerts: u64,
    /// Open alerts the API lists afterwards (firebreak only).
    pub counted_open: Option<u64>,
    pub load_rate: f64,
}

/// Scenario 5: idle RSS a second after start, then RSS with N distinct open alerts.
async fn memory_firebreak(plan: &Plan) -> Result<Memory> {
    let server =
        procs::spawn_firebreak(&plan.args.firebreak, &plan.work_dir, Store::Sqlite).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = server.rss_bytes()?;
    let keys = setup(server.addr).await?;
    let path = format!("/ingest/alertmanager/{}", keys.alertmanager);
    let template = Template::Webhook {
        per_request: plan.args.batch_size,
        starts_at: workload::now_rfc3339(),
    };
    let (loaded, rate) = load_distinct(plan, &server, path, StatusCode::OK, template).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded_rss = server.rss_bytes()?;
    let counted_open = Some(count_open_alerts(server.addr, loaded).await?);
    server.stop().await?;
    Ok(Memory {
        idle_rss,
        loaded_rss,
        loaded_alerts: loaded,
        counted_open,
        load_rate: rate,
    })
}

/// Sends `plan.memory_alerts` distinct alerts in batches; returns (alerts sent, alerts/s).
async fn load_distinct(
    plan: &Plan,
    server: &Server,
    path: String,
    expect: StatusCode,
    template: Template,
) -> Result<(u64, f64)> {
    let per = plan.args.batch_size as u64;
    let requests = plan.memory_alerts.div_ceil(per);
    let load = http::Load {
        addr: server.addr,
        path,
        connections: plan.args.batch_connections,
        warmup: Duration::ZERO,
        duration: plan.load_limit,
        expect,
        server_pid: server.pid(),
    };
    let gens = Generator::per_connection(template, load.connections, Some(requests));
    let res = http::run(&load, gens).await?;
    if res.total_requests < requests {
        bail!(
            "loaded only {} of {requests} batches within {:?}",
            res.total_requests,
            plan.load_limit
        );
    }
    let alerts = res.total_requests * per;
    Ok((alerts, alerts as f64 / res.window.as_secs_f64().max(1e-9)))
}

/// Scenario 7: the same figures for Prometheus Alertmanager (in memory), each on a fresh one.
async fn alertmanager(plan: &Plan, bin: &std::path::Path, r: &mut Results, started: Instant) {
    let starts_at = workload::now_rfc3339();
    progress(started, "Alertmanager: single alerts");
    let single = async {
        let server = procs::spawn_alertmanager(bin, &plan.work_dir, &plan.args.am_group_by).await?;
        let load = http::Load {
            addr: server.addr,
            path: "/api/v2/alerts".into(),
            connections: plan.args.connections,
            warmup: plan.warmup,
            duration: plan.duration,
            expect: StatusCode::OK,
            server_pid: server.pid(),
        };
        let gens = Generator::per_connection(
            Template::AmApiSingle {
                repeat_pct: plan.args.repeat_percent,
                starts_at: starts_at.clone(),
            },
            load.connections,
            None,
        );
        let res = http::run(&load, gens).await?;
        server.stop().await?;
        Ok::<_, anyhow::Error>(res)
    };
    r.am.single = record(&mut r.errors, "Alertmanager single", single.await);

    progress(started, "Alertmanager: batches");
    let batch = async {
        let server = procs::spawn_alertmanager(bin, &plan.work_dir, &plan.args.am_group_by).await?;
        let load = http::Load {
            addr: server.addr,
            path: "/api/v2/alerts".into(),
            connections: plan.args.batch_connections,
            warmup: plan.warmup,
            duration: plan.duration,
            expect: StatusCode::OK,
            server_pid: server.pid(),
        };
        let gens = Generator::per_connection(
            Template::AmApiBatch {
                per_request: plan.args.batch_size,
                starts_at: starts_at.clone(),
            },
            load.connections,
            None,
        );
        let res = http::run(&load, gens).await?;
        server.stop().await?;
        Ok::<_, anyhow::Error>(res)
    };
    r.am.batch = record(&mut r.errors, "Alertmanager batch", batch.await);

    progress(started, "Alertmanager: memory");
    let memory = async {
        let server = procs::spawn_alertmanager(bin, &plan.work_dir, &plan.args.am_group_by).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle_rss = server.rss_bytes()?;
        let template = Template::AmApiBatch {
            per_request: plan.args.batch_size,
            starts_at: starts_at.clone(),
        };
        let (loaded, rate) = load_distinct(
            plan,
            &server,
            "/api/v2/alerts".into(),
            StatusCode::OK,
            template,
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let loaded_rss = server.rss_bytes()?;
        server.stop().await?;
        Ok::<_, anyhow::Error>(Memory {
            idle_rss,
            loaded_rss,
            loaded_alerts: loaded,
            counted_open: None,
            load_rate: rate,
        })
    };
    r.am.memory = record(&mut r.errors, "Alertmanager memory", memory.await);

    progress(started, "Alertmanager: start time");
    let mut times = Vec::new();
    for _ in 0..plan.args.start_runs.max(1) {
        match procs::spawn_alertmanager(bin, &plan.work_dir, &plan.args.am_group_by).await {
            Ok(server) => {
                times.push(server.ready_after);
                if let Err(e) = server.stop().await {
                    r.errors
                        .push(("Alertmanager start time".into(), format!("{e:#}")));
                    break;
                }
            }
            Err(e) => {
                r.errors
                    .push(("Alertmanager start time".into(), format!("{e:#}")));
                break;
            }
        }
    }
    if !times.is_empty() {
        r.am.start = Some(times);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "x").unwrap(),
            "postgres://u@h:1/x"
        );
    }

    #[test]
    fn cursors_are_escaped() {
        assert_eq!(percent_encode("a+b/c="), "a%2Bb%2Fc%3D");
    }
}
