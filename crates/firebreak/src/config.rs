//! Configuration: `firebreak.toml` (all keys optional) overridden by `FIREBREAK_*` environment
//! variables and command-line flags. `firebreak config example` prints a commented example.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./firebreak-data/firebreak.db";
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;

/// The settings file as written by people; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub database_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub postgres_pool_size: Option<usize>,
    pub sqlite_queue_capacity: Option<usize>,
    pub workers: Option<bool>,
    pub log: Option<String>,
    pub pagerduty_rate_limit_per_minute: Option<u32>,
    pub mfa_required_roles: Option<Vec<String>>,
    pub mfa_step_up_window: Option<String>,
}

/// Values given on the command line or in `FIREBREAK_*` variables (clap merges the two).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub database_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub postgres_pool_size: Option<usize>,
    pub sqlite_queue_capacity: Option<usize>,
    pub workers: Option<bool>,
    pub log: Option<String>,
    pub pagerduty_rate_limit_per_minute: Option<u32>,
    /// Comma-separated roles.
    pub mfa_required_roles: Option<String>,
    pub mfa_step_up_window: Option<String>,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None` when metrics are `off`.
    pub metrics_listen: Option<SocketAddr>,
    pub database: DatabaseUrl,
    pub max_body_bytes: usize,
    pub postgres_pool_size: usize,
    pub sqlite_queue_capacity: usize,
    /// Run background job workers (tests turn them off and drive jobs by hand).
    pub workers: bool,
    pub log: String,
    /// Events per minute per routing key on `/v2/enqueue` before 429; `None` = no limit.
    pub pagerduty_rate_limit_per_minute: Option<u32>,
    /// Roles whose console users must set up a second factor before anything else.
    pub mfa_required_roles: Vec<firebreak_core::access::Role>,
    /// Sensitive console actions ask for the second factor again when it is older than this.
    pub mfa_step_up_window: firebreak_core::DurationMs,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseUrl {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("database URL '{url}' has no path (use sqlite://PATH, e.g. sqlite://./firebreak-data/firebreak.db)");
            }
            return Ok(DatabaseUrl::Sqlite(path.into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        bail!("database URL '{url}' is not supported (use sqlite://PATH or postgres://USER@HOST:PORT/DB)")
    }
}

impl Config {
    /// Defaults ← file ← overrides.
    pub fn load(file: Option<&Path>, over: &Overrides) -> anyhow::Result<Config> {
        let fc = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("config file {} is invalid", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen = over
            .listen
            .clone()
            .or(fc.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let metrics = over
            .metrics_listen
            .clone()
            .or(fc.metrics_listen)
            .unwrap_or_else(|| DEFAULT_METRICS_LISTEN.into());
        let db = over
            .database_url
            .clone()
            .or(fc.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let max_body_bytes = over
            .max_body_bytes
            .or(fc.max_body_bytes)
            .unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        let roles: Vec<String> = match &over.mfa_required_roles {
            Some(list) => list
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
            None => fc.mfa_required_roles.clone().unwrap_or_default(),
        };
        let mut mfa_required_roles = Vec::new();
        for r in &roles {
            mfa_required_roles.push(
                firebreak_core::access::Role::parse(r)
                    .ok_or_else(|| anyhow::anyhow!("mfa_required_roles: '{r}' is not a role (admin, manager, responder, observer, stakeholder)"))?,
            );
        }
        let window = over
            .mfa_step_up_window
            .clone()
            .or(fc.mfa_step_up_window.clone())
            .unwrap_or_else(|| "15m".into());
        let mfa_step_up_window = firebreak_core::DurationMs::parse(&window)
            .with_context(|| format!("mfa_step_up_window '{window}'"))?;
        Ok(Config {
            listen: parse_addr("listen", &listen)?,
            metrics_listen: if metrics.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(parse_addr("metrics_listen", &metrics)?)
            },
            database: DatabaseUrl::parse(&db)?,
            max_body_bytes,
            postgres_pool_size: over
                .postgres_pool_size
                .or(fc.postgres_pool_size)
                .unwrap_or(16)
                .clamp(1, 256),
            sqlite_queue_capacity: over
                .sqlite_queue_capacity
                .or(fc.sqlite_queue_capacity)
                .unwrap_or(firebreak_store_sqlite::DEFAULT_QUEUE_CAPACITY)
                .max(16),
            workers: over.workers.or(fc.workers).unwrap_or(true),
            log: over.log.clone().or(fc.log).unwrap_or_else(|| "info".into()),
            pagerduty_rate_limit_per_minute: over
                .pagerduty_rate_limit_per_minute
                .or(fc.pagerduty_rate_limit_per_minute)
                .filter(|n| *n > 0),
            mfa_required_roles,
            mfa_step_up_window,
        })
    }
}

fn parse_addr(what: &str, text: &str) -> anyhow::Result<SocketAddr> {
    text.parse()
        .with_context(|| format!("{what} '{text}' is not an address like 127.0.0.1:8080"))
}

pub const EXAMPLE: &str = r#"# firebreak.toml — every key is optional; the values shown are the defaults.
# Each key can also be set with an environment variable FIREBREAK_<KEY IN UPPER CASE> or a flag
# --<key-with-dashes>; flags win over the environment, which wins over this file.

# HTTP listener for the API, the ingest endpoints and the console.   (--listen, FIREBREAK_LISTEN)
listen = "127.0.0.1:8080"

# Prometheus metrics listener, or "off".              (--metrics-listen, FIREBREAK_METRICS_LISTEN)
metrics_listen = "127.0.0.1:9464"

# sqlite://PATH (embedded, default) or postgres://USER@HOST:PORT/DB    (--database-url, FIREBREAK_DATABASE_URL)
database_url = "sqlite://./firebreak-data/firebreak.db"

# Largest accepted request body in bytes; larger requests get 413.     (FIREBREAK_MAX_BODY_BYTES)
max_body_bytes = 524288

# Connections in the PostgreSQL pool.
postgres_pool_size = 16

# Writes that may wait for the SQLite writer before ingest answers 503 + Retry-After.
sqlite_queue_capacity = 16384

# Run background workers (jobs such as alert auto-resolve).
workers = true

# Events per minute per routing key accepted on /v2/enqueue before 429 Too Many Requests
# (PagerDuty allows about 120). 0 or absent: no limit.
pagerduty_rate_limit_per_minute = 0

# Console users with these roles must set up a second factor (TOTP) before anything else,
# e.g. ["admin", "manager"].
mfa_required_roles = []

# Sensitive console actions (API tokens, users, teams, grants) ask for the second factor again
# when it was last given longer ago than this.
mfa_step_up_window = "15m"

# Log filter (tracing-subscriber EnvFilter syntax); RUST_LOG overrides it.
log = "info"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_equals_defaults() {
        let fc: FileConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(fc.listen.as_deref(), Some(DEFAULT_LISTEN));
        assert_eq!(fc.database_url.as_deref(), Some(DEFAULT_DATABASE_URL));
        assert_eq!(fc.max_body_bytes, Some(DEFAULT_MAX_BODY_BYTES));
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://./x.db").unwrap(),
            DatabaseUrl::Sqlite("./x.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn overrides_win_and_metrics_can_be_off() {
        let over = Overrides {
            metrics_listen: Some("off".into()),
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        let c = Config::load(None, &over).unwrap();
        assert_eq!(c.metrics_listen, None);
        assert_eq!(c.listen.port(), 0);
        assert!(Config::load(
            None,
            &Overrides {
                listen: Some("nonsense".into()),
                ..Default::default()
            }
        )
        .is_err());
    }
}
