//! Incidents: grouping, cascades, idempotence, phase timestamps, severity, numbers, declaring.

use super::{alerts_all, get_alert, get_incident, incidents_all, of_kind, timeline_all};
use crate::builders::{
    ack, actor, am_resolve, am_trigger, at, ingest, ingest_one, integration, integration_with,
    new_integration, resolve, service, service_with_integration, trigger, unique_name,
};
use firebreak_core::store::IngestEffect;
use firebreak_core::timeline::kinds;
use firebreak_core::{
    ActorKind, AlertFilter, AlertId, AlertSeverity, AlertStatus, IncidentFilter, IncidentId,
    IncidentSeverity, IncidentStatus, IntegrationKind, IntegrationPatch, NewIncident, ServicePatch,
    Store, Urgency,
};

const MISSING_INCIDENT: IncidentId = IncidentId(i64::MAX - 7);
const MISSING_ALERT: AlertId = AlertId(i64::MAX - 7);

/// Alerts with the same group key on one integration share an incident; counters follow; the
/// incident resolves when its last alert resolves; the next alert of the group opens a new one.
pub async fn case_grouping_by_group_key(store: &dyn Store) {
    let svc = service(store, &unique_name("grouping")).await;
    let am = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let am2 = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let g = unique_name("{}:{alertname=\"HighLatency\"}");
    let (f1, f2, f3) = (unique_name("fp"), unique_name("fp"), unique_name("fp"));

    let o1 = ingest_one(
        store,
        &am,
        am_trigger(&f1, &g, "HighLatency api", AlertSeverity::Error),
        at(1_000),
    )
    .await;
    let o2 = ingest_one(
        store,
        &am,
        am_trigger(&f2, &g, "HighLatency web", AlertSeverity::Warning),
        at(2_000),
    )
    .await;
    assert_eq!(
        (o1.effect, o2.effect),
        (IngestEffect::Opened, IngestEffect::Opened)
    );
    let inc_id = o1.incident_id.expect("the outcome must name its incident");
    assert_eq!(
        o2.incident_id,
        Some(inc_id),
        "a second alert with the same group key joins the open incident"
    );
    assert_ne!(o1.alert_id, o2.alert_id);

    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.alert_count, inc.open_alert_count),
        (2, 2),
        "alert_count/open_alert_count after two alerts"
    );
    assert_eq!(inc.status, IncidentStatus::Triggered);
    assert_eq!(
        inc.title, "HighLatency api",
        "titled with the first alert's summary"
    );
    assert_eq!(
        inc.detected_at,
        at(1_000),
        "detected_at = the first alert's time"
    );
    assert_eq!(inc.service_ids, vec![svc.id]);

    let other_group = ingest_one(
        store,
        &am,
        am_trigger(
            &f3,
            &unique_name("other-group"),
            "DiskFull",
            AlertSeverity::Error,
        ),
        at(2_000),
    )
    .await;
    assert_ne!(
        other_group.incident_id,
        Some(inc_id),
        "another group key opens another incident"
    );
    let other_integ = ingest_one(
        store,
        &am2,
        am_trigger(&f1, &g, "HighLatency api", AlertSeverity::Error),
        at(2_000),
    )
    .await;
    assert_eq!(other_integ.effect, IngestEffect::Opened);
    assert_ne!(
        other_integ.incident_id,
        Some(inc_id),
        "the same group key on another integration opens another incident"
    );

    let events = timeline_all(store, inc_id).await;
    assert_eq!(
        of_kind(&events, kinds::INCIDENT_OPENED).len(),
        1,
        "one incident.opened"
    );
    let triggered: Vec<Option<AlertId>> = of_kind(&events, kinds::ALERT_TRIGGERED)
        .iter()
        .map(|e| e.alert_id)
        .collect();
    assert_eq!(
        triggered,
        vec![o1.alert_id, o2.alert_id],
        "one alert.triggered per alert, in order"
    );
    let a1 = get_alert(
        store,
        o1.alert_id.expect("the outcome/event must name its alert"),
    )
    .await;
    assert_eq!(
        a1.group_key.as_deref(),
        Some(g.as_str()),
        "the alert keeps its group key"
    );
    assert_eq!(a1.incident_id, Some(inc_id));
    let listed = alerts_all(
        store,
        AlertFilter {
            incident_id: Some(inc_id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        listed.iter().map(|a| Some(a.id)).collect::<Vec<_>>(),
        vec![o2.alert_id, o1.alert_id],
        "list_alerts by incident"
    );

    let r1 = ingest_one(store, &am, am_resolve(&f1, &g), at(3_000)).await;
    assert_eq!(r1.effect, IngestEffect::Resolved);
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.alert_count, inc.open_alert_count, inc.status),
        (2, 1, IncidentStatus::Triggered),
        "one of two alerts resolved: incident stays open"
    );
    assert_eq!(inc.resolved_at, None);

    ingest_one(store, &am, am_resolve(&f2, &g), at(4_000)).await;
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.alert_count, inc.open_alert_count, inc.status),
        (2, 0, IncidentStatus::Resolved),
        "all alerts resolved: incident resolves"
    );
    assert_eq!(inc.resolved_at, Some(at(4_000)));
    let events = timeline_all(store, inc_id).await;
    let resolved = of_kind(&events, kinds::INCIDENT_RESOLVED);
    assert_eq!(resolved.len(), 1, "one incident.resolved");
    assert_eq!(resolved[0].at, at(4_000));

    let again = ingest_one(
        store,
        &am,
        am_trigger(&f1, &g, "HighLatency api", AlertSeverity::Error),
        at(5_000),
    )
    .await;
    assert_eq!(again.effect, IngestEffect::Opened);
    assert_ne!(
        again.incident_id,
        Some(inc_id),
        "after the group's incident resolved, the group opens a new incident"
    );
    let inc2 = get_incident(
        store,
        again
            .incident_id
            .expect("the outcome must name its incident"),
    )
    .await;
    assert_eq!(
        (inc2.alert_count, inc2.open_alert_count, inc2.detected_at),
        (1, 1, at(5_000))
    );

    // A whole Alertmanager notification (one request) with three alerts of one group.
    let g3 = unique_name("batch-group");
    let fps: Vec<String> = (0..3).map(|_| unique_name("fp")).collect();
    let out = ingest(
        store,
        &am,
        fps.iter()
            .map(|f| am_trigger(f, &g3, "Batch", AlertSeverity::Warning))
            .collect(),
        at(6_000),
    )
    .await;
    let inc3 = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    assert!(
        out.iter()
            .all(|o| o.effect == IngestEffect::Opened && o.incident_id == Some(inc3)),
        "one request, one group: one incident, got {out:?}"
    );
    let inc3 = get_incident(store, inc3).await;
    assert_eq!((inc3.alert_count, inc3.open_alert_count), (3, 3));
}

/// With `auto_resolve_incidents = false` the incident stays open after its alerts resolve.
pub async fn case_auto_resolve_incidents_disabled(store: &dyn Store) {
    let svc = service(store, &unique_name("no-auto-resolve")).await;
    let svc = store
        .update_service(
            svc.id,
            ServicePatch {
                team_id: None,
                auto_resolve_incidents: Some(false),
                ..Default::default()
            },
            actor(),
            at(10),
        )
        .await
        .expect("update_service")
        .expect("must answer Some for an existing row");
    assert!(!svc.auto_resolve_incidents);
    let integ = integration(store, svc.id, IntegrationKind::Pagerduty).await;
    let key = unique_name("k");
    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "manual close", AlertSeverity::Error),
        at(1_000),
    )
    .await;
    let inc_id = o.incident_id.expect("the outcome must name its incident");
    ingest_one(store, &integ, resolve(&key), at(2_000)).await;

    assert_eq!(
        get_alert(
            store,
            o.alert_id.expect("the outcome/event must name its alert")
        )
        .await
        .status,
        AlertStatus::Resolved
    );
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        inc.status,
        IncidentStatus::Triggered,
        "auto_resolve_incidents=false: the incident stays open"
    );
    assert_eq!((inc.alert_count, inc.open_alert_count), (1, 0));
    assert_eq!(inc.resolved_at, None);
    assert!(
        of_kind(&timeline_all(store, inc_id).await, kinds::INCIDENT_RESOLVED).is_empty(),
        "no incident.resolved"
    );

    let inc = store
        .resolve_incident(inc_id, actor(), at(3_000))
        .await
        .expect("resolve_incident")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (inc.status, inc.resolved_at),
        (IncidentStatus::Resolved, Some(at(3_000)))
    );

    // Turning it back on applies to later resolves.
    store
        .update_service(
            svc.id,
            ServicePatch {
                team_id: None,
                auto_resolve_incidents: Some(true),
                ..Default::default()
            },
            actor(),
            at(4_000),
        )
        .await
        .expect("update_service")
        .expect("must answer Some for an existing row");
    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "auto close", AlertSeverity::Error),
        at(5_000),
    )
    .await;
    ingest_one(store, &integ, resolve(&key), at(6_000)).await;
    let inc = get_incident(
        store,
        o.incident_id.expect("the outcome must name its incident"),
    )
    .await;
    assert_eq!(
        (inc.status, inc.resolved_at),
        (IncidentStatus::Resolved, Some(at(6_000))),
        "auto_resolve_incidents=true again"
    );
}

/// Acknowledging alerts acknowledges the incident once no alert of it is still triggered.
pub async fn case_acknowledge_cascade_from_alerts(store: &dyn Store) {
    let svc = service(store, &unique_name("ack-cascade")).await;
    let am = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let g = unique_name("g");
    let (f1, f2) = (unique_name("fp"), unique_name("fp"));
    let out = ingest(
        store,
        &am,
        vec![
            am_trigger(&f1, &g, "A", AlertSeverity::Error),
            am_trigger(&f2, &g, "B", AlertSeverity::Error),
        ],
        at(1_000),
    )
    .await;
    let inc_id = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    assert_eq!(out[1].incident_id, Some(inc_id));

    ingest_one(store, &am, ack(&f1), at(2_000)).await;
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        inc.status,
        IncidentStatus::Triggered,
        "one alert still triggered: incident stays triggered"
    );
    assert_eq!(inc.acknowledged_at, None);

    let a2 = store
        .acknowledge_alert(
            out[1]
                .alert_id
                .expect("the outcome/event must name its alert"),
            actor(),
            at(3_000),
        )
        .await
        .expect("acknowledge_alert")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (a2.status, a2.acknowledged_at),
        (AlertStatus::Acknowledged, Some(at(3_000)))
    );
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        inc.status,
        IncidentStatus::Acknowledged,
        "no alert triggered any more: incident acknowledged"
    );
    assert_eq!(inc.acknowledged_at, Some(at(3_000)));
    assert_eq!(
        (inc.alert_count, inc.open_alert_count),
        (2, 2),
        "acknowledged alerts are still open"
    );
    let events = timeline_all(store, inc_id).await;
    let acked = of_kind(&events, kinds::INCIDENT_ACKNOWLEDGED);
    assert_eq!(acked.len(), 1, "one incident.acknowledged");
    assert_eq!(
        (acked[0].at, &acked[0].actor),
        (at(3_000), &actor()),
        "incident.acknowledged carries the acknowledging actor"
    );
    assert_eq!(of_kind(&events, kinds::ALERT_ACKNOWLEDGED).len(), 2);

    // A resolved alert does not count as triggered.
    let g = unique_name("g");
    let (f3, f4) = (unique_name("fp"), unique_name("fp"));
    let out = ingest(
        store,
        &am,
        vec![
            am_trigger(&f3, &g, "C", AlertSeverity::Error),
            am_trigger(&f4, &g, "D", AlertSeverity::Error),
        ],
        at(4_000),
    )
    .await;
    let inc_id = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    ingest_one(store, &am, am_resolve(&f3, &g), at(5_000)).await;
    assert_eq!(
        get_incident(store, inc_id).await.status,
        IncidentStatus::Triggered
    );
    ingest_one(store, &am, ack(&f4), at(6_000)).await;
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.acknowledged_at),
        (IncidentStatus::Acknowledged, Some(at(6_000))),
        "the remaining alert acknowledged: incident acknowledged"
    );

    // Single alert through ingest: the integration is the actor.
    let pd = integration(store, svc.id, IntegrationKind::Pagerduty).await;
    let k = unique_name("k");
    let o = ingest_one(
        store,
        &pd,
        trigger(&k, "E", AlertSeverity::Error),
        at(7_000),
    )
    .await;
    ingest_one(store, &pd, ack(&k), at(8_000)).await;
    let inc_id = o.incident_id.expect("the outcome must name its incident");
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.acknowledged_at),
        (IncidentStatus::Acknowledged, Some(at(8_000)))
    );
    let events = timeline_all(store, inc_id).await;
    let acked = of_kind(&events, kinds::INCIDENT_ACKNOWLEDGED);
    assert_eq!(acked.len(), 1);
    assert_eq!(
        acked[0].actor.kind,
        ActorKind::Integration,
        "acknowledged through ingest: the integration is the actor"
    );
}

/// Acknowledging an incident acknowledges its triggered alerts (and only those).
pub async fn case_acknowledge_incident_cascade(store: &dyn Store) {
    let svc = service(store, &unique_name("ack-incident")).await;
    let am = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let g = unique_name("g");
    let fps: Vec<String> = (0..3).map(|_| unique_name("fp")).collect();
    let out = ingest(
        store,
        &am,
        fps.iter()
            .map(|f| am_trigger(f, &g, "grouped", AlertSeverity::Critical))
            .collect(),
        at(1_000),
    )
    .await;
    let inc_id = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    let ids: Vec<AlertId> = out
        .iter()
        .map(|o| o.alert_id.expect("the outcome/event must name its alert"))
        .collect();
    ingest_one(store, &am, ack(&fps[0]), at(2_000)).await;
    assert_eq!(
        get_incident(store, inc_id).await.status,
        IncidentStatus::Triggered
    );

    let inc = store
        .acknowledge_incident(inc_id, actor(), at(3_000))
        .await
        .expect("acknowledge_incident")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (inc.status, inc.acknowledged_at),
        (IncidentStatus::Acknowledged, Some(at(3_000)))
    );
    assert_eq!((inc.alert_count, inc.open_alert_count), (3, 3));
    assert_eq!(
        get_incident(store, inc_id).await,
        inc,
        "get_incident agrees with the returned incident"
    );

    let a0 = get_alert(store, ids[0]).await;
    assert_eq!(
        (a0.status, a0.acknowledged_at),
        (AlertStatus::Acknowledged, Some(at(2_000))),
        "an already acknowledged alert keeps its time"
    );
    for id in &ids[1..] {
        let a = get_alert(store, *id).await;
        assert_eq!(
            (a.status, a.acknowledged_at),
            (AlertStatus::Acknowledged, Some(at(3_000))),
            "triggered alerts are acknowledged with the incident"
        );
    }

    let events = timeline_all(store, inc_id).await;
    let alert_acks = of_kind(&events, kinds::ALERT_ACKNOWLEDGED);
    assert_eq!(
        alert_acks.len(),
        3,
        "one alert.acknowledged per alert, none repeated"
    );
    let mut cascaded: Vec<AlertId> = alert_acks
        .iter()
        .filter(|e| e.at == at(3_000))
        .map(|e| e.alert_id.expect("the outcome/event must name its alert"))
        .collect();
    cascaded.sort();
    assert_eq!(
        cascaded,
        ids[1..].to_vec(),
        "the cascade acknowledged exactly the triggered alerts"
    );
    assert!(
        alert_acks
            .iter()
            .filter(|e| e.at == at(3_000))
            .all(|e| e.actor == actor()),
        "cascaded alert events carry the acting user"
    );
    let inc_acks = of_kind(&events, kinds::INCIDENT_ACKNOWLEDGED);
    assert_eq!(inc_acks.len(), 1);
    assert_eq!((inc_acks[0].at, &inc_acks[0].actor), (at(3_000), &actor()));

    assert!(
        store
            .acknowledge_incident(MISSING_INCIDENT, actor(), at(3_000))
            .await
            .expect("acknowledge_incident")
            .is_none(),
        "missing incident: None"
    );
}

/// Resolving an incident resolves all its open alerts; resolved ones keep their time.
pub async fn case_resolve_incident_cascade(store: &dyn Store) {
    let svc = service(store, &unique_name("resolve-incident")).await;
    let am = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let g = unique_name("g");
    let fps: Vec<String> = (0..3).map(|_| unique_name("fp")).collect();
    let out = ingest(
        store,
        &am,
        fps.iter()
            .map(|f| am_trigger(f, &g, "grouped", AlertSeverity::Error))
            .collect(),
        at(1_000),
    )
    .await;
    let inc_id = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    let ids: Vec<AlertId> = out
        .iter()
        .map(|o| o.alert_id.expect("the outcome/event must name its alert"))
        .collect();
    ingest_one(store, &am, ack(&fps[1]), at(2_000)).await;
    ingest_one(store, &am, am_resolve(&fps[2], &g), at(2_500)).await;
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.open_alert_count),
        (IncidentStatus::Triggered, 2)
    );

    let inc = store
        .resolve_incident(inc_id, actor(), at(3_000))
        .await
        .expect("resolve_incident")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (inc.status, inc.resolved_at),
        (IncidentStatus::Resolved, Some(at(3_000)))
    );
    assert_eq!(
        (inc.alert_count, inc.open_alert_count),
        (3, 0),
        "no open alert left"
    );
    assert_eq!(
        inc.acknowledged_at, None,
        "never acknowledged (one alert was still triggered when the other was acknowledged)"
    );
    assert_eq!(get_incident(store, inc_id).await, inc);

    let a = get_alert(store, ids[0]).await;
    assert_eq!(
        (a.status, a.resolved_at),
        (AlertStatus::Resolved, Some(at(3_000))),
        "triggered alert resolved with the incident"
    );
    let a = get_alert(store, ids[1]).await;
    assert_eq!(
        (a.status, a.resolved_at, a.acknowledged_at),
        (AlertStatus::Resolved, Some(at(3_000)), Some(at(2_000))),
        "acknowledged alert resolved with the incident"
    );
    let a = get_alert(store, ids[2]).await;
    assert_eq!(
        (a.status, a.resolved_at),
        (AlertStatus::Resolved, Some(at(2_500))),
        "an already resolved alert keeps its time"
    );

    let events = timeline_all(store, inc_id).await;
    let alert_resolves = of_kind(&events, kinds::ALERT_RESOLVED);
    assert_eq!(alert_resolves.len(), 3, "one alert.resolved per alert");
    let mut cascaded: Vec<AlertId> = alert_resolves
        .iter()
        .filter(|e| e.at == at(3_000))
        .map(|e| e.alert_id.expect("the outcome/event must name its alert"))
        .collect();
    cascaded.sort();
    assert_eq!(
        cascaded,
        ids[..2].to_vec(),
        "the cascade resolved exactly the open alerts"
    );
    assert!(alert_resolves
        .iter()
        .filter(|e| e.at == at(3_000))
        .all(|e| e.actor == actor()));
    let inc_resolves = of_kind(&events, kinds::INCIDENT_RESOLVED);
    assert_eq!(inc_resolves.len(), 1, "exactly one incident.resolved");
    assert_eq!(
        (inc_resolves[0].at, &inc_resolves[0].actor),
        (at(3_000), &actor())
    );

    let again = ingest_one(
        store,
        &am,
        am_trigger(&fps[0], &g, "grouped", AlertSeverity::Error),
        at(4_000),
    )
    .await;
    assert_eq!(
        again.effect,
        IngestEffect::Opened,
        "the alert was resolved with the incident: a new trigger opens a new alert"
    );
    assert_ne!(again.incident_id, Some(inc_id));

    assert!(
        store
            .resolve_incident(MISSING_INCIDENT, actor(), at(3_000))
            .await
            .expect("resolve_incident")
            .is_none(),
        "missing incident: None"
    );
}

/// Acknowledging or resolving twice changes nothing and adds no event.
pub async fn case_idempotent_acknowledge_and_resolve(store: &dyn Store) {
    let (_svc, integ) =
        service_with_integration(store, "idempotent", IntegrationKind::Pagerduty).await;
    let key = unique_name("k");
    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "twice", AlertSeverity::Error),
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
    let n = timeline_all(store, inc_id).await.len();
    let a = store
        .acknowledge_alert(alert_id, actor(), at(2_500))
        .await
        .expect("acknowledge_alert")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (a.status, a.acknowledged_at),
        (AlertStatus::Acknowledged, Some(at(2_000))),
        "second acknowledge_alert changes nothing"
    );
    let i = store
        .acknowledge_incident(inc_id, actor(), at(2_600))
        .await
        .expect("acknowledge_incident")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (i.status, i.acknowledged_at),
        (IncidentStatus::Acknowledged, Some(at(2_000))),
        "acknowledging an acknowledged incident changes nothing"
    );
    assert_eq!(
        timeline_all(store, inc_id).await.len(),
        n,
        "repeated acknowledges add no event"
    );

    store
        .resolve_incident(inc_id, actor(), at(3_000))
        .await
        .expect("resolve_incident")
        .expect("must answer Some for an existing row");
    let n = timeline_all(store, inc_id).await.len();
    let i = store
        .resolve_incident(inc_id, actor(), at(3_500))
        .await
        .expect("resolve_incident")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (i.status, i.resolved_at),
        (IncidentStatus::Resolved, Some(at(3_000))),
        "second resolve_incident changes nothing"
    );
    let a = store
        .resolve_alert(alert_id, actor(), at(3_600))
        .await
        .expect("resolve_alert")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (a.status, a.resolved_at),
        (AlertStatus::Resolved, Some(at(3_000))),
        "resolving a resolved alert changes nothing"
    );
    let a = store
        .acknowledge_alert(alert_id, actor(), at(3_700))
        .await
        .expect("acknowledge_alert")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (a.status, a.acknowledged_at),
        (AlertStatus::Resolved, Some(at(2_000))),
        "acknowledging a resolved alert changes nothing"
    );
    let i = store
        .acknowledge_incident(inc_id, actor(), at(3_800))
        .await
        .expect("acknowledge_incident")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (i.status, i.acknowledged_at, i.resolved_at),
        (IncidentStatus::Resolved, Some(at(2_000)), Some(at(3_000))),
        "acknowledging a resolved incident changes nothing"
    );
    assert_eq!(
        timeline_all(store, inc_id).await.len(),
        n,
        "repeated resolves/acknowledges add no event"
    );

    // resolve_alert cascades to the incident once, and only once.
    let key2 = unique_name("k");
    let o = ingest_one(
        store,
        &integ,
        trigger(&key2, "resolve twice", AlertSeverity::Error),
        at(4_000),
    )
    .await;
    let (alert_id, inc_id) = (
        o.alert_id.expect("the outcome/event must name its alert"),
        o.incident_id.expect("the outcome must name its incident"),
    );
    let a = store
        .resolve_alert(alert_id, actor(), at(5_000))
        .await
        .expect("resolve_alert")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (a.status, a.resolved_at),
        (AlertStatus::Resolved, Some(at(5_000)))
    );
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.resolved_at),
        (IncidentStatus::Resolved, Some(at(5_000))),
        "resolve_alert of the last open alert resolves the incident"
    );
    let n = timeline_all(store, inc_id).await.len();
    store
        .resolve_alert(alert_id, actor(), at(5_500))
        .await
        .expect("resolve_alert")
        .expect("must answer Some for an existing row");
    assert_eq!(
        get_alert(store, alert_id).await.resolved_at,
        Some(at(5_000))
    );
    assert_eq!(
        timeline_all(store, inc_id).await.len(),
        n,
        "second resolve_alert adds no event"
    );
    let events = timeline_all(store, inc_id).await;
    assert_eq!(of_kind(&events, kinds::ALERT_RESOLVED).len(), 1);
    assert_eq!(of_kind(&events, kinds::INCIDENT_RESOLVED).len(), 1);

    assert!(
        store
            .acknowledge_alert(MISSING_ALERT, actor(), at(6_000))
            .await
            .expect("acknowledge_alert")
            .is_none(),
        "missing alert: None"
    );
    assert!(
        store
            .resolve_alert(MISSING_ALERT, actor(), at(6_000))
            .await
            .expect("resolve_alert")
            .is_none(),
        "missing alert: None"
    );
    assert_eq!(
        store.get_alert(MISSING_ALERT).await.expect("get_alert"),
        None
    );
    assert_eq!(
        store
            .get_incident(MISSING_INCIDENT)
            .await
            .expect("get_incident"),
        None
    );
}

/// detected_at/acknowledged_at/resolved_at are set once, at the time of the event that set them.
pub async fn case_phase_timestamps(store: &dyn Store) {
    let (_svc, integ) = service_with_integration(store, "phases", IntegrationKind::Pagerduty).await;
    let key = unique_name("k");
    let o = ingest_one(
        store,
        &integ,
        trigger(&key, "phases", AlertSeverity::Critical),
        at(1_000),
    )
    .await;
    let inc_id = o.incident_id.expect("the outcome must name its incident");
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (
            inc.detected_at,
            inc.created_at,
            inc.acknowledged_at,
            inc.resolved_at
        ),
        (at(1_000), at(1_000), None, None)
    );

    ingest_one(
        store,
        &integ,
        trigger(&key, "phases", AlertSeverity::Critical),
        at(1_500),
    )
    .await;
    assert_eq!(
        get_incident(store, inc_id).await.detected_at,
        at(1_000),
        "a repeat does not move detected_at"
    );

    ingest_one(store, &integ, ack(&key), at(2_000)).await;
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.acknowledged_at, inc.resolved_at),
        (Some(at(2_000)), None)
    );
    store
        .acknowledge_incident(inc_id, actor(), at(2_500))
        .await
        .expect("acknowledge_incident");
    assert_eq!(
        get_incident(store, inc_id).await.acknowledged_at,
        Some(at(2_000)),
        "acknowledged_at is set once"
    );

    ingest_one(store, &integ, resolve(&key), at(3_000)).await;
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.detected_at, inc.acknowledged_at, inc.resolved_at),
        (at(1_000), Some(at(2_000)), Some(at(3_000)))
    );
    let a = get_alert(
        store,
        o.alert_id.expect("the outcome/event must name its alert"),
    )
    .await;
    assert_eq!(
        (
            a.first_seen_at,
            a.last_seen_at,
            a.acknowledged_at,
            a.resolved_at
        ),
        (at(1_000), at(1_500), Some(at(2_000)), Some(at(3_000)))
    );

    let events = timeline_all(store, inc_id).await;
    assert_eq!(
        of_kind(&events, kinds::INCIDENT_OPENED)[0].at,
        inc.detected_at,
        "incident.opened at detected_at"
    );
    assert_eq!(
        of_kind(&events, kinds::INCIDENT_ACKNOWLEDGED)[0].at,
        at(2_000),
        "incident.acknowledged at acknowledged_at"
    );
    assert_eq!(
        of_kind(&events, kinds::INCIDENT_RESOLVED)[0].at,
        at(3_000),
        "incident.resolved at resolved_at"
    );
}

/// Alert severity → incident severity (critical→SEV1 … info→SEV4), urgency high for SEV1/SEV2.
pub async fn case_severity_mapping_and_urgency(store: &dyn Store) {
    let (_svc, integ) =
        service_with_integration(store, "severity", IntegrationKind::Pagerduty).await;
    for (sev, expected, urgency) in [
        (
            AlertSeverity::Critical,
            IncidentSeverity::Sev1,
            Urgency::High,
        ),
        (AlertSeverity::Error, IncidentSeverity::Sev2, Urgency::High),
        (AlertSeverity::Warning, IncidentSeverity::Sev3, Urgency::Low),
        (AlertSeverity::Info, IncidentSeverity::Sev4, Urgency::Low),
    ] {
        let o = ingest_one(
            store,
            &integ,
            trigger(&unique_name("sev"), "severity", sev),
            at(1_000),
        )
        .await;
        let inc = get_incident(
            store,
            o.incident_id.expect("the outcome must name its incident"),
        )
        .await;
        assert_eq!(
            (inc.severity, inc.urgency),
            (expected, urgency),
            "alert severity {sev}"
        );
        assert_eq!(
            get_alert(
                store,
                o.alert_id.expect("the outcome/event must name its alert")
            )
            .await
            .severity,
            sev
        );
    }
}

/// The integration's severity_override wins over the mapping; clearing it restores the mapping.
pub async fn case_severity_override(store: &dyn Store) {
    let svc = service(store, &unique_name("override")).await;
    let mut new = new_integration(IntegrationKind::Pagerduty);
    new.severity_override = Some(IncidentSeverity::Sev2);
    let integ = integration_with(store, svc.id, new).await;
    let o = ingest_one(
        store,
        &integ,
        trigger(&unique_name("k"), "override up", AlertSeverity::Info),
        at(1_000),
    )
    .await;
    let inc = get_incident(
        store,
        o.incident_id.expect("the outcome must name its incident"),
    )
    .await;
    assert_eq!(
        (inc.severity, inc.urgency),
        (IncidentSeverity::Sev2, Urgency::Low),
        "override SEV2 on an info alert (urgency follows the alert: low)"
    );
    assert_eq!(
        get_alert(
            store,
            o.alert_id.expect("the outcome/event must name its alert")
        )
        .await
        .severity,
        AlertSeverity::Info,
        "the alert keeps its own severity"
    );

    let mut new = new_integration(IntegrationKind::Generic);
    new.severity_override = Some(IncidentSeverity::Sev4);
    let low = integration_with(store, svc.id, new).await;
    let o = ingest_one(
        store,
        &low,
        trigger(&unique_name("k"), "override down", AlertSeverity::Critical),
        at(1_000),
    )
    .await;
    let inc = get_incident(
        store,
        o.incident_id.expect("the outcome must name its incident"),
    )
    .await;
    assert_eq!(
        (inc.severity, inc.urgency),
        (IncidentSeverity::Sev4, Urgency::High),
        "override SEV4 on a critical alert (urgency follows the alert: high)"
    );

    let cleared = store
        .update_integration(
            low.id,
            IntegrationPatch {
                severity_override: Some(None),
                ..Default::default()
            },
            actor(),
            at(2_000),
        )
        .await
        .expect("update_integration")
        .expect("must answer Some for an existing row");
    let o = ingest_one(
        store,
        &cleared,
        trigger(&unique_name("k"), "no override", AlertSeverity::Critical),
        at(3_000),
    )
    .await;
    let inc = get_incident(
        store,
        o.incident_id.expect("the outcome must name its incident"),
    )
    .await;
    assert_eq!(
        (inc.severity, inc.urgency),
        (IncidentSeverity::Sev1, Urgency::High),
        "override cleared: default mapping"
    );
}

/// Incident numbers go up by one per incident, in creation order, for opened and declared ones.
pub async fn case_incident_numbers_increase(store: &dyn Store) {
    let (svc, integ) = service_with_integration(store, "numbers", IntegrationKind::Pagerduty).await;
    let mut ids: Vec<IncidentId> = Vec::new();
    for _ in 0..3 {
        let o = ingest_one(
            store,
            &integ,
            trigger(&unique_name("n"), "numbered", AlertSeverity::Error),
            at(1_000),
        )
        .await;
        ids.push(o.incident_id.expect("the outcome must name its incident"));
    }
    let declared = store
        .declare_incident(
            NewIncident {
                title: "numbered by hand".into(),
                severity: IncidentSeverity::Sev3,
                urgency: None,
                service_ids: vec![svc.id],
            },
            actor(),
            at(2_000),
        )
        .await
        .expect("declare_incident");
    ids.push(declared.id);
    let out = ingest(
        store,
        &integ,
        vec![
            trigger(&unique_name("n"), "a", AlertSeverity::Error),
            trigger(&unique_name("n"), "b", AlertSeverity::Error),
        ],
        at(3_000),
    )
    .await;
    ids.extend(
        out.iter()
            .map(|o| o.incident_id.expect("the outcome must name its incident")),
    );

    let mut numbers = Vec::new();
    for id in &ids {
        numbers.push(get_incident(store, *id).await.number);
    }
    assert!(
        numbers[0] >= 1,
        "incident numbers start at 1, got {numbers:?}"
    );
    for w in numbers.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "incident numbers are consecutive in creation order, got {numbers:?}"
        );
    }
}

/// A declared incident: several services, `incident.declared`, detected_at = now, no alerts.
pub async fn case_declared_incident(store: &dyn Store) {
    let a = service(store, &unique_name("declared-a")).await;
    let b = service(store, &unique_name("declared-b")).await;
    let inc = store
        .declare_incident(
            NewIncident {
                title: "Checkout is down".into(),
                severity: IncidentSeverity::Sev2,
                urgency: None,
                service_ids: vec![a.id, b.id],
            },
            actor(),
            at(1_000),
        )
        .await
        .expect("declare_incident");
    assert!(inc.number >= 1);
    assert_eq!(inc.title, "Checkout is down");
    assert_eq!(inc.status, IncidentStatus::Triggered);
    assert_eq!(
        (inc.severity, inc.urgency),
        (IncidentSeverity::Sev2, Urgency::High),
        "urgency from severity when not given"
    );
    let mut services = inc.service_ids.clone();
    services.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(
        services, expected,
        "a declared incident affects every given service"
    );
    assert_eq!((inc.alert_count, inc.open_alert_count), (0, 0));
    assert_eq!(
        (inc.detected_at, inc.created_at, inc.updated_at),
        (at(1_000), at(1_000), at(1_000)),
        "detected_at = now"
    );
    assert_eq!((inc.acknowledged_at, inc.resolved_at), (None, None));
    let mut got = get_incident(store, inc.id).await;
    got.service_ids.sort();
    let mut want = inc.clone();
    want.service_ids.sort();
    assert_eq!(
        got, want,
        "get_incident returns what declare_incident returned"
    );

    let events = timeline_all(store, inc.id).await;
    assert_eq!(
        events.len(),
        1,
        "a new declared incident has exactly one event, got {:?}",
        events.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    let e = &events[0];
    assert_eq!(e.kind, kinds::INCIDENT_DECLARED);
    assert_eq!(
        (e.at, &e.actor, e.incident_id, e.alert_id),
        (at(1_000), &actor(), Some(inc.id), None)
    );

    for svc in [a.id, b.id] {
        let listed = incidents_all(
            store,
            IncidentFilter {
                service_id: Some(svc),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            listed.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![inc.id],
            "listed under each affected service"
        );
    }

    let low = store
        .declare_incident(
            NewIncident {
                title: "Minor".into(),
                severity: IncidentSeverity::Sev4,
                urgency: None,
                service_ids: vec![a.id],
            },
            actor(),
            at(2_000),
        )
        .await
        .expect("declare_incident");
    assert_eq!(
        (low.severity, low.urgency),
        (IncidentSeverity::Sev4, Urgency::Low)
    );
    assert!(low.number > inc.number);
    let forced = store
        .declare_incident(
            NewIncident {
                title: "Minor but urgent".into(),
                severity: IncidentSeverity::Sev3,
                urgency: Some(Urgency::High),
                service_ids: vec![b.id],
            },
            actor(),
            at(3_000),
        )
        .await
        .expect("declare_incident");
    assert_eq!(
        (forced.severity, forced.urgency),
        (IncidentSeverity::Sev3, Urgency::High),
        "urgency as given"
    );

    let acked = store
        .acknowledge_incident(inc.id, actor(), at(4_000))
        .await
        .expect("acknowledge_incident")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (acked.status, acked.acknowledged_at),
        (IncidentStatus::Acknowledged, Some(at(4_000)))
    );
    let resolved = store
        .resolve_incident(inc.id, actor(), at(5_000))
        .await
        .expect("resolve_incident")
        .expect("must answer Some for an existing row");
    assert_eq!(
        (resolved.status, resolved.resolved_at),
        (IncidentStatus::Resolved, Some(at(5_000)))
    );
    let events = timeline_all(store, inc.id).await;
    let kinds_seen: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds_seen,
        vec![
            kinds::INCIDENT_DECLARED,
            kinds::INCIDENT_ACKNOWLEDGED,
            kinds::INCIDENT_RESOLVED
        ]
    );
}

/// The acknowledge rule also applies when an alert *resolves*: if that leaves the triggered
/// incident with open alerts that are all acknowledged, the incident becomes acknowledged (once,
/// with an `incident.acknowledged` event after the `alert.resolved`, by the resolving actor).
pub async fn case_resolve_leaves_only_acknowledged_alerts(store: &dyn Store) {
    let svc = service(store, &unique_name("resolve-leaves-acked")).await;
    let am = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let g = unique_name("g");
    let (fa, fb) = (unique_name("fp"), unique_name("fp"));
    let out = ingest(
        store,
        &am,
        vec![
            am_trigger(&fa, &g, "A", AlertSeverity::Error),
            am_trigger(&fb, &g, "B", AlertSeverity::Error),
        ],
        at(1_000),
    )
    .await;
    let inc_id = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    assert_eq!(out[1].incident_id, Some(inc_id), "one group, one incident");
    let a_id = out[0]
        .alert_id
        .expect("the outcome/event must name its alert");

    store
        .acknowledge_alert(a_id, actor(), at(2_000))
        .await
        .expect("acknowledge_alert")
        .expect("must answer Some for an existing row");
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.acknowledged_at),
        (IncidentStatus::Triggered, None),
        "B is still triggered: the incident stays triggered"
    );

    let r = ingest_one(store, &am, am_resolve(&fb, &g), at(3_000)).await;
    assert_eq!(r.effect, IngestEffect::Resolved);
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.acknowledged_at, inc.resolved_at),
        (IncidentStatus::Acknowledged, Some(at(3_000)), None),
        "B resolved and only the acknowledged A is open: the incident is acknowledged"
    );
    assert_eq!((inc.alert_count, inc.open_alert_count), (2, 1));
    let events = timeline_all(store, inc_id).await;
    let tail: Vec<&str> = events
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        tail,
        vec![kinds::ALERT_RESOLVED, kinds::INCIDENT_ACKNOWLEDGED],
        "the timeline ends with alert.resolved, then incident.acknowledged"
    );
    let acked = of_kind(&events, kinds::INCIDENT_ACKNOWLEDGED);
    assert_eq!(acked.len(), 1, "one incident.acknowledged");
    assert_eq!(acked[0].at, at(3_000));
    assert_eq!(
        (acked[0].actor.kind, acked[0].actor.id.clone()),
        (ActorKind::Integration, Some(am.id.to_string())),
        "incident.acknowledged carries the resolving actor (the integration)"
    );

    // Resolving the last (acknowledged) alert resolves the incident; acknowledged_at stays.
    ingest_one(store, &am, am_resolve(&fa, &g), at(4_000)).await;
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.acknowledged_at, inc.resolved_at),
        (IncidentStatus::Resolved, Some(at(3_000)), Some(at(4_000)))
    );
    let events = timeline_all(store, inc_id).await;
    assert_eq!(of_kind(&events, kinds::INCIDENT_ACKNOWLEDGED).len(), 1);

    // The same through resolve_alert: the person who resolved is the actor.
    let g = unique_name("g");
    let (fc, fd) = (unique_name("fp"), unique_name("fp"));
    let out = ingest(
        store,
        &am,
        vec![
            am_trigger(&fc, &g, "C", AlertSeverity::Warning),
            am_trigger(&fd, &g, "D", AlertSeverity::Warning),
        ],
        at(5_000),
    )
    .await;
    let inc_id = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    ingest_one(store, &am, ack(&fc), at(6_000)).await;
    assert_eq!(
        get_incident(store, inc_id).await.status,
        IncidentStatus::Triggered
    );
    store
        .resolve_alert(
            out[1]
                .alert_id
                .expect("the outcome/event must name its alert"),
            actor(),
            at(7_000),
        )
        .await
        .expect("resolve_alert")
        .expect("must answer Some for an existing row");
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.acknowledged_at),
        (IncidentStatus::Acknowledged, Some(at(7_000))),
        "resolve_alert left only acknowledged alerts: the incident is acknowledged"
    );
    let events = timeline_all(store, inc_id).await;
    let acked = of_kind(&events, kinds::INCIDENT_ACKNOWLEDGED);
    assert_eq!(acked.len(), 1);
    assert_eq!((acked[0].at, &acked[0].actor), (at(7_000), &actor()));
    assert_eq!(
        events.last().map(|e| e.kind.as_str()),
        Some(kinds::INCIDENT_ACKNOWLEDGED)
    );

    // A triggered alert left behind keeps the incident triggered.
    let g = unique_name("g");
    let fps: Vec<String> = (0..3).map(|_| unique_name("fp")).collect();
    let out = ingest(
        store,
        &am,
        fps.iter()
            .map(|f| am_trigger(f, &g, "E", AlertSeverity::Error))
            .collect(),
        at(8_000),
    )
    .await;
    let inc_id = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    ingest_one(store, &am, ack(&fps[0]), at(9_000)).await;
    ingest_one(store, &am, am_resolve(&fps[1], &g), at(10_000)).await;
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.status, inc.acknowledged_at, inc.open_alert_count),
        (IncidentStatus::Triggered, None, 2),
        "one alert still triggered: the incident stays triggered"
    );
}

/// Urgency follows the alert's severity (critical/error → high, warning/info → low), also when
/// the integration's severity_override sets the incident severity.
pub async fn case_urgency_follows_alert_severity_under_override(store: &dyn Store) {
    let svc = service(store, &unique_name("urgency-override")).await;
    let mut new = new_integration(IntegrationKind::Pagerduty);
    new.severity_override = Some(IncidentSeverity::Sev4);
    let low = integration_with(store, svc.id, new).await;
    let o = ingest_one(
        store,
        &low,
        trigger(
            &unique_name("k"),
            "critical under SEV4",
            AlertSeverity::Critical,
        ),
        at(1_000),
    )
    .await;
    let inc_id = o.incident_id.expect("the outcome must name its incident");
    let inc = get_incident(store, inc_id).await;
    assert_eq!(
        (inc.severity, inc.urgency),
        (IncidentSeverity::Sev4, Urgency::High),
        "override SEV4 on a critical alert: severity SEV4, urgency high"
    );
    let events = timeline_all(store, inc_id).await;
    let opened = of_kind(&events, kinds::INCIDENT_OPENED);
    assert_eq!(opened.len(), 1);
    assert_eq!(
        (
            &opened[0].payload["severity"],
            &opened[0].payload["urgency"]
        ),
        (&serde_json::json!("SEV4"), &serde_json::json!("high")),
        "incident.opened names the incident's severity and urgency"
    );

    // Grouped alerts (Alertmanager) take the same rule, the other way round.
    let mut new = new_integration(IntegrationKind::Alertmanager);
    new.severity_override = Some(IncidentSeverity::Sev1);
    let high = integration_with(store, svc.id, new).await;
    for (sev, urgency) in [
        (AlertSeverity::Critical, Urgency::High),
        (AlertSeverity::Error, Urgency::High),
        (AlertSeverity::Warning, Urgency::Low),
        (AlertSeverity::Info, Urgency::Low),
    ] {
        let o = ingest_one(
            store,
            &high,
            am_trigger(&unique_name("fp"), &unique_name("g"), "under SEV1", sev),
            at(2_000),
        )
        .await;
        let inc = get_incident(
            store,
            o.incident_id.expect("the outcome must name its incident"),
        )
        .await;
        assert_eq!(
            (inc.severity, inc.urgency),
            (IncidentSeverity::Sev1, urgency),
            "override SEV1 on a {sev} alert"
        );
    }
}
