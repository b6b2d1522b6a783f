//! Jobs: the auto-resolve job written with the alert, claims with leases, the auto-resolve duty.

use super::{get_alert, get_incident, of_kind, timeline_all};
use crate::builders::{
    actor, at, ingest_one, integration_with, new_integration, resolve, service,
    service_with_integration, trigger, unique_name,
};
use firebreak_core::jobs::AutoResolveOutcome;
use firebreak_core::store::IngestEffect;
use firebreak_core::timeline::kinds;
use firebreak_core::{
    ActorKind, AlertId, AlertSeverity, AlertStatus, DurationMs, IncidentStatus, Integration,
    IntegrationKind, IntegrationPatch, Job, JobKind, Store, Timestamp,
};

const AFTER_MS: i64 = 300_000;
const LEASE: DurationMs = DurationMs::from_millis(30_000);
/// Later than anything the job cases schedule.
const FAR: i64 = 9_000_000;

async fn auto_resolve_integration(store: &dyn Store, prefix: &str) -> Integration {
    let svc = service(store, &unique_name(prefix)).await;
    let mut new = new_integration(IntegrationKind::Pagerduty);
    new.auto_resolve_after = Some(DurationMs::from_millis(AFTER_MS));
    integration_with(store, svc.id, new).await
}

/// Claims due jobs at `now` and returns those that auto-resolve one of `alerts`.
async fn claim_for(store: &dyn Store, now: Timestamp, limit: u32, alerts: &[AlertId]) -> Vec<Job> {
    let jobs = store
        .claim_jobs(now, LEASE, limit)
        .await
        .expect("claim_jobs");
    assert!(
        jobs.len() <= limit as usize,
        "claim_jobs returned {} jobs for limit {limit}",
        jobs.len()
    );
    for j in &jobs {
        assert!(
            j.run_at <= now,
            "claim_jobs returned job {} due at {} at {now}",
            j.id,
            j.run_at
        );
    }
    jobs.into_iter()
        .filter(|j| match &j.kind {
            JobKind::AlertAutoResolve { alert_id } => alerts.contains(alert_id),
        })
        .collect()
}

/// Completes every job of `alerts` that is claimable far in the future.
async fn drain(store: &dyn Store, alerts: &[AlertId]) {
    for j in claim_for(store, at(FAR), 1_000, alerts).await {
        store.complete_job(j.id).await.expect("complete_job");
    }
    assert!(
        claim_for(store, at(FAR + 1), 1_000, alerts)
            .await
            .is_empty(),
        "completed jobs are gone"
    );
}

/// The auto-resolve job: due at first_seen + after, leased when claimed, NotYet while the alert
/// keeps being seen (and rescheduled), Resolved when stale (by the system), then Done.
pub async fn case_auto_resolve_job_lifecycle(store: &dyn Store) {
    let integ = auto_resolve_integration(store, "auto-resolve").await;
    let key = unique_name("stale");
    let t0 = 1_000;
    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "goes stale", AlertSeverity::Error),
        at(t0),
    )
    .await;
    let alert = o.alert_id.expect("the outcome/event must name its alert");
    let inc = o.incident_id.expect("the outcome must name its incident");
    let mine = [alert];

    assert!(
        claim_for(store, at(t0 + AFTER_MS - 1), 100, &mine)
            .await
            .is_empty(),
        "the job is not due before first_seen + after"
    );
    ingest_one(
        store,
        &integ,
        trigger(&key, "seen again", AlertSeverity::Error),
        at(t0 + 100_000),
    )
    .await;

    let due = t0 + AFTER_MS;
    let jobs = claim_for(store, at(due), 100, &mine).await;
    assert_eq!(jobs.len(), 1, "exactly one auto-resolve job per opened alert (repeats add none), due at first_seen + after");
    let job = jobs[0].clone();
    assert_eq!(job.kind, JobKind::AlertAutoResolve { alert_id: alert });
    assert_eq!(
        job.run_at,
        at(due),
        "run_at = first_seen + auto_resolve_after"
    );
    assert_eq!(
        job.locked_until,
        Some(at(due).plus(LEASE)),
        "a claimed job is leased until now + lease"
    );
    assert!(
        claim_for(store, at(due + LEASE.as_millis() - 1), 100, &mine)
            .await
            .is_empty(),
        "a claimed job is not claimed again within its lease"
    );

    let outcome = store
        .auto_resolve_alert(alert, at(due))
        .await
        .expect("auto_resolve_alert");
    assert_eq!(
        outcome,
        AutoResolveOutcome::NotYet(at(t0 + 100_000 + AFTER_MS)),
        "seen again at t0+100s: stale at last_seen + after"
    );
    assert_eq!(
        get_alert(store, alert).await.status,
        AlertStatus::Triggered,
        "NotYet leaves the alert open"
    );

    let again = claim_for(store, at(due + LEASE.as_millis() + 1), 100, &mine).await;
    assert_eq!(
        again.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![job.id],
        "after the lease expires the job is claimed again"
    );

    let stale_at = t0 + 100_000 + AFTER_MS;
    store
        .reschedule_job(job.id, at(stale_at), None)
        .await
        .expect("reschedule_job");
    assert!(
        claim_for(store, at(stale_at - 1), 100, &mine)
            .await
            .is_empty(),
        "a rescheduled job is not due before its new run_at"
    );
    let jobs = claim_for(store, at(stale_at), 100, &mine).await;
    assert_eq!(
        jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![job.id],
        "the rescheduled job is due at its new run_at"
    );
    assert_eq!(jobs[0].run_at, at(stale_at));

    let outcome = store
        .auto_resolve_alert(alert, at(stale_at))
        .await
        .expect("auto_resolve_alert");
    assert_eq!(
        outcome,
        AutoResolveOutcome::Resolved,
        "last_seen + after <= now: resolved"
    );
    let a = get_alert(store, alert).await;
    assert_eq!(
        (a.status, a.resolved_at),
        (AlertStatus::Resolved, Some(at(stale_at)))
    );
    let i = get_incident(store, inc).await;
    assert_eq!(
        (i.status, i.resolved_at),
        (IncidentStatus::Resolved, Some(at(stale_at))),
        "its only alert auto-resolved: the incident resolves"
    );
    let events = timeline_all(store, inc).await;
    let resolved = of_kind(&events, kinds::ALERT_RESOLVED);
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        (resolved[0].actor.kind, resolved[0].at, resolved[0].alert_id),
        (ActorKind::System, at(stale_at), Some(alert)),
        "auto-resolve is done by the system"
    );
    let inc_resolved = of_kind(&events, kinds::INCIDENT_RESOLVED);
    assert_eq!(inc_resolved.len(), 1);
    assert_eq!(
        inc_resolved[0].actor.kind,
        ActorKind::System,
        "the cascaded incident.resolved is by the system too"
    );

    let n = events.len();
    assert_eq!(
        store
            .auto_resolve_alert(alert, at(stale_at + 1))
            .await
            .expect("auto_resolve_alert"),
        AutoResolveOutcome::Done,
        "a re-run finds it resolved: Done"
    );
    assert_eq!(
        timeline_all(store, inc).await.len(),
        n,
        "Done adds no event"
    );

    store.complete_job(job.id).await.expect("complete_job");
    assert!(
        claim_for(store, at(FAR), 100, &mine).await.is_empty(),
        "a completed job is gone"
    );

    // The next alert for the key is a new alert with its own job.
    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "again", AlertSeverity::Error),
        at(500_000),
    )
    .await;
    assert_eq!(o.effect, IngestEffect::Opened);
    let alert2 = o.alert_id.expect("the outcome/event must name its alert");
    let jobs = claim_for(store, at(500_000 + AFTER_MS), 100, &[alert2]).await;
    assert_eq!(jobs.len(), 1, "a new alert gets its own job");
    assert_eq!(jobs[0].run_at, at(500_000 + AFTER_MS));
    assert_eq!(
        store
            .auto_resolve_alert(alert2, at(500_000 + AFTER_MS))
            .await
            .expect("auto_resolve_alert"),
        AutoResolveOutcome::Resolved
    );
    store.complete_job(jobs[0].id).await.expect("complete_job");
    drain(store, &[alert, alert2]).await;
}

/// Done when the alert was already resolved, or the integration no longer auto-resolves.
pub async fn case_auto_resolve_done_when_resolved_or_unconfigured(store: &dyn Store) {
    let integ = auto_resolve_integration(store, "auto-resolve-done").await;
    let k1 = unique_name("k");
    let a1 = ingest_one(
        store,
        &integ,
        trigger(&k1, "resolved by sender", AlertSeverity::Error),
        at(1_000),
    )
    .await
    .alert_id
    .expect("the outcome/event must name its alert");
    ingest_one(store, &integ, resolve(&k1), at(2_000)).await;
    assert_eq!(
        store
            .auto_resolve_alert(a1, at(FAR))
            .await
            .expect("auto_resolve_alert"),
        AutoResolveOutcome::Done,
        "already resolved: Done"
    );
    assert_eq!(
        get_alert(store, a1).await.resolved_at,
        Some(at(2_000)),
        "Done changes nothing"
    );

    let k2 = unique_name("k");
    let a2 = ingest_one(
        store,
        &integ,
        trigger(&k2, "config changes", AlertSeverity::Error),
        at(1_000),
    )
    .await
    .alert_id
    .expect("the outcome/event must name its alert");
    store
        .update_integration(
            integ.id,
            IntegrationPatch {
                auto_resolve_after: Some(None),
                ..Default::default()
            },
            actor(),
            at(3_000),
        )
        .await
        .expect("update_integration")
        .expect("must answer Some for an existing row");
    assert_eq!(
        store
            .auto_resolve_alert(a2, at(FAR))
            .await
            .expect("auto_resolve_alert"),
        AutoResolveOutcome::Done,
        "no longer configured: Done"
    );
    let a = get_alert(store, a2).await;
    assert_eq!(
        (a.status, a.resolved_at),
        (AlertStatus::Triggered, None),
        "Done leaves the alert open"
    );
    drain(store, &[a1, a2]).await;
}

/// Alerts of integrations without auto_resolve_after get no job.
pub async fn case_no_job_without_auto_resolve(store: &dyn Store) {
    let (_svc, integ) =
        service_with_integration(store, "no-auto-resolve-job", IntegrationKind::Pagerduty).await;
    let a = ingest_one(
        store,
        &integ,
        trigger(&unique_name("k"), "no job", AlertSeverity::Critical),
        at(1_000),
    )
    .await
    .alert_id
    .expect("the outcome/event must name its alert");
    assert!(
        claim_for(store, at(FAR), 1_000, &[a]).await.is_empty(),
        "no auto-resolve job without auto_resolve_after"
    );
}

/// claim_jobs hands out at most `limit` jobs and never the same job twice while leased.
pub async fn case_claim_jobs_respects_limit(store: &dyn Store) {
    let integ = auto_resolve_integration(store, "claim-limit").await;
    let mut alerts = Vec::new();
    for _ in 0..3 {
        alerts.push(
            ingest_one(
                store,
                &integ,
                trigger(&unique_name("k"), "limit", AlertSeverity::Error),
                at(1_000),
            )
            .await
            .alert_id
            .expect("the outcome/event must name its alert"),
        );
    }
    let due = at(1_000 + AFTER_MS);
    let first = store.claim_jobs(due, LEASE, 2).await.expect("claim_jobs");
    assert_eq!(first.len(), 2, "limit 2 with 3 due jobs: 2 claimed");
    let second = store.claim_jobs(due, LEASE, 10).await.expect("claim_jobs");
    assert_eq!(
        second.len(),
        1,
        "the third job, and not the two leased ones"
    );
    let mut ids: Vec<_> = first.iter().chain(second.iter()).map(|j| j.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct jobs");
    let mut claimed: Vec<AlertId> = first
        .iter()
        .chain(second.iter())
        .map(|j| match &j.kind {
            JobKind::AlertAutoResolve { alert_id } => *alert_id,
        })
        .collect();
    claimed.sort();
    let mut expected = alerts.clone();
    expected.sort();
    assert_eq!(claimed, expected, "one job per alert");
    assert!(
        store
            .claim_jobs(due, LEASE, 10)
            .await
            .expect("claim_jobs")
            .is_empty(),
        "everything due is leased"
    );
    for j in first.iter().chain(second.iter()) {
        store.complete_job(j.id).await.expect("complete_job");
    }
    drain(store, &alerts).await;
}
