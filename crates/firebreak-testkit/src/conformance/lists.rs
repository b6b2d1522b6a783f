//! Lists: filters and cursor pagination for incidents and alerts.

use super::{alerts_all, cursor_of, incidents_all, newest_first, page};
use crate::builders::{
    ack, actor, at, ingest_one, next_unique, resolve, service_with_integration, trigger,
    unique_name,
};
use firebreak_core::store::PageRequest;
use firebreak_core::{
    AlertFilter, AlertSeverity, AlertStatus, IncidentFilter, IncidentSeverity, IncidentStatus,
    IntegrationKind, NewIncident, Store,
};

/// A time region (offset from the base) that no other case or call uses, for since/until filters.
fn private_region() -> i64 {
    10_000_000 * (1 + next_unique() as i64)
}

fn incident_ids(list: &[firebreak_core::Incident]) -> Vec<i64> {
    list.iter().map(|i| i.id.0).collect()
}

fn alert_ids(list: &[firebreak_core::Alert]) -> Vec<i64> {
    list.iter().map(|a| a.id.0).collect()
}

/// list_incidents filters by status, service, severity and detected_at range.
pub async fn case_list_incidents_filters(store: &dyn Store) {
    let t = private_region();
    let (s1, p1) =
        service_with_integration(store, "inc-filters-1", IntegrationKind::Pagerduty).await;
    let (s2, p2) =
        service_with_integration(store, "inc-filters-2", IntegrationKind::Pagerduty).await;

    let i1 = ingest_one(
        store,
        &p1,
        trigger(&unique_name("k"), "i1", AlertSeverity::Critical),
        at(t),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident")
    .0;
    let k2 = unique_name("k");
    let i2 = ingest_one(
        store,
        &p1,
        trigger(&k2, "i2", AlertSeverity::Warning),
        at(t + 1_000),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident")
    .0;
    ingest_one(store, &p1, ack(&k2), at(t + 1_500)).await;
    let i5 = ingest_one(
        store,
        &p2,
        trigger(&unique_name("k"), "i5", AlertSeverity::Critical),
        at(t + 1_000),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident")
    .0;
    let k3 = unique_name("k");
    let i3 = ingest_one(
        store,
        &p1,
        trigger(&k3, "i3", AlertSeverity::Error),
        at(t + 2_000),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident")
    .0;
    ingest_one(store, &p1, resolve(&k3), at(t + 2_500)).await;
    let i4 = store
        .declare_incident(
            NewIncident {
                title: "i4".into(),
                severity: IncidentSeverity::Sev3,
                urgency: None,
                service_ids: vec![s1.id, s2.id],
            },
            actor(),
            at(t + 3_000),
        )
        .await
        .expect("declare_incident")
        .id
        .0;

    let f = |statuses: Vec<IncidentStatus>| IncidentFilter {
        statuses,
        service_id: Some(s1.id),
        ..Default::default()
    };
    let checks: Vec<(&str, IncidentFilter, Vec<i64>)> = vec![
        ("service 1, every status", f(vec![]), vec![i1, i2, i3, i4]),
        (
            "service 1, triggered",
            f(vec![IncidentStatus::Triggered]),
            vec![i1, i4],
        ),
        (
            "service 1, acknowledged",
            f(vec![IncidentStatus::Acknowledged]),
            vec![i2],
        ),
        (
            "service 1, resolved",
            f(vec![IncidentStatus::Resolved]),
            vec![i3],
        ),
        (
            "service 1, open",
            f(vec![
                IncidentStatus::Triggered,
                IncidentStatus::Acknowledged,
            ]),
            vec![i1, i2, i4],
        ),
        (
            "service 1, SEV3",
            IncidentFilter {
                severity: Some(IncidentSeverity::Sev3),
                ..f(vec![])
            },
            vec![i2, i4],
        ),
        (
            "service 1, SEV1 triggered",
            IncidentFilter {
                severity: Some(IncidentSeverity::Sev1),
                ..f(vec![IncidentStatus::Triggered])
            },
            vec![i1],
        ),
        (
            "service 1, since t+1000",
            IncidentFilter {
                since: Some(at(t + 1_000)),
                ..f(vec![])
            },
            vec![i2, i3, i4],
        ),
        (
            "service 1, until t+2000 (exclusive)",
            IncidentFilter {
                until: Some(at(t + 2_000)),
                ..f(vec![])
            },
            vec![i1, i2],
        ),
        (
            "service 1, [t+1000, t+3000)",
            IncidentFilter {
                since: Some(at(t + 1_000)),
                until: Some(at(t + 3_000)),
                ..f(vec![])
            },
            vec![i2, i3],
        ),
        (
            "service 2",
            IncidentFilter {
                service_id: Some(s2.id),
                ..Default::default()
            },
            vec![i4, i5],
        ),
        (
            "every service, [t, t+3001)",
            IncidentFilter {
                since: Some(at(t)),
                until: Some(at(t + 3_001)),
                ..Default::default()
            },
            vec![i1, i2, i3, i4, i5],
        ),
        (
            "every service, SEV1, [t, t+3001)",
            IncidentFilter {
                severity: Some(IncidentSeverity::Sev1),
                since: Some(at(t)),
                until: Some(at(t + 3_001)),
                ..Default::default()
            },
            vec![i1, i5],
        ),
        (
            "every service, [t+2000, t+2001)",
            IncidentFilter {
                since: Some(at(t + 2_000)),
                until: Some(at(t + 2_001)),
                ..Default::default()
            },
            vec![i3],
        ),
    ];
    for (what, filter, expected) in checks {
        let got = incident_ids(&incidents_all(store, filter).await);
        assert_eq!(
            got,
            newest_first(expected),
            "list_incidents {what} (newest first)"
        );
    }
}

/// list_alerts filters by status, service, incident, severity and first_seen_at range.
pub async fn case_list_alerts_filters(store: &dyn Store) {
    let t = private_region();
    let (s1, p1) =
        service_with_integration(store, "alert-filters-1", IntegrationKind::Pagerduty).await;
    let (s2, p2) =
        service_with_integration(store, "alert-filters-2", IntegrationKind::Pagerduty).await;

    let a1 = ingest_one(
        store,
        &p1,
        trigger(&unique_name("k"), "a1", AlertSeverity::Critical),
        at(t),
    )
    .await
    .alert_id
    .expect("the outcome/event must name its alert")
    .0;
    let k2 = unique_name("k");
    let o2 = ingest_one(
        store,
        &p1,
        trigger(&k2, "a2", AlertSeverity::Warning),
        at(t + 1_000),
    )
    .await;
    let a2 = o2
        .alert_id
        .expect("the outcome/event must name its alert")
        .0;
    ingest_one(store, &p1, ack(&k2), at(t + 1_500)).await;
    let b1 = ingest_one(
        store,
        &p2,
        trigger(&unique_name("k"), "b1", AlertSeverity::Critical),
        at(t + 1_000),
    )
    .await
    .alert_id
    .expect("the outcome/event must name its alert")
    .0;
    let k3 = unique_name("k");
    let a3 = ingest_one(
        store,
        &p1,
        trigger(&k3, "a3", AlertSeverity::Error),
        at(t + 2_000),
    )
    .await
    .alert_id
    .expect("the outcome/event must name its alert")
    .0;
    ingest_one(store, &p1, resolve(&k3), at(t + 2_500)).await;
    let a4 = ingest_one(
        store,
        &p1,
        trigger(&unique_name("k"), "a4", AlertSeverity::Warning),
        at(t + 3_000),
    )
    .await
    .alert_id
    .expect("the outcome/event must name its alert")
    .0;

    let f = |statuses: Vec<AlertStatus>| AlertFilter {
        statuses,
        service_id: Some(s1.id),
        ..Default::default()
    };
    let checks: Vec<(&str, AlertFilter, Vec<i64>)> = vec![
        ("service 1, every status", f(vec![]), vec![a1, a2, a3, a4]),
        (
            "service 1, triggered",
            f(vec![AlertStatus::Triggered]),
            vec![a1, a4],
        ),
        (
            "service 1, acknowledged",
            f(vec![AlertStatus::Acknowledged]),
            vec![a2],
        ),
        (
            "service 1, resolved",
            f(vec![AlertStatus::Resolved]),
            vec![a3],
        ),
        (
            "service 1, open",
            f(vec![AlertStatus::Triggered, AlertStatus::Acknowledged]),
            vec![a1, a2, a4],
        ),
        (
            "service 1, warning",
            AlertFilter {
                severity: Some(AlertSeverity::Warning),
                ..f(vec![])
            },
            vec![a2, a4],
        ),
        (
            "service 1, warning triggered",
            AlertFilter {
                severity: Some(AlertSeverity::Warning),
                ..f(vec![AlertStatus::Triggered])
            },
            vec![a4],
        ),
        (
            "service 1, since t+1000",
            AlertFilter {
                since: Some(at(t + 1_000)),
                ..f(vec![])
            },
            vec![a2, a3, a4],
        ),
        (
            "service 1, until t+2000 (exclusive)",
            AlertFilter {
                until: Some(at(t + 2_000)),
                ..f(vec![])
            },
            vec![a1, a2],
        ),
        (
            "service 1, [t+1000, t+3000)",
            AlertFilter {
                since: Some(at(t + 1_000)),
                until: Some(at(t + 3_000)),
                ..f(vec![])
            },
            vec![a2, a3],
        ),
        (
            "incident of a2",
            AlertFilter {
                incident_id: o2.incident_id,
                ..Default::default()
            },
            vec![a2],
        ),
        (
            "service 2",
            AlertFilter {
                service_id: Some(s2.id),
                ..Default::default()
            },
            vec![b1],
        ),
        (
            "every service, [t, t+3001)",
            AlertFilter {
                since: Some(at(t)),
                until: Some(at(t + 3_001)),
                ..Default::default()
            },
            vec![a1, a2, a3, a4, b1],
        ),
        (
            "every service, critical, [t, t+3001)",
            AlertFilter {
                severity: Some(AlertSeverity::Critical),
                since: Some(at(t)),
                until: Some(at(t + 3_001)),
                ..Default::default()
            },
            vec![a1, b1],
        ),
    ];
    for (what, filter, expected) in checks {
        let got = alert_ids(&alerts_all(store, filter).await);
        assert_eq!(
            got,
            newest_first(expected),
            "list_alerts {what} (newest first)"
        );
    }
}

/// Walks a list page by page with `limit`, checking the cursor contract; returns the ids.
async fn walk<F, Fut>(limit: u32, what: &str, mut fetch: F) -> Vec<i64>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = (Vec<i64>, Option<String>)>,
{
    let mut ids = Vec::new();
    let mut cursor = None;
    let mut sizes = Vec::new();
    for _ in 0..1_000 {
        let (items, next) = fetch(page(limit, cursor)).await;
        assert!(
            items.len() <= limit as usize,
            "{what}: page larger than limit {limit}"
        );
        sizes.push(items.len());
        if let Some(next) = &next {
            assert_eq!(
                items.len(),
                limit as usize,
                "{what}: only the last page may be short (limit {limit}, sizes so far {sizes:?})"
            );
            assert_eq!(
                next,
                &items.last().expect("non-empty").to_string(),
                "{what}: next_cursor = last id of the page"
            );
        }
        ids.extend(items);
        cursor = cursor_of(&next, what);
        if cursor.is_none() {
            return ids;
        }
    }
    panic!("{what}: next_cursor never became null (limit {limit})");
}

/// Incidents page newest first across several pages without duplicates or gaps.
pub async fn case_incident_pagination(store: &dyn Store) {
    let (svc, integ) =
        service_with_integration(store, "inc-pages", IntegrationKind::Pagerduty).await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            ingest_one(
                store,
                &integ,
                trigger(&unique_name("k"), "paged", AlertSeverity::Error),
                at(1_000 + i),
            )
            .await
            .incident_id
            .expect("the outcome must name its incident")
            .0,
        );
    }
    let expected = newest_first(created.clone());
    for limit in [1, 2, 3, 6, 7, 8] {
        let got = walk(limit, "list_incidents", |p| async move {
            let page = store
                .list_incidents(IncidentFilter {
                    service_id: Some(svc.id),
                    page: p,
                    ..Default::default()
                })
                .await
                .expect("list_incidents");
            (incident_ids(&page.items), page.next_cursor)
        })
        .await;
        assert_eq!(
            got, expected,
            "list_incidents with limit {limit}: every incident once, newest first"
        );
    }
    let p1 = store
        .list_incidents(IncidentFilter {
            service_id: Some(svc.id),
            page: page(3, None),
            ..Default::default()
        })
        .await
        .expect("list_incidents");
    assert_eq!(incident_ids(&p1.items), expected[..3].to_vec());
    assert_eq!(p1.next_cursor, Some(expected[2].to_string()));
    let p3 = store
        .list_incidents(IncidentFilter {
            service_id: Some(svc.id),
            page: page(3, Some(expected[5])),
            ..Default::default()
        })
        .await
        .expect("list_incidents");
    assert_eq!(incident_ids(&p3.items), vec![expected[6]]);
    assert_eq!(p3.next_cursor, None, "the last page has a null next_cursor");
    let exact = store
        .list_incidents(IncidentFilter {
            service_id: Some(svc.id),
            page: page(3, Some(expected[3])),
            ..Default::default()
        })
        .await
        .expect("list_incidents");
    assert_eq!(incident_ids(&exact.items), expected[4..].to_vec());
    assert_eq!(
        exact.next_cursor, None,
        "an exactly full last page has a null next_cursor"
    );
}

/// Alerts page newest first, combined with a status filter, without duplicates or gaps.
pub async fn case_alert_pagination(store: &dyn Store) {
    let (svc, integ) =
        service_with_integration(store, "alert-pages", IntegrationKind::Pagerduty).await;
    let mut open = Vec::new();
    for i in 0..9 {
        let key = unique_name("k");
        let id = ingest_one(
            store,
            &integ,
            trigger(&key, "paged", AlertSeverity::Warning),
            at(1_000 + i),
        )
        .await
        .alert_id
        .expect("the outcome/event must name its alert")
        .0;
        if i % 4 == 1 {
            ingest_one(store, &integ, resolve(&key), at(2_000 + i)).await;
        } else {
            open.push(id);
        }
    }
    assert_eq!(open.len(), 7);
    let expected = newest_first(open);
    for limit in [1, 2, 3, 7] {
        let got = walk(limit, "list_alerts", |p| async move {
            let page = store
                .list_alerts(AlertFilter {
                    statuses: vec![AlertStatus::Triggered],
                    service_id: Some(svc.id),
                    page: p,
                    ..Default::default()
                })
                .await
                .expect("list_alerts");
            (alert_ids(&page.items), page.next_cursor)
        })
        .await;
        assert_eq!(
            got, expected,
            "list_alerts (triggered) with limit {limit}: every alert once, newest first"
        );
    }
}
