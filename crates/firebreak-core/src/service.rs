//! Services (what breaks and who is paged for it) and integrations (the ways alerts come in).

use crate::ids::{IntegrationId, ServiceId, TeamId};
use crate::severity::IncidentSeverity;
use crate::timestamp::{DurationMs, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub description: String,
    /// An incident of this service resolves by itself once all its alerts have resolved.
    pub auto_resolve_incidents: bool,
    /// The owning team: its managers configure the service, its responders act on its incidents.
    /// `None`: owned by no team (admins configure it; every responder may act).
    pub team_id: Option<TeamId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewService {
    pub name: String,
    pub description: String,
    pub auto_resolve_incidents: bool,
    pub team_id: Option<TeamId>,
}

#[derive(Debug, Clone, Default)]
pub struct ServicePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub auto_resolve_incidents: Option<bool>,
    /// `Some(None)` removes the owning team.
    pub team_id: Option<Option<TeamId>>,
}

/// Checks a service or integration name: 1–200 characters, not blank.
pub fn validate_name(what: &str, name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!("'{what}' must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(format!("'{what}' is longer than 200 characters"));
    }
    Ok(())
}

/// Checks a free-text description: at most 10,000 characters.
pub fn validate_description(text: &str) -> Result<(), String> {
    if text.chars().count() > 10_000 {
        return Err("'description' is longer than 10000 characters".into());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    Pagerduty,
    Alertmanager,
    Generic,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 3] = [Self::Pagerduty, Self::Alertmanager, Self::Generic];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pagerduty => "pagerduty",
            Self::Alertmanager => "alertmanager",
            Self::Generic => "generic",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for IntegrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub id: IntegrationId,
    pub service_id: ServiceId,
    pub kind: IntegrationKind,
    pub name: String,
    /// The secret that senders present (PagerDuty routing key compatible: 32 characters).
    pub key: String,
    /// Incidents opened through this integration get this severity instead of the default mapping.
    pub severity_override: Option<IncidentSeverity>,
    /// Open alerts not seen for this long are resolved by the system.
    pub auto_resolve_after: Option<DurationMs>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub kind: IntegrationKind,
    pub name: String,
    pub key: String,
    pub severity_override: Option<IncidentSeverity>,
    pub auto_resolve_after: Option<DurationMs>,
}

#[derive(Debug, Clone, Default)]
pub struct IntegrationPatch {
    pub name: Option<String>,
    /// A new key (rotation); the old one stops working.
    pub key: Option<String>,
    pub severity_override: Option<Option<IncidentSeverity>>,
    pub auto_resolve_after: Option<Option<DurationMs>>,
}

pub const INTEGRATION_KEY_LEN: usize = 32;

/// An integration key is exactly 32 ASCII letters or digits.
pub fn validate_integration_key(key: &str) -> Result<(), String> {
    if key.len() != INTEGRATION_KEY_LEN || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "'key' must be exactly {INTEGRATION_KEY_LEN} ASCII letters or digits"
        ));
    }
    Ok(())
}
