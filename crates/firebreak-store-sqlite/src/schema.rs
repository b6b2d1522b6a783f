//! Schema migrations: numbered SQL files applied in order inside the writer's transaction.

use crate::rows::db_err;
use firebreak_core::store::{StoreError, StoreResult};
use rusqlite::Connection;

/// (version, SQL). Versions match the PostgreSQL adapter's.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_core.sql")),
    (2, include_str!("../migrations/0002_access.sql")),
    (3, include_str!("../migrations/0003_mfa.sql")),
];

pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0)
}

pub(crate) fn current_version(conn: &Connection) -> StoreResult<i64> {
    let has_table: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations')",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    if !has_table {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
    .map_err(db_err)
}

/// Applies every migration newer than the database's version. Runs inside a transaction.
pub(crate) fn migrate(conn: &Connection, now_ms: i64) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(db_err)?;
    let current = current_version(conn)?;
    if current > latest_version() {
        return Err(StoreError::Invalid(format!(
            "database schema version {current} is newer than this firebreak ({}); upgrade firebreak",
            latest_version()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        conn.execute_batch(sql)
            .map_err(|e| StoreError::Internal(format!("migration {version} failed: {e}")))?;
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (version, now_ms),
        )
        .map_err(db_err)?;
        tracing::info!(version, "applied migration");
    }
    Ok(())
}
