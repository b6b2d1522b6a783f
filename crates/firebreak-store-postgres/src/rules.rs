//! The decision tables that `fb_ingest` (PL/pgSQL) applies, computed here from firebreak-core so
//! the alert state machine (`firebreak_core::alert::transition`) and the severity mappings keep
//! one source of truth. The table is passed with every batch.

use firebreak_core::alert::{transition, AlertAction, AlertStatus, Transition};
use firebreak_core::severity::AlertSeverity;
use serde_json::{Map, Value};

pub(crate) fn action_name(action: AlertAction) -> &'static str {
    match action {
        AlertAction::Trigger => "trigger",
        AlertAction::Acknowledge => "acknowledge",
        AlertAction::Resolve => "resolve",
    }
}

fn transition_name(t: Transition) -> &'static str {
    match t {
        Transition::Open => "open",
        Transition::Repeat => "repeat",
        Transition::Acknowledge => "acknowledge",
        Transition::Resolve => "resolve",
        Transition::Ignore => "ignore",
    }
}

const ACTIONS: [AlertAction; 3] = [
    AlertAction::Trigger,
    AlertAction::Acknowledge,
    AlertAction::Resolve,
];
const OPEN_STATES: [Option<AlertStatus>; 4] = [
    None,
    Some(AlertStatus::Triggered),
    Some(AlertStatus::Acknowledged),
    Some(AlertStatus::Resolved),
];
/// `{"transitions": {"none:trigger": "open", ...}, "severity": {"critical": "SEV1", ...},
/// "urgency": {"critical": "high", ...}}`. Urgency is keyed by the *alert* severity: an
/// integration's `severity_override` changes the incident severity, never the urgency.
pub(crate) fn rules() -> Value {
    let mut transitions = Map::new();
    for open in OPEN_STATES {
        for action in ACTIONS {
            let key = format!(
                "{}:{}",
                open.map_or("none", AlertStatus::as_str),
                action_name(action)
            );
            transitions.insert(key, Value::from(transition_name(transition(open, action))));
        }
    }
    let severity: Map<String, Value> = AlertSeverity::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().to_string(),
                Value::from(s.default_incident_severity().as_str()),
            )
        })
        .collect();
    let urgency: Map<String, Value> = AlertSeverity::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), Value::from(s.urgency().as_str())))
        .collect();
    let mut rules = Map::new();
    rules.insert("transitions".into(), Value::Object(transitions));
    rules.insert("severity".into(), Value::Object(severity));
    rules.insert("urgency".into(), Value::Object(urgency));
    Value::Object(rules)
}

/// True when a trigger opens an alert for a key with no open alert and repeats an open one:
/// then a trigger whose key occurs once in a batch is independent of the batch's other events
/// and `fb_ingest` may apply it set-based.
pub(crate) fn triggers_open_or_repeat() -> bool {
    transition(None, AlertAction::Trigger) == Transition::Open
        && transition(Some(AlertStatus::Triggered), AlertAction::Trigger) == Transition::Repeat
        && transition(Some(AlertStatus::Acknowledged), AlertAction::Trigger) == Transition::Repeat
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_state_and_action() {
        let r = rules();
        assert_eq!(r["transitions"].as_object().map(|m| m.len()), Some(12));
        assert_eq!(r["transitions"]["none:trigger"], "open");
        assert_eq!(r["transitions"]["acknowledged:acknowledge"], "ignore");
        assert_eq!(r["severity"]["critical"], "SEV1");
        assert_eq!(r["urgency"]["critical"], "high");
        assert_eq!(r["urgency"]["error"], "high");
        assert_eq!(r["urgency"]["warning"], "low");
        assert_eq!(r["urgency"]["info"], "low");
    }
}
