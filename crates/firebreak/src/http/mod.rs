//! HTTP: merges the routers of the API, the ingest endpoints, health checks and metrics.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod body;
pub mod grants;
pub mod incidents;
pub mod ingest;
pub mod openapi;
pub mod people;
pub mod problem;
pub mod query;
pub mod services;
pub mod tokens;

use crate::app::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use problem::Problem;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(services::routes())
        .merge(alerts::routes())
        .merge(incidents::routes())
        .merge(people::routes())
        .merge(tokens::routes())
        .merge(grants::routes())
        .merge(audit::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(openapi::document))
        .nest("/api/v1", api)
        .merge(ingest::routes())
        .merge(crate::web::router(state.clone()))
        .fallback(not_found)
        .with_state(state)
}

pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let counts = state.store.open_counts().await.ok();
    let stats = state.store.commit_stats();
    let body = state
        .metrics
        .render(counts.map(|c| c.0), counts.map(|c| c.1), stats.as_deref());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no such route; the API is described at /api/v1/openapi.json",
    )
}
