//! The embedded SQLite store: rusqlite with the bundled SQLite, WAL, `synchronous=FULL`, one
//! writer thread with group commit (`writer`), and a pool of read connections (`readers`).
#![forbid(unsafe_code)]

mod access;
mod alerts;
mod audit;
mod incidents;
mod jobs;
mod list_query;
mod open_alerts;
mod readers;
mod rows;
mod schema;
mod services;
mod timeline;
mod tokens;
mod writer;

use async_trait::async_trait;
use firebreak_core::access::{
    Grant, NewGrant, NewTeam, NewUser, Team, User, UserMfa, UserPatch, Visibility,
};
use firebreak_core::alert::{Alert, AlertFilter, ChangeEvent};
use firebreak_core::audit::{AuditEntry, AuditFilter, NewAuditEntry};
use firebreak_core::ids::*;
use firebreak_core::incident::{Incident, IncidentFilter, NewIncident};
use firebreak_core::jobs::{AutoResolveOutcome, Job};
use firebreak_core::service::*;
use firebreak_core::store::*;
use firebreak_core::timeline::{Actor, TimelineEvent};
use firebreak_core::timestamp::{DurationMs, Timestamp};
use firebreak_core::token::{ApiToken, NewApiToken};
use firebreak_core::{Clock, SystemClock};
use readers::Readers;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use writer::Writer;

/// Writes allowed to wait for the writer before callers get `StoreError::Busy`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Readers,
    stats: Arc<CommitStats>,
    /// Held by every clone of the store; the checkpoint thread stops when the last one is dropped.
    _alive: Arc<()>,
    /// The exclusive lock on `<database>.lock`: one process owns a SQLite store.
    _lock: Arc<std::fs::File>,
}

/// Takes the exclusive lock that makes one process the owner of the database file. The in-memory
/// open-alert index (and group commit) is only correct with a single writer process.
fn lock_store(path: &Path) -> StoreResult<std::fs::File> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| open_err(&lock_path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "{} is in use by another firebreak process (one process owns a SQLite store; use PostgreSQL to run several)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(open_err(&lock_path, e)),
    }
}

fn open_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!(
        "cannot open SQLite database {}: {e}",
        path.display()
    ))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and starts the writer thread. Call
    /// `migrate()` before use.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with_capacity(path, DEFAULT_QUEUE_CAPACITY)
    }

    pub fn open_with_capacity(path: impl AsRef<Path>, queue_capacity: usize) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(&path, e))?;
        }
        let lock = lock_store(&path)?;
        let conn = Connection::open(&path).map_err(|e| open_err(&path, e))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY; \
             PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(|e| open_err(&path, e))?;
        conn.set_prepared_statement_cache_capacity(64);
        let stats = Arc::new(CommitStats::default());
        let writer = Writer::start(conn, queue_capacity, stats.clone())?;
        let alive = Arc::new(());
        writer::start_checkpointer(&path, Arc::downgrade(&alive))?;
        Ok(SqliteStore {
            readers: Readers::new(path.clone()),
            path,
            writer,
            stats,
            _alive: alive,
            _lock: Arc::new(lock),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl ServiceStore for SqliteStore {
    async fn create_service(
        &self,
        new: NewService,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Service> {
        self.writer
            .write(move |c| {
                let id = services::create(c, &new, &actor, now)?;
                services::get(c, id)?.ok_or_else(|| StoreError::Internal("service vanished".into()))
            })
            .await
    }

    async fn get_service(&self, id: ServiceId) -> StoreResult<Option<Service>> {
        self.readers.read(move |c| services::get(c, id.0)).await
    }

    async fn list_services(
        &self,
        page: PageRequest,
        visible: Option<Visibility>,
    ) -> StoreResult<Page<Service>> {
        self.readers
            .read(move |c| services::list(c, page, visible.as_ref()))
            .await
    }

    async fn update_service(
        &self,
        id: ServiceId,
        patch: ServicePatch,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Service>> {
        self.writer
            .write(move |c| services::update(c, id.0, &patch, &actor, now))
            .await
    }

    async fn delete_service(
        &self,
        id: ServiceId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.writer
            .write(move |c| services::delete(c, id.0, &actor, now))
            .await
    }

    async fn create_integration(
        &self,
        service_id: ServiceId,
        new: NewIntegration,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Integration> {
        self.writer
            .write(move |c| {
                let id = services::create_integration(c, service_id.0, &new, &actor, now)?;
                services::get_integration(c, id)?
                    .ok_or_else(|| StoreError::Internal("integration vanished".into()))
            })
            .await
    }

    async fn get_integration(&self, id: IntegrationId) -> StoreResult<Option<Integration>> {
        self.readers
            .read(move |c| services::get_integration(c, id.0))
            .await
    }

    async fn integration_by_key(&self, key: &str) -> StoreResult<Option<Integration>> {
        let key = key.to_string();
        self.readers
            .read(move |c| services::integration_by_key(c, &key))
            .await
    }

    async fn list_integrations(&self, service_id: ServiceId) -> StoreResult<Vec<Integration>> {
        self.readers
            .read(move |c| services::list_integrations(c, service_id.0))
            .await
    }

    async fn update_integration(
        &self,
        id: IntegrationId,
        patch: IntegrationPatch,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Integration>> {
        self.writer
            .write(move |c| services::update_integration(c, id.0, &patch, &actor, now))
            .await
    }

    async fn delete_integration(
        &self,
        id: IntegrationId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.writer
            .write(move |c| services::delete_integration(c, id.0, &actor, now))
            .await
    }
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn ingest(&self, req: IngestRequest) -> StoreResult<Vec<IngestOutcome>> {
        let prepared = alerts::prepare(&req);
        self.writer
            .write(move |c| alerts::ingest(c, &req, &prepared))
            .await
    }

    async fn record_change(
        &self,
        integration: &Integration,
        change: ChangeEvent,
        now: Timestamp,
    ) -> StoreResult<TimelineEventId> {
        let integration = integration.clone();
        self.writer
            .write(move |c| {
                alerts::record_change(c, &integration, &change, now).map(TimelineEventId)
            })
            .await
    }

    async fn get_alert(&self, id: AlertId) -> StoreResult<Option<Alert>> {
        self.readers.read(move |c| alerts::get(c, id.0)).await
    }

    async fn list_alerts(&self, filter: AlertFilter) -> StoreResult<Page<Alert>> {
        self.readers.read(move |c| alerts::list(c, &filter)).await
    }

    async fn acknowledge_alert(
        &self,
        id: AlertId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Alert>> {
        self.writer
            .write(move |c| {
                if alerts::get(c, id.0)?.is_none() {
                    return Ok(None);
                }
                alerts::ack_alert_row(c, id.0, &actor, now)?;
                alerts::get(c, id.0)
            })
            .await
    }

    async fn resolve_alert(
        &self,
        id: AlertId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Alert>> {
        self.writer
            .write(move |c| {
                if alerts::get(c, id.0)?.is_none() {
                    return Ok(None);
                }
                alerts::resolve_alert_row(c, id.0, &actor, now, true)?;
                alerts::get(c, id.0)
            })
            .await
    }
}

#[async_trait]
impl IncidentStore for SqliteStore {
    async fn declare_incident(
        &self,
        new: NewIncident,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Incident> {
        self.writer
            .write(move |c| {
                let id = incidents::declare(c, &new, &actor, now)?;
                incidents::get(c, id)?
                    .ok_or_else(|| StoreError::Internal("incident vanished".into()))
            })
            .await
    }

    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>> {
        self.readers.read(move |c| incidents::get(c, id.0)).await
    }

    async fn list_incidents(&self, filter: IncidentFilter) -> StoreResult<Page<Incident>> {
        self.readers
            .read(move |c| incidents::list(c, &filter))
            .await
    }

    async fn acknowledge_incident(
        &self,
        id: IncidentId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Incident>> {
        self.writer
            .write(
                move |c| match incidents::acknowledge(c, id.0, &actor, now)? {
                    Some(()) => incidents::get(c, id.0),
                    None => Ok(None),
                },
            )
            .await
    }

    async fn resolve_incident(
        &self,
        id: IncidentId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Incident>> {
        self.writer
            .write(move |c| match incidents::resolve(c, id.0, &actor, now)? {
                Some(()) => incidents::get(c, id.0),
                None => Ok(None),
            })
            .await
    }

    async fn timeline(
        &self,
        id: IncidentId,
        page: PageRequest,
    ) -> StoreResult<Page<TimelineEvent>> {
        self.readers
            .read(move |c| incidents::timeline(c, id.0, false, page))
            .await
    }

    async fn service_timeline(
        &self,
        id: ServiceId,
        page: PageRequest,
    ) -> StoreResult<Page<TimelineEvent>> {
        self.readers
            .read(move |c| incidents::timeline(c, id.0, true, page))
            .await
    }

    async fn open_counts(&self) -> StoreResult<(i64, i64)> {
        self.readers.read(incidents::open_counts).await
    }

    async fn incident_status_counts(&self, visible: Option<Visibility>) -> StoreResult<(i64, i64)> {
        self.readers
            .read(move |c| incidents::status_counts(c, visible.as_ref()))
            .await
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn claim_jobs(
        &self,
        now: Timestamp,
        lease: DurationMs,
        limit: u32,
    ) -> StoreResult<Vec<Job>> {
        self.writer
            .write(move |c| jobs::claim(c, now, lease, limit))
            .await
    }

    async fn complete_job(&self, id: JobId) -> StoreResult<()> {
        self.writer.write(move |c| jobs::complete(c, id.0)).await
    }

    async fn reschedule_job(
        &self,
        id: JobId,
        run_at: Timestamp,
        error: Option<String>,
    ) -> StoreResult<()> {
        self.writer
            .write(move |c| jobs::reschedule(c, id.0, run_at, error.as_deref()))
            .await
    }

    async fn auto_resolve_alert(
        &self,
        id: AlertId,
        now: Timestamp,
    ) -> StoreResult<AutoResolveOutcome> {
        self.writer
            .write(move |c| jobs::auto_resolve_alert(c, id.0, now))
            .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(&self, new: NewApiToken, now: Timestamp) -> StoreResult<ApiToken> {
        self.writer
            .write(move |c| {
                let id = tokens::create(c, &new, now)?;
                tokens::get(c, id)?.ok_or_else(|| StoreError::Internal("token vanished".into()))
            })
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        let hash = hash.to_string();
        self.readers.read(move |c| tokens::by_hash(c, &hash)).await
    }

    async fn get_token(&self, id: TokenId) -> StoreResult<Option<ApiToken>> {
        self.readers.read(move |c| tokens::get(c, id.0)).await
    }

    async fn list_tokens(
        &self,
        user_id: Option<UserId>,
        page: PageRequest,
    ) -> StoreResult<Page<ApiToken>> {
        self.readers
            .read(move |c| tokens::list(c, user_id, page))
            .await
    }

    async fn revoke_token(&self, id: TokenId, now: Timestamp) -> StoreResult<Option<ApiToken>> {
        self.writer
            .write(move |c| tokens::revoke(c, id.0, now))
            .await
    }

    async fn mark_token_mfa(&self, id: TokenId, at: Timestamp) -> StoreResult<bool> {
        self.writer
            .write(move |c| tokens::mark_mfa(c, id.0, at))
            .await
    }

    async fn count_tokens(&self) -> StoreResult<i64> {
        self.readers.read(tokens::count).await
    }
}

#[async_trait]
impl AccessStore for SqliteStore {
    async fn create_user(&self, new: NewUser, now: Timestamp) -> StoreResult<User> {
        self.writer
            .write(move |c| {
                let id = access::create_user(c, &new, now)?;
                access::get_user(c, id)?.ok_or_else(|| StoreError::Internal("user vanished".into()))
            })
            .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.readers.read(move |c| access::get_user(c, id.0)).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, Option<String>)>> {
        let email = email.to_string();
        self.readers
            .read(move |c| access::user_by_email(c, &email))
            .await
    }

    async fn list_users(&self, page: PageRequest) -> StoreResult<Page<User>> {
        self.readers
            .read(move |c| access::list_users(c, page))
            .await
    }

    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        now: Timestamp,
    ) -> StoreResult<Option<User>> {
        self.writer
            .write(move |c| access::update_user(c, id.0, &patch, now))
            .await
    }

    async fn user_mfa(&self, id: UserId) -> StoreResult<Option<UserMfa>> {
        self.readers.read(move |c| access::user_mfa(c, id.0)).await
    }

    async fn set_user_mfa(&self, id: UserId, mfa: UserMfa, now: Timestamp) -> StoreResult<bool> {
        self.writer
            .write(move |c| access::set_user_mfa(c, id.0, &mfa, now))
            .await
    }

    async fn create_team(&self, new: NewTeam, now: Timestamp) -> StoreResult<Team> {
        self.writer
            .write(move |c| {
                let id = access::create_team(c, &new, now)?;
                access::get_team(c, id)?.ok_or_else(|| StoreError::Internal("team vanished".into()))
            })
            .await
    }

    async fn get_team(&self, id: TeamId) -> StoreResult<Option<Team>> {
        self.readers.read(move |c| access::get_team(c, id.0)).await
    }

    async fn list_teams(&self, page: PageRequest) -> StoreResult<Page<Team>> {
        self.readers
            .read(move |c| access::list_teams(c, page))
            .await
    }

    async fn set_team_members(
        &self,
        id: TeamId,
        members: Vec<UserId>,
        now: Timestamp,
    ) -> StoreResult<Option<Team>> {
        self.writer
            .write(move |c| access::set_team_members(c, id.0, &members, now))
            .await
    }

    async fn create_grant(&self, new: NewGrant, now: Timestamp) -> StoreResult<Grant> {
        self.writer
            .write(move |c| {
                let id = access::create_grant(c, &new, now)?;
                access::get_grant(c, id)?
                    .ok_or_else(|| StoreError::Internal("grant vanished".into()))
            })
            .await
    }

    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>> {
        self.readers.read(move |c| access::get_grant(c, id.0)).await
    }

    async fn list_grants(
        &self,
        user_id: Option<UserId>,
        page: PageRequest,
    ) -> StoreResult<Page<Grant>> {
        self.readers
            .read(move |c| access::list_grants(c, user_id, page))
            .await
    }

    async fn live_grants(&self, user_id: UserId, now: Timestamp) -> StoreResult<Vec<Grant>> {
        self.readers
            .read(move |c| access::live_grants(c, user_id.0, now))
            .await
    }

    async fn revoke_grant(&self, id: GrantId, now: Timestamp) -> StoreResult<Option<Grant>> {
        self.writer
            .write(move |c| access::revoke_grant(c, id.0, now))
            .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<AuditEntry> {
        self.writer.write(move |c| audit::append(c, &entry)).await
    }

    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Page<AuditEntry>> {
        self.readers.read(move |c| audit::list(c, &filter)).await
    }

    async fn audit_chain(
        &self,
        after: Option<AuditId>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.readers
            .read(move |c| audit::chain(c, after, limit))
            .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        let now = SystemClock.now().as_millis();
        self.writer.write(move |c| schema::migrate(c, now)).await
    }

    async fn ready(&self) -> StoreResult<()> {
        if !self.writer.is_running() {
            return Err(StoreError::Unavailable(
                "the SQLite writer thread has stopped".into(),
            ));
        }
        let version = self.readers.read(schema::current_version).await?;
        if version == schema::latest_version() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "schema version {version}, expected {}; run `firebreak migrate`",
                schema::latest_version()
            )))
        }
    }

    fn commit_stats(&self) -> Option<Arc<CommitStats>> {
        Some(self.stats.clone())
    }
}
