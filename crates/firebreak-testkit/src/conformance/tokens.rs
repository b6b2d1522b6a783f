//! API tokens and the open counters.

use super::get_incident;
use crate::builders::{
    ack, actor, am_resolve, am_trigger, at, ingest, ingest_one, integration, resolve, service,
    trigger, unique_name, unique_token_hash,
};
use firebreak_core::{
    AlertSeverity, IncidentSeverity, IncidentStatus, IntegrationKind, NewApiToken, NewIncident,
    Store,
};

/// create_token, token_by_hash, count_tokens; a hash identifies one token.
pub async fn case_tokens(store: &dyn Store) {
    let before = store.count_tokens().await.expect("count_tokens");
    let hash = unique_token_hash();
    let name = unique_name("ci-token");
    let token = store
        .create_token(
            NewApiToken {
                user_id: None,
                scopes: firebreak_core::access::TokenScope::ALL.to_vec(),
                name: name.clone(),
                token_hash: hash.clone(),
                role: "admin".into(),
                expires_at: Some(at(86_400_000)),
                mfa_at: None,
            },
            at(1_000),
        )
        .await
        .expect("create_token");
    assert_eq!(token.name, name);
    assert_eq!(token.role, "admin");
    assert_eq!(token.created_at, at(1_000));
    assert_eq!(token.expires_at, Some(at(86_400_000)));
    assert_eq!(
        store
            .token_by_hash(&hash)
            .await
            .expect("token_by_hash")
            .as_ref(),
        Some(&token),
        "token_by_hash finds the token"
    );
    assert_eq!(
        store
            .token_by_hash(&unique_token_hash())
            .await
            .expect("token_by_hash"),
        None,
        "an unknown hash answers None"
    );
    assert_eq!(
        store.count_tokens().await.expect("count_tokens"),
        before + 1
    );

    let hash2 = unique_token_hash();
    let token2 = store
        .create_token(
            NewApiToken {
                user_id: None,
                scopes: firebreak_core::access::TokenScope::ALL.to_vec(),
                name: unique_name("reader"),
                token_hash: hash2.clone(),
                role: "viewer".into(),
                expires_at: None,
                mfa_at: None,
            },
            at(2_000),
        )
        .await
        .expect("create_token");
    assert_ne!(token2.id, token.id);
    assert_eq!(token2.expires_at, None);
    assert_eq!(
        store.token_by_hash(&hash2).await.expect("token_by_hash"),
        Some(token2)
    );
    assert_eq!(
        store.token_by_hash(&hash).await.expect("token_by_hash"),
        Some(token),
        "the first token is unchanged"
    );
    assert_eq!(
        store.count_tokens().await.expect("count_tokens"),
        before + 2
    );

    let dup = store
        .create_token(
            NewApiToken {
                user_id: None,
                scopes: firebreak_core::access::TokenScope::ALL.to_vec(),
                name: unique_name("dup"),
                token_hash: hash.clone(),
                role: "admin".into(),
                expires_at: None,
                mfa_at: None,
            },
            at(3_000),
        )
        .await;
    assert!(
        dup.is_err(),
        "a second token with the same hash must be refused, got {dup:?}"
    );
    assert_eq!(
        store.count_tokens().await.expect("count_tokens"),
        before + 2,
        "a refused token is not counted"
    );
}

/// open_counts = (open alerts, open incidents) follows every transition.
pub async fn case_open_counts(store: &dyn Store) {
    let (a0, i0) = store.open_counts().await.expect("open_counts");
    let svc = service(store, &unique_name("open-counts")).await;
    let am = integration(store, svc.id, IntegrationKind::Alertmanager).await;
    let pd = integration(store, svc.id, IntegrationKind::Pagerduty).await;
    let g = unique_name("g");
    let (f1, f2, k3) = (unique_name("fp"), unique_name("fp"), unique_name("k"));
    let out = ingest(
        store,
        &am,
        vec![
            am_trigger(&f1, &g, "one", AlertSeverity::Error),
            am_trigger(&f2, &g, "two", AlertSeverity::Error),
        ],
        at(1_000),
    )
    .await;
    let grouped = out[0]
        .incident_id
        .expect("the outcome must name its incident");
    let single = ingest_one(
        store,
        &pd,
        trigger(&k3, "three", AlertSeverity::Error),
        at(1_000),
    )
    .await
    .incident_id
    .expect("the outcome must name its incident");
    let counts = |a: i64, i: i64| (a0 + a, i0 + i);

    assert_eq!(
        store.open_counts().await.expect("open_counts"),
        counts(3, 2),
        "3 alerts in 2 incidents"
    );
    ingest_one(store, &pd, ack(&k3), at(2_000)).await;
    assert_eq!(
        store.open_counts().await.expect("open_counts"),
        counts(3, 2),
        "acknowledged alerts and incidents are still open"
    );
    ingest_one(store, &am, am_resolve(&f1, &g), at(3_000)).await;
    assert_eq!(
        store.open_counts().await.expect("open_counts"),
        counts(2, 2),
        "one alert resolved, its incident still has another"
    );
    let declared = store
        .declare_incident(
            NewIncident {
                title: "by hand".into(),
                severity: IncidentSeverity::Sev3,
                urgency: None,
                service_ids: vec![svc.id],
            },
            actor(),
            at(4_000),
        )
        .await
        .expect("declare_incident");
    assert_eq!(
        store.open_counts().await.expect("open_counts"),
        counts(2, 3),
        "a declared incident is open"
    );
    store
        .resolve_incident(declared.id, actor(), at(5_000))
        .await
        .expect("resolve_incident");
    assert_eq!(
        store.open_counts().await.expect("open_counts"),
        counts(2, 2)
    );
    ingest_one(store, &pd, resolve(&k3), at(6_000)).await;
    assert_eq!(
        get_incident(store, single).await.status,
        IncidentStatus::Resolved
    );
    assert_eq!(
        store.open_counts().await.expect("open_counts"),
        counts(1, 1),
        "alert and its incident resolved"
    );
    store
        .resolve_incident(grouped, actor(), at(7_000))
        .await
        .expect("resolve_incident");
    assert_eq!(
        store.open_counts().await.expect("open_counts"),
        (a0, i0),
        "everything this case opened is resolved"
    );
}
