//! Prometheus metrics: counters and histograms kept in atomics, rendered in the text exposition
//! format on the separate metrics listener.

use firebreak_core::service::IntegrationKind;
use firebreak_core::store::{CommitStats, IngestEffect, COMMIT_BATCH_BUCKETS};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// What became of one received alert event.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Stored(IngestEffect),
    /// Bad input: a 4xx, nothing stored.
    Rejected,
    /// Back-pressure or store failure: a 5xx, nothing stored.
    Unavailable,
}

impl Outcome {
    const NAMES: [&'static str; 7] = [
        "opened",
        "repeated",
        "acknowledged",
        "resolved",
        "ignored",
        "rejected",
        "unavailable",
    ];

    fn index(self) -> usize {
        match self {
            Outcome::Stored(IngestEffect::Opened) => 0,
            Outcome::Stored(IngestEffect::Repeated) => 1,
            Outcome::Stored(IngestEffect::Acknowledged) => 2,
            Outcome::Stored(IngestEffect::Resolved) => 3,
            Outcome::Stored(IngestEffect::Ignored) => 4,
            Outcome::Rejected => 5,
            Outcome::Unavailable => 6,
        }
    }
}

const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const KINDS: usize = IntegrationKind::ALL.len();

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let idx = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(b) = self.buckets.get(idx) {
            b.fetch_add(1, Relaxed);
        }
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
}

#[derive(Default)]
pub struct Metrics {
    received: [[AtomicU64; Outcome::NAMES.len()]; KINDS],
    latency: [Histogram; KINDS],
    signin_failures: AtomicU64,
}

fn kind_index(kind: IntegrationKind) -> usize {
    IntegrationKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0)
}

impl Metrics {
    pub fn count(&self, kind: IntegrationKind, outcome: Outcome, n: u64) {
        if let Some(row) = self.received.get(kind_index(kind)) {
            if let Some(c) = row.get(outcome.index()) {
                c.fetch_add(n, Relaxed);
            }
        }
    }

    /// A console sign-in that was refused (wrong password or code, login CSRF, rate limit).
    pub fn count_signin_failure(&self) {
        self.signin_failures.fetch_add(1, Relaxed);
    }

    pub fn observe_ingest(&self, kind: IntegrationKind, d: Duration) {
        if let Some(h) = self.latency.get(kind_index(kind)) {
            h.observe(d);
        }
    }

    /// Total events received of one kind and outcome (for tests and the benchmark).
    pub fn received(&self, kind: IntegrationKind, outcome: Outcome) -> u64 {
        self.received
            .get(kind_index(kind))
            .and_then(|row| row.get(outcome.index()))
            .map(|c| c.load(Relaxed))
            .unwrap_or(0)
    }

    /// The text exposition, with gauges and commit stats supplied by the caller.
    pub fn render(
        &self,
        open_alerts: Option<i64>,
        open_incidents: Option<i64>,
        commits: Option<&CommitStats>,
    ) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP firebreak_alerts_received_total Alert events received, by integration kind and outcome.\n");
        out.push_str("# TYPE firebreak_alerts_received_total counter\n");
        for (k, kind) in IntegrationKind::ALL.iter().enumerate() {
            for (o, name) in Outcome::NAMES.iter().enumerate() {
                let v = self
                    .received
                    .get(k)
                    .and_then(|r| r.get(o))
                    .map(|c| c.load(Relaxed))
                    .unwrap_or(0);
                let _ = writeln!(
                    out,
                    "firebreak_alerts_received_total{{kind=\"{kind}\",outcome=\"{name}\"}} {v}"
                );
            }
        }
        out.push_str("# HELP firebreak_ingest_duration_seconds Time from request received to response, per ingest request.\n");
        out.push_str("# TYPE firebreak_ingest_duration_seconds histogram\n");
        for (k, kind) in IntegrationKind::ALL.iter().enumerate() {
            let Some(h) = self.latency.get(k) else {
                continue;
            };
            let mut cumulative = 0;
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                cumulative += h.buckets.get(i).map(|b| b.load(Relaxed)).unwrap_or(0);
                let _ = writeln!(out, "firebreak_ingest_duration_seconds_bucket{{kind=\"{kind}\",le=\"{le}\"}} {cumulative}");
            }
            let count = h.count.load(Relaxed);
            let _ = writeln!(
                out,
                "firebreak_ingest_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {count}"
            );
            let sum = h.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "firebreak_ingest_duration_seconds_sum{{kind=\"{kind}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "firebreak_ingest_duration_seconds_count{{kind=\"{kind}\"}} {count}"
            );
        }
        out.push_str("# HELP firebreak_signin_failures_total Console sign-ins refused.\n# TYPE firebreak_signin_failures_total counter\n");
        let _ = writeln!(
            out,
            "firebreak_signin_failures_total {}",
            self.signin_failures.load(Relaxed)
        );
        if let Some(v) = open_alerts {
            out.push_str("# HELP firebreak_open_alerts Alerts not resolved.\n# TYPE firebreak_open_alerts gauge\n");
            let _ = writeln!(out, "firebreak_open_alerts {v}");
        }
        if let Some(v) = open_incidents {
            out.push_str("# HELP firebreak_open_incidents Incidents not resolved.\n# TYPE firebreak_open_incidents gauge\n");
            let _ = writeln!(out, "firebreak_open_incidents {v}");
        }
        if let Some(stats) = commits {
            let (buckets, sum, count) = stats.snapshot();
            out.push_str("# HELP firebreak_store_commit_batch_size Writes committed together in one transaction (group commit).\n");
            out.push_str("# TYPE firebreak_store_commit_batch_size histogram\n");
            let mut cumulative = 0;
            for (i, le) in COMMIT_BATCH_BUCKETS.iter().enumerate() {
                cumulative += buckets.get(i).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "firebreak_store_commit_batch_size_bucket{{le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "firebreak_store_commit_batch_size_bucket{{le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "firebreak_store_commit_batch_size_sum {sum}");
            let _ = writeln!(out, "firebreak_store_commit_batch_size_count {count}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.count(
            IntegrationKind::Pagerduty,
            Outcome::Stored(IngestEffect::Opened),
            3,
        );
        m.count(IntegrationKind::Alertmanager, Outcome::Rejected, 1);
        m.observe_ingest(IntegrationKind::Pagerduty, Duration::from_micros(700));
        m.observe_ingest(IntegrationKind::Pagerduty, Duration::from_millis(30));
        let stats = CommitStats::default();
        stats.observe(5);
        let text = m.render(Some(7), Some(2), Some(&stats));
        assert!(text
            .contains("firebreak_alerts_received_total{kind=\"pagerduty\",outcome=\"opened\"} 3"));
        assert!(text.contains(
            "firebreak_alerts_received_total{kind=\"alertmanager\",outcome=\"rejected\"} 1"
        ));
        assert!(text.contains(
            "firebreak_ingest_duration_seconds_bucket{kind=\"pagerduty\",le=\"0.0005\"} 0"
        ));
        assert!(text.contains(
            "firebreak_ingest_duration_seconds_bucket{kind=\"pagerduty\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "firebreak_ingest_duration_seconds_bucket{kind=\"pagerduty\",le=\"0.05\"} 2"
        ));
        assert!(text.contains("firebreak_open_alerts 7"));
        assert!(text.contains("firebreak_store_commit_batch_size_bucket{le=\"4\"} 0"));
        assert!(text.contains("firebreak_store_commit_batch_size_bucket{le=\"8\"} 1"));
    }
}
