//! The audit log: an append-only, hash-chained record of every change made through the API and
//! every denied access — who, what, which object, when, from where, before and after.

use crate::ids::AuditId;
use crate::store::PageRequest;
use crate::timeline::Actor;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// A change that was made.
    Done,
    /// An access that was refused (403).
    Denied,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Done => "done",
            AuditOutcome::Denied => "denied",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "done" => Some(AuditOutcome::Done),
            "denied" => Some(AuditOutcome::Denied),
            _ => None,
        }
    }
}

/// What is recorded, before the store gives it an id, time order and hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    pub actor: Actor,
    /// e.g. `service.create`, `grant.revoke`, `access.denied`.
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<String>,
    pub outcome: AuditOutcome,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// For denials: the route and the reason. For changes: what was asked.
    pub detail: serde_json::Value,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: AuditId,
    #[serde(flatten)]
    pub entry: NewAuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry: SHA-256 over the previous hash and the entry's canonical JSON.
pub fn entry_hash(prev_hash: &str, entry: &NewAuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_string(entry).unwrap_or_default().as_bytes());
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The first entry (in id order) whose link is broken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub id: AuditId,
    pub reason: String,
}

/// Checks entries in id order, continuing from `prev_hash` (the genesis hash for the first page).
/// Returns the hash of the last entry, to continue with the next page.
pub fn verify_chain(prev_hash: &str, entries: &[AuditEntry]) -> Result<String, BrokenLink> {
    let mut prev = prev_hash.to_string();
    for e in entries {
        if e.prev_hash != prev {
            return Err(BrokenLink { id: e.id, reason: "its prev_hash does not match the entry before it (an entry was removed or reordered)".into() });
        }
        if entry_hash(&prev, &e.entry) != e.hash {
            return Err(BrokenLink {
                id: e.id,
                reason: "its content does not match its hash (the entry was altered)".into(),
            });
        }
        prev = e.hash.clone();
    }
    Ok(prev)
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Actor id (a user id, or a token id for service tokens).
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub object_kind: Option<String>,
    pub object_id: Option<String>,
    pub outcome: Option<AuditOutcome>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub page: PageRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> NewAuditEntry {
        NewAuditEntry {
            at: Timestamp::from_millis(n),
            actor: Actor::system(),
            action: "service.create".into(),
            object_kind: "service".into(),
            object_id: Some(n.to_string()),
            outcome: AuditOutcome::Done,
            ip: Some("127.0.0.1".into()),
            user_agent: None,
            detail: serde_json::Value::Null,
            before: serde_json::Value::Null,
            after: serde_json::json!({"name": "x"}),
        }
    }

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|i| {
                let e = entry(i);
                let hash = entry_hash(&prev, &e);
                let out = AuditEntry {
                    id: AuditId(i),
                    entry: e,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                out
            })
            .collect()
    }

    #[test]
    fn detects_alteration_removal_and_reordering() {
        let good = chain(5);
        assert!(verify_chain(GENESIS_HASH, &good).is_ok());
        let mut altered = good.clone();
        altered[2].entry.after = serde_json::json!({"name": "y"});
        assert_eq!(
            verify_chain(GENESIS_HASH, &altered).unwrap_err().id,
            AuditId(3)
        );
        let mut removed = good.clone();
        removed.remove(1);
        assert_eq!(
            verify_chain(GENESIS_HASH, &removed).unwrap_err().id,
            AuditId(3)
        );
        let mut swapped = good.clone();
        swapped.swap(3, 4);
        assert_eq!(
            verify_chain(GENESIS_HASH, &swapped).unwrap_err().id,
            AuditId(5)
        );
        // Pages continue from the last hash.
        let mid = verify_chain(GENESIS_HASH, &good[..2]).unwrap();
        assert!(verify_chain(&mid, &good[2..]).is_ok());
    }
}
