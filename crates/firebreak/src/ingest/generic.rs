//! firebreak's generic JSON alert format (`POST /ingest/generic/{integration_key}`): our own API,
//! so unknown fields are rejected.
//!
//! ```json
//! {"summary": "Disk full on db-1", "severity": "critical", "dedup_key": "db-1/disk",
//!  "source": "db-1", "action": "trigger", "labels": {"team": "storage"},
//!  "details": {"free_bytes": 0}, "links": [{"href": "https://…", "text": "Dashboard"}]}
//! ```

use super::{
    echo, kind, links, parse_object, string_map, text, Field, IngestError, LinkRules,
    MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS,
};
use firebreak_core::{AlertAction, AlertEvent, AlertSeverity};
use serde_json::Value;

/// `source` when the body has none.
pub const DEFAULT_SOURCE: &str = "generic";

/// The fields of the format, in documentation order.
pub const FIELDS: [&str; 8] = [
    "summary",
    "severity",
    "dedup_key",
    "source",
    "action",
    "labels",
    "details",
    "links",
];

const LINK_RULES: LinkRules = LinkRules {
    missing: required,
    reject_unknown: true,
};

fn required(name: &str) -> String {
    format!("'{name}' is required")
}

/// Parses and validates one event. `dedup_key` is `""` when a trigger came without one (the
/// caller generates a key). `null` counts as absent for every optional field.
pub fn parse(body: &[u8]) -> Result<AlertEvent, IngestError> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();

    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(format!(
                "unknown field '{}' (allowed: {})",
                echo(key),
                FIELDS.join(", ")
            ));
        }
    }

    let action = match text(&obj, "", "action", &mut errors) {
        Field::Absent => Some(AlertAction::Trigger),
        Field::Text("trigger") => Some(AlertAction::Trigger),
        Field::Text("acknowledge") => Some(AlertAction::Acknowledge),
        Field::Text("resolve") => Some(AlertAction::Resolve),
        Field::Text(_) => {
            errors.push("'action' must be one of 'trigger', 'acknowledge', 'resolve'".to_owned());
            None
        }
        Field::Wrong => None,
    };
    let is_trigger = action == Some(AlertAction::Trigger);
    let needs_key = matches!(
        action,
        Some(AlertAction::Acknowledge | AlertAction::Resolve)
    );

    let summary = match text(&obj, "", "summary", &mut errors) {
        Field::Text(s) if s.trim().is_empty() => {
            if is_trigger {
                errors.push("'summary' must not be blank".to_owned());
            }
            String::new()
        }
        Field::Text(s) => {
            let n = s.chars().count();
            if n > MAX_SUMMARY_CHARS {
                errors.push(format!(
                    "'summary' is too long ({n} characters; must be at most {MAX_SUMMARY_CHARS})"
                ));
            }
            s.to_owned()
        }
        Field::Absent => {
            if is_trigger {
                errors.push(required("summary"));
            }
            String::new()
        }
        Field::Wrong => String::new(),
    };

    let severity = match text(&obj, "", "severity", &mut errors) {
        Field::Text(s) => AlertSeverity::parse(s).or_else(|| {
            errors.push(
                "'severity' must be one of 'critical', 'error', 'warning', 'info'".to_owned(),
            );
            None
        }),
        Field::Absent => {
            if is_trigger {
                errors.push(required("severity"));
            }
            None
        }
        Field::Wrong => None,
    };

    let dedup_key = match text(&obj, "", "dedup_key", &mut errors) {
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
            if needs_key {
                errors.push(format!(
                    "'dedup_key' is required to {}",
                    if action == Some(AlertAction::Resolve) {
                        "resolve"
                    } else {
                        "acknowledge"
                    }
                ));
            }
            String::new()
        }
        Field::Wrong => String::new(),
    };

    let source = match text(&obj, "", "source", &mut errors) {
        Field::Text(s) if !s.trim().is_empty() => s.to_owned(),
        _ => DEFAULT_SOURCE.to_owned(),
    };

    let labels = string_map(obj.get("labels"), "labels", &mut errors);

    let details = match obj.get("details") {
        None | Some(Value::Null) => Value::Null,
        Some(details @ Value::Object(_)) => details.clone(),
        Some(other) => {
            errors.push(format!("'details' must be an object, not {}", kind(other)));
            Value::Null
        }
    };

    let links = links(obj.get("links"), &LINK_RULES, &mut errors);

    match action {
        Some(action) if errors.is_empty() => Ok(AlertEvent {
            action,
            dedup_key,
            summary,
            // Only acknowledge/resolve may come without one; it is not used for them.
            severity: severity.unwrap_or(AlertSeverity::Info),
            source,
            labels,
            details,
            links,
            group_key: None,
        }),
        _ => Err(IngestError::invalid(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{arb_json, mutate, set_path};
    use firebreak_core::Link;
    use proptest::prelude::*;
    use serde_json::json;

    fn full() -> Value {
        json!({
            "summary": "Disk full on db-1",
            "severity": "critical",
            "dedup_key": "db-1/disk",
            "source": "db-1",
            "action": "trigger",
            "labels": {"team": "storage", "env": "prod"},
            "details": {"free_bytes": 0, "nested": {"a": [1, 2]}},
            "links": [{"href": "https://grafana.example.com/d/db", "text": "Dashboard"}, {"href": "https://x"}]
        })
    }

    fn errors_of(body: &Value) -> Vec<String> {
        match parse(body.to_string().as_bytes()) {
            Err(IngestError::Invalid(errors)) => errors,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_full_event() {
        let e = parse(full().to_string().as_bytes()).unwrap();
        assert_eq!(e.action, AlertAction::Trigger);
        assert_eq!(e.summary, "Disk full on db-1");
        assert_eq!(e.severity, AlertSeverity::Critical);
        assert_eq!(e.dedup_key, "db-1/disk");
        assert_eq!(e.source, "db-1");
        assert_eq!(e.labels.len(), 2);
        assert_eq!(e.labels["team"], "storage");
        assert_eq!(e.details["nested"]["a"][1], 2);
        assert_eq!(
            e.links,
            vec![
                Link {
                    href: "https://grafana.example.com/d/db".into(),
                    text: Some("Dashboard".into())
                },
                Link {
                    href: "https://x".into(),
                    text: None
                }
            ]
        );
        assert_eq!(e.group_key, None);
    }

    #[test]
    fn minimal_trigger_gets_defaults() {
        let e = parse(br#"{"summary":"s","severity":"info"}"#).unwrap();
        assert_eq!(e.action, AlertAction::Trigger);
        assert_eq!(e.dedup_key, "");
        assert_eq!(e.source, DEFAULT_SOURCE);
        assert!(e.labels.is_empty());
        assert_eq!(e.details, Value::Null);
        assert!(e.links.is_empty());
        let e = parse(br#"{"summary":"s","severity":"info","source":null,"labels":null,"details":null,"links":null,"dedup_key":null}"#).unwrap();
        assert_eq!(e.source, DEFAULT_SOURCE);
    }

    #[test]
    fn acknowledge_and_resolve() {
        let e = parse(br#"{"action":"resolve","dedup_key":"k"}"#).unwrap();
        assert_eq!(e.action, AlertAction::Resolve);
        assert_eq!(e.dedup_key, "k");
        let e = parse(br#"{"action":"acknowledge","dedup_key":"k","summary":"s"}"#).unwrap();
        assert_eq!(e.action, AlertAction::Acknowledge);
        assert_eq!(e.summary, "s");
        assert_eq!(
            errors_of(&json!({"action": "resolve"})),
            vec!["'dedup_key' is required to resolve"]
        );
        assert_eq!(
            errors_of(&json!({"action": "acknowledge", "dedup_key": " "})),
            vec!["'dedup_key' is required to acknowledge"]
        );
    }

    #[test]
    fn trigger_requires_summary_and_severity() {
        assert_eq!(
            errors_of(&json!({})),
            vec!["'summary' is required", "'severity' is required"]
        );
        assert_eq!(
            errors_of(&json!({"summary": "  ", "severity": "info"})),
            vec!["'summary' must not be blank"]
        );
    }

    #[test]
    fn enums_are_lowercase() {
        assert_eq!(
            errors_of(&json!({"summary": "s", "severity": "Critical"})),
            vec!["'severity' must be one of 'critical', 'error', 'warning', 'info'"]
        );
        assert_eq!(
            errors_of(&json!({"summary": "s", "severity": "info", "action": "Resolve"})),
            vec!["'action' must be one of 'trigger', 'acknowledge', 'resolve'"]
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut body = full();
        body["sumary"] = json!("typo");
        body["links"][0]["title"] = json!("t");
        assert_eq!(
            errors_of(&body),
            vec![
                "unknown field 'sumary' (allowed: summary, severity, dedup_key, source, action, labels, details, links)",
                "'links[0].title' is not a known field (allowed: href, text)",
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let body = json!({
            "summary": 1, "severity": true, "dedup_key": [], "source": {}, "action": 2,
            "labels": {"a": 1, "b": "ok"}, "details": "text", "links": [{"href": 5}]
        });
        assert_eq!(
            errors_of(&body),
            vec![
                "'action' must be a string, not a number",
                "'summary' must be a string, not a number",
                "'severity' must be a string, not a boolean",
                "'dedup_key' must be a string, not an array",
                "'source' must be a string, not an object",
                "'labels.a' must be a string, not a number",
                "'details' must be an object, not a string",
                "'links[0].href' must be a string, not a number",
            ]
        );
        assert_eq!(
            errors_of(&json!({"summary": "s", "severity": "info", "labels": ["a"]})),
            vec!["'labels' must be an object of strings, not an array"]
        );
    }

    #[test]
    fn limits() {
        let mut body = full();
        body["summary"] = json!("ü".repeat(1024));
        body["dedup_key"] = json!("ü".repeat(255));
        assert!(parse(body.to_string().as_bytes()).is_ok());
        body["summary"] = json!("ü".repeat(1025));
        body["dedup_key"] = json!("k".repeat(1_000_000));
        assert_eq!(
            errors_of(&body),
            vec![
                "'summary' is too long (1025 characters; must be at most 1024)",
                "'dedup_key' is too long (1000000 characters; must be at most 255)",
            ]
        );
    }

    #[test]
    fn huge_unknown_field_names_are_cut_and_counted() {
        let mut body = serde_json::Map::new();
        body.insert("y".repeat(10_000), json!(1));
        for i in 0..50 {
            body.insert(format!("x{i}"), json!(1));
        }
        let errors = errors_of(&Value::Object(body));
        assert_eq!(errors.len(), 20);
        assert!(errors.iter().all(|e| e.len() < 300));
        assert!(errors.last().unwrap().contains("more errors"));
    }

    #[test]
    fn malformed_bodies() {
        for body in [
            &b""[..],
            b"{",
            b"{\"summary\": \"s\"",
            b"\xff",
            b"{\"summary\":\"\xc3\x28\"}",
        ] {
            assert!(
                matches!(parse(body), Err(IngestError::Malformed(_))),
                "{body:?}"
            );
        }
        assert_eq!(
            parse(b"[1]"),
            Err(IngestError::Invalid(vec![
                "body must be a JSON object, not an array".into()
            ]))
        );
        let deep = "[".repeat(10_000);
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(IngestError::Malformed(_))
        ));
    }

    const FIELD_PATHS: &[&[&str]] = &[
        &["summary"],
        &["severity"],
        &["dedup_key"],
        &["source"],
        &["action"],
        &["labels"],
        &["labels", "team"],
        &["details"],
        &["links"],
        &["links", "0"],
    ];

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mutated_bytes_never_panic(op in any::<u8>(), at in any::<usize>(), byte in any::<u8>()) {
            let _ = parse(&mutate(full().to_string().as_bytes(), op, at, byte));
        }

        #[test]
        fn mutated_fields_never_panic(field in proptest::sample::select(FIELD_PATHS), value in arb_json()) {
            let mut body = full();
            set_path(&mut body, field, value);
            if let Err(IngestError::Invalid(errors)) = parse(body.to_string().as_bytes()) {
                prop_assert!(!errors.is_empty());
            }
        }

        #[test]
        fn any_object_details_are_kept(details in arb_json()) {
            let mut body = full();
            body["details"] = details.clone();
            let result = parse(body.to_string().as_bytes());
            // Compare with what the body carries (float text may not round-trip exactly).
            let sent: Value = serde_json::from_str(&details.to_string()).unwrap();
            match details {
                Value::Object(_) | Value::Null => prop_assert_eq!(result.unwrap().details, sent),
                _ => prop_assert!(result.is_err()),
            }
        }
    }
}
