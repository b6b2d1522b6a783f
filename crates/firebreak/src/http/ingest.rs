//! Ingest endpoints: PagerDuty Events v2 (`/v2/enqueue`, `/v2/change/enqueue`), Alertmanager
//! webhook (`/ingest/alertmanager/{key}`) and generic JSON (`/ingest/generic/{key}`). Each reads
//! the body under the size limit, parses it with the pure parser of its format, and answers 2xx
//! only after the store committed the events.

use super::body::{read_limited, BodyError};
use super::problem::Problem;
use crate::app::AppState;
use crate::auth::random_hex;
use crate::ingest::{alertmanager, generic, pagerduty, IngestError};
use crate::metrics::Outcome;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use firebreak_core::service::Integration;
use firebreak_core::store::{IngestOutcome, IngestRequest};
use firebreak_core::{AlertEvent, IntegrationKind, StoreError};
use serde_json::json;
use std::time::Instant;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/enqueue", post(pd_enqueue))
        .route("/v2/change/enqueue", post(pd_change))
        .route("/ingest/alertmanager/{key}", post(alertmanager_webhook))
        .route("/ingest/generic/{key}", post(generic_event))
}

/// A dedup key for a trigger that came without one.
fn new_dedup_key() -> String {
    random_hex(16).unwrap_or_else(|_| format!("fb-{}", std::process::id()))
}

async fn store_events(
    s: &AppState,
    integration: Integration,
    events: Vec<AlertEvent>,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let kind = integration.kind;
    let n = events.len() as u64;
    let req = IngestRequest {
        integration,
        events,
        received_at: s.clock.now(),
    };
    match s.store.ingest(req).await {
        Ok(outcomes) => {
            for o in &outcomes {
                s.metrics.count(kind, Outcome::Stored(o.effect), 1);
            }
            Ok(outcomes)
        }
        Err(e) => {
            s.metrics.count(kind, Outcome::Unavailable, n);
            Err(e)
        }
    }
}

// ---------- PagerDuty ----------

fn pd_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn pd_error(status: StatusCode, e: &pagerduty::PdError) -> Response {
    pd_response(status, json!(e))
}

/// A store error in PagerDuty's shape. Only back-pressure and an unreachable store are 5xx
/// (senders retry those); anything caused by the event itself is a 400 they will not retry.
/// Internal error text never reaches the sender.
fn pd_store_error(e: &StoreError) -> Response {
    let (status, retry, body) = match e {
        StoreError::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(1),
            json!({"status": "unavailable", "message": "Event was not stored; retry later", "errors": ["firebreak is at capacity"]}),
        ),
        StoreError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "store unavailable during PagerDuty ingest");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some(5),
                json!({"status": "unavailable", "message": "Event was not stored; retry later", "errors": ["the store is unavailable"]}),
            )
        }
        StoreError::Invalid(detail) | StoreError::Conflict(detail) => (
            StatusCode::BAD_REQUEST,
            None,
            json!(pagerduty::PdError::invalid(vec![detail.clone()])),
        ),
        StoreError::NotFound(_) => (
            StatusCode::BAD_REQUEST,
            None,
            json!(pagerduty::PdError::unknown_routing_key()),
        ),
        StoreError::Internal(detail) => {
            tracing::error!(error = %detail, "store error during PagerDuty ingest");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                json!({"status": "error", "message": "Internal error; see the firebreak log", "errors": []}),
            )
        }
    };
    let mut resp = pd_response(status, body);
    if let Some(secs) = retry {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn pd_too_large(limit: usize) -> Response {
    pd_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"status": "invalid event", "message": "Event object is too large", "errors": [format!("Request body exceeds {limit} bytes")]}),
    )
}

async fn pd_body(s: &AppState, body: Body) -> Result<bytes::Bytes, Response> {
    match read_limited(body, s.max_body_bytes).await {
        Ok(b) => Ok(b),
        Err(BodyError::TooLarge) => {
            s.metrics
                .count(IntegrationKind::Pagerduty, Outcome::Rejected, 1);
            Err(pd_too_large(s.max_body_bytes))
        }
        Err(BodyError::Unreadable) => Err(pd_error(
            StatusCode::BAD_REQUEST,
            &pagerduty::PdError::unrecognized(),
        )),
    }
}

async fn pd_integration(s: &AppState, routing_key: &str) -> Result<Integration, Response> {
    match s.integration_for_key(routing_key).await {
        Ok(Some(i)) if i.kind == IntegrationKind::Pagerduty => Ok(i),
        Ok(_) => {
            s.metrics
                .count(IntegrationKind::Pagerduty, Outcome::Rejected, 1);
            Err(pd_error(
                StatusCode::BAD_REQUEST,
                &pagerduty::PdError::unknown_routing_key(),
            ))
        }
        Err(e) => Err(pd_store_error(&e)),
    }
}

async fn pd_enqueue(State(s): State<AppState>, body: Body) -> Response {
    let started = Instant::now();
    let resp = pd_enqueue_inner(&s, body).await;
    s.metrics
        .observe_ingest(IntegrationKind::Pagerduty, started.elapsed());
    resp
}

async fn pd_enqueue_inner(s: &AppState, body: Body) -> Response {
    let bytes = match pd_body(s, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let parsed = match pagerduty::parse_enqueue(&bytes) {
        Ok(p) => p,
        Err(e) => {
            s.metrics
                .count(IntegrationKind::Pagerduty, Outcome::Rejected, 1);
            return pd_error(StatusCode::BAD_REQUEST, &e);
        }
    };
    let integration = match pd_integration(s, &parsed.routing_key).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if let Some(limiter) = &s.pd_rate_limit {
        if let Err(retry) = limiter.check(&integration.key, s.clock.now()) {
            s.metrics
                .count(IntegrationKind::Pagerduty, Outcome::Rejected, 1);
            let mut resp = pd_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"status": "throttled", "message": "Requests for this routing key are arriving too quickly; retry later",
                       "errors": ["Rate limit exceeded for this routing_key"]}),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry));
            return resp;
        }
    }
    let mut event = parsed.event;
    if event.dedup_key.is_empty() {
        event.dedup_key = new_dedup_key();
    }
    let dedup_key = event.dedup_key.clone();
    match store_events(s, integration, vec![event]).await {
        Ok(_) => pd_response(
            StatusCode::ACCEPTED,
            json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
        ),
        Err(e) => pd_store_error(&e),
    }
}

async fn pd_change(State(s): State<AppState>, body: Body) -> Response {
    let bytes = match pd_body(&s, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let parsed = match pagerduty::parse_change(&bytes) {
        Ok(p) => p,
        Err(e) => return pd_error(StatusCode::BAD_REQUEST, &e),
    };
    let integration = match pd_integration(&s, &parsed.routing_key).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    match s
        .store
        .record_change(&integration, parsed.change, s.clock.now())
        .await
    {
        Ok(_) => pd_response(
            StatusCode::ACCEPTED,
            json!({"status": "success", "message": "Change event processed"}),
        ),
        Err(e) => pd_store_error(&e),
    }
}

// ---------- our own formats: Alertmanager and generic ----------

async fn keyed_body(
    s: &AppState,
    key: &str,
    kind: IntegrationKind,
    body: Body,
) -> Result<(Integration, bytes::Bytes), Problem> {
    let bytes = match read_limited(body, s.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            s.metrics.count(kind, Outcome::Rejected, 1);
            return Err(Problem::too_large(s.max_body_bytes));
        }
        Err(BodyError::Unreadable) => {
            return Err(Problem::bad_request("request body could not be read"))
        }
    };
    match s.integration_for_key(key).await? {
        Some(i) if i.kind == kind => Ok((i, bytes)),
        Some(i) => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("integration key belongs to a '{}' integration; send this format to its endpoint or create a '{kind}' integration", i.kind),
        )),
        None => Err(Problem::new(StatusCode::NOT_FOUND, format!("no {kind} integration has this key; create one with POST /api/v1/services/{{id}}/integrations"))),
    }
}

fn rejected(s: &AppState, kind: IntegrationKind, e: IngestError) -> Problem {
    s.metrics.count(kind, Outcome::Rejected, 1);
    Problem::bad_request(e.to_string())
}

async fn alertmanager_webhook(
    State(s): State<AppState>,
    Path(key): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let started = Instant::now();
    let result = async {
        let (integration, bytes) =
            keyed_body(&s, &key, IntegrationKind::Alertmanager, body).await?;
        let events = alertmanager::parse(&bytes)
            .map_err(|e| rejected(&s, IntegrationKind::Alertmanager, e))?;
        let n = events.len();
        let outcomes = store_events(&s, integration, events).await?;
        let opened = outcomes
            .iter()
            .filter(|o| o.effect == firebreak_core::IngestEffect::Opened)
            .count();
        Ok::<_, Problem>(
            Json(json!({"status": "success", "alerts": n, "opened": opened})).into_response(),
        )
    }
    .await;
    s.metrics
        .observe_ingest(IntegrationKind::Alertmanager, started.elapsed());
    result
}

async fn generic_event(
    State(s): State<AppState>,
    Path(key): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let started = Instant::now();
    let result = async {
        let (integration, bytes) = keyed_body(&s, &key, IntegrationKind::Generic, body).await?;
        let mut event = generic::parse(&bytes).map_err(|e| rejected(&s, IntegrationKind::Generic, e))?;
        if event.dedup_key.is_empty() {
            event.dedup_key = new_dedup_key();
        }
        let outcomes = store_events(&s, integration, vec![event]).await?;
        let o = outcomes.into_iter().next().ok_or_else(|| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "no ingest outcome"))?;
        Ok::<_, Problem>(
            (
                StatusCode::ACCEPTED,
                Json(json!({"dedup_key": o.dedup_key, "effect": o.effect, "alert_id": o.alert_id, "incident_id": o.incident_id})),
            )
                .into_response(),
        )
    }
    .await;
    s.metrics
        .observe_ingest(IntegrationKind::Generic, started.elapsed());
    result
}
