//! Ingest: the pure parsers that turn what senders deliver (PagerDuty Events v2, Alertmanager
//! webhook v4, firebreak's generic JSON) into `AlertEvent`s — no I/O, no store, no clock.

pub mod alertmanager;
pub mod generic;
pub mod pagerduty;

use firebreak_core::Link;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest summary accepted, in characters (PagerDuty's `payload.summary` limit).
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest dedup key accepted, in characters (PagerDuty's `dedup_key` limit).
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// At most this many messages are reported for one body; the rest are only counted.
const MAX_ERRORS: usize = 20;
/// Sender-chosen text (field and label names, values) echoed in messages is cut to this length.
const MAX_ECHO_CHARS: usize = 64;

/// Errors of our own formats (generic, alertmanager): rendered as problem+json 400 by the caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// The body is not JSON: not UTF-8, truncated, or a syntax error.
    #[error("body is not valid JSON: {0}")]
    Malformed(String),
    /// The body is JSON but breaks the format's rules; one message per problem, each naming the
    /// field, e.g. `'summary' is required`.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl IngestError {
    pub(crate) fn invalid(errors: Vec<String>) -> Self {
        IngestError::Invalid(cap_errors(errors))
    }
}

/// Deepest nesting of arrays/objects accepted in a body. Stored details must read back (JSON
/// readers stop at 128 levels) and nothing a sender means needs more.
pub const MAX_DEPTH: usize = 32;

/// Checks what every format shares: nesting at most [`MAX_DEPTH`], and no NUL character in any
/// string or key (PostgreSQL cannot store one, and no sender means one).
pub(crate) fn check_value(value: &Value) -> Result<(), String> {
    fn walk(v: &Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("the body is nested deeper than {MAX_DEPTH} levels"));
        }
        match v {
            Value::String(s) if s.contains('\0') => {
                Err("strings must not contain NUL (\\u0000) characters".into())
            }
            Value::Array(items) => items.iter().try_for_each(|i| walk(i, depth + 1)),
            Value::Object(map) => map.iter().try_for_each(|(k, i)| {
                if k.contains('\0') {
                    return Err("keys must not contain NUL (\\u0000) characters".into());
                }
                walk(i, depth + 1)
            }),
            _ => Ok(()),
        }
    }
    walk(value, 0)
}

/// Parses a body of one of our own formats, which must be a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, IngestError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => {
            check_value(&value).map_err(|e| IngestError::Invalid(vec![e]))?;
            match value {
                Value::Object(map) => Ok(map),
                _ => Ok(Map::new()),
            }
        }
        Ok(other) => Err(IngestError::Invalid(vec![format!(
            "body must be a JSON object, not {}",
            kind(&other)
        )])),
        Err(e) => Err(IngestError::Malformed(e.to_string())),
    }
}

/// Keeps the first messages and counts the rest, so a hostile body cannot produce a huge reply.
pub(crate) fn cap_errors(mut errors: Vec<String>) -> Vec<String> {
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - (MAX_ERRORS - 1);
        errors.truncate(MAX_ERRORS - 1);
        errors.push(format!("... and {more} more errors"));
    }
    errors
}

/// "a string", "an array", ... for type-error messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// At most `max` characters of `text`; a cut text ends with `…` (still within `max`).
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

/// Sender-chosen text as shown inside an error message.
pub(crate) fn echo(text: &str) -> String {
    truncate_chars(text, MAX_ECHO_CHARS)
}

/// A string field as read from a JSON object.
pub(crate) enum Field<'a> {
    /// Absent or JSON `null`.
    Absent,
    /// Present with another type; the error is already recorded.
    Wrong,
    Text(&'a str),
}

/// Reads `obj[key]` as a string. `null` counts as absent; another type records
/// `'{prefix}{key}' must be a string, not …`.
pub(crate) fn text<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
    errors: &mut Vec<String>,
) -> Field<'a> {
    match obj.get(key) {
        None | Some(Value::Null) => Field::Absent,
        Some(Value::String(s)) => Field::Text(s),
        Some(other) => {
            errors.push(format!(
                "'{prefix}{key}' must be a string, not {}",
                kind(other)
            ));
            Field::Wrong
        }
    }
}

/// Like [`text`], for optional fields: `None` when absent or of the wrong type (recorded).
pub(crate) fn opt_text<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<&'a str> {
    match text(obj, prefix, key, errors) {
        Field::Text(s) => Some(s),
        Field::Absent | Field::Wrong => None,
    }
}

/// Reads an object of string values (labels, annotations) found at `name`. Absent/`null` is empty.
pub(crate) fn string_map(
    value: Option<&Value>,
    name: &str,
    errors: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                match value {
                    Value::String(s) => {
                        out.insert(key.clone(), s.clone());
                    }
                    other => errors.push(format!(
                        "'{name}.{}' must be a string, not {}",
                        echo(key),
                        kind(other)
                    )),
                }
            }
        }
        Some(other) => errors.push(format!(
            "'{name}' must be an object of strings, not {}",
            kind(other)
        )),
    }
    out
}

/// How a format's `links[]` are checked.
pub(crate) struct LinkRules {
    /// The message for a missing or blank `href`, given the field's path.
    pub missing: fn(&str) -> String,
    /// Reject fields other than `href` and `text` (our own formats).
    pub reject_unknown: bool,
}

/// Reads `links: [{href, text?}]`. Absent/`null` is empty; an empty `text` counts as absent.
pub(crate) fn links(
    value: Option<&Value>,
    rules: &LinkRules,
    errors: &mut Vec<String>,
) -> Vec<Link> {
    let items = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errors.push(format!("'links' must be an array, not {}", kind(other)));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(link) = item else {
            errors.push(format!(
                "'links[{i}]' must be an object, not {}",
                kind(item)
            ));
            continue;
        };
        let prefix = format!("links[{i}].");
        if rules.reject_unknown {
            for key in link
                .keys()
                .filter(|k| !matches!(k.as_str(), "href" | "text"))
            {
                errors.push(format!(
                    "'{prefix}{}' is not a known field (allowed: href, text)",
                    echo(key)
                ));
            }
        }
        let href = match text(link, &prefix, "href", errors) {
            Field::Text(s) if !s.trim().is_empty() => Some(s.to_owned()),
            Field::Text(_) | Field::Absent => {
                errors.push((rules.missing)(&format!("{prefix}href")));
                None
            }
            Field::Wrong => None,
        };
        let text = opt_text(link, &prefix, "text", errors)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if let Some(href) = href {
            out.push(Link { href, text });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Strategies and helpers shared by the parsers' property tests.

    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// Any JSON value, a few levels deep, with keys that often hit real field names.
    pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,24}".prop_map(Value::String),
            prop_oneof![
                Just("trigger"),
                Just("resolve"),
                Just("acknowledge"),
                Just("firing"),
                Just("resolved"),
                Just("critical"),
                Just("4"),
                Just("")
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((arb_key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    fn arb_key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop_oneof![
                Just("summary"),
                Just("severity"),
                Just("source"),
                Just("href"),
                Just("labels"),
                Just("status"),
                Just("alertname"),
            ]
            .prop_map(str::to_owned),
            "[a-zA-Z_.]{0,10}",
        ]
    }

    /// A byte-level mutation of a valid body: overwrite, insert, delete or truncate at `at`.
    pub(crate) fn mutate(body: &[u8], op: u8, at: usize, byte: u8) -> Vec<u8> {
        let mut out = body.to_vec();
        if out.is_empty() {
            return vec![byte];
        }
        let at = at % out.len();
        match op % 4 {
            0 => out[at] = byte,
            1 => out.insert(at, byte),
            2 => {
                out.remove(at);
            }
            _ => out.truncate(at),
        }
        out
    }

    /// Replaces the value at `path` (object keys, or indexes into existing arrays), turning
    /// other values on the way into objects.
    pub(crate) fn set_path(value: &mut Value, path: &[&str], new: Value) {
        let Some((first, rest)) = path.split_first() else {
            *value = new;
            return;
        };
        if let Value::Array(items) = value {
            if let Some(item) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                set_path(item, rest, new);
                return;
            }
        }
        if !value.is_object() {
            *value = Value::Object(Map::new());
        }
        let obj = value.as_object_mut().unwrap();
        let child = obj.entry((*first).to_owned()).or_insert(Value::Null);
        set_path(child, rest, new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo", 3), "hé…");
        assert_eq!(truncate_chars("日本語テキスト", 4).chars().count(), 4);
        assert_eq!(truncate_chars("abc", 0), "");
    }

    #[test]
    fn caps_error_lists() {
        let many: Vec<String> = (0..100).map(|i| format!("e{i}")).collect();
        let capped = cap_errors(many);
        assert_eq!(capped.len(), MAX_ERRORS);
        assert_eq!(capped.last().unwrap(), "... and 81 more errors");
        assert_eq!(cap_errors(vec!["a".into()]), vec!["a".to_string()]);
    }

    #[test]
    fn error_display() {
        let e = IngestError::Invalid(vec!["'a' is required".into(), "'b' is required".into()]);
        assert_eq!(e.to_string(), "'a' is required; 'b' is required");
        assert!(IngestError::Malformed("EOF".into())
            .to_string()
            .starts_with("body is not valid JSON"));
    }

    #[test]
    fn set_path_descends_into_arrays() {
        let mut v = serde_json::json!({"a": [{"b": 1}]});
        test_support::set_path(&mut v, &["a", "0", "b"], Value::from(2));
        assert_eq!(v, serde_json::json!({"a": [{"b": 2}]}));
        test_support::set_path(&mut v, &["a", "x"], Value::from(3));
        assert_eq!(v, serde_json::json!({"a": {"x": 3}}));
    }

    #[test]
    fn parse_object_distinguishes_malformed_and_non_object() {
        assert!(matches!(parse_object(b"{"), Err(IngestError::Malformed(_))));
        assert!(matches!(
            parse_object(b"\xff\xfe"),
            Err(IngestError::Malformed(_))
        ));
        assert!(matches!(parse_object(b"[]"), Err(IngestError::Invalid(_))));
        assert!(parse_object(b"{}").unwrap().is_empty());
    }
}
