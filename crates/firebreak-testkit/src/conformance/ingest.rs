//! Ingest: the alert state machine applied by `AlertStore::ingest`.

use super::{
    alerts_all, expect_kinds, get_alert, get_incident, incidents_all, kinds_by_time, of_kind,
    timeline_all,
};
use crate::builders::{
    ack, at, ingest, ingest_one, integration, resolve, service, service_with_integration, trigger,
    unique_name,
};
use firebreak_core::store::IngestEffect;
use firebreak_core::timeline::kinds;
use firebreak_core::{
    AlertFilter, AlertSeverity, AlertStatus, IncidentFilter, IncidentStatus, IntegrationKind, Link,
    Store,
};
use std::collections::BTreeMap;

/// A trigger opens an alert (count 1); repeats bump count and last_seen and refresh the content
/// without adding timeline events.
pub async fn case_ingest_open_and_repeat(store: &dyn Store) {
    let (svc, integ) =
        service_with_integration(store, "open-repeat", IntegrationKind::Pagerduty).await;
    let key = unique_name("disk-full");

    let o1 = ingest_one(
        store,
        &integ,
        trigger(&key, "Disk full on db-1", AlertSeverity::Warning),
        at(1_000),
    )
    .await;
    assert_eq!(
        o1.effect,
        IngestEffect::Opened,
        "first trigger opens an alert"
    );
    assert_eq!(o1.dedup_key, key);
    let alert_id = o1.alert_id.expect("an opened alert has an id");
    let incident_id = o1
        .incident_id
        .expect("an opened alert (no group key) opens an incident");

    let a = get_alert(store, alert_id).await;
    assert_eq!(a.id, alert_id);
    assert_eq!(a.service_id, svc.id);
    assert_eq!(a.integration_id, integ.id);
    assert_eq!(a.incident_id, Some(incident_id));
    assert_eq!(a.dedup_key, key);
    assert_eq!(a.status, AlertStatus::Triggered);
    assert_eq!(a.severity, AlertSeverity::Warning);
    assert_eq!(a.summary, "Disk full on db-1");
    assert_eq!(a.source, "testkit");
    assert_eq!(
        a.labels,
        BTreeMap::from([("env".to_string(), "test".to_string())])
    );
    assert_eq!(
        a.details,
        serde_json::json!({ "note": "Disk full on db-1" })
    );
    assert_eq!(
        a.links,
        vec![Link {
            href: "https://example.test/runbook".into(),
            text: Some("runbook".into())
        }]
    );
    assert_eq!(a.group_key, None);
    assert_eq!(a.count, 1);
    assert_eq!(a.first_seen_at, at(1_000));
    assert_eq!(a.last_seen_at, at(1_000));
    assert_eq!(a.acknowledged_at, None);
    assert_eq!(a.resolved_at, None);

    let inc = get_incident(store, incident_id).await;
    assert_eq!(
        inc.title, "Disk full on db-1",
        "an incident opened from an alert is titled with its summary"
    );
    assert_eq!(inc.status, IncidentStatus::Triggered);
    assert_eq!(inc.service_ids, vec![svc.id]);
    assert_eq!((inc.alert_count, inc.open_alert_count), (1, 1));
    let events_after_open = timeline_all(store, incident_id).await.len();

    let mut repeat = trigger(&key, "Disk full on db-1 (98%)", AlertSeverity::Critical);
    repeat.source = "testkit-2".into();
    repeat.labels.insert("mount".into(), "/var".into());
    repeat.details = serde_json::json!({ "used_pct": 98 });
    repeat.links = vec![];
    let o2 = ingest_one(store, &integ, repeat, at(2_000)).await;
    assert_eq!(
        o2.effect,
        IngestEffect::Repeated,
        "a trigger for an open alert is a repeat"
    );
    assert_eq!(o2.alert_id, Some(alert_id), "a repeat names the same alert");
    assert_eq!(
        o2.incident_id,
        Some(incident_id),
        "a repeat names the same incident"
    );

    let a = get_alert(store, alert_id).await;
    assert_eq!(a.count, 2);
    assert_eq!(a.first_seen_at, at(1_000), "first_seen_at never changes");
    assert_eq!(
        a.last_seen_at,
        at(2_000),
        "last_seen_at = time of the repeat"
    );
    assert_eq!(a.status, AlertStatus::Triggered);
    assert_eq!(a.summary, "Disk full on db-1 (98%)", "summary refreshed");
    assert_eq!(a.severity, AlertSeverity::Critical, "severity refreshed");
    assert_eq!(a.source, "testkit-2", "source refreshed");
    assert_eq!(
        a.labels.get("mount").map(String::as_str),
        Some("/var"),
        "labels refreshed"
    );
    assert_eq!(
        a.details,
        serde_json::json!({ "used_pct": 98 }),
        "details refreshed"
    );
    assert!(a.links.is_empty(), "links refreshed");

    let o3 = ingest_one(
        store,
        &integ,
        trigger(&key, "Disk full on db-1 (99%)", AlertSeverity::Critical),
        at(3_000),
    )
    .await;
    assert_eq!(o3.effect, IngestEffect::Repeated);
    let a = get_alert(store, alert_id).await;
    assert_eq!((a.count, a.last_seen_at), (3, at(3_000)));

    let events = timeline_all(store, incident_id).await;
    assert_eq!(
        events.len(),
        events_after_open,
        "repeats add no timeline events"
    );
    assert_eq!(of_kind(&events, kinds::ALERT_TRIGGERED).len(), 1);
    let inc = get_incident(store, incident_id).await;
    assert_eq!(
        (inc.alert_count, inc.open_alert_count),
        (1, 1),
        "repeats do not add alerts to the incident"
    );
    let alerts = alerts_all(
        store,
        AlertFilter {
            service_id: Some(svc.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(alerts.len(), 1, "repeats do not create alerts");
}

/// Acknowledge and resolve through ingest, including repeated and late ones that are ignored.
pub async fn case_ingest_acknowledge_and_resolve(store: &dyn Store) {
    let (_svc, integ) =
        service_with_integration(store, "ack-resolve", IntegrationKind::Pagerduty).await;
    let key = unique_name("latency");

    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "p99 latency high", AlertSeverity::Error),
        at(1_000),
    )
    .await;
    assert_eq!(o.effect, IngestEffect::Opened);
    let alert_id = o.alert_id.expect("the outcome/event must name its alert");
    let incident_id = o.incident_id.expect("incident id");

    let o = ingest_one(store, &integ, ack(&key), at(2_000)).await;
    assert_eq!(
        o.effect,
        IngestEffect::Acknowledged,
        "ack of a triggered alert acknowledges it"
    );
    assert_eq!(o.alert_id, Some(alert_id));
    let a = get_alert(store, alert_id).await;
    assert_eq!(a.status, AlertStatus::Acknowledged);
    assert_eq!(a.acknowledged_at, Some(at(2_000)));

    let o = ingest_one(store, &integ, ack(&key), at(3_000)).await;
    assert_eq!(
        o.effect,
        IngestEffect::Ignored,
        "ack of an acknowledged alert is ignored"
    );
    assert_eq!(
        get_alert(store, alert_id).await.acknowledged_at,
        Some(at(2_000)),
        "acknowledged_at is set once"
    );

    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "p99 latency high", AlertSeverity::Error),
        at(4_000),
    )
    .await;
    assert_eq!(
        o.effect,
        IngestEffect::Repeated,
        "a trigger on an acknowledged alert is a repeat"
    );
    let a = get_alert(store, alert_id).await;
    assert_eq!(
        a.status,
        AlertStatus::Acknowledged,
        "a repeat does not un-acknowledge"
    );
    assert_eq!((a.count, a.last_seen_at), (2, at(4_000)));

    let o = ingest_one(store, &integ, resolve(&key), at(5_000)).await;
    assert_eq!(o.effect, IngestEffect::Resolved);
    assert_eq!(o.alert_id, Some(alert_id));
    let a = get_alert(store, alert_id).await;
    assert_eq!(a.status, AlertStatus::Resolved);
    assert_eq!(a.resolved_at, Some(at(5_000)));
    assert_eq!(a.acknowledged_at, Some(at(2_000)));
    assert_eq!(a.count, 2);

    let o = ingest_one(store, &integ, resolve(&key), at(6_000)).await;
    assert_eq!(
        o.effect,
        IngestEffect::Ignored,
        "resolve of a resolved alert is ignored"
    );
    let o = ingest_one(store, &integ, ack(&key), at(7_000)).await;
    assert_eq!(
        o.effect,
        IngestEffect::Ignored,
        "ack of a resolved alert is ignored"
    );
    let a = get_alert(store, alert_id).await;
    assert_eq!(
        (a.status, a.resolved_at, a.acknowledged_at),
        (AlertStatus::Resolved, Some(at(5_000)), Some(at(2_000)))
    );

    let inc = get_incident(store, incident_id).await;
    assert_eq!(
        inc.status,
        IncidentStatus::Resolved,
        "the incident's only alert resolved: the incident resolves"
    );
    assert_eq!(inc.acknowledged_at, Some(at(2_000)));
    assert_eq!(inc.resolved_at, Some(at(5_000)));
    assert_eq!((inc.alert_count, inc.open_alert_count), (1, 0));

    let events = timeline_all(store, incident_id).await;
    assert_eq!(
        kinds_by_time(&events),
        expect_kinds(&[
            (1_000, &[kinds::INCIDENT_OPENED, kinds::ALERT_TRIGGERED]),
            (
                2_000,
                &[kinds::ALERT_ACKNOWLEDGED, kinds::INCIDENT_ACKNOWLEDGED]
            ),
            (5_000, &[kinds::ALERT_RESOLVED, kinds::INCIDENT_RESOLVED]),
        ]),
        "timeline (offsets from base, kinds per instant)"
    );
}

/// Acknowledge/resolve of a key with no open alert is ignored and creates nothing.
pub async fn case_ingest_ignores_unknown_keys(store: &dyn Store) {
    let (svc, integ) =
        service_with_integration(store, "unknown-keys", IntegrationKind::Pagerduty).await;
    let counts_before = store.open_counts().await.expect("open_counts");
    let k1 = unique_name("never-seen");
    let k2 = unique_name("never-seen");
    let out = ingest(store, &integ, vec![resolve(&k1), ack(&k2)], at(1_000)).await;
    for (o, k) in out.iter().zip([&k1, &k2]) {
        assert_eq!(
            o.effect,
            IngestEffect::Ignored,
            "ack/resolve of an unknown key is ignored"
        );
        assert_eq!(&o.dedup_key, k);
        assert_eq!(
            o.alert_id, None,
            "an ignored event for an unknown key names no alert"
        );
        assert_eq!(
            o.incident_id, None,
            "an ignored event for an unknown key names no incident"
        );
    }
    assert!(
        alerts_all(
            store,
            AlertFilter {
                service_id: Some(svc.id),
                ..Default::default()
            }
        )
        .await
        .is_empty(),
        "no alert was created"
    );
    assert!(
        incidents_all(
            store,
            IncidentFilter {
                service_id: Some(svc.id),
                ..Default::default()
            }
        )
        .await
        .is_empty(),
        "no incident was created"
    );
    assert_eq!(
        store.open_counts().await.expect("open_counts"),
        counts_before,
        "open counts unchanged"
    );
}

/// Dedup keys are scoped to the integration: the same key on two integrations is two alerts.
pub async fn case_dedup_is_per_integration(store: &dyn Store) {
    let svc = service(store, &unique_name("dedup-scope")).await;
    let a = integration(store, svc.id, IntegrationKind::Pagerduty).await;
    let b = integration(store, svc.id, IntegrationKind::Generic).await;
    let key = unique_name("shared-key");

    let oa = ingest_one(
        store,
        &a,
        trigger(&key, "from A", AlertSeverity::Error),
        at(1_000),
    )
    .await;
    let ob = ingest_one(
        store,
        &b,
        trigger(&key, "from B", AlertSeverity::Error),
        at(1_000),
    )
    .await;
    assert_eq!(oa.effect, IngestEffect::Opened);
    assert_eq!(
        ob.effect,
        IngestEffect::Opened,
        "the same dedup key on another integration opens its own alert"
    );
    assert_ne!(oa.alert_id, ob.alert_id);
    assert_ne!(oa.incident_id, ob.incident_id);

    let o = ingest_one(store, &b, ack(&key), at(2_000)).await;
    assert_eq!(o.effect, IngestEffect::Acknowledged);
    assert_eq!(o.alert_id, ob.alert_id);
    let alert_a = get_alert(
        store,
        oa.alert_id.expect("the outcome/event must name its alert"),
    )
    .await;
    assert_eq!(
        alert_a.status,
        AlertStatus::Triggered,
        "an ack on integration B does not touch A's alert"
    );
    assert_eq!(alert_a.count, 1);
    assert_eq!(
        get_alert(
            store,
            ob.alert_id.expect("the outcome/event must name its alert")
        )
        .await
        .status,
        AlertStatus::Acknowledged
    );
}

/// A trigger after a resolve opens a new alert and (no group key) a new incident.
pub async fn case_trigger_after_resolve_opens_new_alert(store: &dyn Store) {
    let (svc, integ) = service_with_integration(store, "reopen", IntegrationKind::Pagerduty).await;
    let key = unique_name("flappy");

    let o1 = ingest_one(
        store,
        &integ,
        trigger(&key, "flappy check", AlertSeverity::Error),
        at(1_000),
    )
    .await;
    let o2 = ingest_one(store, &integ, resolve(&key), at(2_000)).await;
    assert_eq!(o2.effect, IngestEffect::Resolved);
    let o3 = ingest_one(
        store,
        &integ,
        trigger(&key, "flappy check again", AlertSeverity::Error),
        at(3_000),
    )
    .await;
    assert_eq!(
        o3.effect,
        IngestEffect::Opened,
        "a trigger after a resolve opens a new alert"
    );
    let (a1, a2) = (
        o1.alert_id.expect("the outcome/event must name its alert"),
        o3.alert_id.expect("the outcome/event must name its alert"),
    );
    let (i1, i2) = (
        o1.incident_id.expect("the outcome must name its incident"),
        o3.incident_id.expect("the outcome must name its incident"),
    );
    assert_ne!(a1, a2, "a new alert, not the resolved one");
    assert_ne!(i1, i2, "a new incident: the old one is resolved");

    let old = get_alert(store, a1).await;
    assert_eq!(
        (old.status, old.count, old.resolved_at),
        (AlertStatus::Resolved, 1, Some(at(2_000))),
        "the old alert stays resolved"
    );
    let new = get_alert(store, a2).await;
    assert_eq!(
        (new.status, new.count, new.first_seen_at, new.last_seen_at),
        (AlertStatus::Triggered, 1, at(3_000), at(3_000))
    );
    assert_eq!(new.dedup_key, key);
    assert_eq!(new.incident_id, Some(i2));

    let old_inc = get_incident(store, i1).await;
    assert_eq!(
        (
            old_inc.status,
            old_inc.alert_count,
            old_inc.open_alert_count
        ),
        (IncidentStatus::Resolved, 1, 0)
    );
    let new_inc = get_incident(store, i2).await;
    assert_eq!(
        (
            new_inc.status,
            new_inc.alert_count,
            new_inc.open_alert_count
        ),
        (IncidentStatus::Triggered, 1, 1)
    );
    assert_eq!(new_inc.detected_at, at(3_000));

    let alerts = alerts_all(
        store,
        AlertFilter {
            service_id: Some(svc.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        alerts.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![a2, a1],
        "both alerts listed, newest first"
    );
    let o4 = ingest_one(
        store,
        &integ,
        trigger(&key, "flappy check again", AlertSeverity::Error),
        at(4_000),
    )
    .await;
    assert_eq!(
        (o4.effect, o4.alert_id),
        (IngestEffect::Repeated, Some(a2)),
        "the next trigger repeats the new alert"
    );
}

/// One request with many events, including repeats of one key, is applied in order.
pub async fn case_batch_applies_in_order(store: &dyn Store) {
    let (_svc, integ) = service_with_integration(store, "batch", IntegrationKind::Pagerduty).await;
    let k1 = unique_name("batch-one");
    let k2 = unique_name("batch-two");
    let unknown = unique_name("batch-unknown");
    let events = vec![
        trigger(&k1, "one v1", AlertSeverity::Error), // 0 opened
        trigger(&k1, "one v2", AlertSeverity::Error), // 1 repeated
        trigger(&k2, "two", AlertSeverity::Warning),  // 2 opened
        ack(&k1),                                     // 3 acknowledged
        trigger(&k1, "one v3", AlertSeverity::Critical), // 4 repeated (stays acknowledged)
        resolve(&k2),                                 // 5 resolved
        trigger(&k2, "two again", AlertSeverity::Warning), // 6 opened: a new alert
        resolve(&unknown),                            // 7 ignored
        ack(&k1),                                     // 8 ignored (already acknowledged)
    ];
    let out = ingest(store, &integ, events, at(1_000)).await;
    let effects: Vec<IngestEffect> = out.iter().map(|o| o.effect).collect();
    use IngestEffect::*;
    assert_eq!(
        effects,
        vec![
            Opened,
            Repeated,
            Opened,
            Acknowledged,
            Repeated,
            Resolved,
            Opened,
            Ignored,
            Ignored
        ],
        "effects in event order"
    );
    let keys: Vec<&str> = out.iter().map(|o| o.dedup_key.as_str()).collect();
    assert_eq!(
        keys,
        vec![&*k1, &*k1, &*k2, &*k1, &*k1, &*k2, &*k2, &*unknown, &*k1],
        "outcomes in event order"
    );

    let one = out[0]
        .alert_id
        .expect("the outcome/event must name its alert");
    for i in [1, 3, 4] {
        assert_eq!(
            out[i].alert_id,
            Some(one),
            "outcome {i} names the first alert of k1"
        );
    }
    let two_first = out[2]
        .alert_id
        .expect("the outcome/event must name its alert");
    assert_eq!(out[5].alert_id, Some(two_first));
    let two_second = out[6]
        .alert_id
        .expect("the outcome/event must name its alert");
    assert_ne!(
        two_first, two_second,
        "a trigger after a resolve in the same request opens a new alert"
    );
    assert_eq!(out[7].alert_id, None);

    let i1 = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    let i2 = out[2]
        .incident_id
        .expect("the outcome must name its incident");
    let i3 = out[6]
        .incident_id
        .expect("the outcome must name its incident");
    assert!(
        i1 != i2 && i2 != i3 && i1 != i3,
        "three incidents: k1, k2, k2 again"
    );

    let a1 = get_alert(store, one).await;
    assert_eq!(
        (a1.count, a1.status, a1.summary.as_str(), a1.severity),
        (
            3,
            AlertStatus::Acknowledged,
            "one v3",
            AlertSeverity::Critical
        )
    );
    assert_eq!(
        (a1.first_seen_at, a1.last_seen_at, a1.acknowledged_at),
        (at(1_000), at(1_000), Some(at(1_000)))
    );
    let a2 = get_alert(store, two_first).await;
    assert_eq!((a2.count, a2.status), (1, AlertStatus::Resolved));
    let a3 = get_alert(store, two_second).await;
    assert_eq!(
        (a3.count, a3.status, a3.summary.as_str()),
        (1, AlertStatus::Triggered, "two again")
    );

    assert_eq!(
        get_incident(store, i1).await.status,
        IncidentStatus::Acknowledged,
        "k1's incident acknowledged by the cascade"
    );
    assert_eq!(
        get_incident(store, i2).await.status,
        IncidentStatus::Resolved,
        "k2's first incident resolved by the cascade"
    );
    assert_eq!(
        get_incident(store, i3).await.status,
        IncidentStatus::Triggered
    );
}

/// Alert content (unicode, quotes, nested JSON, links without text, odd dedup keys) is stored and
/// read back exactly.
pub async fn case_alert_content_round_trips(store: &dyn Store) {
    let (_svc, integ) =
        service_with_integration(store, "round-trip", IntegrationKind::Generic).await;
    let key = format!(
        "{} ünïcode/key with spaces 'and' \"quotes\" %_\\",
        unique_name("rt")
    );
    let mut event = trigger(
        &key,
        "Ünïcode ✓ \"quoted\" 'single' \\ back\\slash; DROP TABLE alerts; --",
        AlertSeverity::Info,
    );
    event.source = "host-ü.example.test:9100".into();
    event.labels = BTreeMap::from([
        ("alertname".to_string(), "Höhe".to_string()),
        ("empty".to_string(), String::new()),
        ("quote\"key".to_string(), "v'al".to_string()),
    ]);
    event.details = serde_json::json!({
        "nested": { "list": [1, 2.5, "three", null, true, { "deep": [] }] },
        "big": 12_345_678_901_234_i64,
        "negative": -7,
        "text": "line1\nline2\t✓",
    });
    event.links = vec![
        Link {
            href: "https://example.test/a?b=c&d=e".into(),
            text: None,
        },
        Link {
            href: "https://example.test/ü".into(),
            text: Some("Ü".into()),
        },
    ];
    let o = ingest_one(store, &integ, event.clone(), at(1_000)).await;
    assert_eq!(o.effect, IngestEffect::Opened);
    assert_eq!(o.dedup_key, key);
    let a = get_alert(
        store,
        o.alert_id.expect("the outcome/event must name its alert"),
    )
    .await;
    assert_eq!(a.dedup_key, event.dedup_key, "dedup_key round-trips");
    assert_eq!(a.summary, event.summary, "summary round-trips");
    assert_eq!(a.source, event.source, "source round-trips");
    assert_eq!(a.labels, event.labels, "labels round-trip");
    assert_eq!(a.details, event.details, "details round-trip");
    assert_eq!(a.links, event.links, "links round-trip");
    let inc = get_incident(
        store,
        o.incident_id.expect("the outcome must name its incident"),
    )
    .await;
    assert_eq!(inc.title, event.summary, "the incident title round-trips");
    let again = ingest_one(store, &integ, event.clone(), at(2_000)).await;
    assert_eq!(
        (again.effect, again.alert_id),
        (IngestEffect::Repeated, o.alert_id),
        "the odd dedup key matches itself"
    );
    let resolved = ingest_one(store, &integ, resolve(&key), at(3_000)).await;
    assert_eq!(
        (resolved.effect, resolved.alert_id),
        (IngestEffect::Resolved, o.alert_id)
    );
}
