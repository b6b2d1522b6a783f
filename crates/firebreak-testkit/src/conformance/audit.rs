//! The audit log: one hash chain from the genesis hash, exact round trips of what was appended,
//! reading the chain in pages, list filters and pagination, concurrent appends.

use super::access::collect_pages;
use crate::builders::{at, next_unique, unique_name};
use firebreak_core::audit::{
    entry_hash, verify_chain, AuditEntry, AuditFilter, AuditOutcome, NewAuditEntry, GENESIS_HASH,
};
use firebreak_core::store::{PageRequest, StoreError};
use firebreak_core::{Actor, ActorKind, AuditId, Store, TokenId};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const TASKS: usize = 8;
const APPENDS_PER_TASK: usize = 12;

/// More pages than any log here can have.
const MAX_PAGES: usize = 100_000;

/// A time region (offset from the base) that no other case uses, for since/until filters.
fn private_region() -> i64 {
    10_000_000 * (1 + next_unique() as i64)
}

/// A plain "done" entry by the user `actor_id` at `at(t)`.
fn entry(t: i64, actor_id: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: at(t),
        actor: Actor {
            kind: ActorKind::User,
            id: Some(actor_id.to_string()),
            name: "Audit Tester".into(),
        },
        action: "service.update".into(),
        object_kind: "service".into(),
        object_id: Some("7".into()),
        outcome: AuditOutcome::Done,
        ip: Some("192.0.2.10".into()),
        user_agent: Some("firebreak-testkit/1.0".into()),
        detail: json!({ "route": "PATCH /api/v1/services/7" }),
        before: Value::Null,
        after: Value::Null,
    }
}

/// The whole log, oldest first, read with `audit_chain` in pages of `limit`. Each page must hold
/// at most `limit` entries with ids increasing past the previous page, and is verified as it
/// comes, continuing from the previous page's last hash (the first page from `GENESIS_HASH`).
async fn whole_chain(store: &dyn Store, limit: u32) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    let mut prev = GENESIS_HASH.to_string();
    let mut after: Option<AuditId> = None;
    for _ in 0..MAX_PAGES {
        let batch = store
            .audit_chain(after, limit)
            .await
            .unwrap_or_else(|e| panic!("audit_chain({after:?}, {limit}) failed: {e}"));
        assert!(
            batch.len() <= limit as usize,
            "audit_chain(_, {limit}) answered {} entries",
            batch.len()
        );
        let Some(last) = batch.last() else {
            return out;
        };
        let mut previous_id = after;
        for e in &batch {
            assert!(
                previous_id.is_none_or(|p| e.id > p),
                "audit_chain must answer entries oldest first with ids after {after:?}: got {} after {previous_id:?}",
                e.id
            );
            previous_id = Some(e.id);
        }
        prev = verify_chain(&prev, &batch).unwrap_or_else(|b| {
            panic!(
                "the audit chain is broken at entry {}: {} (page after {after:?}, limit {limit})",
                b.id, b.reason
            )
        });
        after = Some(last.id);
        out.extend(batch);
    }
    panic!("audit_chain: the log never ended");
}

/// Every entry `list_audit` answers for the filter (all pages of `limit`), newest first.
async fn audit_all(store: &dyn Store, filter: &AuditFilter, limit: u32) -> Vec<AuditEntry> {
    collect_pages(
        "list_audit",
        limit,
        |e: &AuditEntry| e.id.0,
        |p| {
            store.list_audit(AuditFilter {
                page: p,
                ..filter.clone()
            })
        },
    )
    .await
}

/// Appends, retried while the store answers `Busy` (back-pressure: nothing was appended).
async fn append_retrying(store: &dyn Store, e: NewAuditEntry) -> AuditEntry {
    for _ in 0..100_000 {
        match store.append_audit(e.clone()).await {
            Ok(out) => return out,
            Err(StoreError::Busy) => tokio::task::yield_now().await,
            Err(err) => panic!("append_audit failed: {err}"),
        }
    }
    panic!("append_audit: the store stayed Busy");
}

/// Entries with every kind of content the log must keep exactly: nested objects and arrays,
/// numbers (0.071, 3, 3.0, large and negative integers, exponents), unicode and escapes, JSON
/// values that are not objects, empty and missing optional fields, several actor kinds.
fn rich_entries(t: i64, actor_id: &str) -> Vec<NewAuditEntry> {
    let e0 = NewAuditEntry {
        detail: json!({
            "route": "PATCH /api/v1/services/7",
            "ratio": 0.071,
            "count": 3,
            "three_point_oh": 3.0,
            "negative": -42,
            "tiny": 1.5e-7,
            "largest_float": 1.797_693_134_862_315_7e308,
            "beyond_f64_precision": 9_007_199_254_740_993_u64,
            "u64_max": u64::MAX,
            "i64_min": i64::MIN,
            "text": "Zürich → 東京 🚒 «quoted» \"double\" back\\slash\nnew line\ttab",
            "control": "nul \u{0} bell \u{7} del \u{7f}",
            "ключ": "значение",
            "": "empty key",
            "zeta": 1,
            "alpha": 2,
            "nested": {
                "list": [1, 2.5, "three", null, true, false, [], {}],
                "deeper": { "deepest": { "value": 0.071, "unit": "s" } },
            },
        }),
        before: Value::Null,
        after: json!({
            "name": "payments-api",
            "description": "Zahlungen — 支付",
            "auto_resolve_incidents": false,
            "team_id": "12",
            "thresholds": { "p99_ms": 250, "error_rate": 0.071 },
        }),
        ..entry(t, actor_id)
    };
    let e1 = NewAuditEntry {
        actor: Actor::token(TokenId(42), "ci token ✓"),
        action: "access.denied".into(),
        object_kind: "grant".into(),
        object_id: None,
        outcome: AuditOutcome::Denied,
        ip: Some("2001:db8::1".into()),
        user_agent: None,
        detail: json!({ "route": "DELETE /api/v1/grants/3", "reason": "no grant covers this" }),
        before: Value::Null,
        after: Value::Null,
        ..entry(t + 1_000, actor_id)
    };
    let e2 = NewAuditEntry {
        actor: Actor::system(),
        action: "token.rotate".into(),
        object_kind: "token".into(),
        object_id: Some("token-🔑".into()),
        ip: None,
        user_agent: Some(String::new()),
        detail: json!("rotated 🔑 by the system"),
        before: json!([1, "two", 3.0, { "four": [4] }]),
        after: json!(0.071),
        ..entry(t + 2_000, actor_id)
    };
    // Earlier than the entry before it: the chain is in append order, not time order.
    let e3 = NewAuditEntry {
        action: "user.update".into(),
        object_kind: "user".into(),
        object_id: Some("3".into()),
        detail: json!({}),
        before: json!({ "role": "responder", "disabled": false, "time_zone": "Asia/Tokyo" }),
        after: json!({ "role": "observer", "disabled": true, "time_zone": "Europe/Zurich" }),
        ..entry(t + 1_500, actor_id)
    };
    let e4 = NewAuditEntry {
        detail: json!(3),
        before: json!(true),
        after: json!(""),
        ..entry(t + 1_500, actor_id)
    };
    vec![e0, e1, e2, e3, e4]
}

/// append_audit chains each entry to the one before (the first one of an empty log to
/// `GENESIS_HASH`) with `entry_hash`; audit_chain reads the entries back exactly, oldest first,
/// honouring `after` and `limit`; verify_chain over the whole log succeeds page by page.
pub async fn case_audit_chain(store: &dyn Store) {
    let t = private_region();
    let actor_id = unique_name("auditor");
    let head = store.audit_chain(None, 1).await.expect("audit_chain");
    assert!(
        head.len() <= 1,
        "audit_chain(None, 1) answers at most one entry, got {}",
        head.len()
    );
    let existing = whole_chain(store, PageRequest::MAX_LIMIT).await;
    assert_eq!(
        head.first(),
        existing.first(),
        "audit_chain(None, 1) answers the first entry of the log"
    );
    if let Some(first) = existing.first() {
        assert_eq!(
            first.prev_hash, GENESIS_HASH,
            "the first entry of the log chains from GENESIS_HASH"
        );
    }
    let mut prev = existing
        .last()
        .map_or_else(|| GENESIS_HASH.to_string(), |e| e.hash.clone());
    let mut last_id = existing.last().map(|e| e.id);

    let entries = rich_entries(t, &actor_id);
    let mut appended: Vec<AuditEntry> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let got = store
            .append_audit(e.clone())
            .await
            .unwrap_or_else(|err| panic!("append_audit (entry {i}) failed: {err}"));
        assert_eq!(
            &got.entry, e,
            "append_audit answers the entry it was given (entry {i})"
        );
        if i == 0 && existing.is_empty() {
            assert_eq!(
                got.prev_hash, GENESIS_HASH,
                "the first entry appended to an empty log chains from GENESIS_HASH"
            );
        }
        assert_eq!(
            got.prev_hash, prev,
            "entry {i}'s prev_hash is the hash of the entry appended before it"
        );
        assert_eq!(
            got.hash,
            entry_hash(&prev, e),
            "entry {i}'s hash is entry_hash(prev_hash, entry)"
        );
        if let Some(l) = last_id {
            assert!(
                got.id > l,
                "ids increase in append order: {} after {l}",
                got.id
            );
        }
        prev = got.hash.clone();
        last_id = Some(got.id);
        appended.push(got);
    }

    let after_existing = existing.last().map(|e| e.id);
    let read = store
        .audit_chain(after_existing, 100)
        .await
        .expect("audit_chain");
    for (i, (r, a)) in read.iter().zip(&appended).enumerate() {
        assert_eq!(
            r, a,
            "audit_chain must read back entry {i} exactly as appended (JSON, numbers, unicode)"
        );
    }
    assert_eq!(
        read, appended,
        "audit_chain after the existing entries answers exactly the appended ones, oldest first"
    );
    assert_eq!(
        store
            .audit_chain(Some(appended[0].id), 2)
            .await
            .expect("audit_chain"),
        appended[1..3].to_vec(),
        "audit_chain(after, 2): the two entries after `after`"
    );
    assert_eq!(
        store
            .audit_chain(appended.last().map(|e| e.id), 10)
            .await
            .expect("audit_chain"),
        Vec::<AuditEntry>::new(),
        "nothing after the last entry"
    );

    let whole = whole_chain(store, PageRequest::MAX_LIMIT).await;
    assert_eq!(
        whole[existing.len()..].to_vec(),
        appended,
        "the log is the existing entries followed by the appended ones"
    );
    assert_eq!(
        verify_chain(GENESIS_HASH, &whole),
        Ok(prev.clone()),
        "verify_chain over the whole log succeeds and ends at the last hash"
    );
    for limit in [1, 2, 3] {
        assert_eq!(
            whole_chain(store, limit).await,
            whole,
            "reading the chain in pages of {limit} gives the same log"
        );
    }

    let listed = audit_all(
        store,
        &AuditFilter {
            actor_id: Some(actor_id.clone()),
            ..Default::default()
        },
        PageRequest::MAX_LIMIT,
    )
    .await;
    let mut newest: Vec<AuditEntry> = appended
        .iter()
        .filter(|e| e.entry.actor.id.as_deref() == Some(actor_id.as_str()))
        .cloned()
        .collect();
    newest.reverse();
    assert_eq!(
        listed, newest,
        "list_audit reads the entries back exactly, newest first"
    );
}

/// list_audit filters by actor id, action, object kind, object id, outcome and time (alone and
/// combined) and pages newest first.
pub async fn case_audit_filters(store: &dyn Store) {
    let t = private_region();
    let (a, b) = (unique_name("actor-a"), unique_name("actor-b"));
    let (x, y) = (unique_name("thing.update"), unique_name("access.denied"));
    let (k, k2) = (unique_name("kind"), unique_name("other-kind"));
    let (o1, o2) = (unique_name("obj"), unique_name("obj"));
    use AuditOutcome::{Denied, Done};
    // (actor, action, kind, object, outcome, at offset)
    type Spec<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        AuditOutcome,
        i64,
    );
    let specs: Vec<Spec> = vec![
        (&a, &x, &k, Some(&o1), Done, 0),
        (&b, &y, &k, Some(&o2), Denied, 1_000),
        (&a, &y, &k, None, Denied, 2_000),
        (&a, &x, &k, Some(&o1), Done, 3_000),
        (&b, &x, &k, Some(&o2), Done, 4_000),
        (&a, &x, &k, Some(&o1), Denied, 5_000),
        (&b, &y, &k, Some(&o1), Done, 500),
        (&a, &x, &k2, Some(&o1), Done, 2_500),
    ];
    let mut appended = Vec::new();
    for (actor, action, kind, object, outcome, offset) in specs {
        let e = NewAuditEntry {
            action: action.to_string(),
            object_kind: kind.to_string(),
            object_id: object.map(str::to_string),
            outcome,
            detail: json!({ "offset": offset }),
            ..entry(t + offset, actor)
        };
        appended.push(
            store
                .append_audit(e)
                .await
                .unwrap_or_else(|err| panic!("append_audit failed: {err}")),
        );
    }
    let checks: Vec<(&str, AuditFilter, Vec<usize>)> = vec![
        (
            "actor a",
            AuditFilter {
                actor_id: Some(a.clone()),
                ..Default::default()
            },
            vec![7, 5, 3, 2, 0],
        ),
        (
            "actor b",
            AuditFilter {
                actor_id: Some(b.clone()),
                ..Default::default()
            },
            vec![6, 4, 1],
        ),
        (
            "action y",
            AuditFilter {
                action: Some(y.clone()),
                ..Default::default()
            },
            vec![6, 2, 1],
        ),
        (
            "object kind k",
            AuditFilter {
                object_kind: Some(k.clone()),
                ..Default::default()
            },
            vec![6, 5, 4, 3, 2, 1, 0],
        ),
        (
            "object kind k2",
            AuditFilter {
                object_kind: Some(k2.clone()),
                ..Default::default()
            },
            vec![7],
        ),
        (
            "object o1",
            AuditFilter {
                object_id: Some(o1.clone()),
                ..Default::default()
            },
            vec![7, 6, 5, 3, 0],
        ),
        (
            "object o2",
            AuditFilter {
                object_id: Some(o2.clone()),
                ..Default::default()
            },
            vec![4, 1],
        ),
        (
            "denied by actor a",
            AuditFilter {
                actor_id: Some(a.clone()),
                outcome: Some(Denied),
                ..Default::default()
            },
            vec![5, 2],
        ),
        (
            "done with action x",
            AuditFilter {
                action: Some(x.clone()),
                outcome: Some(Done),
                ..Default::default()
            },
            vec![7, 4, 3, 0],
        ),
        (
            "between t+900 and t+3100",
            AuditFilter {
                since: Some(at(t + 900)),
                until: Some(at(t + 3_100)),
                ..Default::default()
            },
            vec![7, 3, 2, 1],
        ),
        (
            "actor b since t+2100",
            AuditFilter {
                actor_id: Some(b.clone()),
                since: Some(at(t + 2_100)),
                ..Default::default()
            },
            vec![4],
        ),
        (
            "kind k until t+1500",
            AuditFilter {
                object_kind: Some(k.clone()),
                until: Some(at(t + 1_500)),
                ..Default::default()
            },
            vec![6, 1, 0],
        ),
        (
            "every filter at once",
            AuditFilter {
                actor_id: Some(a.clone()),
                action: Some(x.clone()),
                object_kind: Some(k.clone()),
                object_id: Some(o1.clone()),
                outcome: Some(Done),
                since: Some(at(t - 100)),
                until: Some(at(t + 3_500)),
                page: PageRequest::default(),
            },
            vec![3, 0],
        ),
        (
            "no match (actor a, action y, done)",
            AuditFilter {
                actor_id: Some(a.clone()),
                action: Some(y.clone()),
                outcome: Some(Done),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (what, f, expected) in checks {
        let want: Vec<AuditEntry> = expected.iter().map(|i| appended[*i].clone()).collect();
        assert_eq!(
            audit_all(store, &f, PageRequest::MAX_LIMIT).await,
            want,
            "list_audit filtered by {what}: exactly these entries, newest first"
        );
    }
    let kind_k = AuditFilter {
        object_kind: Some(k.clone()),
        ..Default::default()
    };
    let all = audit_all(store, &kind_k, PageRequest::MAX_LIMIT).await;
    for limit in [1, 2, 3] {
        assert_eq!(
            audit_all(store, &kind_k, limit).await,
            all,
            "list_audit with limit {limit} across pages must equal the single-page listing"
        );
    }
    let first = store
        .list_audit(AuditFilter {
            page: PageRequest {
                limit: 2,
                cursor: None,
            },
            ..kind_k
        })
        .await
        .expect("list_audit");
    assert_eq!(first.items, all[..2].to_vec(), "the first page of two");
    assert!(
        first.next_cursor.is_some(),
        "more entries remain: next_cursor must be set"
    );
}

/// 8 tasks append at once (`Arc<dyn Store>`): every append is answered and stored exactly once,
/// and the whole log still verifies as one chain from `GENESIS_HASH`.
pub async fn case_concurrent_audit_appends(store: Arc<dyn Store>) {
    let t = private_region();
    let actor_id = unique_name("concurrent-auditor");
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let actor_id = actor_id.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for n in 0..APPENDS_PER_TASK {
                let e = NewAuditEntry {
                    object_id: Some(format!("{task}-{n}")),
                    detail: json!({ "task": task, "n": n, "ratio": 0.071, "who": "Zoë" }),
                    ..entry(t + (n * TASKS + task) as i64, &actor_id)
                };
                let got = append_retrying(&*store, e.clone()).await;
                assert_eq!(got.entry, e, "append_audit answers the entry it was given");
                assert_eq!(
                    got.hash,
                    entry_hash(&got.prev_hash, &e),
                    "hash = entry_hash(prev_hash, entry)"
                );
                out.push(got);
            }
            out
        }));
    }
    let mut appended: Vec<AuditEntry> = Vec::new();
    for h in handles {
        match h.await {
            Ok(entries) => appended.extend(entries),
            Err(e) => panic!("an append task failed: {e}"),
        }
    }
    assert_eq!(appended.len(), TASKS * APPENDS_PER_TASK);
    let ids: BTreeSet<AuditId> = appended.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), appended.len(), "every append got its own id");
    let prevs: BTreeSet<&str> = appended.iter().map(|e| e.prev_hash.as_str()).collect();
    assert_eq!(
        prevs.len(),
        appended.len(),
        "no two appends chained from the same entry (a fork)"
    );

    let whole = whole_chain(&*store, PageRequest::MAX_LIMIT).await;
    assert_eq!(
        whole_chain(&*store, 7).await,
        whole,
        "reading the chain in pages of 7 gives the same log"
    );
    let stored: BTreeMap<AuditId, &AuditEntry> = whole.iter().map(|e| (e.id, e)).collect();
    for e in &appended {
        assert_eq!(
            stored.get(&e.id).copied(),
            Some(e),
            "the log holds entry {} exactly as append_audit answered it",
            e.id
        );
    }

    let mut newest = appended.clone();
    newest.sort_by_key(|e| std::cmp::Reverse(e.id));
    assert_eq!(
        audit_all(
            &*store,
            &AuditFilter {
                actor_id: Some(actor_id),
                ..Default::default()
            },
            10,
        )
        .await,
        newest,
        "list_audit answers every concurrent entry once, newest first"
    );
}
