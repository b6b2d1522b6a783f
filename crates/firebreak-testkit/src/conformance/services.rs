//! Services and integrations: CRUD, retirement, key uniqueness, configuration events.

use super::{cursor_of, page, service_timeline_all};
use crate::builders::{
    actor, at, integration, integration_with, new_integration, service, unique_key, unique_name,
};
use firebreak_core::store::StoreError;
use firebreak_core::timeline::kinds;
use firebreak_core::{
    DurationMs, IncidentSeverity, IntegrationId, IntegrationKind, IntegrationPatch, NewIntegration,
    NewService, ServiceId, ServicePatch, Store,
};

const MISSING_SERVICE: ServiceId = ServiceId(i64::MAX - 7);
const MISSING_INTEGRATION: IntegrationId = IntegrationId(i64::MAX - 7);

/// Every service id in `list_services`, walking all pages.
async fn all_service_ids(store: &dyn Store, limit: u32) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..100_000 {
        let p = store
            .list_services(page(limit, cursor), None)
            .await
            .expect("list_services");
        assert!(
            p.items.len() <= limit as usize,
            "list_services returned more than limit={limit} items"
        );
        if let (Some(next), Some(last)) = (&p.next_cursor, p.items.last()) {
            assert_eq!(
                next,
                &last.id.to_string(),
                "list_services: next_cursor must be the last id of the page"
            );
        }
        ids.extend(p.items.iter().map(|s| s.id.0));
        cursor = cursor_of(&p.next_cursor, "list_services");
        if cursor.is_none() {
            super::assert_newest_first(&ids, "list_services");
            return ids;
        }
    }
    panic!("list_services: next_cursor never became null");
}

/// The store answers, its schema is current, and migrating again is a no-op.
pub async fn case_store_ready(store: &dyn Store) {
    let backend = store.backend();
    assert!(
        backend == "sqlite" || backend == "postgres",
        "backend() must be \"sqlite\" or \"postgres\", got {backend:?}"
    );
    store.ready().await.expect("ready() on a migrated store");
    store
        .migrate()
        .await
        .expect("migrate() on an already migrated store must succeed");
    store
        .ready()
        .await
        .expect("ready() after a second migrate()");
}

/// Create, get, list, update a service; missing ids answer None/false.
pub async fn case_service_crud(store: &dyn Store) {
    let name = unique_name("crud");
    let created = store
        .create_service(
            NewService {
                name: name.clone(),
                description: "payments API".into(),
                auto_resolve_incidents: true,
                team_id: None,
            },
            actor(),
            at(100),
        )
        .await
        .expect("create_service");
    assert_eq!(created.name, name);
    assert_eq!(created.description, "payments API");
    assert!(created.auto_resolve_incidents);
    assert_eq!(created.created_at, at(100), "created_at = now");
    assert_eq!(created.updated_at, at(100), "updated_at = now on create");

    let got = store.get_service(created.id).await.expect("get_service");
    assert_eq!(
        got.as_ref(),
        Some(&created),
        "get_service returns what create_service returned"
    );
    assert!(
        all_service_ids(store, 500).await.contains(&created.id.0),
        "a new service is listed"
    );

    let renamed = unique_name("crud-renamed");
    let updated = store
        .update_service(
            created.id,
            ServicePatch {
                team_id: None,
                name: Some(renamed.clone()),
                description: None,
                auto_resolve_incidents: Some(false),
            },
            actor(),
            at(200),
        )
        .await
        .expect("update_service")
        .expect("update_service of an existing service returns it");
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.name, renamed);
    assert_eq!(
        updated.description, "payments API",
        "fields absent from the patch are unchanged"
    );
    assert!(!updated.auto_resolve_incidents);
    assert_eq!(updated.created_at, at(100), "created_at never changes");
    assert_eq!(
        updated.updated_at,
        at(200),
        "updated_at = time of the update"
    );
    let got = store
        .get_service(created.id)
        .await
        .expect("get_service")
        .expect("service exists");
    assert_eq!(
        got, updated,
        "get_service after update returns the updated service"
    );

    let updated = store
        .update_service(
            created.id,
            ServicePatch {
                team_id: None,
                description: Some("v2".into()),
                ..Default::default()
            },
            actor(),
            at(300),
        )
        .await
        .expect("update_service")
        .expect("service exists");
    assert_eq!(updated.name, renamed);
    assert_eq!(updated.description, "v2");
    assert!(
        !updated.auto_resolve_incidents,
        "auto_resolve_incidents unchanged when absent from the patch"
    );

    assert_eq!(
        store
            .get_service(MISSING_SERVICE)
            .await
            .expect("get_service"),
        None
    );
    assert!(
        store
            .update_service(MISSING_SERVICE, ServicePatch::default(), actor(), at(300))
            .await
            .expect("update_service")
            .is_none(),
        "update_service of a missing service answers None"
    );
    assert!(
        !store
            .delete_service(MISSING_SERVICE, actor(), at(300))
            .await
            .expect("delete_service"),
        "delete_service of a missing service answers false"
    );
}

/// `list_services` pages newest first across several pages without duplicates or gaps.
pub async fn case_service_pagination(store: &dyn Store) {
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(service(store, &unique_name("paged")).await.id.0);
    }
    let all_at_once = all_service_ids(store, 500).await;
    for limit in [1, 2, 3] {
        let paged = all_service_ids(store, limit).await;
        assert_eq!(
            paged, all_at_once,
            "list_services with limit {limit} across pages must equal the single-page listing"
        );
    }
    for id in &mine {
        assert!(all_at_once.contains(id), "service {id} is listed");
    }
    let first_page = store
        .list_services(page(2, None), None)
        .await
        .expect("list_services");
    assert_eq!(first_page.items.len(), 2);
    assert!(
        first_page.next_cursor.is_some(),
        "more services remain: next_cursor must be set"
    );
}

/// Create, get, look up by key, list and update integrations.
pub async fn case_integration_crud(store: &dyn Store) {
    let svc = service(store, &unique_name("integ-crud")).await;
    let key = unique_key();
    let name = unique_name("am");
    let created = store
        .create_integration(
            svc.id,
            NewIntegration {
                kind: IntegrationKind::Alertmanager,
                name: name.clone(),
                key: key.clone(),
                severity_override: Some(IncidentSeverity::Sev2),
                auto_resolve_after: Some(DurationMs::from_secs(600)),
            },
            actor(),
            at(100),
        )
        .await
        .expect("create_integration");
    assert_eq!(created.service_id, svc.id);
    assert_eq!(created.kind, IntegrationKind::Alertmanager);
    assert_eq!(created.name, name);
    assert_eq!(created.key, key);
    assert_eq!(created.severity_override, Some(IncidentSeverity::Sev2));
    assert_eq!(created.auto_resolve_after, Some(DurationMs::from_secs(600)));
    assert_eq!(created.created_at, at(100));
    assert_eq!(created.updated_at, at(100));

    assert_eq!(
        store
            .get_integration(created.id)
            .await
            .expect("get_integration")
            .as_ref(),
        Some(&created)
    );
    assert_eq!(
        store
            .integration_by_key(&key)
            .await
            .expect("integration_by_key")
            .as_ref(),
        Some(&created)
    );
    assert_eq!(
        store
            .integration_by_key(&unique_key())
            .await
            .expect("integration_by_key"),
        None,
        "unknown key answers None"
    );
    assert_eq!(
        store
            .list_integrations(svc.id)
            .await
            .expect("list_integrations"),
        vec![created.clone()]
    );

    let second = integration(store, svc.id, IntegrationKind::Generic).await;
    let mut listed: Vec<i64> = store
        .list_integrations(svc.id)
        .await
        .expect("list_integrations")
        .iter()
        .map(|i| i.id.0)
        .collect();
    listed.sort_unstable();
    let mut expected = vec![created.id.0, second.id.0];
    expected.sort_unstable();
    assert_eq!(
        listed, expected,
        "list_integrations lists exactly the service's integrations"
    );
    let other = service(store, &unique_name("integ-crud-other")).await;
    assert!(
        store
            .list_integrations(other.id)
            .await
            .expect("list_integrations")
            .is_empty(),
        "a new service has no integrations"
    );

    let renamed = unique_name("am-renamed");
    let updated = store
        .update_integration(
            created.id,
            IntegrationPatch {
                name: Some(renamed.clone()),
                severity_override: Some(None),
                auto_resolve_after: Some(Some(DurationMs::from_secs(60))),
                key: None,
            },
            actor(),
            at(200),
        )
        .await
        .expect("update_integration")
        .expect("update_integration of an existing integration returns it");
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.name, renamed);
    assert_eq!(
        updated.severity_override, None,
        "Some(None) clears the override"
    );
    assert_eq!(updated.auto_resolve_after, Some(DurationMs::from_secs(60)));
    assert_eq!(updated.key, key, "the key never changes");
    assert_eq!(updated.kind, IntegrationKind::Alertmanager);
    assert_eq!(updated.service_id, svc.id);
    assert_eq!(updated.created_at, at(100));
    assert_eq!(updated.updated_at, at(200));
    assert_eq!(
        store
            .get_integration(created.id)
            .await
            .expect("get_integration")
            .as_ref(),
        Some(&updated)
    );
    assert_eq!(
        store
            .integration_by_key(&key)
            .await
            .expect("integration_by_key")
            .as_ref(),
        Some(&updated)
    );

    let updated2 = store
        .update_integration(
            created.id,
            IntegrationPatch {
                severity_override: Some(Some(IncidentSeverity::Sev4)),
                ..Default::default()
            },
            actor(),
            at(300),
        )
        .await
        .expect("update_integration")
        .expect("must answer Some for an existing row");
    assert_eq!(
        updated2.name, renamed,
        "name unchanged when absent from the patch"
    );
    assert_eq!(updated2.severity_override, Some(IncidentSeverity::Sev4));
    assert_eq!(
        updated2.auto_resolve_after,
        Some(DurationMs::from_secs(60)),
        "auto_resolve_after unchanged when absent from the patch"
    );

    assert_eq!(
        store
            .get_integration(MISSING_INTEGRATION)
            .await
            .expect("get_integration"),
        None
    );
    assert!(
        store
            .update_integration(
                MISSING_INTEGRATION,
                IntegrationPatch::default(),
                actor(),
                at(300)
            )
            .await
            .expect("update_integration")
            .is_none(),
        "update_integration of a missing integration answers None"
    );
    assert!(!store
        .delete_integration(MISSING_INTEGRATION, actor(), at(300))
        .await
        .expect("delete_integration"));
}

/// A taken key is `Conflict`; a missing service is `NotFound`.
pub async fn case_integration_key_conflict(store: &dyn Store) {
    let a = service(store, &unique_name("conflict-a")).await;
    let b = service(store, &unique_name("conflict-b")).await;
    let first = integration(store, a.id, IntegrationKind::Pagerduty).await;

    let mut dup = new_integration(IntegrationKind::Generic);
    dup.key = first.key.clone();
    match store
        .create_integration(b.id, dup.clone(), actor(), at(100))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!(
            "create_integration with a taken key (other service) must be Conflict, got {other:?}"
        ),
    }
    match store.create_integration(a.id, dup, actor(), at(100)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!(
            "create_integration with a taken key (same service) must be Conflict, got {other:?}"
        ),
    }
    assert!(
        store
            .list_integrations(b.id)
            .await
            .expect("list_integrations")
            .is_empty(),
        "a conflicting create changes nothing"
    );
    assert_eq!(
        store
            .list_integrations(a.id)
            .await
            .expect("list_integrations"),
        vec![first.clone()]
    );
    assert_eq!(
        store
            .integration_by_key(&first.key)
            .await
            .expect("integration_by_key"),
        Some(first)
    );

    match store
        .create_integration(
            MISSING_SERVICE,
            new_integration(IntegrationKind::Generic),
            actor(),
            at(100),
        )
        .await
    {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("create_integration on a missing service must be NotFound, got {other:?}"),
    }
}

/// A deleted integration vanishes from get/list/by-key; its key stays reserved.
pub async fn case_retire_integration(store: &dyn Store) {
    let svc = service(store, &unique_name("retire-integ")).await;
    let keep = integration(store, svc.id, IntegrationKind::Pagerduty).await;
    let gone = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    assert_eq!(
        store
            .integration_by_key(&gone.key)
            .await
            .expect("integration_by_key")
            .as_ref(),
        Some(&gone),
        "the key resolves before retirement"
    );

    assert!(
        store
            .delete_integration(gone.id, actor(), at(100))
            .await
            .expect("delete_integration"),
        "deleting an integration answers true"
    );
    assert_eq!(
        store
            .get_integration(gone.id)
            .await
            .expect("get_integration"),
        None,
        "a retired integration vanishes from get"
    );
    assert_eq!(
        store
            .integration_by_key(&gone.key)
            .await
            .expect("integration_by_key"),
        None,
        "a retired integration's key no longer resolves"
    );
    assert_eq!(
        store
            .list_integrations(svc.id)
            .await
            .expect("list_integrations"),
        vec![keep.clone()],
        "a retired integration vanishes from the list"
    );
    assert!(
        !store
            .delete_integration(gone.id, actor(), at(200))
            .await
            .expect("delete_integration"),
        "deleting a retired integration again answers false"
    );
    assert!(
        store
            .update_integration(
                gone.id,
                IntegrationPatch {
                    name: Some("x".into()),
                    ..Default::default()
                },
                actor(),
                at(200)
            )
            .await
            .expect("update_integration")
            .is_none(),
        "updating a retired integration answers None"
    );

    let mut reuse = new_integration(IntegrationKind::Generic);
    reuse.key = gone.key.clone();
    match store.create_integration(svc.id, reuse, actor(), at(300)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a retired integration's key stays reserved: create with it must be Conflict, got {other:?}"),
    }
    assert_eq!(
        store
            .integration_by_key(&keep.key)
            .await
            .expect("integration_by_key"),
        Some(keep),
        "the other integration is untouched"
    );
}

/// A deleted service vanishes with its integrations; its keys stop resolving.
pub async fn case_retire_service(store: &dyn Store) {
    let svc = service(store, &unique_name("retire-svc")).await;
    let bystander = service(store, &unique_name("retire-bystander")).await;
    let i1 = integration(store, svc.id, IntegrationKind::Pagerduty).await;
    let i2 = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let other = integration(store, bystander.id, IntegrationKind::Generic).await;
    for i in [&i1, &i2] {
        assert_eq!(
            store
                .integration_by_key(&i.key)
                .await
                .expect("integration_by_key")
                .as_ref(),
            Some(i),
            "the key resolves before retirement"
        );
    }

    assert!(
        store
            .delete_service(svc.id, actor(), at(100))
            .await
            .expect("delete_service"),
        "deleting a service answers true"
    );
    assert_eq!(
        store.get_service(svc.id).await.expect("get_service"),
        None,
        "a retired service vanishes from get"
    );
    let listed = all_service_ids(store, 500).await;
    assert!(
        !listed.contains(&svc.id.0),
        "a retired service vanishes from list_services"
    );
    assert!(
        listed.contains(&bystander.id.0),
        "other services stay listed"
    );
    for i in [&i1, &i2] {
        assert_eq!(
            store
                .integration_by_key(&i.key)
                .await
                .expect("integration_by_key"),
            None,
            "integration_by_key must answer None once its service is retired"
        );
        assert_eq!(
            store.get_integration(i.id).await.expect("get_integration"),
            None,
            "a retired service's integrations vanish from get"
        );
    }
    match store.list_integrations(svc.id).await {
        Ok(list) => assert!(
            list.is_empty(),
            "a retired service lists no integrations, got {list:?}"
        ),
        Err(StoreError::NotFound(_)) => {}
        Err(e) => panic!("list_integrations of a retired service failed: {e}"),
    }
    assert!(
        !store
            .delete_service(svc.id, actor(), at(200))
            .await
            .expect("delete_service"),
        "deleting a retired service again answers false"
    );
    assert!(
        store
            .update_service(
                svc.id,
                ServicePatch {
                    team_id: None,
                    name: Some("x".into()),
                    ..Default::default()
                },
                actor(),
                at(200)
            )
            .await
            .expect("update_service")
            .is_none(),
        "updating a retired service answers None"
    );
    match store
        .create_integration(
            svc.id,
            new_integration(IntegrationKind::Generic),
            actor(),
            at(200),
        )
        .await
    {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("create_integration on a retired service must be NotFound, got {other:?}"),
    }
    let mut reuse = new_integration(IntegrationKind::Generic);
    reuse.key = i1.key.clone();
    match store.create_integration(bystander.id, reuse, actor(), at(300)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("keys of a retired service's integrations stay reserved: must be Conflict, got {other:?}"),
    }
    assert_eq!(
        store
            .integration_by_key(&other.key)
            .await
            .expect("integration_by_key"),
        Some(other),
        "other services' integrations are untouched"
    );
}

/// Configuration changes appear on the service timeline as `service.*` / `integration.*` events.
pub async fn case_service_config_timeline(store: &dyn Store) {
    let svc = service(store, &unique_name("config-tl")).await;
    let integ = integration_with(store, svc.id, new_integration(IntegrationKind::Pagerduty)).await;
    store
        .update_service(
            svc.id,
            ServicePatch {
                team_id: None,
                description: Some("changed".into()),
                ..Default::default()
            },
            actor(),
            at(100),
        )
        .await
        .expect("update_service")
        .expect("must answer Some for an existing row");
    store
        .update_integration(
            integ.id,
            IntegrationPatch {
                name: Some(unique_name("renamed")),
                ..Default::default()
            },
            actor(),
            at(200),
        )
        .await
        .expect("update_integration")
        .expect("must answer Some for an existing row");
    assert!(store
        .delete_integration(integ.id, actor(), at(300))
        .await
        .expect("delete_integration"));

    let events = service_timeline_all(store, svc.id).await;
    for (kind, t) in [
        (kinds::SERVICE_CREATED, at(0)),
        (kinds::INTEGRATION_CREATED, at(0)),
        (kinds::SERVICE_UPDATED, at(100)),
        (kinds::INTEGRATION_UPDATED, at(200)),
        (kinds::INTEGRATION_DELETED, at(300)),
    ] {
        let found = super::of_kind(&events, kind);
        assert_eq!(
            found.len(),
            1,
            "service timeline must hold exactly one {kind} event; got kinds {:?}",
            events.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
        let e = found[0];
        assert_eq!(e.at, t, "{kind}: at");
        assert_eq!(
            e.actor,
            actor(),
            "{kind}: actor is the one who made the change"
        );
    }
    for e in &events {
        assert_eq!(
            e.incident_id, None,
            "service timeline events have no incident ({})",
            e.kind
        );
        assert_eq!(
            e.service_id,
            Some(svc.id),
            "service timeline events name the service ({})",
            e.kind
        );
    }
}
