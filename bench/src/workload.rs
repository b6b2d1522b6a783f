//! Request bodies for each scenario, built cheaply from pre-serialised fragments: PagerDuty
//! Events v2 triggers (with a share of repeated dedup keys), Alertmanager webhook v4 batches
//! for firebreak, and Alertmanager API v2 alert posts for the side-by-side Alertmanager.

use bytes::Bytes;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the bodies look like.
pub enum Template {
    /// One PagerDuty trigger per request; `repeat_pct` % reuse a dedup key this connection sent.
    PdSingle { head: String, repeat_pct: u64 },
    /// One Alertmanager webhook v4 body per request with `per_request` distinct firing alerts
    /// and its own `groupKey`.
    Webhook {
        per_request: usize,
        starts_at: String,
    },
    /// Webhook v4 bodies for the lists scenario: request `r` is group `lists_r{r}` with
    /// `per_request` alerts of severity [`lists_severity`]`(r)`. Without `resolve_at`, request
    /// number `n` fires group `r = n`; with it, request `n` resolves group `r = 2n + 1` (every
    /// odd group, i.e. half of them) with `endsAt = resolve_at`.
    ListsWebhook {
        per_request: usize,
        starts_at: String,
        resolve_at: Option<String>,
    },
    /// Alertmanager `POST /api/v2/alerts` with one alert; `repeat_pct` % repeat a label set.
    AmApiSingle { repeat_pct: u64, starts_at: String },
    /// Alertmanager `POST /api/v2/alerts` with `per_request` distinct alerts.
    AmApiBatch {
        per_request: usize,
        starts_at: String,
    },
}

impl Template {
    pub fn pd_single(routing_key: &str, repeat_pct: u64) -> Template {
        Template::PdSingle {
            head: format!(
                r#"{{"routing_key":"{routing_key}","event_action":"trigger","dedup_key":"bench-"#
            ),
            repeat_pct,
        }
    }
}

/// Hands out request bodies for one connection.
pub struct Generator {
    template: Arc<Template>,
    /// Shared across connections: next fresh id (single) or next request number (batches).
    counter: Arc<AtomicU64>,
    /// Stop once `counter` reaches this (`u64::MAX` = no budget).
    budget: u64,
    rng: u64,
    sent: Vec<u64>,
}

impl Generator {
    /// One generator per connection over a shared counter.
    pub fn per_connection(
        template: Template,
        connections: usize,
        budget: Option<u64>,
    ) -> Vec<Generator> {
        let template = Arc::new(template);
        let counter = Arc::new(AtomicU64::new(0));
        (0..connections)
            .map(|i| Generator {
                template: template.clone(),
                counter: counter.clone(),
                budget: budget.unwrap_or(u64::MAX),
                rng: 0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0xBF58_476D_1CE4_E5B9),
                sent: Vec::new(),
            })
            .collect()
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fresh(&mut self) -> Option<u64> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        (n < self.budget).then_some(n)
    }

    /// A fresh id, or (with probability `pct` %) one this connection already sent.
    fn maybe_repeat(&mut self, pct: u64) -> Option<u64> {
        if !self.sent.is_empty() && self.random() % 100 < pct {
            let i = (self.random() % self.sent.len() as u64) as usize;
            return self.sent.get(i).copied();
        }
        let id = self.fresh()?;
        self.sent.push(id);
        Some(id)
    }

    /// The next body, or `None` when the budget is spent.
    pub fn next_body(&mut self) -> Option<Bytes> {
        let template = self.template.clone();
        let body = match &*template {
            Template::PdSingle { head, repeat_pct } => {
                let id = self.maybe_repeat(*repeat_pct)?;
                pd_body(head, id)
            }
            Template::Webhook {
                per_request,
                starts_at,
            } => webhook_body(self.fresh()?, *per_request, starts_at),
            Template::ListsWebhook {
                per_request,
                starts_at,
                resolve_at,
            } => {
                let n = self.fresh()?;
                match resolve_at {
                    None => lists_webhook_body(n, *per_request, starts_at, None),
                    Some(end) => lists_webhook_body(2 * n + 1, *per_request, starts_at, Some(end)),
                }
            }
            Template::AmApiSingle {
                repeat_pct,
                starts_at,
            } => {
                let id = self.maybe_repeat(*repeat_pct)?;
                let mut s = String::with_capacity(300);
                s.push('[');
                am_api_alert(
                    &mut s,
                    "BenchAlert",
                    "dedup",
                    &format!("bench-{id}"),
                    starts_at,
                );
                s.push(']');
                s
            }
            Template::AmApiBatch {
                per_request,
                starts_at,
            } => {
                let r = self.fresh()?;
                let alertname = format!("bench_r{r}");
                let mut s = String::with_capacity(300 * per_request);
                s.push('[');
                for i in 0..*per_request {
                    if i > 0 {
                        s.push(',');
                    }
                    let instance = format!("host-{i}:9100");
                    am_api_alert(&mut s, &alertname, "instance", &instance, starts_at);
                }
                s.push(']');
                s
            }
        };
        Some(Bytes::from(body))
    }
}

fn pd_body(head: &str, id: u64) -> String {
    let mut s = String::with_capacity(head.len() + 300);
    s.push_str(head);
    let _ = write!(
        s,
        r#"{id}","payload":{{"summary":"firebreak-bench alert {id}","source":"bench-host-{}","severity":"critical","component":"checkout-api","group":"bench","class":"BenchAlert","custom_details":{{"seq":{id}}}}},"client":"firebreak-bench"}}"#,
        id % 1000
    );
    s
}

fn am_api_alert(s: &mut String, alertname: &str, key: &str, value: &str, starts_at: &str) {
    let _ = write!(
        s,
        r#"{{"labels":{{"alertname":"{alertname}","{key}":"{value}","job":"bench","severity":"critical"}},"annotations":{{"summary":"firebreak-bench alert {value}"}},"startsAt":"{starts_at}","generatorURL":"http://127.0.0.1:9090/graph"}}"#
    );
}

/// A webhook v4 body: request `r`, `n` firing alerts `bench_r{r}` × `host-{i}:9100`.
fn webhook_body(r: u64, n: usize, starts_at: &str) -> String {
    let alertname = format!("bench_r{r}");
    let mut s = String::with_capacity(450 * n + 500);
    s.push_str(r#"{"receiver":"bench","status":"firing","alerts":["#);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let instance = format!("host-{i}:9100");
        let fp = fingerprint(&[
            ("alertname", &alertname),
            ("instance", &instance),
            ("job", "bench"),
            ("severity", "critical"),
        ]);
        let _ = write!(
            s,
            r#"{{"status":"firing","labels":{{"alertname":"{alertname}","instance":"{instance}","job":"bench","severity":"critical"}},"annotations":{{"summary":"{alertname} on {instance}","description":"firebreak-bench alert {r}/{i}"}},"startsAt":"{starts_at}","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"{fp:016x}"}}"#
        );
    }
    let _ = write!(
        s,
        r#"],"groupLabels":{{"alertname":"{alertname}"}},"commonLabels":{{"alertname":"{alertname}","job":"bench","severity":"critical"}},"commonAnnotations":{{}},"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{{}}:{{alertname=\"{alertname}\"}}","truncatedAlerts":0}}"#
    );
    s.push('\n');
    s
}

/// Severity label of lists group `r`: pairs of groups (`r / 2`) cycle through ten slots, one
/// `critical` (SEV1), three each of `error`, `warning` and `info`. Pairs keep one firing and one
/// resolved group (odd groups get resolved), so half of the SEV1 incidents stay open.
pub fn lists_severity(r: u64) -> &'static str {
    match (r / 2) % 10 {
        0 => "critical",
        1..=3 => "error",
        4..=6 => "warning",
        _ => "info",
    }
}

/// A webhook v4 body for lists group `r`: `n` alerts `lists_r{r}` × `host-{i}:9100`, firing, or
/// resolved at `resolved_at`.
fn lists_webhook_body(r: u64, n: usize, starts_at: &str, resolved_at: Option<&str>) -> String {
    let alertname = format!("lists_r{r}");
    let severity = lists_severity(r);
    let (status, ends_at) = match resolved_at {
        Some(t) => ("resolved", t),
        None => ("firing", "0001-01-01T00:00:00Z"),
    };
    let mut s = String::with_capacity(450 * n + 500);
    let _ = write!(s, r#"{{"receiver":"bench","status":"{status}","alerts":["#);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let instance = format!("host-{i}:9100");
        let fp = fingerprint(&[
            ("alertname", &alertname),
            ("instance", &instance),
            ("job", "bench"),
            ("severity", severity),
        ]);
        let _ = write!(
            s,
            r#"{{"status":"{status}","labels":{{"alertname":"{alertname}","instance":"{instance}","job":"bench","severity":"{severity}"}},"annotations":{{"summary":"{alertname} on {instance}","description":"firebreak-bench lists alert {r}/{i}"}},"startsAt":"{starts_at}","endsAt":"{ends_at}","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"{fp:016x}"}}"#
        );
    }
    let _ = write!(
        s,
        r#"],"groupLabels":{{"alertname":"{alertname}"}},"commonLabels":{{"alertname":"{alertname}","job":"bench","severity":"{severity}"}},"commonAnnotations":{{}},"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{{}}:{{alertname=\"{alertname}\"}}","truncatedAlerts":0}}"#
    );
    s.push('\n');
    s
}

/// Alertmanager's fingerprint: FNV-1a 64 over sorted `name 0xFF value 0xFF`.
fn fingerprint(sorted_labels: &[(&str, &str)]) -> u64 {
    let mut h: u64 = 14_695_981_039_346_656_037;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(1_099_511_628_211);
        }
    };
    for (k, v) in sorted_labels {
        eat(k.as_bytes());
        eat(&[0xFF]);
        eat(v.as_bytes());
        eat(&[0xFF]);
    }
    h
}

/// Now as RFC 3339 UTC with milliseconds (for `startsAt`).
#[allow(clippy::disallowed_methods)] // the harness is not domain code; it only stamps startsAt
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_the_spec_example() {
        // From specs/alertmanager-webhook-v4.firing.json.
        let fp = fingerprint(&[
            ("alertname", "HighErrorRate"),
            ("cluster", "eu-west-1"),
            ("instance", "10.0.3.17:8080"),
            ("job", "checkout-api"),
            ("severity", "critical"),
            ("team", "payments"),
        ]);
        assert_eq!(format!("{fp:016x}"), "e2bc5bc52c25e009");
    }

    #[test]
    fn bodies_are_json() {
        for t in [
            Template::pd_single("k", 30),
            Template::Webhook {
                per_request: 3,
                starts_at: now_rfc3339(),
            },
            Template::ListsWebhook {
                per_request: 3,
                starts_at: now_rfc3339(),
                resolve_at: None,
            },
            Template::ListsWebhook {
                per_request: 3,
                starts_at: now_rfc3339(),
                resolve_at: Some(now_rfc3339()),
            },
            Template::AmApiSingle {
                repeat_pct: 30,
                starts_at: now_rfc3339(),
            },
            Template::AmApiBatch {
                per_request: 3,
                starts_at: now_rfc3339(),
            },
        ] {
            let mut g = Generator::per_connection(t, 1, Some(5));
            let mut n = 0;
            while let Some(b) = g[0].next_body() {
                serde_json::from_slice::<serde_json::Value>(&b).unwrap();
                n += 1;
                assert!(n < 100);
            }
            assert!(n >= 5);
        }
    }

    #[test]
    fn lists_resolve_every_odd_group_and_a_tenth_is_critical() {
        let fire = Template::ListsWebhook {
            per_request: 2,
            starts_at: now_rfc3339(),
            resolve_at: None,
        };
        let mut g = Generator::per_connection(fire, 1, Some(2));
        let b: serde_json::Value = serde_json::from_slice(&g[0].next_body().unwrap()).unwrap();
        assert_eq!(b["status"], "firing");
        assert_eq!(b["groupKey"], "{}:{alertname=\"lists_r0\"}");
        let resolve = Template::ListsWebhook {
            per_request: 2,
            starts_at: now_rfc3339(),
            resolve_at: Some(now_rfc3339()),
        };
        let mut g = Generator::per_connection(resolve, 1, Some(2));
        let first: serde_json::Value = serde_json::from_slice(&g[0].next_body().unwrap()).unwrap();
        let second: serde_json::Value = serde_json::from_slice(&g[0].next_body().unwrap()).unwrap();
        assert!(g[0].next_body().is_none());
        assert_eq!(first["status"], "resolved");
        assert_eq!(first["groupKey"], "{}:{alertname=\"lists_r1\"}");
        assert_eq!(second["groupKey"], "{}:{alertname=\"lists_r3\"}");
        assert_eq!(first["alerts"][1]["status"], "resolved");
        let critical = (0..1000)
            .filter(|r| lists_severity(*r) == "critical")
            .count();
        assert_eq!(critical, 100);
        let open_critical = (0..1000)
            .filter(|r| r % 2 == 0 && lists_severity(*r) == "critical")
            .count();
        assert_eq!(open_critical, 50);
    }

    #[test]
    fn timestamp_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z'));
    }
}
