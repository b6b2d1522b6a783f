//! Timelines: kinds, actors, order, payloads, pagination, change events.

use super::{
    cursor_of, expect_kinds, get_incident, kinds_by_time, of_kind, page, service_timeline_all,
    timeline_all,
};
use crate::builders::{
    actor, am_trigger, at, ingest_one, integration, resolve, service, service_with_integration,
    trigger, unique_name,
};
use firebreak_core::timeline::kinds;
use firebreak_core::{
    ActorKind, AlertSeverity, ChangeEvent, IncidentId, IncidentSeverity, IntegrationKind, Link,
    NewIncident, Store, TimelineEvent,
};

/// Incident timelines: the kinds written by each step, oldest first, each with its actor, and
/// alert events naming the alert and incident and carrying dedup_key and summary.
pub async fn case_timeline_kinds_actors_order(store: &dyn Store) {
    let (svc, integ) =
        service_with_integration(store, "timeline", IntegrationKind::Pagerduty).await;
    let key = unique_name("cpu");
    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "CPU hot on web-3", AlertSeverity::Critical),
        at(1_000),
    )
    .await;
    let (alert_id, inc_id) = (
        o.alert_id.expect("the outcome/event must name its alert"),
        o.incident_id.expect("the outcome must name its incident"),
    );
    store
        .acknowledge_alert(alert_id, actor(), at(2_000))
        .await
        .expect("acknowledge_alert")
        .expect("must answer Some for an existing row");
    ingest_one(store, &integ, resolve(&key), at(3_000)).await;

    let events = timeline_all(store, inc_id).await;
    assert_eq!(
        kinds_by_time(&events),
        expect_kinds(&[
            (1_000, &[kinds::INCIDENT_OPENED, kinds::ALERT_TRIGGERED]),
            (
                2_000,
                &[kinds::ALERT_ACKNOWLEDGED, kinds::INCIDENT_ACKNOWLEDGED]
            ),
            (3_000, &[kinds::ALERT_RESOLVED, kinds::INCIDENT_RESOLVED]),
        ]),
        "timeline (offsets from base, kinds per instant)"
    );
    for e in &events {
        assert_eq!(
            e.incident_id,
            Some(inc_id),
            "{}: every event on an incident timeline names the incident",
            e.kind
        );
        if e.at == at(2_000) {
            assert_eq!(e.actor, actor(), "{}: done by the user", e.kind);
        } else {
            assert_eq!(
                e.actor.kind,
                ActorKind::Integration,
                "{}: done through ingest, the integration is the actor",
                e.kind
            );
            assert_eq!(
                e.actor.id,
                Some(integ.id.to_string()),
                "{}: the integration actor names the integration",
                e.kind
            );
        }
        if e.kind.starts_with("alert.") {
            assert_eq!(
                e.alert_id,
                Some(alert_id),
                "{}: alert events carry alert_id",
                e.kind
            );
            assert_eq!(
                e.payload.get("dedup_key").and_then(|v| v.as_str()),
                Some(key.as_str()),
                "{}: payload carries dedup_key, got {}",
                e.kind,
                e.payload
            );
            assert!(
                e.payload.get("summary").is_some_and(|v| v.is_string()),
                "{}: payload carries summary, got {}",
                e.kind,
                e.payload
            );
        }
    }
    let t = of_kind(&events, kinds::ALERT_TRIGGERED)[0];
    assert_eq!(
        t.payload.get("summary").and_then(|v| v.as_str()),
        Some("CPU hot on web-3"),
        "alert.triggered payload summary"
    );
    assert_eq!(
        t.service_id.unwrap_or(svc.id),
        svc.id,
        "an event that names a service names the alert's service"
    );
    assert!(!t.pinned, "events are not pinned unless someone pins them");
}

/// Collects a timeline page by page with `limit`, checking the cursor contract.
async fn timeline_paged(store: &dyn Store, id: IncidentId, limit: u32) -> Vec<TimelineEvent> {
    let mut out: Vec<TimelineEvent> = Vec::new();
    let mut cursor = None;
    for _ in 0..1_000 {
        let p = store
            .timeline(id, page(limit, cursor))
            .await
            .expect("timeline");
        assert!(
            p.items.len() <= limit as usize,
            "timeline page larger than limit {limit}"
        );
        if let Some(next) = &p.next_cursor {
            let last = p.items.last().expect("a page with a next_cursor has items");
            assert_eq!(
                next,
                &last.id.to_string(),
                "next_cursor = the last id of the page"
            );
            assert_eq!(
                p.items.len(),
                limit as usize,
                "only the last page may be short"
            );
        }
        out.extend(p.items);
        cursor = cursor_of(&p.next_cursor, "timeline");
        if cursor.is_none() {
            return out;
        }
    }
    panic!("timeline: next_cursor never became null (limit {limit})");
}

/// Timelines page oldest first with a cursor, without duplicates or gaps.
pub async fn case_timeline_pagination(store: &dyn Store) {
    let svc = service(store, &unique_name("timeline-pages")).await;
    let am = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let g = unique_name("g");
    let mut inc_id = None;
    for i in 0..5 {
        let o = ingest_one(
            store,
            &am,
            am_trigger(&unique_name("fp"), &g, "paged", AlertSeverity::Warning),
            at(1_000 + i),
        )
        .await;
        inc_id = o.incident_id;
    }
    let inc_id = inc_id.expect("incident");
    let all = timeline_all(store, inc_id).await;
    assert_eq!(
        all.len(),
        6,
        "incident.opened + 5 alert.triggered, got {:?}",
        all.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    let all_ids: Vec<_> = all.iter().map(|e| e.id).collect();
    for limit in [1, 2, 3, 4, 6, 7] {
        let paged = timeline_paged(store, inc_id, limit).await;
        assert_eq!(
            paged.iter().map(|e| e.id).collect::<Vec<_>>(),
            all_ids,
            "timeline with limit {limit} across pages equals the whole timeline"
        );
    }
    let first = store
        .timeline(inc_id, page(4, None))
        .await
        .expect("timeline");
    assert_eq!(first.items.len(), 4);
    assert!(
        first.next_cursor.is_some(),
        "6 events, limit 4: more to come"
    );
    let second = store
        .timeline(inc_id, page(4, cursor_of(&first.next_cursor, "timeline")))
        .await
        .expect("timeline");
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next_cursor, None, "last page: next_cursor is null");
    let exact = store
        .timeline(
            inc_id,
            page(3, cursor_of(&Some(all[2].id.to_string()), "t")),
        )
        .await
        .expect("timeline");
    assert_eq!(exact.items.len(), 3);
    assert_eq!(
        exact.next_cursor, None,
        "a last page that is exactly full has a null next_cursor"
    );

    // Service timelines page the same way.
    let pd = integration(store, svc.id, IntegrationKind::Pagerduty).await;
    for i in 0..5 {
        store
            .record_change(
                &pd,
                ChangeEvent {
                    summary: format!("deploy {i}"),
                    source: "ci".into(),
                    occurred_at: None,
                    details: serde_json::json!({}),
                    links: vec![],
                },
                at(2_000 + i),
            )
            .await
            .expect("record_change");
    }
    let all = service_timeline_all(store, svc.id).await;
    assert!(all.len() >= 5, "service timeline holds the changes");
    for limit in [1, 2, 3] {
        let mut paged: Vec<TimelineEvent> = Vec::new();
        let mut cursor = None;
        loop {
            let p = store
                .service_timeline(svc.id, page(limit, cursor))
                .await
                .expect("service_timeline");
            paged.extend(p.items);
            cursor = cursor_of(&p.next_cursor, "service_timeline");
            if cursor.is_none() || paged.len() > all.len() {
                break;
            }
        }
        assert_eq!(
            paged.iter().map(|e| e.id).collect::<Vec<_>>(),
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            "service_timeline with limit {limit} across pages equals the whole timeline"
        );
    }
}

/// A change is recorded once on the service timeline and once on each open incident of the
/// service (opened or declared), and nowhere else.
pub async fn case_record_change(store: &dyn Store) {
    let (svc, integ) = service_with_integration(store, "changes", IntegrationKind::Generic).await;
    let (other_svc, other_integ) =
        service_with_integration(store, "changes-other", IntegrationKind::Generic).await;

    let open = ingest_one(
        store,
        &integ,
        trigger(&unique_name("k"), "open", AlertSeverity::Error),
        at(1_000),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident");
    let k_resolved = unique_name("k");
    let closed = ingest_one(
        store,
        &integ,
        trigger(&k_resolved, "closed", AlertSeverity::Error),
        at(1_000),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident");
    ingest_one(store, &integ, resolve(&k_resolved), at(1_500)).await;
    let k_acked = unique_name("k");
    let acked = ingest_one(
        store,
        &integ,
        trigger(&k_acked, "acked", AlertSeverity::Error),
        at(1_100),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident");
    store
        .acknowledge_incident(acked, actor(), at(1_300))
        .await
        .expect("acknowledge_incident");
    let declared = store
        .declare_incident(
            NewIncident {
                title: "declared on both".into(),
                severity: IncidentSeverity::Sev2,
                urgency: None,
                service_ids: vec![svc.id, other_svc.id],
            },
            actor(),
            at(1_200),
        )
        .await
        .expect("declare_incident")
        .id;
    let elsewhere = ingest_one(
        store,
        &other_integ,
        trigger(&unique_name("k"), "elsewhere", AlertSeverity::Error),
        at(1_000),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident");
    assert_eq!(
        get_incident(store, closed).await.status,
        firebreak_core::IncidentStatus::Resolved
    );

    let summary = unique_name("Deploy api v1.2.3");
    let id = store
        .record_change(
            &integ,
            ChangeEvent {
                summary: summary.clone(),
                source: "ci".into(),
                occurred_at: None,
                details: serde_json::json!({ "version": "1.2.3" }),
                links: vec![Link {
                    href: "https://ci.example.test/build/42".into(),
                    text: None,
                }],
            },
            at(2_000),
        )
        .await
        .expect("record_change");

    let service_events = service_timeline_all(store, svc.id).await;
    for e in &service_events {
        assert_eq!(
            e.incident_id, None,
            "service timeline holds service-level events only, got {} for incident {:?}",
            e.kind, e.incident_id
        );
    }
    let changes = of_kind(&service_events, kinds::CHANGE_RECORDED);
    assert_eq!(
        changes.len(),
        1,
        "one change.recorded on the service timeline"
    );
    let c = changes[0];
    assert_eq!(
        c.id, id,
        "record_change answers the id of the service-timeline event"
    );
    assert_eq!(
        (c.incident_id, c.service_id, c.at),
        (None, Some(svc.id), at(2_000))
    );
    assert!(
        c.payload.to_string().contains(&summary),
        "the change payload carries its summary, got {}",
        c.payload
    );

    for inc in [open, acked, declared] {
        let events = timeline_all(store, inc).await;
        let changes = of_kind(&events, kinds::CHANGE_RECORDED);
        assert_eq!(
            changes.len(),
            1,
            "one change.recorded on open incident {inc}"
        );
        assert_eq!(
            (changes[0].incident_id, changes[0].at),
            (Some(inc), at(2_000))
        );
        assert!(changes[0].payload.to_string().contains(&summary));
    }
    for inc in [closed, elsewhere] {
        let events = timeline_all(store, inc).await;
        assert!(
            of_kind(&events, kinds::CHANGE_RECORDED).is_empty(),
            "no change.recorded on incident {inc} (resolved, or of another service)"
        );
    }
    assert!(
        of_kind(
            &service_timeline_all(store, other_svc.id).await,
            kinds::CHANGE_RECORDED
        )
        .is_empty(),
        "no change.recorded on another service's timeline"
    );
}
