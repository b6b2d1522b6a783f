//! Alert severity, incident severity (SEV1–SEV4) and urgency, and how they map onto each other.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum AlertSeverity {
    Critical,
    Error,
    Warning,
    Info,
}

impl AlertSeverity {
    pub const ALL: [AlertSeverity; 4] = [Self::Critical, Self::Error, Self::Warning, Self::Info];

    /// Case-sensitive, as PagerDuty's `payload.severity`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "critical" => Some(Self::Critical),
            "error" => Some(Self::Error),
            "warning" => Some(Self::Warning),
            "info" => Some(Self::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    /// critical→SEV1, error→SEV2, warning→SEV3, info→SEV4.
    pub fn default_incident_severity(self) -> IncidentSeverity {
        match self {
            Self::Critical => IncidentSeverity::Sev1,
            Self::Error => IncidentSeverity::Sev2,
            Self::Warning => IncidentSeverity::Sev3,
            Self::Info => IncidentSeverity::Sev4,
        }
    }

    /// High for critical and error, low otherwise.
    pub fn urgency(self) -> Urgency {
        match self {
            Self::Critical | Self::Error => Urgency::High,
            Self::Warning | Self::Info => Urgency::Low,
        }
    }
}

impl fmt::Display for AlertSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum IncidentSeverity {
    #[serde(rename = "SEV1")]
    Sev1,
    #[serde(rename = "SEV2")]
    Sev2,
    #[serde(rename = "SEV3")]
    Sev3,
    #[serde(rename = "SEV4")]
    Sev4,
}

impl IncidentSeverity {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "SEV1" => Some(Self::Sev1),
            "SEV2" => Some(Self::Sev2),
            "SEV3" => Some(Self::Sev3),
            "SEV4" => Some(Self::Sev4),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sev1 => "SEV1",
            Self::Sev2 => "SEV2",
            Self::Sev3 => "SEV3",
            Self::Sev4 => "SEV4",
        }
    }

    pub fn urgency(self) -> Urgency {
        match self {
            Self::Sev1 | Self::Sev2 => Urgency::High,
            Self::Sev3 | Self::Sev4 => Urgency::Low,
        }
    }
}

impl fmt::Display for IncidentSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    High,
    Low,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Low => "low",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "high" => Some(Self::High),
            "low" => Some(Self::Low),
            _ => None,
        }
    }
}
