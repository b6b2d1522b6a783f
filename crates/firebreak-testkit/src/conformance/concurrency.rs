//! Concurrent ingest of the same dedup keys: no alert lost, none duplicated.

use super::{alerts_all, incidents_all};
use crate::builders::{at, service_with_integration, trigger, unique_name};
use firebreak_core::store::{IngestEffect, IngestRequest, StoreError};
use firebreak_core::{
    AlertFilter, AlertSeverity, AlertStatus, IncidentFilter, IngestOutcome, Integration,
    IntegrationKind, Store,
};
use std::collections::BTreeMap;
use std::sync::Arc;

const TASKS: usize = 8;
const KEYS: usize = 20;
const ROUNDS: usize = 5;

/// One ingest, retried while the store answers `Busy` (back-pressure: nothing was applied).
async fn ingest_retrying(store: &dyn Store, req: IngestRequest) -> Vec<IngestOutcome> {
    for _ in 0..100_000 {
        match store.ingest(req.clone()).await {
            Ok(out) => return out,
            Err(StoreError::Busy) => tokio::task::yield_now().await,
            Err(e) => panic!("concurrent ingest failed: {e}"),
        }
    }
    panic!("concurrent ingest: the store stayed Busy");
}

/// 8 tasks send triggers for the same 20 dedup keys at once (single events in rotated orders, and
/// whole batches): exactly 20 open alerts and 20 incidents, counts adding up to what was sent.
///
/// Unlike the other cases this one takes the `Arc`: its tasks are spawned with `tokio::spawn`
/// (so they run in parallel on a multi-threaded runtime) and need to own the store.
pub async fn case_concurrent_ingest(store: Arc<dyn Store>) {
    let (svc, integ) =
        service_with_integration(&*store, "concurrent", IntegrationKind::Pagerduty).await;
    let prefix = unique_name("conc");
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|k| format!("{prefix}-{k}")).collect());

    let mut handles = Vec::new();
    for t in 0..TASKS {
        let keys = Arc::clone(&keys);
        let integ: Integration = integ.clone();
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut effects: Vec<(String, IngestEffect)> = Vec::new();
            for round in 0..ROUNDS {
                let received_at = at(100_000 + (round * 1_000 + t) as i64);
                let order: Vec<&String> = (0..KEYS).map(|i| &keys[(i + t * 7) % KEYS]).collect();
                if t % 2 == 0 {
                    for key in order {
                        let req = IngestRequest {
                            integration: integ.clone(),
                            events: vec![trigger(key, "concurrent", AlertSeverity::Error)],
                            received_at,
                        };
                        let out = ingest_retrying(&*store, req).await;
                        effects.extend(out.into_iter().map(|o| (o.dedup_key, o.effect)));
                    }
                } else {
                    let events = order
                        .iter()
                        .map(|k| trigger(k, "concurrent batch", AlertSeverity::Error))
                        .collect();
                    let req = IngestRequest {
                        integration: integ.clone(),
                        events,
                        received_at,
                    };
                    let out = ingest_retrying(&*store, req).await;
                    effects.extend(out.into_iter().map(|o| (o.dedup_key, o.effect)));
                }
            }
            effects
        }));
    }
    let mut effects = Vec::new();
    for h in handles {
        match h.await {
            Ok(e) => effects.extend(e),
            Err(e) => panic!("an ingest task failed: {e}"),
        }
    }

    let sent = TASKS * ROUNDS * KEYS;
    assert_eq!(effects.len(), sent, "one outcome per event sent");
    let opened = effects
        .iter()
        .filter(|(_, e)| *e == IngestEffect::Opened)
        .count();
    let repeated = effects
        .iter()
        .filter(|(_, e)| *e == IngestEffect::Repeated)
        .count();
    assert_eq!(
        (opened, repeated),
        (KEYS, sent - KEYS),
        "each key opened exactly once, every other trigger a repeat"
    );

    let open = alerts_all(
        &*store,
        AlertFilter {
            statuses: vec![AlertStatus::Triggered, AlertStatus::Acknowledged],
            service_id: Some(svc.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(open.len(), KEYS, "exactly one open alert per dedup key");
    let by_key: BTreeMap<&str, i64> = open
        .iter()
        .map(|a| (a.dedup_key.as_str(), a.count))
        .collect();
    assert_eq!(
        by_key.len(),
        KEYS,
        "the open alerts have distinct dedup keys"
    );
    for k in keys.iter() {
        assert_eq!(
            by_key.get(k.as_str()),
            Some(&((TASKS * ROUNDS) as i64)),
            "count of {k} = triggers sent for it"
        );
    }
    assert_eq!(
        open.iter().map(|a| a.count).sum::<i64>(),
        sent as i64,
        "counts add up to the triggers sent"
    );
    let every = alerts_all(
        &*store,
        AlertFilter {
            service_id: Some(svc.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(every.len(), KEYS, "no extra (resolved or duplicate) alerts");
    let incidents = incidents_all(
        &*store,
        IncidentFilter {
            service_id: Some(svc.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(incidents.len(), KEYS, "one incident per alert");
    assert!(
        incidents
            .iter()
            .all(|i| i.alert_count == 1 && i.open_alert_count == 1),
        "each incident has its one open alert"
    );
}
