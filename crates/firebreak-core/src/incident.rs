//! Incidents: what people respond to. Opened from alerts or declared by hand; status follows
//! `triggered → acknowledged → resolved`, with the phase timestamps set from timeline events.

use crate::ids::{IncidentId, ServiceId};
use crate::severity::{IncidentSeverity, Urgency};
use crate::store::PageRequest;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "triggered" => Some(Self::Triggered),
            "acknowledged" => Some(Self::Acknowledged),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    /// Human number, shown as `#42`.
    pub number: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub severity: IncidentSeverity,
    pub urgency: Urgency,
    pub service_ids: Vec<ServiceId>,
    /// How many alerts are attached, and how many of them are still open.
    pub alert_count: i64,
    pub open_alert_count: i64,
    pub detected_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An incident declared by a person.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub severity: IncidentSeverity,
    pub urgency: Option<Urgency>,
    pub service_ids: Vec<ServiceId>,
}

pub fn validate_title(title: &str) -> Result<(), String> {
    if title.trim().is_empty() {
        return Err("'title' must not be empty".into());
    }
    if title.chars().count() > 1024 {
        return Err("'title' is longer than 1024 characters".into());
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Empty means every status.
    pub statuses: Vec<IncidentStatus>,
    pub service_id: Option<ServiceId>,
    pub severity: Option<IncidentSeverity>,
    /// `detected_at >= since`
    pub since: Option<Timestamp>,
    /// `detected_at < until`
    pub until: Option<Timestamp>,
    /// Only incidents of these services, or these incidents (external users); `None`: all.
    pub visible: Option<crate::access::Visibility>,
    pub page: PageRequest,
}
