//! API tokens: bearer credentials for people and automation, stored as SHA-256 hashes.

use crate::ids::TokenId;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    pub role: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub name: String,
    /// Lowercase hex SHA-256 of the token text.
    pub token_hash: String,
    pub role: String,
    pub expires_at: Option<Timestamp>,
}
