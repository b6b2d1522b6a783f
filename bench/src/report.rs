//! The report: what was measured (`Results`), the header that states the run's configuration,
//! and the table with one row per figure (value, target, same-run comparison, ratio, verdict),
//! followed by notes (CPU use, back-pressure, counts) and errors.

use crate::ceilings::Rate;
use crate::http::LoadResult;
use crate::lists::{self, Lists};
use crate::{Memory, Plan};
use std::time::Duration;

/// The targets from the issue.
const PD_MIN: f64 = 15_000.0;
const PD_P99_MAX_MS: f64 = 20.0;
const PD_CEILING_RATIO_MIN: f64 = 2.5;
const AM_BATCH_MIN: f64 = 50_000.0;
const PG_MIN: f64 = 10_000.0;
const IDLE_RSS_MAX: f64 = 20e6;
const LOADED_RSS_MAX: f64 = 150e6;
const START_MAX_MS: f64 = 50.0;
const LIST_P99_MAX_MS: f64 = 100.0;

/// Everything measured in this run; `None` = not run or failed (see `errors`).
#[derive(Default)]
pub struct Results {
    /// The single-row ceiling, measured in parts (before and after pd-single).
    pub sqlite_single_parts: Vec<Rate>,
    pub sqlite_batched: Option<Rate>,
    pub pd: Option<LoadResult>,
    pub am_batch: Option<LoadResult>,
    pub pg_ceiling: Option<Rate>,
    pub pg: Option<LoadResult>,
    pub memory: Option<Memory>,
    pub start: Option<Vec<Duration>>,
    pub lists: Option<Lists>,
    pub am: AmResults,
    /// (scenario, message)
    pub errors: Vec<(String, String)>,
}

/// Prometheus Alertmanager, measured side by side.
#[derive(Default)]
pub struct AmResults {
    pub single: Option<LoadResult>,
    pub batch: Option<LoadResult>,
    pub memory: Option<Memory>,
    pub start: Option<Vec<Duration>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    Pass,
    Fail,
    Info,
    Error,
}

struct Row {
    name: String,
    value: String,
    target: String,
    compare: String,
    ratio: String,
    verdict: Verdict,
}

/// Verdict counts.
pub struct Verdicts {
    pub failed: usize,
}

pub fn print_header(plan: &Plan) {
    let a = &plan.args;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "firebreak-bench{}",
        if a.smoke { " (smoke run)" } else { "" }
    );
    println!("  machine:   {cores} cores");
    println!("  firebreak: {}", a.firebreak.display());
    if let Some(am) = &a.alertmanager {
        println!(
            "  alertmanager: {} (in memory, null receiver)",
            am.display()
        );
    }
    println!(
        "  work dir:  {} ({}); stores, ceiling databases and logs live here",
        plan.work_dir.display(),
        crate::procs::fs_type(&plan.work_dir)
    );
    println!(
        "  client:    tokio runtime with {} worker thread(s) in this process; HTTP/1.1 keep-alive \
         (hyper client conn), one task per connection, sequential requests, pre-serialised body \
         fragments",
        a.client_threads.max(1)
    );
    println!(
        "  load:      {} connections for single alerts ({} % repeated dedup keys), {} connections \
         × {} alerts for batches; {:.1} s warm-up + {:.1} s measured per scenario",
        a.connections,
        a.repeat_percent,
        a.batch_connections,
        a.batch_size,
        plan.warmup.as_secs_f64(),
        plan.duration.as_secs_f64()
    );
    println!(
        "  memory:    {} distinct open alerts{}; start time: median of {} spawns",
        thousands(plan.memory_alerts as f64),
        if a.smoke && plan.memory_alerts < 100_000 {
            " (smoke: fewer than the 100,000 of the target)"
        } else {
            ""
        },
        a.start_runs.max(1)
    );
    if plan.wants("lists") {
        println!(
            "  lists:     {} incidents × {} alerts ({} alerts) via webhook batches, every other \
             incident resolved{}; {} sequential requests per kind after {} warm-up",
            thousands(plan.lists_incidents as f64),
            lists::ALERTS_PER_INCIDENT,
            thousands((plan.lists_incidents * lists::ALERTS_PER_INCIDENT) as f64),
            if a.smoke && plan.lists_incidents < 10_000 {
                " (smoke: fewer than the 10,000 / 100,000 of the target)"
            } else {
                ""
            },
            lists::MEASURED_REQUESTS,
            lists::WARMUP_REQUESTS
        );
    }
    println!();
}

/// Prints the table, the notes and the errors; returns the verdict counts.
pub fn print(plan: &Plan, r: &Results) -> Verdicts {
    let rows = rows(plan, r);
    let headers = [
        "figure",
        "measured",
        "target",
        "same-run comparison",
        "ratio (>1: firebreak ahead)",
        "result",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                row.name.clone(),
                row.value.clone(),
                row.target.clone(),
                row.compare.clone(),
                row.ratio.clone(),
                match row.verdict {
                    Verdict::Pass => "PASS",
                    Verdict::Fail => "FAIL",
                    Verdict::Info => "info",
                    Verdict::Error => "ERROR",
                }
                .to_string(),
            ]
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for c in &cells {
        for (w, s) in widths.iter_mut().zip(c.iter()) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: &[String; 6]| {
        let mut out = String::new();
        for (i, (s, w)) in c.iter().zip(widths.iter()).enumerate() {
            let pad = w.saturating_sub(s.chars().count());
            if i == 1 {
                out.push_str(&" ".repeat(pad));
                out.push_str(s);
            } else {
                out.push_str(s);
                if i < 5 {
                    out.push_str(&" ".repeat(pad));
                }
            }
            if i < 5 {
                out.push_str(" | ");
            }
        }
        println!("{}", out.trim_end());
    };
    line(&headers.map(str::to_string));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("{}", rule.join("-+-"));
    for c in &cells {
        line(c);
    }
    let failed = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error))
        .count();
    let passed = rows.iter().filter(|r| r.verdict == Verdict::Pass).count();
    println!();
    println!("{passed} passed, {failed} failed or errored");
    println!();
    print_notes(plan, r);
    if !r.errors.is_empty() {
        println!();
        println!("errors:");
        for (name, e) in &r.errors {
            println!("  {name}: {e}");
        }
    }
    Verdicts { failed }
}

fn print_notes(plan: &Plan, r: &Results) {
    println!("notes:");
    let load_note = |name: &str, l: &LoadResult, per: u64| {
        let w = l.window.as_secs_f64().max(1e-9);
        println!(
            "  {name}: {} requests ({} alerts) in {:.2} s, p50 {:.2} ms, p99 {:.2} ms; {} \
             answers 503 (retried); CPU over the window: server {:.2} cores, client {:.2} cores",
            thousands(l.requests as f64),
            thousands((l.requests * per) as f64),
            w,
            l.quantile_ms(0.5),
            l.quantile_ms(0.99),
            thousands(l.backpressure as f64),
            l.server_cpu.as_secs_f64() / w,
            l.client_cpu.as_secs_f64() / w,
        );
        if let Some(b) = &l.first_503 {
            println!("    first 503 body: {b}");
        }
    };
    let batch = plan.args.batch_size as u64;
    if !r.sqlite_single_parts.is_empty() {
        let parts: Vec<String> = r
            .sqlite_single_parts
            .iter()
            .map(|p| {
                format!(
                    "{} rows/s over {:.1} s",
                    thousands(p.per_sec()),
                    p.elapsed.as_secs_f64()
                )
            })
            .collect();
        println!(
            "  SQLite single-row ceiling: {} (measured {}); the table shows total rows over \
             total time",
            parts.join(" and "),
            if parts.len() > 1 {
                "right before and right after pd-single"
            } else {
                "once"
            }
        );
    }
    if let Some(l) = &r.pd {
        load_note("pd-single SQLite", l, 1);
    }
    if let Some(l) = &r.am_batch {
        load_note("am-batch SQLite", l, batch);
    }
    if let Some(l) = &r.pg {
        load_note("pg-single", l, 1);
    }
    if let Some(l) = &r.am.single {
        load_note("Alertmanager single", l, 1);
    }
    if let Some(l) = &r.am.batch {
        load_note("Alertmanager batch", l, batch);
    }
    if let Some(m) = &r.memory {
        println!(
            "  memory firebreak: idle {}, {} with {} alerts loaded at {}/s; API lists {} open \
             alerts",
            megabytes(m.idle_rss as f64),
            megabytes(m.loaded_rss as f64),
            thousands(m.loaded_alerts as f64),
            thousands(m.load_rate),
            m.counted_open
                .map_or_else(|| "?".to_string(), |n| thousands(n as f64))
        );
    }
    if let Some(m) = &r.am.memory {
        println!(
            "  memory Alertmanager: idle {}, {} with {} alerts loaded at {}/s",
            megabytes(m.idle_rss as f64),
            megabytes(m.loaded_rss as f64),
            thousands(m.loaded_alerts as f64),
            thousands(m.load_rate)
        );
    }
    if let Some(l) = &r.lists {
        println!(
            "  lists: loaded {} alerts in {} incidents at {}/s (webhook batches of {}, one \
             groupKey each), resolved every other incident at {}/s; the API then listed {} \
             alerts, {} open alerts, {} open incidents; RSS {}",
            thousands(l.alerts as f64),
            thousands(l.incidents as f64),
            thousands(l.fire_rate),
            lists::ALERTS_PER_INCIDENT,
            thousands(l.resolve_rate),
            thousands(l.listed_alerts as f64),
            thousands(l.open_alerts as f64),
            thousands(l.open_incidents as f64),
            megabytes(l.rss_bytes as f64)
        );
        for (label, s) in &l.kinds {
            println!(
                "    {label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} B",
                s.quantile_ms(0.5),
                s.quantile_ms(0.99),
                s.max_ms(),
                thousands(s.last_body.len() as f64)
            );
        }
        println!(
            "    <middle> = {} (the next_cursor after half of all alerts); the console page \
             is fetched with a session cookie from POST /signin and shows \"{}\" ({} open \
             incidents in the store)",
            l.middle_cursor,
            l.console_counts.as_deref().unwrap_or("no counts"),
            thousands(l.open_incidents as f64)
        );
        println!(
            "    p99 of 50 samples is their largest (nearest rank); the SEV1 list has no status \
             filter (all statuses); requests are made as the admin (no visibility filter)"
        );
        println!(
            "    one keep-alive connection, one request at a time; latency is measured by the \
             client on loopback (send → full answer read), an upper bound of the server time"
        );
    }
    if let Some(t) = &r.start {
        println!("  start firebreak (ms): {}", list_ms(t));
    }
    if let Some(t) = &r.am.start {
        println!("  start Alertmanager (ms): {}", list_ms(t));
    }
    if r.am_batch.is_some() || r.memory.is_some() {
        println!(
            "  am-batch: every request is one Alertmanager group flush with its own groupKey \
         ({{}}:{{alertname=\"bench_r<N>\"}}) and {} distinct firing alerts (fingerprints computed \
         as Alertmanager does)",
            plan.args.batch_size
        );
    }
    println!(
        "  latencies are of successful (2xx) answers completed inside the window; 503s are \
         counted and re-sent after {} ms",
        2
    );
}

fn list_ms(t: &[Duration]) -> String {
    t.iter()
        .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn median(t: &[Duration]) -> Option<Duration> {
    let mut v = t.to_vec();
    v.sort();
    v.get(v.len() / 2).copied()
}

fn rows(plan: &Plan, r: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    let sqlite_single = Rate::combined(&r.sqlite_single_parts);
    let am_on = plan.args.alertmanager.is_some();
    let errored = |name: &str| r.errors.iter().any(|(n, _)| n.starts_with(name));
    let info = |name: &str, value: String, compare: String| Row {
        name: name.into(),
        value,
        target: "-".into(),
        compare,
        ratio: String::new(),
        verdict: Verdict::Info,
    };
    let error_row = |name: &str, target: &str| Row {
        name: name.into(),
        value: "ERROR".into(),
        target: target.into(),
        compare: "see errors".into(),
        ratio: String::new(),
        verdict: Verdict::Error,
    };

    // Ceilings.
    let fs = crate::procs::fs_type(&plan.work_dir);
    if let Some(c) = &sqlite_single {
        rows.push(info(
            "ceiling: SQLite durable commits, 1 row/txn",
            format!("{} rows/s", thousands(c.per_sec())),
            format!("rusqlite, WAL, synchronous=FULL, {fs}"),
        ));
    } else if errored("SQLite ceiling") {
        rows.push(error_row("ceiling: SQLite durable commits, 1 row/txn", "-"));
    }
    if let Some(c) = &r.sqlite_batched {
        rows.push(info(
            "ceiling: SQLite batched commits, 1000 rows/txn",
            format!("{} rows/s", thousands(c.per_sec())),
            format!("rusqlite, WAL, synchronous=FULL, {fs}"),
        ));
    }

    // pd-single on SQLite.
    let am_single = r.am.single.as_ref();
    if let Some(l) = &r.pd {
        let rate = l.requests_per_sec();
        rows.push(higher_better(
            "pd-single SQLite: alerts/s",
            rate,
            |v| format!("{}/s", thousands(v)),
            PD_MIN,
            am_single.map(|a| ("Alertmanager", a.requests_per_sec())),
            am_on,
        ));
        if let Some(c) = &sqlite_single {
            let ratio = rate / c.per_sec().max(1e-9);
            rows.push(Row {
                name: "pd-single SQLite ÷ commit ceiling".into(),
                value: format!("{ratio:.2}×"),
                target: format!("≥ {PD_CEILING_RATIO_MIN}×"),
                compare: format!("ceiling {} rows/s", thousands(c.per_sec())),
                ratio: format!("{ratio:.2}×"),
                verdict: pass(ratio >= PD_CEILING_RATIO_MIN),
            });
        }
        rows.push(lower_better(
            "pd-single SQLite: p99 latency",
            l.quantile_ms(0.99),
            |v| format!("{v:.2} ms"),
            PD_P99_MAX_MS,
            am_single.map(|a| ("Alertmanager", a.quantile_ms(0.99))),
            am_on,
        ));
        rows.push(info(
            "pd-single SQLite: p50 / max latency",
            format!("{:.2} / {:.1} ms", l.quantile_ms(0.5), l.max_ms()),
            am_single.map_or_else(String::new, |a| {
                format!(
                    "Alertmanager {:.2} / {:.1} ms",
                    a.quantile_ms(0.5),
                    a.max_ms()
                )
            }),
        ));
        rows.push(info(
            "pd-single SQLite: 503 answers",
            thousands(l.backpressure as f64),
            format!(
                "{:.2} % of {} answers",
                100.0 * l.backpressure as f64 / (l.backpressure + l.total_requests).max(1) as f64,
                thousands((l.backpressure + l.total_requests) as f64)
            ),
        ));
    } else if errored("pd-single SQLite") {
        rows.push(error_row("pd-single SQLite: alerts/s", "≥ 15,000/s"));
    }

    // am-batch on SQLite.
    let am_batch = r.am.batch.as_ref();
    let batch = plan.args.batch_size as f64;
    if let Some(l) = &r.am_batch {
        let name = format!(
            "am-batch SQLite ({}/request): alerts/s",
            plan.args.batch_size
        );
        rows.push(higher_better(
            &name,
            l.requests_per_sec() * batch,
            |v| format!("{}/s", thousands(v)),
            AM_BATCH_MIN,
            am_batch.map(|a| ("Alertmanager", a.requests_per_sec() * batch)),
            am_on,
        ));
        rows.push(info(
            "am-batch SQLite: p99 latency / 503 answers",
            format!(
                "{:.2} ms / {}",
                l.quantile_ms(0.99),
                thousands(l.backpressure as f64)
            ),
            r.sqlite_batched.as_ref().map_or_else(String::new, |c| {
                format!(
                    "{:.2}× the batched ceiling{}",
                    l.requests_per_sec() * batch / c.per_sec().max(1e-9),
                    am_batch.map_or_else(String::new, |a| format!(
                        "; Alertmanager p99 {:.2} ms",
                        a.quantile_ms(0.99)
                    ))
                )
            }),
        ));
    } else if errored("am-batch SQLite") {
        rows.push(error_row("am-batch SQLite: alerts/s", "≥ 50,000/s"));
    }

    // PostgreSQL.
    if plan.args.postgres_url.is_some() && plan.wants("pg") {
        if let Some(c) = &r.pg_ceiling {
            rows.push(info(
                "ceiling: PostgreSQL single-row upserts",
                format!("{} rows/s", thousands(c.per_sec())),
                format!(
                    "{} tokio-postgres clients, autocommit",
                    plan.args.pg_ceiling_clients
                ),
            ));
        }
        if let Some(l) = &r.pg {
            let rate = l.requests_per_sec();
            let ceiling = r.pg_ceiling.as_ref().map(Rate::per_sec);
            rows.push(Row {
                name: "pg-single: alerts/s".into(),
                value: format!("{}/s", thousands(rate)),
                target: format!("≥ {}/s", thousands(PG_MIN)),
                compare: ceiling.map_or_else(String::new, |c| {
                    format!("upsert ceiling {}/s", thousands(c))
                }),
                ratio: ceiling.map_or_else(String::new, |c| format!("{:.2}×", rate / c.max(1e-9))),
                verdict: pass(rate >= PG_MIN),
            });
            rows.push(info(
                "pg-single: p50 / p99 latency, 503s",
                format!(
                    "{:.2} / {:.2} ms, {}",
                    l.quantile_ms(0.5),
                    l.quantile_ms(0.99),
                    thousands(l.backpressure as f64)
                ),
                String::new(),
            ));
        } else {
            rows.push(error_row("pg-single: alerts/s", "≥ 10,000/s"));
        }
    }

    // Memory.
    let am_mem = r.am.memory.as_ref();
    if let Some(m) = &r.memory {
        rows.push(lower_better(
            "idle RSS (1 s after start)",
            m.idle_rss as f64,
            megabytes,
            IDLE_RSS_MAX,
            am_mem.map(|a| ("Alertmanager", a.idle_rss as f64)),
            am_on,
        ));
        rows.push(lower_better(
            &format!("RSS with {} open alerts", thousands(m.loaded_alerts as f64)),
            m.loaded_rss as f64,
            megabytes,
            LOADED_RSS_MAX,
            am_mem.map(|a| ("Alertmanager", a.loaded_rss as f64)),
            am_on,
        ));
    } else if errored("memory") {
        rows.push(error_row(
            "idle RSS / RSS with open alerts",
            "≤ 20 / 150 MB",
        ));
    }

    // Lists on a large store.
    if let Some(l) = &r.lists {
        let store = format!(
            "{}{} alerts / {} incidents, half resolved",
            if plan.args.smoke && l.incidents < 10_000 {
                "smoke store: "
            } else {
                ""
            },
            thousands(l.alerts as f64),
            thousands(l.incidents as f64)
        );
        for (label, s) in &l.kinds {
            let p99 = s.quantile_ms(0.99);
            rows.push(Row {
                name: format!("lists: {label}"),
                value: format!("{:.2} / {p99:.2} ms", s.quantile_ms(0.5)),
                target: format!("p99 ≤ {LIST_P99_MAX_MS:.0} ms"),
                compare: format!("p50 / p99 of {}; {store}", s.latencies_us.len()),
                ratio: String::new(),
                verdict: pass(p99 <= LIST_P99_MAX_MS),
            });
        }
    } else if errored("lists") {
        rows.push(error_row("lists: incident and alert lists", "p99 ≤ 100 ms"));
    }

    // Start time.
    if let Some(m) = r.start.as_deref().and_then(median) {
        rows.push(lower_better(
            &format!(
                "start: empty store to /readyz 200 (median of {})",
                r.start.as_ref().map_or(0, Vec::len)
            ),
            m.as_secs_f64() * 1000.0,
            |v| format!("{v:.1} ms"),
            START_MAX_MS,
            r.am.start
                .as_deref()
                .and_then(median)
                .map(|a| ("Alertmanager /-/ready", a.as_secs_f64() * 1000.0)),
            am_on,
        ));
    } else if errored("start time") {
        rows.push(error_row("start: empty store to /readyz 200", "≤ 50 ms"));
    }
    rows
}

fn pass(ok: bool) -> Verdict {
    if ok {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

/// A row where more is better: passes at ≥ `min` and, when Alertmanager ran, above it.
fn higher_better(
    name: &str,
    value: f64,
    fmt: impl Fn(f64) -> String,
    min: f64,
    other: Option<(&str, f64)>,
    am_on: bool,
) -> Row {
    let beats = other.is_none_or(|(_, o)| value > o);
    let ok = value >= min && beats && !(am_on && other.is_none());
    Row {
        name: name.into(),
        value: fmt(value),
        target: format!(
            "≥ {}{}",
            fmt(min),
            if am_on { ", > Alertmanager" } else { "" }
        ),
        compare: other.map_or_else(String::new, |(n, o)| format!("{n} {}", fmt(o))),
        ratio: other.map_or_else(String::new, |(_, o)| format!("{:.2}×", value / o.max(1e-9))),
        verdict: pass(ok),
    }
}

/// A row where less is better: passes at ≤ `max` and, when Alertmanager ran, below it.
fn lower_better(
    name: &str,
    value: f64,
    fmt: impl Fn(f64) -> String,
    max: f64,
    other: Option<(&str, f64)>,
    am_on: bool,
) -> Row {
    let beats = other.is_none_or(|(_, o)| value < o);
    let ok = value <= max && beats && !(am_on && other.is_none());
    Row {
        name: name.into(),
        value: fmt(value),
        target: format!(
            "≤ {}{}",
            fmt(max),
            if am_on { ", < Alertmanager" } else { "" }
        ),
        compare: other.map_or_else(String::new, |(n, o)| format!("{n} {}", fmt(o))),
        ratio: other.map_or_else(String::new, |(_, o)| format!("{:.2}×", o / value.max(1e-9))),
        verdict: pass(ok),
    }
}

fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

/// `12345.6` → `12,346`.
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let head = match digits.len() % 3 {
        0 => 3,
        h => h,
    };
    let (first, rest) = digits.split_at(head.min(digits.len()));
    let mut out = first.to_string();
    for group in rest.as_bytes().chunks(3) {
        out.push(',');
        out.push_str(&String::from_utf8_lossy(group));
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(15_000.0), "15,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn rows_compare_both_ways() {
        let r = higher_better("x", 20.0, |v| format!("{v}"), 10.0, Some(("am", 5.0)), true);
        assert!(r.verdict == Verdict::Pass);
        let r = lower_better(
            "x",
            20.0,
            |v| format!("{v}"),
            10.0,
            Some(("am", 50.0)),
            true,
        );
        assert!(r.verdict == Verdict::Fail);
        let r = lower_better("x", 5.0, |v| format!("{v}"), 10.0, None, true);
        assert!(
            r.verdict == Verdict::Fail,
            "Alertmanager asked for but missing"
        );
    }
}
