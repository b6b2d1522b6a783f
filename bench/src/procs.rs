//! Child processes the harness spawns (firebreak, Prometheus Alertmanager) and their temp dirs:
//! spawning, waiting for readiness, reading RSS and CPU time from `/proc`, and stopping them.
//! Every child is spawned with `kill_on_drop`, so error paths kill it too; temp dirs are removed
//! on drop.

use crate::http;
use anyhow::{anyhow, bail, Context, Result};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The bootstrap admin token every spawned firebreak gets.
pub const TOKEN: &str = "firebreak-bench-token-0123456789";

/// How long a server may take to come up before the harness gives up.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A directory removed (recursively) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(root: &Path, label: &str) -> Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = root.join(format!(
            "firebreak-bench-{}-{n}-{label}",
            std::process::id()
        ));
        std::fs::create_dir(&path)
            .with_context(|| format!("creating temp dir {}", path.display()))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A spawned server. Field order matters: the child is killed (dropped) before its dir goes.
pub struct Server {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    /// Time from spawn to the first successful readiness probe.
    pub ready_after: Duration,
    name: &'static str,
    log: PathBuf,
    _dir: TempDir,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resident set size in bytes (`VmRSS`).
    pub fn rss_bytes(&self) -> Result<u64> {
        rss_bytes(self.pid)
    }

    /// Fails if the child has exited (with its log tail).
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited unexpectedly ({status}); log tail:\n{}",
                self.name,
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// Kills the child (SIGKILL), reaps it and removes its temp dir.
    pub async fn stop(mut self) -> Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child
                .kill()
                .await
                .with_context(|| format!("killing {} (pid {})", self.name, self.pid))?;
        }
        Ok(())
    }

    /// The last lines of the child's stderr log (for error messages).
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

/// How firebreak stores its data.
pub enum Store<'a> {
    Sqlite,
    Postgres(&'a str),
}

/// Spawns `firebreak serve` on an ephemeral port with a fresh store, waits for the
/// "listening on" line and then for `/readyz` 200.
pub async fn spawn_firebreak(bin: &Path, root: &Path, store: Store<'_>) -> Result<Server> {
    spawn_firebreak_with_env(bin, root, store, &[]).await
}

/// [`spawn_firebreak`] with extra environment variables for the child (e.g. the bootstrap
/// password of the console).
pub async fn spawn_firebreak_with_env(
    bin: &Path,
    root: &Path,
    store: Store<'_>,
    env: &[(&str, &str)],
) -> Result<Server> {
    let dir = TempDir::new(root, "firebreak")?;
    let url = match store {
        Store::Sqlite => format!("sqlite://{}/fb.db", dir.path().display()),
        Store::Postgres(url) => url.to_string(),
    };
    let log = dir.path().join("stderr.log");
    let started = Instant::now();
    let mut cmd = firebreak_command(bin, dir.path(), "127.0.0.1:0", &url, &log)?;
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow!("firebreak exited at once"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout pipe"))?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(START_LIMIT, async {
        // Bounded: the server prints a handful of lines before this one.
        for _ in 0..1000 {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        return addr.parse::<SocketAddr>().ok();
                    }
                }
                _ => return None,
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let mut server = Server {
        child,
        pid,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ready_after: Duration::ZERO,
        name: "firebreak",
        log,
        _dir: dir,
    };
    let Some(addr) = found else {
        // Give a crashing child a moment to finish writing its log.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let status = server.child.try_wait().ok().flatten();
        bail!(
            "firebreak ({url}) did not print its listening address ({}); log tail:\n{}",
            status.map_or_else(|| "still running".to_string(), |s| s.to_string()),
            server.log_tail()
        );
    };
    server.addr = addr;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    server.ready_after = wait_ready(&mut server, "/readyz", started).await?;
    Ok(server)
}

/// Spawns firebreak on a pre-picked port with an empty SQLite store and returns the time from
/// spawn to the first `/readyz` 200 (polled every millisecond with a fresh connection).
pub async fn firebreak_start_time(bin: &Path, root: &Path) -> Result<Duration> {
    let dir = TempDir::new(root, "firebreak-start")?;
    let url = format!("sqlite://{}/fb.db", dir.path().display());
    let log = dir.path().join("stderr.log");
    let addr = free_port()?;
    let mut cmd = firebreak_command(bin, dir.path(), &addr.to_string(), &url, &log)?;
    cmd.stdout(Stdio::null());
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow!("firebreak exited at once"))?;
    let mut server = Server {
        child,
        pid,
        addr,
        ready_after: Duration::ZERO,
        name: "firebreak",
        log,
        _dir: dir,
    };
    let took = wait_ready(&mut server, "/readyz", started).await?;
    server.stop().await?;
    Ok(took)
}

fn firebreak_command(
    bin: &Path,
    dir: &Path,
    listen: &str,
    database_url: &str,
    log: &Path,
) -> Result<Command> {
    let log = std::fs::File::create(log).context("creating the server log")?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .args(["--listen", listen, "--metrics-listen", "off"])
        .args(["--database-url", database_url])
        .env("FIREBREAK_BOOTSTRAP_TOKEN", TOKEN)
        .env_remove("FIREBREAK_CONFIG")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    Ok(cmd)
}

/// Spawns Prometheus Alertmanager with a minimal config (one route to a null receiver), no
/// clustering, storage in a temp dir; waits for `/-/ready` 200 (polled every millisecond).
/// `group_by` (e.g. `["..."]`) goes into the route when not empty.
pub async fn spawn_alertmanager(bin: &Path, root: &Path, group_by: &[String]) -> Result<Server> {
    let dir = TempDir::new(root, "alertmanager")?;
    let config = dir.path().join("alertmanager.yml");
    let mut yaml = String::from("route:\n  receiver: blackhole\n");
    if !group_by.is_empty() {
        let labels: Vec<String> = group_by.iter().map(|l| format!("'{l}'")).collect();
        yaml.push_str(&format!("  group_by: [{}]\n", labels.join(", ")));
    }
    yaml.push_str("receivers:\n  - name: blackhole\n");
    std::fs::write(&config, yaml).context("writing alertmanager.yml")?;
    let storage = dir.path().join("data");
    std::fs::create_dir(&storage)?;
    let log = dir.path().join("stderr.log");
    let logf = std::fs::File::create(&log).context("creating the Alertmanager log")?;
    let addr = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(logf))
        .kill_on_drop(true);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow!("Alertmanager exited at once"))?;
    let mut server = Server {
        child,
        pid,
        addr,
        ready_after: Duration::ZERO,
        name: "Alertmanager",
        log,
        _dir: dir,
    };
    server.ready_after = wait_ready(&mut server, "/-/ready", started).await?;
    Ok(server)
}

/// Polls `path` every millisecond (fresh connection each time) until it answers 200.
async fn wait_ready(server: &mut Server, path: &str, started: Instant) -> Result<Duration> {
    let deadline = started + START_LIMIT;
    // Bounded by the deadline and by a count (one probe per ms at most).
    for _ in 0..(START_LIMIT.as_millis() as u64 * 2) {
        if http::probe(server.addr, path).await {
            return Ok(started.elapsed());
        }
        server.check_alive()?;
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!(
        "{} did not answer {path} with 200 within {:?}; log tail:\n{}",
        server.name,
        START_LIMIT,
        server.log_tail()
    )
}

/// A free loopback port (bound and released; the small race is acceptable on a bench box).
fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?)
}

fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(15);
            lines[from..].join("\n")
        }
        Err(e) => format!("(no log: {e})"),
    }
}

/// `VmRSS` of a process in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .context("parsing VmRSS")?;
    Ok(kb * 1024)
}

/// User + system CPU time from a `/proc/.../stat` file (USER_HZ = 100 on Linux).
pub fn cpu_time(stat_path: &str) -> Result<Duration> {
    let stat =
        std::fs::read_to_string(stat_path).with_context(|| format!("reading {stat_path}"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("unexpected {stat_path}"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3; utime and stime are fields 14 and 15.
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .ok_or_else(|| anyhow!("short {stat_path}"))?
            .parse::<u64>()
            .context("parsing CPU ticks")
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_millis(total * 10))
}

/// The filesystem type holding `path` (longest matching mount point in /proc/mounts).
pub fn fs_type(path: &Path) -> String {
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "unknown".into();
    };
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let mut parts = line.split_whitespace();
        let (Some(_dev), Some(mnt), Some(fs)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if canon.starts_with(mnt) && best.as_ref().is_none_or(|(len, _)| mnt.len() > *len) {
            best = Some((mnt.len(), fs.to_string()));
        }
    }
    best.map_or_else(|| "unknown".into(), |(_, fs)| fs)
}
