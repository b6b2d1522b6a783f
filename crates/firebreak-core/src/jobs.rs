//! The transactional outbox: work that must happen later or elsewhere is a job row written in the
//! same transaction as the change that caused it, claimed by workers with a lease.

use crate::ids::{AlertId, JobId};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Resolve an open alert that has not been seen for its integration's `auto_resolve_after`.
    AlertAutoResolve { alert_id: AlertId },
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::AlertAutoResolve { .. } => "alert_auto_resolve",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub run_at: Timestamp,
    pub attempts: i32,
    pub locked_until: Option<Timestamp>,
}

/// What happened when a worker asked the store to auto-resolve a stale alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoResolveOutcome {
    /// The alert was resolved now.
    Resolved,
    /// The alert was seen again; it becomes stale at this time.
    NotYet(Timestamp),
    /// Already resolved, or no longer configured: nothing to do.
    Done,
}
