//! Background workers: claim due jobs from the store (with a lease), run each duty, and complete
//! or reschedule it. Due times come from the injected clock; the loop only wakes up to look.

use crate::app::AppState;
use firebreak_core::jobs::{AutoResolveOutcome, JobKind};
use firebreak_core::{DurationMs, StoreError};
use std::time::Duration;
use tokio::sync::watch;

/// How long a claimed job is reserved for this worker before another may take it.
pub const JOB_LEASE: DurationMs = DurationMs::from_secs(60);
const CLAIM_BATCH: u32 = 100;
/// Delay before a job that failed is tried again.
const RETRY_AFTER: DurationMs = DurationMs::from_secs(30);

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Err(e) = run_due_jobs(&state).await {
                    tracing::warn!(error = %e, "job worker pass failed");
                }
            }
        }
    }
}

/// Claims and runs every job due now; returns how many ran. Tests call this with a fake clock.
pub async fn run_due_jobs(state: &AppState) -> Result<usize, StoreError> {
    let mut ran = 0;
    loop {
        let now = state.clock.now();
        let jobs = state.store.claim_jobs(now, JOB_LEASE, CLAIM_BATCH).await?;
        if jobs.is_empty() {
            return Ok(ran);
        }
        for job in jobs {
            ran += 1;
            let result = match &job.kind {
                JobKind::AlertAutoResolve { alert_id } => {
                    state.store.auto_resolve_alert(*alert_id, now).await
                }
            };
            match result {
                Ok(AutoResolveOutcome::Resolved | AutoResolveOutcome::Done) => {
                    state.store.complete_job(job.id).await?
                }
                Ok(AutoResolveOutcome::NotYet(at)) => {
                    state.store.reschedule_job(job.id, at, None).await?
                }
                Err(e) => {
                    tracing::warn!(job = job.id.0, kind = job.kind.name(), error = %e, "job failed; will retry");
                    state
                        .store
                        .reschedule_job(job.id, now.plus(RETRY_AFTER), Some(e.to_string()))
                        .await?;
                }
            }
        }
    }
}
