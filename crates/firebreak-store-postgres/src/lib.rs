//! The PostgreSQL store, for running several firebreak nodes on one database: tokio-postgres
//! with a deadpool connection pool, group-committed ingest through one PL/pgSQL call per batch
//! (`writer`), `FOR UPDATE SKIP LOCKED` job claims with a lease (`jobs`), users, teams and grants
//! (`access`), the hash-chained audit log appended under an advisory lock (`audit`), and
//! migrations under an advisory lock (`schema`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), firebreak_core::StoreError> {
//! use firebreak_core::Store;
//! let store = firebreak_store_postgres::PostgresStore::connect("postgres://postgres@127.0.0.1:5432/firebreak", 16).await?;
//! store.migrate().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod access;
mod alerts;
mod audit;
mod error;
mod incidents;
mod jobs;
mod rows;
mod rules;
mod schema;
mod services;
mod timeline;
mod tokens;
mod writer;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use error::retry;
use firebreak_core::access::{
    Grant, NewGrant, NewTeam, NewUser, Team, User, UserMfa, UserPatch, Visibility,
};
use firebreak_core::alert::{Alert, AlertAction, AlertFilter, ChangeEvent};
use firebreak_core::audit::{AuditEntry, AuditFilter, NewAuditEntry};
use firebreak_core::ids::{
    AlertId, AuditId, GrantId, IncidentId, IntegrationId, JobId, ServiceId, TeamId,
    TimelineEventId, TokenId, UserId,
};
use firebreak_core::incident::{Incident, IncidentFilter, NewIncident};
use firebreak_core::jobs::{AutoResolveOutcome, Job};
use firebreak_core::service::{
    Integration, IntegrationPatch, NewIntegration, NewService, Service, ServicePatch,
};
use firebreak_core::store::{
    AccessStore, AlertStore, AuditStore, CommitStats, IncidentStore, IngestOutcome, IngestRequest,
    JobStore, Page, PageRequest, ServiceStore, Store, StoreError, StoreResult, TokenStore,
};
use firebreak_core::timeline::{Actor, TimelineEvent};
use firebreak_core::timestamp::{DurationMs, Timestamp};
use firebreak_core::token::{ApiToken, NewApiToken};
use std::sync::Arc;
use std::time::Duration;
use writer::Ingestor;

/// Tuning for [`PostgresStore::connect_with`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in the pool (shared by readers and the ingest writers).
    pub pool_size: usize,
    /// Ingest writer tasks; each holds one pooled connection while it commits a batch.
    pub writers: usize,
    /// Ingest requests allowed to wait for a writer before callers get `StoreError::Busy`.
    pub queue_capacity: usize,
    /// The most alert events one ingest transaction takes.
    pub max_batch_events: usize,
    /// How long a caller waits for a free connection before `StoreError::Unavailable`.
    pub wait_timeout: Duration,
}

impl PostgresOptions {
    pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;
    pub const DEFAULT_MAX_BATCH_EVENTS: usize = 256;

    pub fn new(pool_size: usize) -> Self {
        let pool_size = pool_size.max(1);
        PostgresOptions {
            pool_size,
            writers: if pool_size >= 4 { 2 } else { 1 },
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            max_batch_events: Self::DEFAULT_MAX_BATCH_EVENTS,
            wait_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL adapter of the `Store` port. Cheap to clone; clones share one pool and one set
/// of ingest writers, which stop when the last clone is dropped.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    ingestor: Ingestor,
    stats: Arc<CommitStats>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to `url` (e.g. `postgres://postgres@127.0.0.1:5432/firebreak`) with a pool of
    /// `pool_size` connections and starts the ingest writers on the current Tokio runtime.
    /// Call `migrate()` before use.
    pub async fn connect(url: &str, pool_size: usize) -> StoreResult<Self> {
        Self::connect_with(url, PostgresOptions::new(pool_size)).await
    }

    pub async fn connect_with(url: &str, options: PostgresOptions) -> StoreResult<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("not a PostgreSQL URL: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("firebreak");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the PostgreSQL pool: {e}")))?;
        // Fail fast when the server cannot be reached.
        let probe = pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        drop(probe);
        let stats = Arc::new(CommitStats::default());
        let ingestor = Ingestor::start(
            pool.clone(),
            options.writers.clamp(1, options.pool_size.max(1)),
            options.queue_capacity,
            options.max_batch_events,
            stats.clone(),
        );
        Ok(PostgresStore {
            pool,
            ingestor,
            stats,
        })
    }
}

#[async_trait]
impl ServiceStore for PostgresStore {
    async fn create_service(
        &self,
        new: NewService,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Service> {
        retry!(services::create(&self.pool, &new, &actor, now))
    }

    async fn get_service(&self, id: ServiceId) -> StoreResult<Option<Service>> {
        retry!(services::get(&self.pool, id.0))
    }

    async fn list_services(
        &self,
        page: PageRequest,
        visible: Option<Visibility>,
    ) -> StoreResult<Page<Service>> {
        retry!(services::list(&self.pool, page, visible.as_ref()))
    }

    async fn update_service(
        &self,
        id: ServiceId,
        patch: ServicePatch,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Service>> {
        retry!(services::update(&self.pool, id.0, &patch, &actor, now))
    }

    async fn delete_service(
        &self,
        id: ServiceId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<bool> {
        retry!(services::delete(&self.pool, id.0, &actor, now))
    }

    async fn create_integration(
        &self,
        service_id: ServiceId,
        new: NewIntegration,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Integration> {
        retry!(services::create_integration(
            &self.pool,
            service_id.0,
            &new,
            &actor,
            now
        ))
    }

    async fn get_integration(&self, id: IntegrationId) -> StoreResult<Option<Integration>> {
        retry!(services::get_integration(&self.pool, id.0))
    }

    async fn integration_by_key(&self, key: &str) -> StoreResult<Option<Integration>> {
        retry!(services::integration_by_key(&self.pool, key))
    }

    async fn list_integrations(&self, service_id: ServiceId) -> StoreResult<Vec<Integration>> {
        retry!(services::list_integrations(&self.pool, service_id.0))
    }

    async fn update_integration(
        &self,
        id: IntegrationId,
        patch: IntegrationPatch,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Integration>> {
        retry!(services::update_integration(
            &self.pool, id.0, &patch, &actor, now
        ))
    }

    async fn delete_integration(
        &self,
        id: IntegrationId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<bool> {
        retry!(services::delete_integration(&self.pool, id.0, &actor, now))
    }
}

#[async_trait]
impl AlertStore for PostgresStore {
    async fn ingest(&self, req: IngestRequest) -> StoreResult<Vec<IngestOutcome>> {
        self.ingestor.ingest(req).await
    }

    async fn record_change(
        &self,
        integration: &Integration,
        change: ChangeEvent,
        now: Timestamp,
    ) -> StoreResult<TimelineEventId> {
        retry!(alerts::record_change(&self.pool, integration, &change, now)).map(TimelineEventId)
    }

    async fn get_alert(&self, id: AlertId) -> StoreResult<Option<Alert>> {
        retry!(alerts::get(&self.pool, id.0))
    }

    async fn list_alerts(&self, filter: AlertFilter) -> StoreResult<Page<Alert>> {
        retry!(alerts::list(&self.pool, &filter))
    }

    async fn acknowledge_alert(
        &self,
        id: AlertId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Alert>> {
        retry!(alerts::act(
            &self.pool,
            id.0,
            AlertAction::Acknowledge,
            &actor,
            now
        ))
    }

    async fn resolve_alert(
        &self,
        id: AlertId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Alert>> {
        retry!(alerts::act(
            &self.pool,
            id.0,
            AlertAction::Resolve,
            &actor,
            now
        ))
    }
}

#[async_trait]
impl IncidentStore for PostgresStore {
    async fn declare_incident(
        &self,
        new: NewIncident,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Incident> {
        retry!(incidents::declare(&self.pool, &new, &actor, now))
    }

    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>> {
        retry!(incidents::get(&self.pool, id.0))
    }

    async fn list_incidents(&self, filter: IncidentFilter) -> StoreResult<Page<Incident>> {
        retry!(incidents::list(&self.pool, &filter))
    }

    async fn acknowledge_incident(
        &self,
        id: IncidentId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Incident>> {
        retry!(incidents::act(&self.pool, id.0, true, &actor, now))
    }

    async fn resolve_incident(
        &self,
        id: IncidentId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Incident>> {
        retry!(incidents::act(&self.pool, id.0, false, &actor, now))
    }

    async fn timeline(
        &self,
        id: IncidentId,
        page: PageRequest,
    ) -> StoreResult<Page<TimelineEvent>> {
        retry!(timeline::list(&self.pool, id.0, false, page))
    }

    async fn service_timeline(
        &self,
        id: ServiceId,
        page: PageRequest,
    ) -> StoreResult<Page<TimelineEvent>> {
        retry!(timeline::list(&self.pool, id.0, true, page))
    }

    async fn open_counts(&self) -> StoreResult<(i64, i64)> {
        retry!(incidents::open_counts(&self.pool))
    }

    async fn incident_status_counts(&self, visible: Option<Visibility>) -> StoreResult<(i64, i64)> {
        retry!(incidents::status_counts(&self.pool, visible.as_ref()))
    }
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn claim_jobs(
        &self,
        now: Timestamp,
        lease: DurationMs,
        limit: u32,
    ) -> StoreResult<Vec<Job>> {
        retry!(jobs::claim(&self.pool, now, lease, limit))
    }

    async fn complete_job(&self, id: JobId) -> StoreResult<()> {
        retry!(jobs::complete(&self.pool, id.0))
    }

    async fn reschedule_job(
        &self,
        id: JobId,
        run_at: Timestamp,
        error: Option<String>,
    ) -> StoreResult<()> {
        retry!(jobs::reschedule(&self.pool, id.0, run_at, error.as_deref()))
    }

    async fn auto_resolve_alert(
        &self,
        id: AlertId,
        now: Timestamp,
    ) -> StoreResult<AutoResolveOutcome> {
        retry!(jobs::auto_resolve_alert(&self.pool, id.0, now))
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn create_token(&self, new: NewApiToken, now: Timestamp) -> StoreResult<ApiToken> {
        retry!(tokens::create(&self.pool, &new, now))
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        retry!(tokens::by_hash(&self.pool, hash))
    }

    async fn get_token(&self, id: TokenId) -> StoreResult<Option<ApiToken>> {
        retry!(tokens::get(&self.pool, id.0))
    }

    async fn list_tokens(
        &self,
        user_id: Option<UserId>,
        page: PageRequest,
    ) -> StoreResult<Page<ApiToken>> {
        retry!(tokens::list(&self.pool, user_id, page))
    }

    async fn revoke_token(&self, id: TokenId, now: Timestamp) -> StoreResult<Option<ApiToken>> {
        retry!(tokens::revoke(&self.pool, id.0, now))
    }

    async fn count_tokens(&self) -> StoreResult<i64> {
        retry!(tokens::count(&self.pool))
    }

    async fn mark_token_mfa(&self, id: TokenId, at: Timestamp) -> StoreResult<bool> {
        retry!(tokens::mark_mfa(&self.pool, id.0, at))
    }
}

#[async_trait]
impl AccessStore for PostgresStore {
    async fn create_user(&self, new: NewUser, now: Timestamp) -> StoreResult<User> {
        retry!(access::create_user(&self.pool, &new, now))
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        retry!(access::get_user(&self.pool, id.0))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, Option<String>)>> {
        retry!(access::user_by_email(&self.pool, email))
    }

    async fn list_users(&self, page: PageRequest) -> StoreResult<Page<User>> {
        retry!(access::list_users(&self.pool, page))
    }

    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        now: Timestamp,
    ) -> StoreResult<Option<User>> {
        retry!(access::update_user(&self.pool, id.0, &patch, now))
    }

    async fn user_mfa(&self, id: UserId) -> StoreResult<Option<UserMfa>> {
        retry!(access::user_mfa(&self.pool, id.0))
    }

    async fn set_user_mfa(&self, id: UserId, mfa: UserMfa, now: Timestamp) -> StoreResult<bool> {
        retry!(access::set_user_mfa(&self.pool, id.0, &mfa, now))
    }

    async fn create_team(&self, new: NewTeam, now: Timestamp) -> StoreResult<Team> {
        retry!(access::create_team(&self.pool, &new, now))
    }

    async fn get_team(&self, id: TeamId) -> StoreResult<Option<Team>> {
        retry!(access::get_team(&self.pool, id.0))
    }

    async fn list_teams(&self, page: PageRequest) -> StoreResult<Page<Team>> {
        retry!(access::list_teams(&self.pool, page))
    }

    async fn set_team_members(
        &self,
        id: TeamId,
        members: Vec<UserId>,
        now: Timestamp,
    ) -> StoreResult<Option<Team>> {
        retry!(access::set_team_members(&self.pool, id.0, &members, now))
    }

    async fn create_grant(&self, new: NewGrant, now: Timestamp) -> StoreResult<Grant> {
        retry!(access::create_grant(&self.pool, &new, now))
    }

    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>> {
        retry!(access::get_grant(&self.pool, id.0))
    }

    async fn list_grants(
        &self,
        user_id: Option<UserId>,
        page: PageRequest,
    ) -> StoreResult<Page<Grant>> {
        retry!(access::list_grants(&self.pool, user_id, page))
    }

    async fn live_grants(&self, user_id: UserId, now: Timestamp) -> StoreResult<Vec<Grant>> {
        retry!(access::live_grants(&self.pool, user_id.0, now))
    }

    async fn revoke_grant(&self, id: GrantId, now: Timestamp) -> StoreResult<Option<Grant>> {
        retry!(access::revoke_grant(&self.pool, id.0, now))
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<AuditEntry> {
        retry!(audit::append(&self.pool, &entry))
    }

    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Page<AuditEntry>> {
        retry!(audit::list(&self.pool, &filter))
    }

    async fn audit_chain(
        &self,
        after: Option<AuditId>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        retry!(audit::chain(&self.pool, after, limit))
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        retry!(schema::migrate(&self.pool))
    }

    async fn ready(&self) -> StoreResult<()> {
        let version = retry!(schema::current_version(&self.pool))?;
        if version >= schema::latest_version() {
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
