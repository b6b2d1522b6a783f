//! The running server: shared state, store opening, bootstrap token, listeners, workers, and
//! graceful shutdown. `firebreak serve` and the black-box tests both start it through `start`.

use crate::config::{Config, DatabaseUrl};
use crate::metrics::Metrics;
use crate::{auth, http, workers};
use anyhow::Context;
use firebreak_core::service::Integration;
use firebreak_core::{Clock, Store, Timestamp};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a looked-up integration is trusted before it is read from the store again.
const INTEGRATION_CACHE_MS: i64 = 5_000;

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
    integrations: RwLock<HashMap<String, (Integration, Timestamp)>>,
    pub tokens: auth::TokenCache,
    /// PagerDuty-compatible 429s on `/v2/enqueue`, when configured.
    pub pd_rate_limit: Option<crate::ratelimit::RateLimiter>,
    /// Console sign-in attempts per (IP, email) and minute.
    pub signin_limit: crate::ratelimit::RateLimiter,
    /// API tokens created per caller and minute.
    pub token_limit: crate::ratelimit::RateLimiter,
    /// Roles that must use a second factor in the console.
    pub mfa_required_roles: Vec<firebreak_core::access::Role>,
    /// How recent the second factor must be for sensitive console actions.
    pub mfa_step_up_window: firebreak_core::DurationMs,
}

/// Everything a request handler or worker needs.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: &Config) -> Self {
        AppState(Arc::new(Inner {
            store,
            clock,
            metrics: Metrics::default(),
            max_body_bytes: config.max_body_bytes,
            integrations: RwLock::new(HashMap::new()),
            tokens: auth::TokenCache::default(),
            signin_limit: crate::ratelimit::RateLimiter::per_minute(10),
            token_limit: crate::ratelimit::RateLimiter::per_minute(30),
            mfa_required_roles: config.mfa_required_roles.clone(),
            mfa_step_up_window: config.mfa_step_up_window,
            pd_rate_limit: config
                .pagerduty_rate_limit_per_minute
                .map(crate::ratelimit::RateLimiter::per_minute),
        }))
    }

    /// The live integration with this key, through a short-lived cache (ingest's hot path).
    pub async fn integration_for_key(
        &self,
        key: &str,
    ) -> Result<Option<Integration>, firebreak_core::StoreError> {
        let now = self.clock.now();
        if let Ok(cache) = self.integrations.read() {
            if let Some((integration, fetched)) = cache.get(key) {
                if now.as_millis() - fetched.as_millis() < INTEGRATION_CACHE_MS {
                    return Ok(Some(integration.clone()));
                }
            }
        }
        let found = self.store.integration_by_key(key).await?;
        if let Ok(mut cache) = self.integrations.write() {
            match &found {
                Some(i) => {
                    if cache.len() > 100_000 {
                        cache.clear();
                    }
                    cache.insert(key.to_string(), (i.clone(), now));
                }
                None => {
                    cache.remove(key);
                }
            }
        }
        Ok(found)
    }

    /// Forget cached integrations after a configuration change on this node.
    pub fn invalidate_integrations(&self) {
        if let Ok(mut cache) = self.integrations.write() {
            cache.clear();
        }
    }
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match &config.database {
        DatabaseUrl::Sqlite(path) => Arc::new(
            firebreak_store_sqlite::SqliteStore::open_with_capacity(
                path,
                config.sqlite_queue_capacity,
            )
            .with_context(|| format!("cannot open SQLite database {}", path.display()))?,
        ),
        DatabaseUrl::Postgres(url) => Arc::new(
            firebreak_store_postgres::PostgresStore::connect(url, config.postgres_pool_size)
                .await
                .context("cannot connect to PostgreSQL")?,
        ),
    };
    Ok(store)
}

/// A started server: its bound addresses, its state, and the handle to stop it.
pub struct Server {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, stops workers.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Resolves when the server has stopped (after `stop` from elsewhere, or a signal).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }

    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Binds the listeners and starts serving. The store must be migrated.
pub async fn start(
    config: &Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Server> {
    let state = AppState::new(store, clock, config);
    let (shutdown, rx) = watch::channel(false);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let mut tasks = Vec::new();
    let router = http::router(state.clone());
    let mut stop = rx.clone();
    tasks.push(tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    }));
    let metrics_addr = match config.metrics_listen {
        Some(maddr) => {
            let listener = TcpListener::bind(maddr).await.with_context(|| {
                format!(
                    "cannot listen on {maddr} for metrics (use --metrics-listen off to disable)"
                )
            })?;
            let bound = listener.local_addr()?;
            let router = http::metrics_router(state.clone());
            let mut stop = rx.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            }));
            Some(bound)
        }
        None => None,
    };
    if config.workers {
        tasks.push(tokio::spawn(workers::run(state.clone(), rx.clone())));
    }
    Ok(Server {
        addr,
        metrics_addr,
        state,
        shutdown,
        tasks,
    })
}
