//! Builders for tests: services, integrations and alert events with sensible defaults, unique
//! names and keys, a fixed base time, and thin wrappers that call the store and fail loudly.
//!
//! Time never comes from the system clock here: every timestamp is `at(offset_ms)` from the fixed
//! base `2026-08-21T09:00:00Z`.

use firebreak_core::store::IngestRequest;
use firebreak_core::{
    Actor, ActorKind, AlertAction, AlertEvent, AlertSeverity, IngestOutcome, Integration,
    IntegrationKind, Link, NewIntegration, NewService, Service, ServiceId, Store, Timestamp,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// `2026-08-21T09:00:00Z` in epoch milliseconds.
pub const BASE_MS: i64 = 1_787_302_800_000;

/// The fixed base time of every test: `2026-08-21T09:00:00Z`.
pub fn base() -> Timestamp {
    Timestamp::from_millis(BASE_MS)
}

/// The base time plus `offset_ms` milliseconds.
pub fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(BASE_MS + offset_ms)
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A number unique within this process (1, 2, 3, …).
pub fn next_unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A bijective 64-bit mixer (SplitMix64 finaliser): distinct inputs give distinct outputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random-looking integration key: exactly 32 lowercase hex characters, unique across the
/// processes sharing one database (the first half is a bijection of (process id, counter)).
pub fn unique_key() -> String {
    let n = next_unique();
    let pid = u64::from(std::process::id());
    let hi = mix((pid << 32) | (n & 0xFFFF_FFFF));
    let lo = mix(n.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ pid);
    format!("{hi:016x}{lo:016x}")
}

/// `"{prefix}-{pid}-{n}"`: unique names for services, integrations, dedup keys, token hashes.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), next_unique())
}

/// The person who does things in tests.
pub fn actor() -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some("u-testkit".into()),
        name: "Test Responder".into(),
    }
}

/// Creates a service named exactly `name` (with `auto_resolve_incidents = true`) at `at(0)`.
pub async fn service(store: &dyn Store, name: &str) -> Service {
    store
        .create_service(
            NewService {
                name: name.to_string(),
                description: format!("test service {name}"),
                auto_resolve_incidents: true,
                team_id: None,
            },
            actor(),
            at(0),
        )
        .await
        .unwrap_or_else(|e| panic!("create_service({name}) failed: {e}"))
}

/// A `NewIntegration` of `kind` with a unique name and key, no override, no auto-resolve.
pub fn new_integration(kind: IntegrationKind) -> NewIntegration {
    NewIntegration {
        kind,
        name: unique_name(kind.as_str()),
        key: unique_key(),
        severity_override: None,
        auto_resolve_after: None,
    }
}

/// Creates an integration of `kind` with a unique 32-character key on the service at `at(0)`.
pub async fn integration(
    store: &dyn Store,
    service_id: ServiceId,
    kind: IntegrationKind,
) -> Integration {
    integration_with(store, service_id, new_integration(kind)).await
}

/// Creates the given integration on the service at `at(0)`.
pub async fn integration_with(
    store: &dyn Store,
    service_id: ServiceId,
    new: NewIntegration,
) -> Integration {
    let key = new.key.clone();
    store
        .create_integration(service_id, new, actor(), at(0))
        .await
        .unwrap_or_else(|e| {
            panic!("create_integration(service {service_id}, key {key}) failed: {e}")
        })
}

/// A service with one integration of `kind`.
pub async fn service_with_integration(
    store: &dyn Store,
    prefix: &str,
    kind: IntegrationKind,
) -> (Service, Integration) {
    let svc = service(store, &unique_name(prefix)).await;
    let integ = integration(store, svc.id, kind).await;
    (svc, integ)
}

/// A trigger event (PagerDuty style: no group key) with a little content in every field.
pub fn trigger(dedup_key: &str, summary: &str, severity: AlertSeverity) -> AlertEvent {
    let mut labels = BTreeMap::new();
    labels.insert("env".to_string(), "test".to_string());
    AlertEvent {
        action: AlertAction::Trigger,
        dedup_key: dedup_key.to_string(),
        summary: summary.to_string(),
        severity,
        source: "testkit".to_string(),
        labels,
        details: serde_json::json!({ "note": summary }),
        links: vec![Link {
            href: "https://example.test/runbook".into(),
            text: Some("runbook".into()),
        }],
        group_key: None,
    }
}

/// An acknowledge for the dedup key (no content).
pub fn ack(dedup_key: &str) -> AlertEvent {
    AlertEvent::action_only(AlertAction::Acknowledge, dedup_key.to_string())
}

/// A resolve for the dedup key (no content).
pub fn resolve(dedup_key: &str) -> AlertEvent {
    AlertEvent::action_only(AlertAction::Resolve, dedup_key.to_string())
}

/// An Alertmanager-style firing alert: dedup key = fingerprint, with a group key.
pub fn am_trigger(
    fingerprint: &str,
    group_key: &str,
    summary: &str,
    severity: AlertSeverity,
) -> AlertEvent {
    let mut event = trigger(fingerprint, summary, severity);
    event
        .labels
        .insert("alertname".to_string(), summary.to_string());
    event.group_key = Some(group_key.to_string());
    event
}

/// An Alertmanager-style resolved alert: dedup key = fingerprint, with a group key.
pub fn am_resolve(fingerprint: &str, group_key: &str) -> AlertEvent {
    let mut event = resolve(fingerprint);
    event.group_key = Some(group_key.to_string());
    event
}

/// One ingest request; fails the test if the store errors or answers a wrong number of outcomes.
pub async fn ingest(
    store: &dyn Store,
    integration: &Integration,
    events: Vec<AlertEvent>,
    received_at: Timestamp,
) -> Vec<IngestOutcome> {
    let n = events.len();
    let outcomes = store
        .ingest(IngestRequest {
            integration: integration.clone(),
            events,
            received_at,
        })
        .await
        .unwrap_or_else(|e| panic!("ingest on integration {} failed: {e}", integration.id));
    assert_eq!(
        outcomes.len(),
        n,
        "ingest must answer one outcome per event, in order"
    );
    outcomes
}

/// Ingests a single event and returns its outcome.
pub async fn ingest_one(
    store: &dyn Store,
    integration: &Integration,
    event: AlertEvent,
    received_at: Timestamp,
) -> IngestOutcome {
    ingest(store, integration, vec![event], received_at)
        .await
        .remove(0)
}

/// A unique lowercase-hex SHA-256-shaped token hash (64 characters).
pub fn unique_token_hash() -> String {
    let n = next_unique();
    let pid = u64::from(std::process::id());
    let a = mix((pid << 32) | (n & 0xFFFF_FFFF));
    format!(
        "{a:016x}{:016x}{:016x}{:016x}",
        mix(a),
        mix(a ^ 1),
        mix(a ^ 2)
    )
}
