//! API tokens: bearer credentials for people and automation, stored as SHA-256 hashes.

use crate::access::TokenScope;
use crate::ids::{TokenId, UserId};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    /// A personal token acts as its user (with the user's role); a service token (no user) has
    /// this role.
    pub user_id: Option<UserId>,
    pub role: String,
    pub scopes: Vec<TokenScope>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// When the person behind a console session last gave their second factor (step-up).
    pub mfa_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub name: String,
    /// Lowercase hex SHA-256 of the token text.
    pub token_hash: String,
    pub user_id: Option<UserId>,
    pub role: String,
    pub scopes: Vec<TokenScope>,
    pub expires_at: Option<Timestamp>,
    /// For a console session opened with the second factor: when it was given.
    pub mfa_at: Option<Timestamp>,
}
