//! PagerDuty Events API v2 (`POST /v2/enqueue`, `POST /v2/change/enqueue`): parses and validates
//! events as PagerDuty does and answers with PagerDuty's own error bodies.

use super::{
    kind, links, opt_text, text, Field, LinkRules, MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS,
};
use firebreak_core::{AlertAction, AlertEvent, AlertSeverity, ChangeEvent, Timestamp};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// Length of a routing key (an integration's secret key), in characters.
pub const ROUTING_KEY_CHARS: usize = 32;
/// Largest event body accepted (PagerDuty: 512 KB).
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// Key in `details` under which a trigger's `timestamp`, `client`, `client_url` and `images` are
/// kept (next to the `custom_details` entries).
pub const DETAILS_KEY: &str = "pagerduty";

const ROUTING_KEY_LENGTH: &str = "Length of 'routing_key' is incorrect (should be 32 characters)";
const ACTION_INVALID: &str = "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')";
const SEVERITY_INVALID: &str = "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')";
const TIMESTAMP_INVALID: &str = "'payload.timestamp' is invalid (must be an ISO 8601 date-time, e.g. 2015-07-17T08:42:58.315+0000)";

/// A parsed `POST /v2/enqueue` body.
#[derive(Debug, Clone, PartialEq)]
pub struct PdEnqueue {
    pub routing_key: String,
    /// `event.dedup_key` is `""` when a trigger came without one: the caller generates a key.
    pub event: AlertEvent,
}

/// A parsed `POST /v2/change/enqueue` body.
#[derive(Debug, Clone, PartialEq)]
pub struct PdChange {
    pub routing_key: String,
    pub change: ChangeEvent,
}

/// PagerDuty's 400 body: `{"status": …, "message": …, "errors": […]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PdError {
    pub status: &'static str,
    pub message: &'static str,
    pub errors: Vec<String>,
}

impl PdError {
    /// `{"status":"invalid event","message":"Event object is invalid","errors":[…]}`
    pub fn invalid(errors: Vec<String>) -> Self {
        PdError {
            status: "invalid event",
            message: "Event object is invalid",
            errors: super::cap_errors(errors),
        }
    }

    /// Malformed JSON, not an object, or not UTF-8.
    pub fn unrecognized() -> Self {
        PdError {
            status: "Unrecognized object",
            message: "Event object format is unrecognized",
            errors: vec!["JSON parse error".to_owned()],
        }
    }

    /// A well-formed `routing_key` that no `pagerduty` integration has.
    pub fn unknown_routing_key() -> Self {
        Self::invalid(vec![
            "Routing key is not valid: no integration has this 'routing_key'".to_owned(),
        ])
    }
}

impl fmt::Display for PdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.message, self.errors.join("; "))
    }
}

impl std::error::Error for PdError {}

/// Parses and validates an alert event (`trigger`, `acknowledge` or `resolve`).
///
/// All field errors are collected. For `acknowledge`/`resolve` the payload is ignored and the
/// event carries only the action and dedup key.
pub fn parse_enqueue(body: &[u8]) -> Result<PdEnqueue, PdError> {
    let obj = parse_body(body)?;
    let mut errors = Vec::new();
    let routing_key = routing_key(&obj, &mut errors);
    let action = event_action(&obj, &mut errors);
    let dedup_key = dedup_key(&obj, action, &mut errors);
    let event = match action {
        Some(AlertAction::Trigger) => trigger(&obj, dedup_key, &mut errors),
        Some(action) => AlertEvent::action_only(action, dedup_key),
        // event_action() recorded why.
        None => return Err(PdError::invalid(errors)),
    };
    if errors.is_empty() {
        Ok(PdEnqueue { routing_key, event })
    } else {
        Err(PdError::invalid(errors))
    }
}

/// Parses and validates a change event.
pub fn parse_change(body: &[u8]) -> Result<PdChange, PdError> {
    let obj = parse_body(body)?;
    let mut errors = Vec::new();
    let routing_key = routing_key(&obj, &mut errors);
    let mut change = ChangeEvent {
        summary: String::new(),
        source: String::new(),
        occurred_at: None,
        details: Value::Null,
        links: Vec::new(),
    };
    if let Some(payload) = payload(&obj, &mut errors) {
        change.summary = summary(payload, &mut errors);
        change.source = opt_text(payload, "payload.", "source", &mut errors)
            .unwrap_or_default()
            .to_owned();
        change.occurred_at = timestamp(payload, &mut errors);
        change.details = non_null(payload.get("custom_details"))
            .cloned()
            .unwrap_or(Value::Null);
    }
    change.links = links(obj.get("links"), &LINK_RULES, &mut errors);
    if errors.is_empty() {
        Ok(PdChange {
            routing_key,
            change,
        })
    } else {
        Err(PdError::invalid(errors))
    }
}

const LINK_RULES: LinkRules = LinkRules {
    missing,
    reject_unknown: false,
};

fn missing(name: &str) -> String {
    format!("'{name}' is missing or blank")
}

fn non_null(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, PdError> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(PdError::invalid(vec![format!(
            "Event object is too large (must be at most {} KB)",
            MAX_EVENT_BYTES / 1024
        )]));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => {
            for value in obj.values() {
                super::check_value(value).map_err(|e| PdError::invalid(vec![e]))?;
            }
            Ok(obj)
        }
        Ok(_) | Err(_) => Err(PdError::unrecognized()),
    }
}

/// A required string that must not be blank.
fn required<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<&'a str> {
    match text(obj, prefix, key, errors) {
        Field::Text(s) if !s.trim().is_empty() => Some(s),
        Field::Text(_) | Field::Absent => {
            errors.push(missing(&format!("{prefix}{key}")));
            None
        }
        Field::Wrong => None,
    }
}

fn routing_key(obj: &Map<String, Value>, errors: &mut Vec<String>) -> String {
    match required(obj, "", "routing_key", errors) {
        Some(key) => {
            if key.chars().count() != ROUTING_KEY_CHARS {
                errors.push(ROUTING_KEY_LENGTH.to_owned());
            }
            key.to_owned()
        }
        None => String::new(),
    }
}

fn event_action(obj: &Map<String, Value>, errors: &mut Vec<String>) -> Option<AlertAction> {
    match obj.get("event_action") {
        Some(Value::String(s)) => match s.as_str() {
            "trigger" => Some(AlertAction::Trigger),
            "acknowledge" => Some(AlertAction::Acknowledge),
            "resolve" => Some(AlertAction::Resolve),
            blank if blank.trim().is_empty() => {
                errors.push(missing("event_action"));
                None
            }
            _ => {
                errors.push(ACTION_INVALID.to_owned());
                None
            }
        },
        None | Some(Value::Null) => {
            errors.push(missing("event_action"));
            None
        }
        Some(_) => {
            errors.push(ACTION_INVALID.to_owned());
            None
        }
    }
}

/// The dedup key, `""` when absent or blank (required for acknowledge and resolve).
fn dedup_key(
    obj: &Map<String, Value>,
    action: Option<AlertAction>,
    errors: &mut Vec<String>,
) -> String {
    match text(obj, "", "dedup_key", errors) {
        Field::Text(key) if !key.trim().is_empty() => {
            let n = key.chars().count();
            if n > MAX_DEDUP_KEY_CHARS {
                errors.push(format!(
                    "'dedup_key' is too long ({n} characters; must be at most {MAX_DEDUP_KEY_CHARS})"
                ));
            }
            key.to_owned()
        }
        Field::Text(_) | Field::Absent => {
            if matches!(
                action,
                Some(AlertAction::Acknowledge | AlertAction::Resolve)
            ) {
                errors.push(missing("dedup_key"));
            }
            String::new()
        }
        Field::Wrong => String::new(),
    }
}

fn payload<'a>(
    obj: &'a Map<String, Value>,
    errors: &mut Vec<String>,
) -> Option<&'a Map<String, Value>> {
    match obj.get("payload") {
        Some(Value::Object(payload)) => Some(payload),
        None | Some(Value::Null) => {
            errors.push(missing("payload"));
            None
        }
        Some(other) => {
            errors.push(format!("'payload' must be an object, not {}", kind(other)));
            None
        }
    }
}

fn summary(payload: &Map<String, Value>, errors: &mut Vec<String>) -> String {
    match required(payload, "payload.", "summary", errors) {
        Some(summary) => {
            let n = summary.chars().count();
            if n > MAX_SUMMARY_CHARS {
                errors.push(format!(
                    "'payload.summary' is too long ({n} characters; must be at most {MAX_SUMMARY_CHARS})"
                ));
            }
            summary.to_owned()
        }
        None => String::new(),
    }
}

fn severity(payload: &Map<String, Value>, errors: &mut Vec<String>) -> Option<AlertSeverity> {
    match payload.get("severity") {
        None | Some(Value::Null) => {
            errors.push(missing("payload.severity"));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.push(missing("payload.severity"));
            None
        }
        Some(Value::String(s)) => {
            let severity = AlertSeverity::parse(s);
            if severity.is_none() {
                errors.push(SEVERITY_INVALID.to_owned());
            }
            severity
        }
        Some(_) => {
            errors.push(SEVERITY_INVALID.to_owned());
            None
        }
    }
}

fn timestamp(payload: &Map<String, Value>, errors: &mut Vec<String>) -> Option<Timestamp> {
    match opt_text(payload, "payload.", "timestamp", errors) {
        Some(s) if !s.trim().is_empty() => match Timestamp::parse(s) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(TIMESTAMP_INVALID.to_owned());
                None
            }
        },
        _ => None,
    }
}

/// The content of a trigger: summary, source, severity, labels (`component`, `group`, `class`),
/// details (`custom_details` plus [`DETAILS_KEY`]) and links.
fn trigger(obj: &Map<String, Value>, dedup_key: String, errors: &mut Vec<String>) -> AlertEvent {
    let mut event = AlertEvent::action_only(AlertAction::Trigger, dedup_key);
    let mut custom = None;
    let mut extras = Map::new();
    if let Some(payload) = payload(obj, errors) {
        event.summary = summary(payload, errors);
        event.source = required(payload, "payload.", "source", errors)
            .unwrap_or_default()
            .to_owned();
        // On error the event is discarded, so the fallback is never seen.
        event.severity = severity(payload, errors).unwrap_or(AlertSeverity::Error);
        if let Some(t) = timestamp(payload, errors) {
            extras.insert("timestamp".to_owned(), Value::String(t.to_rfc3339()));
        }
        for key in ["component", "group", "class"] {
            if let Some(value) = opt_text(payload, "payload.", key, errors) {
                if !value.is_empty() {
                    event.labels.insert(key.to_owned(), value.to_owned());
                }
            }
        }
        custom = non_null(payload.get("custom_details")).cloned();
    }
    for key in ["client", "client_url"] {
        if let Some(value) = opt_text(obj, "", key, errors) {
            if !value.is_empty() {
                extras.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        }
    }
    if let Some(images) = non_null(obj.get("images")) {
        if valid_images(images) {
            extras.insert("images".to_owned(), images.clone());
        } else {
            errors.push("'images' must be an array of objects with a string 'src' (and optional string 'href', 'alt')".to_owned());
        }
    }
    event.links = links(obj.get("links"), &LINK_RULES, errors);
    event.details = details(custom, extras);
    event
}

/// PagerDuty's `images[]`: `{src, href?, alt?}`, all strings.
fn valid_images(images: &Value) -> bool {
    let Value::Array(items) = images else {
        return false;
    };
    items.iter().all(|item| {
        let Value::Object(o) = item else { return false };
        matches!(o.get("src"), Some(Value::String(_)))
            && o.iter()
                .all(|(k, v)| matches!(k.as_str(), "src" | "href" | "alt") && v.is_string())
    })
}

/// `null` when there is nothing; otherwise an object: the `custom_details` entries (a
/// non-object `custom_details` is kept under `"custom_details"`) plus `extras` under
/// [`DETAILS_KEY`], which wins over a custom detail of the same name.
fn details(custom: Option<Value>, extras: Map<String, Value>) -> Value {
    if custom.is_none() && extras.is_empty() {
        return Value::Null;
    }
    let mut out = match custom {
        Some(Value::Object(map)) => map,
        Some(other) => {
            let mut map = Map::new();
            map.insert("custom_details".to_owned(), other);
            map
        }
        None => Map::new(),
    };
    if !extras.is_empty() {
        out.insert(DETAILS_KEY.to_owned(), Value::Object(extras));
    }
    Value::Object(out)
}

#[cfg(test)]
mod limits_tests {
    use super::*;

    const KEY: &str = "e93facc04764012d7bfb002500d5d1a6";

    #[test]
    fn images_must_have_the_documented_shape() {
        let nested = format!(
            r#"{{"routing_key":"{KEY}","event_action":"trigger","payload":{{"summary":"s","source":"x","severity":"info"}},"images":{}{}}}"#,
            "[".repeat(20),
            "]".repeat(20)
        );
        assert!(parse_enqueue(nested.as_bytes()).is_err());
        let ok = format!(
            r#"{{"routing_key":"{KEY}","event_action":"trigger","payload":{{"summary":"s","source":"x","severity":"info"}},"images":[{{"src":"https://x/a.png","alt":"graph"}}]}}"#
        );
        assert!(parse_enqueue(ok.as_bytes()).is_ok());
    }

    #[test]
    fn nul_characters_and_deep_nesting_are_invalid_events() {
        let nul = format!(
            r#"{{"routing_key":"{KEY}","event_action":"trigger","payload":{{"summary":"a\u0000b","source":"x","severity":"info"}}}}"#
        );
        let e = parse_enqueue(nul.as_bytes()).unwrap_err();
        assert_eq!(e.status, "invalid event");
        let deep = format!(
            r#"{{"routing_key":"{KEY}","event_action":"trigger","payload":{{"summary":"s","source":"x","severity":"info","custom_details":{}{}}}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert_eq!(
            parse_enqueue(deep.as_bytes()).unwrap_err().status,
            "invalid event"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{arb_json, mutate, set_path};
    use firebreak_core::Link;
    use proptest::prelude::*;
    use serde_json::json;

    const KEY: &str = "e93facc04764012d7bfb002500d5d1a6";

    const SPEC_TRIGGER: &str = r#"{
  "routing_key": "e93facc04764012d7bfb002500d5d1a6",
  "event_action": "trigger",
  "dedup_key": "checkout-api/eu-west-1/HighErrorRate",
  "payload": {
    "summary": "[FIRING:2] HighErrorRate eu-west-1 (checkout-api critical payments)",
    "source": "prometheus.eu-west-1.example.com",
    "severity": "critical",
    "timestamp": "2026-08-21T09:14:03.512+0000",
    "component": "checkout-api",
    "group": "payments",
    "class": "HighErrorRate",
    "custom_details": {"firing_instances": ["10.0.3.17:8080", "10.0.3.18:8080"], "error_ratio": 0.071}
  },
  "client": "Prometheus Alertmanager",
  "links": [{"href": "https://grafana.example.com/d/checkout", "text": "Checkout dashboard"}]
}"#;

    fn valid_trigger() -> Value {
        serde_json::from_str(SPEC_TRIGGER).unwrap()
    }

    fn errors_of(body: &Value) -> Vec<String> {
        match parse_enqueue(body.to_string().as_bytes()) {
            Err(e) => {
                assert_eq!(e.status, "invalid event");
                assert_eq!(e.message, "Event object is invalid");
                e.errors
            }
            Ok(ok) => panic!("expected an error, got {ok:?}"),
        }
    }

    #[test]
    fn accepts_the_spec_trigger() {
        let parsed = parse_enqueue(SPEC_TRIGGER.as_bytes()).unwrap();
        assert_eq!(parsed.routing_key, KEY);
        let e = parsed.event;
        assert_eq!(e.action, AlertAction::Trigger);
        assert_eq!(e.dedup_key, "checkout-api/eu-west-1/HighErrorRate");
        assert_eq!(
            e.summary,
            "[FIRING:2] HighErrorRate eu-west-1 (checkout-api critical payments)"
        );
        assert_eq!(e.source, "prometheus.eu-west-1.example.com");
        assert_eq!(e.severity, AlertSeverity::Critical);
        assert_eq!(e.labels.get("component").unwrap(), "checkout-api");
        assert_eq!(e.labels.get("group").unwrap(), "payments");
        assert_eq!(e.labels.get("class").unwrap(), "HighErrorRate");
        assert_eq!(e.labels.len(), 3);
        assert_eq!(
            e.details,
            json!({
                "firing_instances": ["10.0.3.17:8080", "10.0.3.18:8080"],
                "error_ratio": 0.071,
                "pagerduty": {
                    "timestamp": "2026-08-21T09:14:03.512Z",
                    "client": "Prometheus Alertmanager"
                }
            })
        );
        assert_eq!(
            e.links,
            vec![Link {
                href: "https://grafana.example.com/d/checkout".into(),
                text: Some("Checkout dashboard".into())
            }]
        );
        assert_eq!(e.group_key, None);
    }

    #[test]
    fn accepts_the_spec_resolve_without_payload() {
        let body = r#"{"routing_key":"e93facc04764012d7bfb002500d5d1a6","event_action":"resolve","dedup_key":"checkout-api/eu-west-1/HighErrorRate"}"#;
        let parsed = parse_enqueue(body.as_bytes()).unwrap();
        assert_eq!(
            parsed.event,
            AlertEvent::action_only(
                AlertAction::Resolve,
                "checkout-api/eu-west-1/HighErrorRate".into()
            )
        );
        let ack = body.replace("resolve", "acknowledge");
        let parsed = parse_enqueue(ack.as_bytes()).unwrap();
        assert_eq!(parsed.event.action, AlertAction::Acknowledge);
    }

    #[test]
    fn accepts_what_alertmanager_sends() {
        let body = json!({
            "routing_key": KEY,
            "dedup_key": "6f1e1c5d0b5f6c8f3b2f0e0c1a6d2e9b4c3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e",
            "event_action": "trigger",
            "payload": {
                "summary": "[FIRING:1] HighErrorRate",
                "source": "Alertmanager",
                "severity": "error",
                "custom_details": {"firing": "…", "resolved": "", "num_firing": "1", "num_resolved": "0"}
            },
            "client": "Alertmanager",
            "client_url": "http://alertmanager.example.com:9093/#/alerts?receiver=pd",
            "images": [],
            "links": []
        });
        let e = parse_enqueue(body.to_string().as_bytes()).unwrap().event;
        assert_eq!(e.severity, AlertSeverity::Error);
        assert_eq!(e.details["num_firing"], "1");
        assert_eq!(e.details["pagerduty"]["client"], "Alertmanager");
        assert_eq!(e.details["pagerduty"]["images"], json!([]));
        assert!(e.details["pagerduty"]["client_url"]
            .as_str()
            .unwrap()
            .starts_with("http://alertmanager"));
        assert!(e.links.is_empty());
        assert!(e.labels.is_empty());
    }

    #[test]
    fn trigger_without_dedup_key_leaves_it_empty() {
        let mut body = valid_trigger();
        body.as_object_mut().unwrap().remove("dedup_key");
        assert_eq!(
            parse_enqueue(body.to_string().as_bytes())
                .unwrap()
                .event
                .dedup_key,
            ""
        );
        body["dedup_key"] = json!("  ");
        assert_eq!(
            parse_enqueue(body.to_string().as_bytes())
                .unwrap()
                .event
                .dedup_key,
            ""
        );
    }

    #[test]
    fn minimal_trigger_has_null_details() {
        let body = json!({"routing_key": KEY, "event_action": "trigger",
            "payload": {"summary": "s", "source": "h", "severity": "info"}});
        let e = parse_enqueue(body.to_string().as_bytes()).unwrap().event;
        assert_eq!(e.details, Value::Null);
        assert_eq!(e.severity, AlertSeverity::Info);
    }

    #[test]
    fn non_object_custom_details_are_kept() {
        let mut body = valid_trigger();
        body["payload"]["custom_details"] = json!("disk full");
        let e = parse_enqueue(body.to_string().as_bytes()).unwrap().event;
        assert_eq!(e.details["custom_details"], "disk full");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut body = valid_trigger();
        body["whatever"] = json!({"a": [1, 2]});
        body["payload"]["extra"] = json!(true);
        body["links"][0]["rel"] = json!("x");
        assert!(parse_enqueue(body.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn routing_key_must_be_32_characters() {
        let mut body = valid_trigger();
        body["routing_key"] = json!("short");
        assert_eq!(
            errors_of(&body),
            vec!["Length of 'routing_key' is incorrect (should be 32 characters)"]
        );
        body["routing_key"] = json!("x".repeat(100_000));
        assert_eq!(
            errors_of(&body),
            vec!["Length of 'routing_key' is incorrect (should be 32 characters)"]
        );
        body["routing_key"] = json!("");
        assert_eq!(errors_of(&body), vec!["'routing_key' is missing or blank"]);
        body.as_object_mut().unwrap().remove("routing_key");
        assert_eq!(errors_of(&body), vec!["'routing_key' is missing or blank"]);
        body["routing_key"] = json!(12);
        assert_eq!(
            errors_of(&body),
            vec!["'routing_key' must be a string, not a number"]
        );
    }

    #[test]
    fn event_action_must_be_known() {
        let mut body = valid_trigger();
        for bad in [
            json!("Trigger"),
            json!("fire"),
            json!(1),
            json!(["trigger"]),
        ] {
            body["event_action"] = bad;
            assert_eq!(
                errors_of(&body),
                vec!["'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')"]
            );
        }
        body.as_object_mut().unwrap().remove("event_action");
        assert_eq!(errors_of(&body), vec!["'event_action' is missing or blank"]);
    }

    #[test]
    fn severity_is_case_sensitive() {
        let mut body = valid_trigger();
        for bad in [
            json!("Critical"),
            json!("CRITICAL"),
            json!("fatal"),
            json!(3),
        ] {
            body["payload"]["severity"] = bad;
            assert_eq!(
                errors_of(&body),
                vec!["'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')"]
            );
        }
        for (text, severity) in [
            ("critical", AlertSeverity::Critical),
            ("error", AlertSeverity::Error),
            ("warning", AlertSeverity::Warning),
            ("info", AlertSeverity::Info),
        ] {
            body["payload"]["severity"] = json!(text);
            let e = parse_enqueue(body.to_string().as_bytes()).unwrap().event;
            assert_eq!(e.severity, severity);
        }
    }

    #[test]
    fn trigger_requires_summary_source_severity_and_collects_all_errors() {
        let body = json!({"routing_key": "bad", "event_action": "trigger", "payload": {}});
        assert_eq!(
            errors_of(&body),
            vec![
                "Length of 'routing_key' is incorrect (should be 32 characters)",
                "'payload.summary' is missing or blank",
                "'payload.source' is missing or blank",
                "'payload.severity' is missing or blank",
            ]
        );
        let body = json!({"routing_key": KEY, "event_action": "trigger"});
        assert_eq!(errors_of(&body), vec!["'payload' is missing or blank"]);
        let body = json!({"routing_key": KEY, "event_action": "trigger", "payload": "x"});
        assert_eq!(
            errors_of(&body),
            vec!["'payload' must be an object, not a string"]
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut body = valid_trigger();
        body["payload"]["summary"] = json!(42);
        body["payload"]["source"] = json!(["a"]);
        body["payload"]["component"] = json!({"x": 1});
        body["client"] = json!(false);
        body["dedup_key"] = json!(7);
        assert_eq!(
            errors_of(&body),
            vec![
                "'dedup_key' must be a string, not a number",
                "'payload.summary' must be a string, not a number",
                "'payload.source' must be a string, not an array",
                "'payload.component' must be a string, not an object",
                "'client' must be a string, not a boolean",
            ]
        );
    }

    #[test]
    fn summary_and_dedup_key_limits() {
        let mut body = valid_trigger();
        body["payload"]["summary"] = json!("é".repeat(1024));
        body["dedup_key"] = json!("k".repeat(255));
        assert!(parse_enqueue(body.to_string().as_bytes()).is_ok());
        body["payload"]["summary"] = json!("é".repeat(1025));
        body["dedup_key"] = json!("k".repeat(256));
        assert_eq!(
            errors_of(&body),
            vec![
                "'dedup_key' is too long (256 characters; must be at most 255)",
                "'payload.summary' is too long (1025 characters; must be at most 1024)",
            ]
        );
    }

    #[test]
    fn acknowledge_and_resolve_require_dedup_key() {
        for action in ["acknowledge", "resolve"] {
            let body = json!({"routing_key": KEY, "event_action": action});
            assert_eq!(errors_of(&body), vec!["'dedup_key' is missing or blank"]);
            let body = json!({"routing_key": KEY, "event_action": action, "dedup_key": ""});
            assert_eq!(errors_of(&body), vec!["'dedup_key' is missing or blank"]);
        }
    }

    #[test]
    fn timestamps() {
        let mut body = valid_trigger();
        body["payload"]["timestamp"] = json!("2015-07-17T08:42:58.315+0000");
        let e = parse_enqueue(body.to_string().as_bytes()).unwrap().event;
        assert_eq!(
            e.details["pagerduty"]["timestamp"],
            "2015-07-17T08:42:58.315Z"
        );
        body["payload"]["timestamp"] = json!("yesterday");
        assert_eq!(
            errors_of(&body),
            vec!["'payload.timestamp' is invalid (must be an ISO 8601 date-time, e.g. 2015-07-17T08:42:58.315+0000)"]
        );
        body["payload"]["timestamp"] = json!(1_700_000_000);
        assert_eq!(
            errors_of(&body),
            vec!["'payload.timestamp' must be a string, not a number"]
        );
    }

    #[test]
    fn links_need_href() {
        let mut body = valid_trigger();
        body["links"] = json!([{"text": "no href"}, "x", {"href": "https://a", "text": ""}]);
        assert_eq!(
            errors_of(&body),
            vec![
                "'links[0].href' is missing or blank",
                "'links[1]' must be an object, not a string",
            ]
        );
        body["links"] = json!([{"href": "https://a"}]);
        let e = parse_enqueue(body.to_string().as_bytes()).unwrap().event;
        assert_eq!(
            e.links,
            vec![Link {
                href: "https://a".into(),
                text: None
            }]
        );
        body["links"] = json!({"href": "https://a"});
        assert_eq!(
            errors_of(&body),
            vec!["'links' must be an array, not an object"]
        );
    }

    #[test]
    fn malformed_bodies_are_unrecognized() {
        let unrecognized = PdError::unrecognized();
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"\"trigger\"",
            b"null",
            b"{\"routing_key\": \"\xff\xfe\"}",
            b"\xef\xbb\xbf{}",
        ] {
            assert_eq!(parse_enqueue(body), Err(unrecognized.clone()));
            assert_eq!(parse_change(body), Err(unrecognized.clone()));
        }
        let truncated = &SPEC_TRIGGER.as_bytes()[..SPEC_TRIGGER.len() / 2];
        assert_eq!(parse_enqueue(truncated), Err(unrecognized));
        assert_eq!(
            serde_json::to_value(PdError::unrecognized()).unwrap(),
            json!({"status":"Unrecognized object","message":"Event object format is unrecognized","errors":["JSON parse error"]})
        );
    }

    #[test]
    fn oversized_bodies_are_rejected() {
        let mut body = valid_trigger();
        body["payload"]["custom_details"] = json!({"blob": "x".repeat(MAX_EVENT_BYTES)});
        let err = parse_enqueue(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            err.errors,
            vec!["Event object is too large (must be at most 512 KB)"]
        );
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            serde_json::to_value(PdError::invalid(vec!["x".into()])).unwrap(),
            json!({"status":"invalid event","message":"Event object is invalid","errors":["x"]})
        );
        let unknown = PdError::unknown_routing_key();
        assert_eq!(unknown.status, "invalid event");
        assert_eq!(unknown.errors.len(), 1);
        assert!(unknown.errors[0].contains("routing_key"));
        assert!(unknown.to_string().starts_with("Event object is invalid: "));
    }

    #[test]
    fn change_events() {
        let body = json!({
            "routing_key": KEY,
            "payload": {
                "summary": "Deployed checkout-api v2.3.1",
                "source": "ci",
                "timestamp": "2026-08-21T09:00:00+0000",
                "custom_details": {"commit": "abc123"}
            },
            "links": [{"href": "https://ci.example.com/builds/1", "text": "Build"}],
            "unknown": 1
        });
        let parsed = parse_change(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.routing_key, KEY);
        let c = parsed.change;
        assert_eq!(c.summary, "Deployed checkout-api v2.3.1");
        assert_eq!(c.source, "ci");
        assert_eq!(
            c.occurred_at.unwrap().to_rfc3339(),
            "2026-08-21T09:00:00.000Z"
        );
        assert_eq!(c.details, json!({"commit": "abc123"}));
        assert_eq!(c.links.len(), 1);

        let minimal = json!({"routing_key": KEY, "payload": {"summary": "s"}});
        let c = parse_change(minimal.to_string().as_bytes()).unwrap().change;
        assert_eq!(
            (c.source.as_str(), c.occurred_at, c.details),
            ("", None, Value::Null)
        );

        let bad = json!({"routing_key": "k", "payload": {"summary": "x".repeat(1025), "timestamp": "no"}});
        let err = parse_change(bad.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            err.errors,
            vec![
                "Length of 'routing_key' is incorrect (should be 32 characters)",
                "'payload.summary' is too long (1025 characters; must be at most 1024)",
                "'payload.timestamp' is invalid (must be an ISO 8601 date-time, e.g. 2015-07-17T08:42:58.315+0000)",
            ]
        );
        let no_payload = json!({"routing_key": KEY});
        assert_eq!(
            parse_change(no_payload.to_string().as_bytes())
                .unwrap_err()
                .errors,
            vec!["'payload' is missing or blank"]
        );
        let blank = json!({"routing_key": KEY, "payload": {"summary": " "}});
        assert_eq!(
            parse_change(blank.to_string().as_bytes())
                .unwrap_err()
                .errors,
            vec!["'payload.summary' is missing or blank"]
        );
    }

    const FIELDS: &[&[&str]] = &[
        &["routing_key"],
        &["event_action"],
        &["dedup_key"],
        &["payload"],
        &["payload", "summary"],
        &["payload", "source"],
        &["payload", "severity"],
        &["payload", "timestamp"],
        &["payload", "component"],
        &["payload", "custom_details"],
        &["client"],
        &["client_url"],
        &["images"],
        &["links"],
        &["links", "0"],
    ];

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_enqueue(&bytes);
            let _ = parse_change(&bytes);
        }

        #[test]
        fn mutated_bytes_never_panic(op in any::<u8>(), at in any::<usize>(), byte in any::<u8>()) {
            let _ = parse_enqueue(&mutate(SPEC_TRIGGER.as_bytes(), op, at, byte));
            let _ = parse_change(&mutate(SPEC_TRIGGER.as_bytes(), op, at, byte));
        }

        #[test]
        fn mutated_fields_never_panic(field in proptest::sample::select(FIELDS), value in arb_json()) {
            let mut body = valid_trigger();
            set_path(&mut body, field, value);
            let bytes = body.to_string().into_bytes();
            if let Err(e) = parse_enqueue(&bytes) {
                prop_assert!(!e.errors.is_empty());
            }
            let _ = parse_change(&bytes);
        }

        #[test]
        fn unknown_fields_never_matter(name in "x_[a-z]{1,8}", value in arb_json()) {
            let mut body = valid_trigger();
            set_path(&mut body, &[name.as_str()], value.clone());
            set_path(&mut body, &["payload", name.as_str()], value);
            prop_assert!(parse_enqueue(body.to_string().as_bytes()).is_ok());
        }

        #[test]
        fn valid_triggers_round_trip(summary in "\\PC{1,200}", source in "[a-z0-9.]{1,40}", dedup in "[ -~]{1,255}") {
            prop_assume!(!summary.trim().is_empty() && !dedup.trim().is_empty());
            let body = json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": dedup,
                "payload": {"summary": summary, "source": source, "severity": "warning"}});
            let e = parse_enqueue(body.to_string().as_bytes()).unwrap().event;
            prop_assert_eq!(e.summary, summary);
            prop_assert_eq!(e.source, source);
            prop_assert_eq!(e.dedup_key, dedup);
        }
    }
}
