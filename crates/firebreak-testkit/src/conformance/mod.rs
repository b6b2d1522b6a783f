//! The store conformance suite: every case checks one part of the "Store semantics" contract in
//! `docs/ARCHITECTURE.md` against any `Store` adapter.
//!
//! `run_all` runs every case in sequence on one fresh, migrated, empty store and panics on the
//! first failure with a message that names the case. Each case is also a public function so a
//! failing one can be run alone. Cases create their own services and integrations (unique names
//! and keys) and only rely on the store being empty in `check_incident_numbers_dense`, which
//! `run_all` runs last. Every timestamp is explicit (`builders::at`); nothing reads the clock.

mod access;
mod audit;
mod concurrency;
mod incidents;
mod ingest;
mod jobs;
mod lists;
mod services;
mod timeline;
mod tokens;

pub use access::*;
pub use audit::*;
pub use concurrency::*;
pub use incidents::*;
pub use ingest::*;
pub use jobs::*;
pub use lists::*;
pub use services::*;
pub use timeline::*;
pub use tokens::*;

use firebreak_core::store::PageRequest;
use firebreak_core::{
    Alert, AlertFilter, AlertId, Incident, IncidentFilter, IncidentId, ServiceId, Store,
    TimelineEvent,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type CaseFn = fn(Arc<dyn Store>) -> CaseFuture;

macro_rules! case {
    ($name:ident) => {
        (stringify!($name), |s: Arc<dyn Store>| -> CaseFuture {
            Box::pin(async move { $name(&*s).await })
        })
    };
}

/// Every case, in the order `run_all` runs them.
fn cases() -> Vec<(&'static str, CaseFn)> {
    vec![
        case!(case_store_ready),
        case!(case_service_crud),
        case!(case_service_pagination),
        case!(case_integration_crud),
        case!(case_integration_key_conflict),
        case!(case_retire_integration),
        case!(case_retire_service),
        case!(case_service_config_timeline),
        case!(case_ingest_open_and_repeat),
        case!(case_ingest_acknowledge_and_resolve),
        case!(case_ingest_ignores_unknown_keys),
        case!(case_dedup_is_per_integration),
        case!(case_trigger_after_resolve_opens_new_alert),
        case!(case_batch_applies_in_order),
        case!(case_alert_content_round_trips),
        case!(case_grouping_by_group_key),
        case!(case_auto_resolve_incidents_disabled),
        case!(case_acknowledge_cascade_from_alerts),
        case!(case_resolve_leaves_only_acknowledged_alerts),
        case!(case_acknowledge_incident_cascade),
        case!(case_resolve_incident_cascade),
        case!(case_idempotent_acknowledge_and_resolve),
        case!(case_phase_timestamps),
        case!(case_severity_mapping_and_urgency),
        case!(case_severity_override),
        case!(case_urgency_follows_alert_severity_under_override),
        case!(case_incident_numbers_increase),
        case!(case_declared_incident),
        case!(case_timeline_kinds_actors_order),
        case!(case_timeline_pagination),
        case!(case_record_change),
        case!(case_list_incidents_filters),
        case!(case_list_alerts_filters),
        case!(case_incident_pagination),
        case!(case_alert_pagination),
        case!(case_auto_resolve_job_lifecycle),
        case!(case_auto_resolve_done_when_resolved_or_unconfigured),
        case!(case_no_job_without_auto_resolve),
        case!(case_claim_jobs_respects_limit),
        case!(case_tokens),
        case!(case_users),
        case!(case_user_pagination),
        case!(case_update_user),
        case!(case_teams),
        case!(case_service_team),
        case!(case_list_services_visibility),
        case!(case_list_visibility_filters),
        case!(case_incident_status_counts),
        case!(case_integration_key_rotation),
        case!(case_grants),
        case!(case_user_tokens),
        case!(case_audit_chain),
        case!(case_audit_filters),
        case!(case_open_counts),
        (
            "case_concurrent_ingest",
            |s: Arc<dyn Store>| -> CaseFuture { Box::pin(case_concurrent_ingest(s)) },
        ),
        (
            "case_concurrent_audit_appends",
            |s: Arc<dyn Store>| -> CaseFuture { Box::pin(case_concurrent_audit_appends(s)) },
        ),
    ]
}

/// The names of every case, in run order.
pub fn case_names() -> Vec<&'static str> {
    cases().into_iter().map(|(name, _)| name).collect()
}

/// Runs every case in sequence on `store`, which must be fresh, migrated and empty.
///
/// Panics on the first failing case with a message naming it. Must be called inside a tokio
/// runtime (each case runs as a spawned task so its panic can be attributed to it).
pub async fn run_all(store: Arc<dyn Store>) {
    for (name, case) in cases() {
        run_case(&store, name, case).await;
    }
    run_case(&store, "check_incident_numbers_dense", |s| {
        Box::pin(async move { check_incident_numbers_dense(&*s).await })
    })
    .await;
    eprintln!("store conformance [{}]: all cases passed", store.backend());
}

async fn run_case(store: &Arc<dyn Store>, name: &'static str, case: CaseFn) {
    let backend = store.backend();
    eprintln!("store conformance [{backend}]: {name}");
    match tokio::spawn(case(Arc::clone(store))).await {
        Ok(()) => {}
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "(panic without a message)".to_string());
            panic!("store conformance case `{name}` failed on {backend}: {msg}");
        }
        Err(e) => panic!("store conformance case `{name}` did not finish on {backend}: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the cases.

/// More pages than any case can produce: a cursor that never ends is a failure, not a hang.
const MAX_PAGES: usize = 10_000;

pub(crate) fn page(limit: u32, cursor: Option<i64>) -> PageRequest {
    PageRequest { limit, cursor }
}

/// Parses a `next_cursor`, failing on anything that is not an id.
pub(crate) fn cursor_of(next: &Option<String>, what: &str) -> Option<i64> {
    next.as_ref().map(|c| {
        c.parse::<i64>()
            .unwrap_or_else(|_| panic!("{what}: next_cursor {c:?} is not an integer id"))
    })
}

pub(crate) async fn get_incident(store: &dyn Store, id: IncidentId) -> Incident {
    store
        .get_incident(id)
        .await
        .unwrap_or_else(|e| panic!("get_incident({id}) failed: {e}"))
        .unwrap_or_else(|| panic!("get_incident({id}) returned None for an existing incident"))
}

pub(crate) async fn get_alert(store: &dyn Store, id: AlertId) -> Alert {
    store
        .get_alert(id)
        .await
        .unwrap_or_else(|e| panic!("get_alert({id}) failed: {e}"))
        .unwrap_or_else(|| panic!("get_alert({id}) returned None for an existing alert"))
}

/// The whole incident timeline (all pages), checked to be oldest first.
pub(crate) async fn timeline_all(store: &dyn Store, id: IncidentId) -> Vec<TimelineEvent> {
    let mut out: Vec<TimelineEvent> = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let p = store
            .timeline(id, page(PageRequest::MAX_LIMIT, cursor))
            .await
            .unwrap_or_else(|e| panic!("timeline({id}) failed: {e}"));
        out.extend(p.items);
        cursor = cursor_of(&p.next_cursor, "timeline");
        if cursor.is_none() {
            assert_oldest_first(&out, &format!("timeline of incident {id}"));
            return out;
        }
    }
    panic!("timeline({id}): next_cursor never became null");
}

/// The whole service timeline (all pages), checked to be oldest first.
pub(crate) async fn service_timeline_all(store: &dyn Store, id: ServiceId) -> Vec<TimelineEvent> {
    let mut out: Vec<TimelineEvent> = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let p = store
            .service_timeline(id, page(PageRequest::MAX_LIMIT, cursor))
            .await
            .unwrap_or_else(|e| panic!("service_timeline({id}) failed: {e}"));
        out.extend(p.items);
        cursor = cursor_of(&p.next_cursor, "service_timeline");
        if cursor.is_none() {
            assert_oldest_first(&out, &format!("timeline of service {id}"));
            return out;
        }
    }
    panic!("service_timeline({id}): next_cursor never became null");
}

/// Timelines are oldest first: ids strictly increasing, times never going backwards.
pub(crate) fn assert_oldest_first(events: &[TimelineEvent], what: &str) {
    for w in events.windows(2) {
        assert!(
            w[0].id < w[1].id,
            "{what}: events must be oldest first (ids increasing), got id {} before id {}",
            w[0].id,
            w[1].id
        );
        assert!(
            w[0].at <= w[1].at,
            "{what}: events must be oldest first (times non-decreasing), got {} ({}) before {} ({})",
            w[0].kind,
            w[0].at,
            w[1].kind,
            w[1].at
        );
    }
}

/// Events of one kind.
pub(crate) fn of_kind<'a>(events: &'a [TimelineEvent], kind: &str) -> Vec<&'a TimelineEvent> {
    events.iter().filter(|e| e.kind == kind).collect()
}

/// `(at, kinds sorted)` groups in timeline order: the order of events written at the same
/// instant is not part of the contract, the order of instants is.
pub(crate) fn kinds_by_time(events: &[TimelineEvent]) -> Vec<(i64, Vec<String>)> {
    let mut out: Vec<(i64, Vec<String>)> = Vec::new();
    for e in events {
        let t = e.at.as_millis() - crate::builders::BASE_MS;
        match out.last_mut() {
            Some((last, kinds)) if *last == t => kinds.push(e.kind.clone()),
            _ => out.push((t, vec![e.kind.clone()])),
        }
    }
    for (_, kinds) in &mut out {
        kinds.sort();
    }
    out
}

/// Builds the expected value for `kinds_by_time` (offsets from the base time).
pub(crate) fn expect_kinds(groups: &[(i64, &[&str])]) -> Vec<(i64, Vec<String>)> {
    groups
        .iter()
        .map(|(t, kinds)| {
            let mut k: Vec<String> = kinds.iter().map(|s| (*s).to_string()).collect();
            k.sort();
            (*t, k)
        })
        .collect()
}

/// Every incident matching the filter (all pages, the filter's own page is ignored), checked to
/// be newest first.
pub(crate) async fn incidents_all(store: &dyn Store, filter: IncidentFilter) -> Vec<Incident> {
    let mut out: Vec<Incident> = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let mut f = filter.clone();
        f.page = page(PageRequest::MAX_LIMIT, cursor);
        let p = store
            .list_incidents(f)
            .await
            .unwrap_or_else(|e| panic!("list_incidents failed: {e}"));
        out.extend(p.items);
        cursor = cursor_of(&p.next_cursor, "list_incidents");
        if cursor.is_none() {
            assert_newest_first(
                &out.iter().map(|i| i.id.0).collect::<Vec<_>>(),
                "list_incidents",
            );
            return out;
        }
    }
    panic!("list_incidents: next_cursor never became null");
}

/// Every alert matching the filter (all pages), checked to be newest first.
pub(crate) async fn alerts_all(store: &dyn Store, filter: AlertFilter) -> Vec<Alert> {
    let mut out: Vec<Alert> = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let mut f = filter.clone();
        f.page = page(PageRequest::MAX_LIMIT, cursor);
        let p = store
            .list_alerts(f)
            .await
            .unwrap_or_else(|e| panic!("list_alerts failed: {e}"));
        out.extend(p.items);
        cursor = cursor_of(&p.next_cursor, "list_alerts");
        if cursor.is_none() {
            assert_newest_first(
                &out.iter().map(|a| a.id.0).collect::<Vec<_>>(),
                "list_alerts",
            );
            return out;
        }
    }
    panic!("list_alerts: next_cursor never became null");
}

/// Lists are newest first: ids strictly decreasing (which also rules out duplicates).
pub(crate) fn assert_newest_first(ids: &[i64], what: &str) {
    for w in ids.windows(2) {
        assert!(
            w[0] > w[1],
            "{what}: items must be newest first (ids strictly decreasing), got {ids:?}"
        );
    }
}

/// Ids sorted newest first, for comparing against a list.
pub(crate) fn newest_first(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

/// Incident numbers in a store that started empty are exactly 1..=N, each once.
///
/// Only meaningful when the store was empty before the suite ran; `run_all` runs it last.
pub async fn check_incident_numbers_dense(store: &dyn Store) {
    let all = incidents_all(store, IncidentFilter::default()).await;
    let mut numbers: Vec<i64> = all.iter().map(|i| i.number).collect();
    numbers.sort_unstable();
    let expected: Vec<i64> = (1..=all.len() as i64).collect();
    if numbers != expected {
        let mut dupes = numbers.clone();
        dupes.dedup();
        panic!(
            "incident numbers must be 1, 2, 3, … without gaps or duplicates: {} incidents, {} distinct numbers, smallest {:?}, largest {:?}",
            all.len(),
            dupes.len(),
            numbers.first(),
            numbers.last()
        );
    }
}
