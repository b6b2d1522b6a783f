//! API authentication: bearer tokens (stored as SHA-256), the bootstrap admin token on an empty
//! store, secret generation, and the middleware that puts the `Caller` on each API request.

use crate::app::AppState;
use crate::http::problem::Problem;
use axum::http::header::AUTHORIZATION;
use firebreak_core::access::{
    decide, NewUser, Permission, Role, Subject, Target, TokenScope, User,
};
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
    pub user: Option<User>,
    pub subject: Subject,
}

impl Caller {
    /// The access decision for this caller (the same function the route middleware uses).
    pub fn may(&self, permission: Permission, target: &Target) -> bool {
        decide(&self.subject, permission, target).is_allowed()
    }
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

/// The bearer token of a request, if it carries one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .map(str::to_string)
}

/// Who is calling: the token, the user behind it (personal tokens), and the access subject
/// (role, teams, live grants, token scopes). 401 for missing, invalid, expired or revoked
/// credentials and disabled users.
pub async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, Problem> {
    let Some(presented) = bearer(headers) else {
        return Err(Problem::unauthorized(
            "missing credentials: send 'Authorization: Bearer <token>'",
        ));
    };
    authenticate_token(state, &presented).await
}

/// The caller behind a token's text (a bearer token, or a console session cookie).
pub async fn authenticate_token(state: &AppState, presented: &str) -> Result<Caller, Problem> {
    let token = verify(state, presented).await?;
    let now = state.clock.now();
    let (user, subject) = match token.user_id {
        Some(uid) => {
            let user = state
                .store
                .get_user(uid)
                .await?
                .ok_or_else(|| Problem::unauthorized("the token's user no longer exists"))?;
            if user.disabled {
                return Err(Problem::unauthorized("the token's user is disabled"));
            }
            let grants = if user.external {
                state.store.live_grants(uid, now).await?
            } else {
                Vec::new()
            };
            let subject = Subject {
                user_id: Some(uid),
                role: user.role,
                external: user.external,
                team_ids: user.team_ids.clone(),
                grants,
                scopes: token.scopes.clone(),
            };
            (Some(user), subject)
        }
        None => {
            // A service token: its own role, no teams (team-scoped rights only on team-less
            // services unless admin).
            let role = Role::parse(&token.role).unwrap_or(Role::Observer);
            let subject = Subject {
                user_id: None,
                role,
                external: false,
                team_ids: Vec::new(),
                grants: Vec::new(),
                scopes: token.scopes.clone(),
            };
            (None, subject)
        }
    };
    let actor = match &user {
        Some(u) => Actor {
            kind: firebreak_core::ActorKind::User,
            id: Some(u.id.to_string()),
            name: u.name.clone(),
        },
        None => Actor::token(token.id, &token.name),
    };
    Ok(Caller {
        token,
        actor,
        user,
        subject,
    })
}

/// Forget cached tokens (after a revocation on this node).
pub fn forget_tokens(state: &AppState) {
    if let Ok(mut c) = state.tokens.0.write() {
        c.clear();
    }
}

/// On a store without tokens, creates the admin token: `preset` (from
/// `FIREBREAK_BOOTSTRAP_TOKEN`) or a new random one. Returns the token text when one was
/// created, `None` when the store already had tokens.
pub async fn bootstrap(
    store: &dyn Store,
    clock: &dyn Clock,
    preset: Option<String>,
    password: Option<String>,
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
    let now = clock.now();
    let email =
        std::env::var("FIREBREAK_BOOTSTRAP_EMAIL").unwrap_or_else(|_| "admin@localhost".into());
    let admin = match store.user_by_email(&email).await? {
        Some((user, _)) => user,
        None => {
            store
                .create_user(
                    NewUser {
                        email,
                        name: "Administrator".into(),
                        role: Role::Admin,
                        external: false,
                        time_zone: "UTC".into(),
                        password_hash: password
                            .as_deref()
                            .map(hash_password)
                            .transpose()
                            .map_err(|e| anyhow::anyhow!("FIREBREAK_BOOTSTRAP_PASSWORD: {e}"))?,
                        team_ids: Vec::new(),
                    },
                    now,
                )
                .await?
        }
    };
    store
        .create_token(
            NewApiToken {
                name: "bootstrap-admin".into(),
                token_hash: hash_token(&token),
                user_id: Some(admin.id),
                role: Role::Admin.as_str().into(),
                scopes: TokenScope::ALL.to_vec(),
                expires_at: None,
                mfa_at: None,
            },
            now,
        )
        .await?;
    Ok(Some(token))
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Argon2id PHC string of a password; the error says what is wrong with the password.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness available: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

/// Whether `password` matches an Argon2 PHC string.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}
