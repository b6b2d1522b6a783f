//! Same-run ceilings: what the storage underneath can do on its own, measured on this machine
//! in this run: durable single-row SQLite commits, batched SQLite commits, and single-row
//! PostgreSQL upserts from many clients.

use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows per second.
#[derive(Clone, Copy)]
pub struct Rate {
    pub rows: u64,
    pub elapsed: Duration,
}

impl Rate {
    /// Several measurements as one: total rows over total time.
    pub fn combined(parts: &[Rate]) -> Option<Rate> {
        if parts.is_empty() {
            return None;
        }
        Some(Rate {
            rows: parts.iter().map(|p| p.rows).sum(),
            elapsed: parts.iter().map(|p| p.elapsed).sum(),
        })
    }

    pub fn per_sec(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

const CEILING_SCHEMA: &str = "CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1
)";

fn open_sqlite(path: &Path) -> Result<rusqlite::Connection> {
    let conn =
        rusqlite::Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(CEILING_SCHEMA)?;
    Ok(conn)
}

const PAYLOAD: &str =
    r#"{"summary":"firebreak-bench alert","source":"bench-host","severity":"critical"}"#;

/// rusqlite, WAL, `synchronous=FULL`, one INSERT per transaction (autocommit), for `duration`.
pub fn sqlite_single(dir: &Path, file: &str, duration: Duration) -> Result<Rate> {
    let path = dir.join(file);
    let conn = open_sqlite(&path)?;
    let mut insert = conn.prepare("INSERT INTO alerts (dedup_key, payload) VALUES (?1, ?2)")?;
    let start = Instant::now();
    let mut rows = 0u64;
    // Bounded by time, and by a count far above what any disk commits in that time.
    while rows < 100_000_000 && start.elapsed() < duration {
        insert.execute(rusqlite::params![format!("bench-{rows}"), PAYLOAD])?;
        rows += 1;
    }
    Ok(Rate {
        rows,
        elapsed: start.elapsed(),
    })
}

/// Same table, 1,000 rows per transaction (what group commit can reach at best).
pub fn sqlite_batched(dir: &Path, duration: Duration) -> Result<Rate> {
    let path = dir.join("ceiling-batched.db");
    let mut conn = open_sqlite(&path)?;
    let start = Instant::now();
    let mut rows = 0u64;
    while rows < 1_000_000_000 && start.elapsed() < duration {
        let tx = conn.transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO alerts (dedup_key, payload) VALUES (?1, ?2)")?;
            for _ in 0..1000 {
                insert.execute(rusqlite::params![format!("bench-{rows}"), PAYLOAD])?;
                rows += 1;
            }
        }
        tx.commit()?;
    }
    Ok(Rate {
        rows,
        elapsed: start.elapsed(),
    })
}

/// `clients` tokio-postgres connections, each running single-row upserts (autocommit,
/// `synchronous_commit` as configured) with `repeat_pct` % repeated keys, for `duration`.
pub async fn postgres_upserts(
    url: &str,
    clients: usize,
    duration: Duration,
    repeat_pct: u64,
) -> Result<Rate> {
    let (admin, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    let admin_task = tokio::spawn(conn);
    admin
        .batch_execute(
            "DROP TABLE IF EXISTS bench_ceiling;
             CREATE TABLE bench_ceiling (dedup_key TEXT PRIMARY KEY, payload TEXT NOT NULL,
                                         count BIGINT NOT NULL DEFAULT 1)",
        )
        .await?;
    let url: Arc<str> = url.into();
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            let conn_task = tokio::spawn(conn);
            let stmt = client
                .prepare(
                    "INSERT INTO bench_ceiling (dedup_key, payload) VALUES ($1, $2)
                     ON CONFLICT (dedup_key) DO UPDATE SET count = bench_ceiling.count + 1",
                )
                .await?;
            let mut rows = 0u64;
            let mut fresh = 0u64;
            let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ (c as u64 + 1);
            while rows < 100_000_000 && Instant::now() < end {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let key = if fresh > 0 && rng % 100 < repeat_pct {
                    format!("c{c}-{}", (rng >> 8) % fresh)
                } else {
                    fresh += 1;
                    format!("c{c}-{}", fresh - 1)
                };
                client.execute(&stmt, &[&key, &PAYLOAD]).await?;
                rows += 1;
            }
            drop(client);
            conn_task.abort();
            Ok::<u64, tokio_postgres::Error>(rows)
        }));
    }
    let mut rows = 0;
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(n)) => rows += n,
            Ok(Err(e)) => {
                first_error.get_or_insert_with(|| format!("{e}"));
            }
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{e}"));
            }
        }
    }
    let elapsed = start.elapsed();
    admin
        .batch_execute("DROP TABLE IF EXISTS bench_ceiling")
        .await?;
    drop(admin);
    admin_task.abort();
    if let Some(e) = first_error {
        anyhow::bail!("PostgreSQL ceiling client failed: {e}");
    }
    Ok(Rate { rows, elapsed })
}
