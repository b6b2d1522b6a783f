//! API authentication: bearer tokens (stored as SHA-256), the bootstrap admin token on an empty
//! store, secret generation, and the middleware that puts the `Caller` on each API request.

use crate::app::AppState;
use crate::http::problem::Problem;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use firebreak_core::timeline::Actor;
use firebreak_core::token::{ApiToken, NewApiToken};
use firebreak_core::{Clock, Store, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::RwLock;

/// How long a verified token is trusted before it is looked up again (revocation delay).
const TOKEN_CACHE_MS: i64 = 10_000;
/// Shortest bootstrap token accepted from `FIREBREAK_BOOTSTRAP_TOKEN`.
pub const MIN_TOKEN_LEN: usize = 16;

pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `n` random bytes as lowercase hex (2n characters).
pub fn random_hex(n: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(hex(&buf))
}

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: ApiToken,
    pub actor: Actor,
}

#[derive(Default)]
pub struct TokenCache(RwLock<HashMap<String, (ApiToken, Timestamp)>>);

async fn verify(state: &AppState, presented: &str) -> Result<ApiToken, Problem> {
    let hash = hash_token(presented);
    let now = state.clock.now();
    let cached = state.tokens.0.read().ok().and_then(|c| {
        c.get(&hash)
            .filter(|(_, at)| now.as_millis() - at.as_millis() < TOKEN_CACHE_MS)
            .map(|(t, _)| t.clone())
    });
    let token = match cached {
        Some(t) => t,
        None => {
            let found = state
                .store
                .token_by_hash(&hash)
                .await
                .map_err(Problem::from)?;
            let Some(t) = found else {
                return Err(Problem::unauthorized("the bearer token is not valid"));
            };
            if let Ok(mut c) = state.tokens.0.write() {
                if c.len() > 10_000 {
                    c.clear();
                }
                c.insert(hash, (t.clone(), now));
            }
            t
        }
    };
    if token.expires_at.is_some_and(|exp| exp <= now) {
        return Err(Problem::unauthorized("the bearer token has expired"));
    }
    Ok(token)
}

/// Middleware for `/api/v1`: 401 without a valid `Authorization: Bearer <token>`.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .map(str::to_string);
    let Some(presented) = presented else {
        return Problem::unauthorized("missing credentials: send 'Authorization: Bearer <token>'")
            .into_response();
    };
    match verify(&state, &presented).await {
        Ok(token) => {
            let actor = Actor::token(token.id, &token.name);
            req.extensions_mut().insert(Caller { token, actor });
            next.run(req).await
        }
        Err(p) => p.into_response(),
    }
}

/// On a store without tokens, creates the admin token: `preset` (from
/// `FIREBREAK_BOOTSTRAP_TOKEN`) or a new random one. Returns the token text when one was
/// created, `None` when the store already had tokens.
pub async fn bootstrap(
    store: &dyn Store,
    clock: &dyn Clock,
    preset: Option<String>,
) -> anyhow::Result<Option<String>> {
    if store.count_tokens().await? > 0 {
        return Ok(None);
    }
    let token = match preset {
        Some(t) if t.trim().len() >= MIN_TOKEN_LEN => t.trim().to_string(),
        Some(_) => {
            anyhow::bail!("FIREBREAK_BOOTSTRAP_TOKEN must be at least {MIN_TOKEN_LEN} characters")
        }
        None => format!("fb_{}", random_hex(24)?),
    };
    store
        .create_token(
            NewApiToken {
                name: "bootstrap-admin".into(),
                token_hash: hash_token(&token),
                role: "admin".into(),
                expires_at: None,
            },
            clock.now(),
        )
        .await?;
    Ok(Some(token))
}
