//! Alerts: one signal with a dedup key, its lifecycle `triggered → acknowledged → resolved`, and
//! the events that senders deliver about it.

use crate::ids::{AlertId, IncidentId, IntegrationId, ServiceId};
use crate::severity::AlertSeverity;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
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
    pub fn is_open(self) -> bool {
        self != Self::Resolved
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    pub service_id: ServiceId,
    pub integration_id: IntegrationId,
    pub incident_id: Option<IncidentId>,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub severity: AlertSeverity,
    pub summary: String,
    pub source: String,
    pub labels: BTreeMap<String, String>,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
    /// Sender's grouping identity (Alertmanager `groupKey`), if any.
    pub group_key: Option<String>,
    pub count: i64,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertAction {
    Trigger,
    Acknowledge,
    Resolve,
}

/// One event about an alert as a sender delivered it, already parsed from its wire format.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub action: AlertAction,
    pub dedup_key: String,
    pub summary: String,
    pub severity: AlertSeverity,
    pub source: String,
    pub labels: BTreeMap<String, String>,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
    /// Events with the same group key on one integration share an incident.
    pub group_key: Option<String>,
}

impl AlertEvent {
    /// An acknowledge or resolve for a dedup key, with no other content.
    pub fn action_only(action: AlertAction, dedup_key: String) -> Self {
        AlertEvent {
            action,
            dedup_key,
            summary: String::new(),
            severity: AlertSeverity::Info,
            source: String::new(),
            labels: BTreeMap::new(),
            details: serde_json::Value::Null,
            links: Vec::new(),
            group_key: None,
        }
    }
}

/// "Something changed" (a deploy, a config push): shown on timelines, pages nobody.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub summary: String,
    pub source: String,
    pub occurred_at: Option<Timestamp>,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
}

/// What an event does to the open alert with its dedup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// No open alert: a new alert opens.
    Open,
    /// Trigger for an open alert: count, last-seen and content are refreshed.
    Repeat,
    Acknowledge,
    Resolve,
    /// Nothing to do (acknowledge/resolve of an unknown key, or a repeated acknowledge).
    Ignore,
}

/// The alert state machine: `open` is the status of the open alert for the key, if any.
pub fn transition(open: Option<AlertStatus>, action: AlertAction) -> Transition {
    match (open, action) {
        (None | Some(AlertStatus::Resolved), AlertAction::Trigger) => Transition::Open,
        (None | Some(AlertStatus::Resolved), _) => Transition::Ignore,
        (Some(_), AlertAction::Trigger) => Transition::Repeat,
        (Some(AlertStatus::Triggered), AlertAction::Acknowledge) => Transition::Acknowledge,
        (Some(AlertStatus::Acknowledged), AlertAction::Acknowledge) => Transition::Ignore,
        (Some(_), AlertAction::Resolve) => Transition::Resolve,
    }
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Empty means every status.
    pub statuses: Vec<AlertStatus>,
    pub service_id: Option<ServiceId>,
    pub incident_id: Option<IncidentId>,
    pub severity: Option<AlertSeverity>,
    /// `first_seen_at >= since`
    pub since: Option<Timestamp>,
    /// `first_seen_at < until`
    pub until: Option<Timestamp>,
    /// Only alerts of these services or incidents (external users); `None`: all.
    pub visible: Option<crate::access::Visibility>,
    pub page: crate::store::PageRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine() {
        use AlertAction::*;
        use AlertStatus::*;
        assert_eq!(transition(None, Trigger), Transition::Open);
        assert_eq!(transition(None, Resolve), Transition::Ignore);
        assert_eq!(transition(None, Acknowledge), Transition::Ignore);
        assert_eq!(transition(Some(Triggered), Trigger), Transition::Repeat);
        assert_eq!(transition(Some(Acknowledged), Trigger), Transition::Repeat);
        assert_eq!(
            transition(Some(Triggered), Acknowledge),
            Transition::Acknowledge
        );
        assert_eq!(
            transition(Some(Acknowledged), Acknowledge),
            Transition::Ignore
        );
        assert_eq!(transition(Some(Acknowledged), Resolve), Transition::Resolve);
        assert_eq!(transition(Some(Resolved), Trigger), Transition::Open);
    }
}
