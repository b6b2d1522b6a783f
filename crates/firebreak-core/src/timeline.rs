//! The append-only timeline: every state change is an event with kind, actor, time and payload.

use crate::ids::{AlertId, IncidentId, ServiceId, TimelineEventId};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// Stable event kinds. Clients and postmortems key on these strings.
pub mod kinds {
    pub const INCIDENT_OPENED: &str = "incident.opened";
    pub const INCIDENT_DECLARED: &str = "incident.declared";
    pub const INCIDENT_ACKNOWLEDGED: &str = "incident.acknowledged";
    pub const INCIDENT_RESOLVED: &str = "incident.resolved";
    pub const ALERT_TRIGGERED: &str = "alert.triggered";
    pub const ALERT_ACKNOWLEDGED: &str = "alert.acknowledged";
    pub const ALERT_RESOLVED: &str = "alert.resolved";
    pub const CHANGE_RECORDED: &str = "change.recorded";
    pub const SERVICE_CREATED: &str = "service.created";
    pub const SERVICE_UPDATED: &str = "service.updated";
    pub const SERVICE_DELETED: &str = "service.deleted";
    pub const INTEGRATION_CREATED: &str = "integration.created";
    pub const INTEGRATION_UPDATED: &str = "integration.updated";
    pub const INTEGRATION_DELETED: &str = "integration.deleted";
    pub const TOKEN_CREATED: &str = "token.created";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    User,
    Token,
    Integration,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Token => "token",
            Self::Integration => "integration",
            Self::System => "system",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "token" => Some(Self::Token),
            "integration" => Some(Self::Integration),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
    pub name: String,
}

impl Actor {
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: "firebreak".into(),
        }
    }
    pub fn integration(id: crate::ids::IntegrationId, name: &str) -> Self {
        Actor {
            kind: ActorKind::Integration,
            id: Some(id.to_string()),
            name: name.into(),
        }
    }
    pub fn token(id: crate::ids::TokenId, name: &str) -> Self {
        Actor {
            kind: ActorKind::Token,
            id: Some(id.to_string()),
            name: name.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Internal,
    Public,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub id: TimelineEventId,
    pub incident_id: Option<IncidentId>,
    pub service_id: Option<ServiceId>,
    pub alert_id: Option<AlertId>,
    pub kind: String,
    pub actor: Actor,
    pub at: Timestamp,
    pub payload: serde_json::Value,
    pub visibility: Visibility,
    pub pinned: bool,
}
