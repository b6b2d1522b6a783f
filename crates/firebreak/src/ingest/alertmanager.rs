//! Prometheus Alertmanager webhook, payload version "4" (`POST /ingest/alertmanager/{key}`):
//! one `AlertEvent` per alert, identified by its fingerprint and grouped by `groupKey`.

use super::{
    echo, kind, opt_text, parse_object, string_map, text, truncate_chars, Field, IngestError,
    MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS,
};
use firebreak_core::{AlertAction, AlertEvent, AlertSeverity, Link};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `source` when an alert has neither an `instance` nor a `job` label.
pub const DEFAULT_SOURCE: &str = "alertmanager";

/// The group a flush belongs to and where it came from, shared by its alerts.
struct Group<'a> {
    receiver: Option<&'a str>,
    external_url: Option<&'a str>,
    group_key: String,
    common_labels: BTreeMap<String, String>,
}

/// Longest `groupKey` accepted (Alertmanager's are route matchers plus group labels).
pub const MAX_GROUP_KEY_CHARS: usize = 2048;
/// Longest `receiver` name accepted.
pub const MAX_RECEIVER_CHARS: usize = 512;
/// Longest `externalURL` accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// Parses a webhook body into one event per alert (firing → trigger, resolved → resolve).
///
/// Unknown fields are ignored; `version`, when present, must be `"4"`; an empty `alerts` is
/// `Ok(vec![])`. Any invalid alert rejects the whole body, with every problem listed.
pub fn parse(body: &[u8]) -> Result<Vec<AlertEvent>, IngestError> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();

    match obj.get("version") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v == "4" => {}
        Some(Value::String(v)) => errors.push(format!(
            "'version' must be \"4\" (Alertmanager webhook payload version 4), not \"{}\"",
            echo(v)
        )),
        Some(other) => errors.push(format!(
            "'version' must be the string \"4\", not {}",
            kind(other)
        )),
    }

    let receiver = opt_text(&obj, "", "receiver", &mut errors);
    let external_url = opt_text(&obj, "", "externalURL", &mut errors);
    let group_key = opt_text(&obj, "", "groupKey", &mut errors);
    // These are copied into every alert of the body: bound them so one request cannot
    // multiply into gigabytes.
    for (name, value, max) in [
        ("receiver", receiver, MAX_RECEIVER_CHARS),
        ("externalURL", external_url, MAX_URL_CHARS),
        ("groupKey", group_key, MAX_GROUP_KEY_CHARS),
    ] {
        if value.is_some_and(|v| v.chars().count() > max) {
            errors.push(format!("'{name}' is longer than {max} characters"));
        }
    }
    let group_labels = string_map(obj.get("groupLabels"), "groupLabels", &mut errors);
    let common_labels = string_map(obj.get("commonLabels"), "commonLabels", &mut errors);
    let group = Group {
        receiver,
        external_url,
        group_key: match group_key {
            Some(key) if !key.is_empty() => key.to_owned(),
            _ => derived_group_key(receiver, &group_labels),
        },
        common_labels,
    };

    let alerts: &[Value] = match obj.get("alerts") {
        Some(Value::Array(alerts)) => alerts,
        None | Some(Value::Null) => {
            errors.push("'alerts' is required".to_owned());
            &[]
        }
        Some(other) => {
            errors.push(format!("'alerts' must be an array, not {}", kind(other)));
            &[]
        }
    };
    let mut events = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        if let Some(event) = parse_alert(i, alert, &group, &mut errors) {
            events.push(event);
        }
    }

    if errors.is_empty() {
        Ok(events)
    } else {
        Err(IngestError::invalid(errors))
    }
}

/// Alertmanager's fingerprint of a label set: FNV-1a 64 over the label names in sorted order,
/// each `name 0xFF value 0xFF`, printed as 16 lowercase hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut hash = OFFSET;
    for (name, value) in labels {
        let bytes = name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff]);
        for byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:016x}")
}

/// A group key for bodies without `groupKey`: `receiver:{name="value", …}` over the sorted
/// `groupLabels` (the shape of Alertmanager's own keys).
fn derived_group_key(receiver: Option<&str>, group_labels: &BTreeMap<String, String>) -> String {
    let labels: Vec<String> = group_labels
        .iter()
        .map(|(name, value)| format!("{name}={}", Value::String(value.clone())))
        .collect();
    format!("{}:{{{}}}", receiver.unwrap_or_default(), labels.join(", "))
}

fn parse_alert(
    i: usize,
    value: &Value,
    group: &Group<'_>,
    errors: &mut Vec<String>,
) -> Option<AlertEvent> {
    let Value::Object(alert) = value else {
        errors.push(format!(
            "'alerts[{i}]' must be an object, not {}",
            kind(value)
        ));
        return None;
    };
    let before = errors.len();
    let prefix = format!("alerts[{i}].");

    let action = match text(alert, &prefix, "status", errors) {
        Field::Text("firing") => Some(AlertAction::Trigger),
        Field::Text("resolved") => Some(AlertAction::Resolve),
        Field::Text(_) => {
            errors.push(format!("'{prefix}status' must be 'firing' or 'resolved'"));
            None
        }
        Field::Absent => {
            errors.push(format!("'{prefix}status' is required"));
            None
        }
        Field::Wrong => None,
    };
    let labels = string_map(alert.get("labels"), &format!("{prefix}labels"), errors);
    let annotations = string_map(
        alert.get("annotations"),
        &format!("{prefix}annotations"),
        errors,
    );
    let starts_at = opt_text(alert, &prefix, "startsAt", errors);
    let ends_at = opt_text(alert, &prefix, "endsAt", errors);
    let generator_url = opt_text(alert, &prefix, "generatorURL", errors);
    let dedup_key = match opt_text(alert, &prefix, "fingerprint", errors) {
        Some(given) if !given.trim().is_empty() => {
            let n = given.chars().count();
            if n > MAX_DEDUP_KEY_CHARS {
                errors.push(format!(
                    "'{prefix}fingerprint' is too long ({n} characters; must be at most {MAX_DEDUP_KEY_CHARS})"
                ));
            }
            given.to_owned()
        }
        _ => fingerprint(&labels),
    };
    if errors.len() > before {
        return None;
    }
    let action = action?;

    let mut links = Vec::new();
    if let Some(url) = generator_url.filter(|u| !u.trim().is_empty()) {
        links.push(Link {
            href: url.to_owned(),
            text: Some("Source".to_owned()),
        });
    }
    if let Some(url) = annotations
        .get("runbook_url")
        .filter(|u| !u.trim().is_empty())
    {
        links.push(Link {
            href: url.clone(),
            text: Some("Runbook".to_owned()),
        });
    }

    let opt = |s: Option<&str>| s.map_or(Value::Null, |s| Value::String(s.to_owned()));
    let mut details = Map::new();
    details.insert(
        "annotations".to_owned(),
        Value::Object(
            annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    details.insert("startsAt".to_owned(), opt(starts_at));
    details.insert("endsAt".to_owned(), opt(ends_at));
    details.insert("generatorURL".to_owned(), opt(generator_url));
    details.insert("receiver".to_owned(), opt(group.receiver));
    details.insert("externalURL".to_owned(), opt(group.external_url));

    Some(AlertEvent {
        action,
        dedup_key,
        summary: summary(&labels, &annotations, &group.common_labels),
        severity: severity(&labels),
        source: source(&labels),
        labels,
        details: Value::Object(details),
        links,
        group_key: Some(group.group_key.clone()),
    })
}

/// `labels.severity`, case-insensitive: critical; error/major; warning/warn; info/none/low.
/// Absent or anything else is `error`.
fn severity(labels: &BTreeMap<String, String>) -> AlertSeverity {
    let Some(text) = labels.get("severity") else {
        return AlertSeverity::Error;
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "critical" => AlertSeverity::Critical,
        "warning" | "warn" => AlertSeverity::Warning,
        "info" | "none" | "low" => AlertSeverity::Info,
        _ => AlertSeverity::Error,
    }
}

fn non_blank<'a>(map: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    map.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `instance`, else `job`, else [`DEFAULT_SOURCE`].
fn source(labels: &BTreeMap<String, String>) -> String {
    non_blank(labels, "instance")
        .or_else(|| non_blank(labels, "job"))
        .unwrap_or(DEFAULT_SOURCE)
        .to_owned()
}

/// `annotations.summary`, else `annotations.description`, else the alert name with the labels
/// that tell this alert apart (those not common to the group; all but `severity` when none
/// differ). At most [`MAX_SUMMARY_CHARS`] characters.
fn summary(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    common: &BTreeMap<String, String>,
) -> String {
    if let Some(text) =
        non_blank(annotations, "summary").or_else(|| non_blank(annotations, "description"))
    {
        return truncate_chars(text, MAX_SUMMARY_CHARS);
    }
    let name = non_blank(labels, "alertname").unwrap_or("Alertmanager alert");
    let others = |only_distinct: bool| -> Vec<String> {
        labels
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity"))
            .filter(|(k, v)| !only_distinct || common.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    };
    let mut parts = others(true);
    if parts.is_empty() {
        parts = others(false);
    }
    let text = if parts.is_empty() {
        name.to_owned()
    } else {
        format!("{name} ({})", parts.join(", "))
    };
    truncate_chars(&text, MAX_SUMMARY_CHARS)
}

#[cfg(test)]
mod limits_tests {
    use super::*;

    #[test]
    fn fields_copied_into_every_alert_are_bounded() {
        let body = serde_json::json!({"version": "4", "groupKey": "k".repeat(MAX_GROUP_KEY_CHARS + 1), "alerts": []}).to_string();
        let err = parse(body.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("'groupKey' is longer than 2048"), "{err}");
        let body = serde_json::json!({"version": "4", "receiver": "r".repeat(513), "externalURL": "u".repeat(2049), "alerts": []}).to_string();
        let err = parse(body.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("'receiver'") && err.contains("'externalURL'"),
            "{err}"
        );
    }

    #[test]
    fn nul_characters_and_deep_nesting_are_rejected() {
        let nul = br#"{"version":"4","alerts":[{"status":"firing","labels":{"a":"x\u0000y"}}]}"#;
        assert!(parse(nul).unwrap_err().to_string().contains("NUL"));
        let deep = format!(
            r#"{{"version":"4","alerts":[],"x":{}{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert!(parse(deep.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("nested deeper"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{arb_json, mutate, set_path};
    use proptest::prelude::*;
    use serde_json::json;

    const FIRING: &str = include_str!("testdata/alertmanager-webhook-v4.firing.json");
    const RESOLVED: &str = include_str!("testdata/alertmanager-webhook-v4.resolved.json");
    const GROUP_KEY: &str =
        r#"{}/{team="payments"}:{alertname="HighErrorRate", cluster="eu-west-1"}"#;

    fn firing() -> Value {
        serde_json::from_str(FIRING).unwrap()
    }

    fn errors_of(body: &Value) -> Vec<String> {
        match parse(body.to_string().as_bytes()) {
            Err(IngestError::Invalid(errors)) => errors,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn fingerprint_matches_the_spec_examples() {
        for body in [FIRING, RESOLVED] {
            let value: Value = serde_json::from_str(body).unwrap();
            for alert in value["alerts"].as_array().unwrap() {
                let labels: BTreeMap<String, String> =
                    serde_json::from_value(alert["labels"].clone()).unwrap();
                assert_eq!(fingerprint(&labels), alert["fingerprint"].as_str().unwrap());
            }
        }
        // The empty label set hashes to the FNV offset basis, as in Prometheus.
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
    }

    #[test]
    fn accepts_the_firing_example() {
        let events = parse(FIRING.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert_eq!(e.action, AlertAction::Trigger);
        assert_eq!(e.dedup_key, "e2bc5bc52c25e009");
        assert_eq!(e.summary, "5xx ratio above 5% on 10.0.3.17:8080");
        assert_eq!(e.severity, AlertSeverity::Critical);
        assert_eq!(e.source, "10.0.3.17:8080");
        assert_eq!(e.labels.len(), 6);
        assert_eq!(e.labels["alertname"], "HighErrorRate");
        assert_eq!(e.group_key.as_deref(), Some(GROUP_KEY));
        assert_eq!(
            e.links,
            vec![
                Link {
                    href: "http://prometheus.eu-west-1.example.com/graph?g0.expr=job%3Ahttp_errors%3Arate5m+%3E+0.05&g0.tab=1".into(),
                    text: Some("Source".into())
                },
                Link {
                    href: "https://runbooks.example.com/checkout/HighErrorRate".into(),
                    text: Some("Runbook".into())
                },
            ]
        );
        assert_eq!(e.details["startsAt"], "2026-08-21T09:14:03.512Z");
        assert_eq!(e.details["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(e.details["receiver"], "payments-oncall");
        assert_eq!(
            e.details["externalURL"],
            "http://alertmanager.example.com:9093"
        );
        assert_eq!(
            e.details["annotations"]["description"],
            "checkout-api on 10.0.3.17:8080 returns >5% 5xx for 10m"
        );
        assert!(e.details["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://prometheus"));
        assert_eq!(events[1].dedup_key, "9ec4e0bf5f475732");
        assert_eq!(events[1].source, "10.0.3.18:8080");
    }

    #[test]
    fn accepts_the_resolved_example() {
        let firing = parse(FIRING.as_bytes()).unwrap();
        let resolved = parse(RESOLVED.as_bytes()).unwrap();
        assert_eq!(resolved.len(), 2);
        for (f, r) in firing.iter().zip(&resolved) {
            assert_eq!(r.action, AlertAction::Resolve);
            assert_eq!(r.dedup_key, f.dedup_key);
            assert_eq!(r.group_key, f.group_key);
        }
        assert_eq!(resolved[0].details["endsAt"], "2026-08-21T09:41:18.512Z");
    }

    #[test]
    fn missing_fingerprint_is_computed() {
        let mut body = firing();
        body["alerts"][0]
            .as_object_mut()
            .unwrap()
            .remove("fingerprint");
        body["alerts"][1]["fingerprint"] = json!("");
        let events = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(events[0].dedup_key, "e2bc5bc52c25e009");
        assert_eq!(events[1].dedup_key, "9ec4e0bf5f475732");
    }

    #[test]
    fn empty_alerts_and_minimal_bodies() {
        assert_eq!(parse(br#"{"alerts":[]}"#).unwrap(), vec![]);
        let events = parse(br#"{"alerts":[{"status":"firing"}]}"#).unwrap();
        let e = &events[0];
        assert_eq!(e.dedup_key, fingerprint(&BTreeMap::new()));
        assert_eq!(e.summary, "Alertmanager alert");
        assert_eq!(e.source, DEFAULT_SOURCE);
        assert_eq!(e.severity, AlertSeverity::Error);
        assert_eq!(e.group_key.as_deref(), Some(":{}"));
        assert!(e.links.is_empty());
        assert_eq!(e.details["receiver"], Value::Null);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut body = firing();
        body["somethingNew"] = json!({"x": [1]});
        body["alerts"][0]["silencedBy"] = json!(["abc"]);
        assert_eq!(parse(body.to_string().as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn version_must_be_4() {
        let mut body = firing();
        body["version"] = json!("5");
        assert_eq!(
            errors_of(&body),
            vec!["'version' must be \"4\" (Alertmanager webhook payload version 4), not \"5\""]
        );
        body["version"] = json!(4);
        assert_eq!(
            errors_of(&body),
            vec!["'version' must be the string \"4\", not a number"]
        );
        body.as_object_mut().unwrap().remove("version");
        assert!(parse(body.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn alerts_is_required() {
        assert_eq!(
            errors_of(&json!({"version": "4"})),
            vec!["'alerts' is required"]
        );
        assert_eq!(
            errors_of(&json!({"alerts": {}})),
            vec!["'alerts' must be an array, not an object"]
        );
    }

    #[test]
    fn invalid_alerts_name_the_field() {
        let body = json!({"alerts": [
            "x",
            {"status": "pending"},
            {},
            {"status": "firing", "labels": {"a": 1}, "annotations": [], "startsAt": 5,
             "fingerprint": "f".repeat(300)},
        ]});
        assert_eq!(
            errors_of(&body),
            vec![
                "'alerts[0]' must be an object, not a string",
                "'alerts[1].status' must be 'firing' or 'resolved'",
                "'alerts[2].status' is required",
                "'alerts[3].labels.a' must be a string, not a number",
                "'alerts[3].annotations' must be an object of strings, not an array",
                "'alerts[3].startsAt' must be a string, not a number",
                "'alerts[3].fingerprint' is too long (300 characters; must be at most 255)",
            ]
        );
    }

    #[test]
    fn wrong_top_level_types_name_the_field() {
        let body = json!({"alerts": [], "receiver": 1, "groupLabels": "x", "externalURL": []});
        assert_eq!(
            errors_of(&body),
            vec![
                "'receiver' must be a string, not a number",
                "'externalURL' must be a string, not an array",
                "'groupLabels' must be an object of strings, not a string",
            ]
        );
    }

    #[test]
    fn severity_mapping() {
        for (text, want) in [
            ("critical", AlertSeverity::Critical),
            ("CRITICAL", AlertSeverity::Critical),
            ("error", AlertSeverity::Error),
            ("Major", AlertSeverity::Error),
            ("warning", AlertSeverity::Warning),
            ("WARN", AlertSeverity::Warning),
            ("info", AlertSeverity::Info),
            ("none", AlertSeverity::Info),
            ("low", AlertSeverity::Info),
            ("page", AlertSeverity::Error),
            ("", AlertSeverity::Error),
        ] {
            assert_eq!(severity(&labels(&[("severity", text)])), want, "{text}");
        }
        assert_eq!(severity(&BTreeMap::new()), AlertSeverity::Error);
    }

    #[test]
    fn summary_fallbacks() {
        let l = labels(&[
            ("alertname", "HighErrorRate"),
            ("cluster", "eu-west-1"),
            ("instance", "10.0.3.17:8080"),
            ("severity", "critical"),
        ]);
        let common = labels(&[("alertname", "HighErrorRate"), ("cluster", "eu-west-1")]);
        let none = BTreeMap::new();
        assert_eq!(
            summary(
                &l,
                &labels(&[("summary", "S"), ("description", "D")]),
                &common
            ),
            "S"
        );
        assert_eq!(
            summary(
                &l,
                &labels(&[("summary", " "), ("description", "D")]),
                &common
            ),
            "D"
        );
        assert_eq!(
            summary(&l, &none, &common),
            "HighErrorRate (instance=10.0.3.17:8080)"
        );
        assert_eq!(
            summary(&l, &none, &l),
            "HighErrorRate (cluster=eu-west-1, instance=10.0.3.17:8080)"
        );
        assert_eq!(summary(&labels(&[("alertname", "Up")]), &none, &none), "Up");
        let long = summary(&l, &labels(&[("summary", &"ß".repeat(5000))]), &common);
        assert_eq!(long.chars().count(), 1024);
        assert!(long.ends_with('…'));
        let long = summary(
            &labels(&[("alertname", "A"), ("x", &"y".repeat(5000))]),
            &none,
            &none,
        );
        assert_eq!(long.chars().count(), 1024);
    }

    #[test]
    fn source_fallbacks() {
        assert_eq!(source(&labels(&[("instance", "i"), ("job", "j")])), "i");
        assert_eq!(source(&labels(&[("instance", ""), ("job", "j")])), "j");
        assert_eq!(source(&BTreeMap::new()), DEFAULT_SOURCE);
    }

    #[test]
    fn group_key_is_derived_when_absent() {
        let mut body = firing();
        body.as_object_mut().unwrap().remove("groupKey");
        let events = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            events[0].group_key.as_deref(),
            Some(r#"payments-oncall:{alertname="HighErrorRate", cluster="eu-west-1"}"#)
        );
        assert_eq!(events[0].group_key, events[1].group_key);
    }

    #[test]
    fn runbook_link_only_when_present() {
        let mut body = firing();
        body["alerts"][0]["annotations"]["runbook_url"] = json!("");
        body["alerts"][0]["generatorURL"] = json!("");
        let events = parse(body.to_string().as_bytes()).unwrap();
        assert!(events[0].links.is_empty());
        assert_eq!(events[1].links.len(), 2);
    }

    #[test]
    fn malformed_bodies() {
        for body in [
            &b""[..],
            b"{",
            &FIRING.as_bytes()[..FIRING.len() / 2],
            b"\xff\xff",
            b"{\"alerts\": [], \"receiver\": \"\xc3\"}",
        ] {
            assert!(matches!(parse(body), Err(IngestError::Malformed(_))));
        }
        assert_eq!(
            parse(b"\"x\""),
            Err(IngestError::Invalid(vec![
                "body must be a JSON object, not a string".into()
            ]))
        );
    }

    #[test]
    fn many_bad_alerts_give_a_bounded_error_list() {
        let alerts: Vec<Value> = (0..10_000).map(|_| json!(1)).collect();
        let errors = errors_of(&json!({ "alerts": alerts }));
        assert_eq!(errors.len(), 20);
        assert_eq!(errors.last().unwrap(), "... and 9981 more errors");
    }

    const FIELDS: &[&[&str]] = &[
        &["version"],
        &["receiver"],
        &["groupKey"],
        &["groupLabels"],
        &["commonLabels"],
        &["externalURL"],
        &["alerts"],
        &["alerts", "0"],
        &["alerts", "0", "status"],
        &["alerts", "0", "labels"],
        &["alerts", "0", "labels", "severity"],
        &["alerts", "0", "annotations"],
        &["alerts", "0", "annotations", "summary"],
        &["alerts", "0", "fingerprint"],
        &["alerts", "0", "generatorURL"],
    ];

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mutated_bytes_never_panic(op in any::<u8>(), at in any::<usize>(), byte in any::<u8>()) {
            let _ = parse(&mutate(FIRING.as_bytes(), op, at, byte));
        }

        #[test]
        fn mutated_fields_never_panic(field in proptest::sample::select(FIELDS), value in arb_json()) {
            let mut body = firing();
            set_path(&mut body, field, value);
            if let Ok(events) = parse(body.to_string().as_bytes()) {
                for e in events {
                    prop_assert!(e.summary.chars().count() <= MAX_SUMMARY_CHARS);
                    prop_assert!(!e.summary.is_empty());
                    prop_assert!(!e.source.is_empty());
                    prop_assert!(!e.dedup_key.is_empty());
                }
            }
        }

        #[test]
        fn generated_alerts_parse(
            label_set in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,16}", 0..6),
            annotations in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,16}", 0..4),
            resolved in any::<bool>(),
        ) {
            let body = json!({"version": "4", "alerts": [{
                "status": if resolved { "resolved" } else { "firing" },
                "labels": label_set, "annotations": annotations,
            }]});
            let events = parse(body.to_string().as_bytes()).unwrap();
            prop_assert_eq!(events.len(), 1);
            let e = &events[0];
            prop_assert_eq!(&e.dedup_key, &fingerprint(&label_set));
            prop_assert_eq!(&e.labels, &label_set);
            prop_assert!(!e.summary.is_empty());
            prop_assert_eq!(e.action, if resolved { AlertAction::Resolve } else { AlertAction::Trigger });
        }
    }
}
