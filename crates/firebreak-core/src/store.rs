//! The store port. Capability traits that together make a `Store`; the SQLite and PostgreSQL
//! adapters implement all of them and pass the same conformance suite (firebreak-testkit).

use crate::access::{
    Grant, NewGrant, NewTeam, NewUser, Team, User, UserMfa, UserPatch, Visibility,
};
use crate::alert::{Alert, AlertEvent, AlertFilter, ChangeEvent};
use crate::audit::{AuditEntry, AuditFilter, NewAuditEntry};
use crate::ids::{
    AlertId, AuditId, GrantId, IncidentId, IntegrationId, JobId, ServiceId, TeamId,
    TimelineEventId, TokenId, UserId,
};
use crate::incident::{Incident, IncidentFilter, NewIncident};
use crate::jobs::{AutoResolveOutcome, Job};
use crate::service::{
    Integration, IntegrationPatch, NewIntegration, NewService, Service, ServicePatch,
};
use crate::timeline::{Actor, TimelineEvent};
use crate::timestamp::{DurationMs, Timestamp};
use crate::token::{ApiToken, NewApiToken};
use async_trait::async_trait;
use serde::Serialize;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// Back-pressure: the store cannot take more work right now. Clients should retry.
    #[error("store is busy, retry shortly")]
    Busy,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Cursor pagination: newest first, `cursor` is the last id of the previous page.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<i64>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: Self::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched newest first.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, id_of: impl Fn(&T) -> i64) -> Self {
        let limit = limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| id_of(r).to_string())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// One request's worth of alert events from one integration; applied atomically.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub integration: Integration,
    pub events: Vec<AlertEvent>,
    pub received_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestEffect {
    Opened,
    Repeated,
    Acknowledged,
    Resolved,
    Ignored,
}

impl IngestEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Repeated => "repeated",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Ignored => "ignored",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    pub dedup_key: String,
    pub effect: IngestEffect,
    pub alert_id: Option<AlertId>,
    pub incident_id: Option<IncidentId>,
}

#[async_trait]
pub trait ServiceStore: Send + Sync {
    async fn create_service(
        &self,
        new: NewService,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Service>;
    async fn get_service(&self, id: ServiceId) -> StoreResult<Option<Service>>;
    /// Only the services in `visible` when given (external users).
    async fn list_services(
        &self,
        page: PageRequest,
        visible: Option<Visibility>,
    ) -> StoreResult<Page<Service>>;
    async fn update_service(
        &self,
        id: ServiceId,
        patch: ServicePatch,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Service>>;
    /// Retires a service and its integrations (their keys stop working). History stays.
    async fn delete_service(
        &self,
        id: ServiceId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// `Conflict` when the key is taken, `NotFound` when the service does not exist.
    async fn create_integration(
        &self,
        service_id: ServiceId,
        new: NewIntegration,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Integration>;
    async fn get_integration(&self, id: IntegrationId) -> StoreResult<Option<Integration>>;
    async fn integration_by_key(&self, key: &str) -> StoreResult<Option<Integration>>;
    async fn list_integrations(&self, service_id: ServiceId) -> StoreResult<Vec<Integration>>;
    async fn update_integration(
        &self,
        id: IntegrationId,
        patch: IntegrationPatch,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Integration>>;
    async fn delete_integration(
        &self,
        id: IntegrationId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Applies the events in order, in one transaction, and returns once it is committed.
    async fn ingest(&self, req: IngestRequest) -> StoreResult<Vec<IngestOutcome>>;
    /// Records a change event on the service's timeline and on every open incident of it.
    async fn record_change(
        &self,
        integration: &Integration,
        change: ChangeEvent,
        now: Timestamp,
    ) -> StoreResult<TimelineEventId>;
    async fn get_alert(&self, id: AlertId) -> StoreResult<Option<Alert>>;
    async fn list_alerts(&self, filter: AlertFilter) -> StoreResult<Page<Alert>>;
    /// Idempotent: acknowledging an acknowledged or resolved alert changes nothing.
    async fn acknowledge_alert(
        &self,
        id: AlertId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Alert>>;
    /// Idempotent: resolving a resolved alert changes nothing.
    async fn resolve_alert(
        &self,
        id: AlertId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Alert>>;
}

#[async_trait]
pub trait IncidentStore: Send + Sync {
    async fn declare_incident(
        &self,
        new: NewIncident,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Incident>;
    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>>;
    async fn list_incidents(&self, filter: IncidentFilter) -> StoreResult<Page<Incident>>;
    /// Acknowledges the incident and its triggered alerts.
    async fn acknowledge_incident(
        &self,
        id: IncidentId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Incident>>;
    /// Resolves the incident and all its open alerts.
    async fn resolve_incident(
        &self,
        id: IncidentId,
        actor: Actor,
        now: Timestamp,
    ) -> StoreResult<Option<Incident>>;
    /// Oldest first.
    async fn timeline(&self, id: IncidentId, page: PageRequest)
        -> StoreResult<Page<TimelineEvent>>;
    /// Service-level events (changes, configuration) oldest first.
    async fn service_timeline(
        &self,
        id: ServiceId,
        page: PageRequest,
    ) -> StoreResult<Page<TimelineEvent>>;
    /// (open alerts, open incidents)
    async fn open_counts(&self) -> StoreResult<(i64, i64)>;
    /// (triggered, acknowledged) incidents, only those in `visible` when given.
    async fn incident_status_counts(&self, visible: Option<Visibility>) -> StoreResult<(i64, i64)>;
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Claims up to `limit` due jobs (run_at <= now, no live lease) for `lease`.
    async fn claim_jobs(
        &self,
        now: Timestamp,
        lease: DurationMs,
        limit: u32,
    ) -> StoreResult<Vec<Job>>;
    async fn complete_job(&self, id: JobId) -> StoreResult<()>;
    /// Puts the job back with a new due time (retry, or "not yet").
    async fn reschedule_job(
        &self,
        id: JobId,
        run_at: Timestamp,
        error: Option<String>,
    ) -> StoreResult<()>;
    /// The duty behind `JobKind::AlertAutoResolve`. Idempotent.
    async fn auto_resolve_alert(
        &self,
        id: AlertId,
        now: Timestamp,
    ) -> StoreResult<AutoResolveOutcome>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_token(&self, new: NewApiToken, now: Timestamp) -> StoreResult<ApiToken>;
    /// A live (not revoked) token by the hash of its text.
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>>;
    async fn get_token(&self, id: TokenId) -> StoreResult<Option<ApiToken>>;
    /// Newest first; every token when `user_id` is `None`.
    async fn list_tokens(
        &self,
        user_id: Option<UserId>,
        page: PageRequest,
    ) -> StoreResult<Page<ApiToken>>;
    /// Idempotent; `None` when the token does not exist.
    async fn revoke_token(&self, id: TokenId, now: Timestamp) -> StoreResult<Option<ApiToken>>;
    async fn count_tokens(&self) -> StoreResult<i64>;
    /// Records that the second factor was given for this token (a console session) at `at`;
    /// false when the token does not exist.
    async fn mark_token_mfa(&self, id: TokenId, at: Timestamp) -> StoreResult<bool>;
}

/// Users, teams and grants.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// `Conflict` when the email is taken; `NotFound` for an unknown team.
    async fn create_user(&self, new: NewUser, now: Timestamp) -> StoreResult<User>;
    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// The user with this email (case-insensitive) and their password hash, if any.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, Option<String>)>>;
    async fn list_users(&self, page: PageRequest) -> StoreResult<Page<User>>;
    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        now: Timestamp,
    ) -> StoreResult<Option<User>>;
    /// The user's second factor (`None` when the user does not exist).
    async fn user_mfa(&self, id: UserId) -> StoreResult<Option<UserMfa>>;
    /// Replaces the user's second factor; false when the user does not exist.
    async fn set_user_mfa(&self, id: UserId, mfa: UserMfa, now: Timestamp) -> StoreResult<bool>;
    /// `Conflict` when the name is taken; `NotFound` for an unknown member.
    async fn create_team(&self, new: NewTeam, now: Timestamp) -> StoreResult<Team>;
    async fn get_team(&self, id: TeamId) -> StoreResult<Option<Team>>;
    async fn list_teams(&self, page: PageRequest) -> StoreResult<Page<Team>>;
    async fn set_team_members(
        &self,
        id: TeamId,
        members: Vec<UserId>,
        now: Timestamp,
    ) -> StoreResult<Option<Team>>;
    /// `NotFound` for an unknown user, service or incident in the scope.
    async fn create_grant(&self, new: NewGrant, now: Timestamp) -> StoreResult<Grant>;
    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>>;
    /// Newest first; all users' grants when `user_id` is `None`.
    async fn list_grants(
        &self,
        user_id: Option<UserId>,
        page: PageRequest,
    ) -> StoreResult<Page<Grant>>;
    /// Grants of a user not revoked and not expired at `now`.
    async fn live_grants(&self, user_id: UserId, now: Timestamp) -> StoreResult<Vec<Grant>>;
    /// Idempotent; `None` when the grant does not exist.
    async fn revoke_grant(&self, id: GrantId, now: Timestamp) -> StoreResult<Option<Grant>>;
}

/// The hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends after the last entry, chaining its hash (`audit::entry_hash`).
    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<AuditEntry>;
    /// Newest first.
    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Page<AuditEntry>>;
    /// Oldest first, entries with id greater than `after`, for verifying the chain.
    async fn audit_chain(&self, after: Option<AuditId>, limit: u32)
        -> StoreResult<Vec<AuditEntry>>;
}

/// The whole port.
#[async_trait]
pub trait Store:
    ServiceStore
    + AlertStore
    + IncidentStore
    + JobStore
    + TokenStore
    + AccessStore
    + AuditStore
    + Send
    + Sync
    + 'static
{
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Ok when the store answers and its schema is current.
    async fn ready(&self) -> StoreResult<()>;
    /// Group-commit batch sizes, for adapters that batch writes.
    fn commit_stats(&self) -> Option<std::sync::Arc<CommitStats>> {
        None
    }
}

/// Sizes of the write batches a store committed (group commit), for the metrics endpoint.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Cumulative counts per upper bound of `COMMIT_BATCH_BUCKETS`, plus one for +Inf.
    buckets: [std::sync::atomic::AtomicU64; COMMIT_BATCH_BUCKETS.len() + 1],
    sum: std::sync::atomic::AtomicU64,
    count: std::sync::atomic::AtomicU64,
}

pub const COMMIT_BATCH_BUCKETS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

impl CommitStats {
    pub fn observe(&self, ops: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let idx = COMMIT_BATCH_BUCKETS
            .iter()
            .position(|b| ops <= *b)
            .unwrap_or(COMMIT_BATCH_BUCKETS.len());
        if let Some(b) = self.buckets.get(idx) {
            b.fetch_add(1, Relaxed);
        }
        self.sum.fetch_add(ops, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// (per-bucket counts, non-cumulative; sum; count)
    pub fn snapshot(&self) -> (Vec<u64>, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            self.sum.load(Relaxed),
            self.count.load(Relaxed),
        )
    }
}
