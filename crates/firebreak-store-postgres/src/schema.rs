//! Schema migrations: numbered SQL files applied in order, in one transaction, under an advisory
//! lock so that several firebreak processes starting at once do not race.

use crate::error::Attempt;
use deadpool_postgres::Pool;
use firebreak_core::store::StoreError;

/// (version, SQL). Versions match the SQLite adapter's.
pub(crate) const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_core.sql")),
    (2, include_str!("../migrations/0002_access.sql")),
    (3, include_str!("../migrations/0003_mfa.sql")),
];

pub(crate) fn latest_version() -> i32 {
    MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0)
}

pub(crate) async fn migrate(pool: &Pool) -> Attempt<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('firebreak:migrate', 0))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
             version integer PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    if current > latest_version() {
        return Err(StoreError::Invalid(format!(
            "database schema version {current} is newer than this firebreak ({}); upgrade firebreak",
            latest_version()
        ))
        .into());
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Internal(format!(
                "migration {version} failed: {}",
                crate::error::pg_err(&e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
            &[version],
        )
        .await?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    tx.commit().await?;
    Ok(())
}

/// The applied schema version; 0 before the first migration.
pub(crate) async fn current_version(pool: &Pool) -> Attempt<i32> {
    let client = pool.get().await?;
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?)
}
