//! The ingest write path: group commit. Callers put their `IngestRequest` on a bounded queue; a
//! few writer tasks each take everything that is waiting (up to `max_batch_events` events) and
//! apply it with one call of the `fb_ingest` PL/pgSQL function — one round trip and one commit
//! (one fsync) for the whole batch. Callers are answered only after that commit.
//!
//! Inside `fb_ingest`, events that are independent of the rest of the batch (a trigger without a
//! group key whose key occurs once in the batch — the common single-alert request) are applied
//! set-based, a handful of statements for the whole batch; the others (acknowledge, resolve,
//! grouped or repeated keys) one by one, in order.
//!
//! Concurrency (writers of this process and of other processes on the same database) is handled
//! there too: advisory locks on every (integration, dedup key) and (integration, group key) of the
//! batch, taken in sorted order, then incident rows, then alert rows, each in id order — the order
//! every write in this adapter uses — so writers never deadlock; the partial unique indexes
//! (one open alert per key, one open incident per group) back this up. Should a deadlock or
//! serialization failure still happen, the batch re-runs. Any other error the server reports
//! re-runs its requests one by one so that one bad request (say, a NUL byte in a summary) cannot
//! fail its neighbours.

use crate::error::{retry, Attempt};
use crate::rules::action_name;
use deadpool_postgres::Pool;
use firebreak_core::alert::AlertAction;
use firebreak_core::ids::{AlertId, IncidentId};
use firebreak_core::store::{
    CommitStats, IngestEffect, IngestOutcome, IngestRequest, StoreError, StoreResult,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

const INGEST_SQL: &str = "SELECT o_req, o_ord, o_effect, o_alert, o_incident FROM fb_ingest(\
     $1::jsonb, $2::bigint[], $3::bigint[], $4::integer[], $5::boolean[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::text[], $11::jsonb[], $12::jsonb[], $13::jsonb[], $14::text[])";

type Reply = oneshot::Sender<StoreResult<Vec<IngestOutcome>>>;

struct Pending {
    req: IngestRequest,
    reply: Reply,
}

struct Shared {
    pool: Pool,
    rules: Value,
    /// Whether the state machine lets independent triggers take the set-based path.
    fast_triggers: bool,
    stats: Arc<CommitStats>,
    max_batch_events: usize,
}

#[derive(Clone)]
pub(crate) struct Ingestor {
    queue: mpsc::Sender<Pending>,
}

impl Ingestor {
    /// Spawns `writers` writer tasks on the current Tokio runtime. They stop when the last
    /// `Ingestor` clone is dropped and the queue has drained.
    pub(crate) fn start(
        pool: Pool,
        writers: usize,
        queue_capacity: usize,
        max_batch_events: usize,
        stats: Arc<CommitStats>,
    ) -> Self {
        let (queue, rx) = mpsc::channel(queue_capacity.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared {
            pool,
            rules: crate::rules::rules(),
            fast_triggers: crate::rules::triggers_open_or_repeat(),
            stats,
            max_batch_events: max_batch_events.max(1),
        });
        for _ in 0..writers.max(1) {
            tokio::spawn(run(shared.clone(), rx.clone()));
        }
        Ingestor { queue }
    }

    pub(crate) async fn ingest(&self, req: IngestRequest) -> StoreResult<Vec<IngestOutcome>> {
        if req.events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Pending { req, reply }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(StoreError::Busy),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(StoreError::Unavailable(
                    "the ingest writers have stopped".into(),
                ))
            }
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the ingest writer stopped".into()))?
    }
}

async fn run(shared: Arc<Shared>, rx: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { break };
            let mut events = first.req.events.len();
            let mut batch = vec![first];
            while events < shared.max_batch_events {
                match rx.try_recv() {
                    Ok(p) => {
                        events += p.req.events.len();
                        batch.push(p);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        apply(&shared, batch).await;
    }
    tracing::debug!("postgres ingest writer stopped");
}

async fn apply(shared: &Shared, batch: Vec<Pending>) {
    let reqs: Vec<&IngestRequest> = batch.iter().map(|p| &p.req).collect();
    match retry!(execute(shared, &reqs)) {
        Ok(results) => {
            shared.stats.observe(batch.len() as u64);
            for (p, result) in batch.into_iter().zip(results) {
                let _ = p.reply.send(result);
            }
        }
        // The server reported an error, so the batch was rolled back: re-run its requests alone.
        // (Not after a lost connection: the commit may have happened; callers get Unavailable.)
        Err(e) if batch.len() > 1 && !matches!(e, StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, requests = batch.len(), "ingest batch failed; applying its requests one by one");
            for p in batch {
                let result = match retry!(execute(shared, &[&p.req])) {
                    Ok(mut results) => {
                        shared.stats.observe(1);
                        results.pop().unwrap_or_else(|| {
                            Err(StoreError::Internal("fb_ingest answered nothing".into()))
                        })
                    }
                    Err(e) => Err(e),
                };
                let _ = p.reply.send(result);
            }
        }
        Err(e) => {
            for p in batch {
                let _ = p.reply.send(Err(e.clone()));
            }
        }
    }
}

/// One attempt at applying `reqs` in one transaction; one result per request.
async fn execute(
    shared: &Shared,
    reqs: &[&IngestRequest],
) -> Attempt<Vec<StoreResult<Vec<IngestOutcome>>>> {
    let n: usize = reqs.iter().map(|r| r.events.len()).sum();
    // Events whose (integration, dedup key) occurs once in the batch: a trigger among them without
    // a group key is independent of every other event and may take the set-based path.
    let mut seen: HashMap<(i64, &str), u32> = HashMap::with_capacity(n);
    for req in reqs {
        for ev in &req.events {
            *seen
                .entry((req.integration.id.0, ev.dedup_key.as_str()))
                .or_default() += 1;
        }
    }
    let mut r_integration = Vec::with_capacity(reqs.len());
    let mut r_received = Vec::with_capacity(reqs.len());
    let mut e_req: Vec<i32> = Vec::with_capacity(n);
    let mut e_fast: Vec<bool> = Vec::with_capacity(n);
    let mut e_action = Vec::with_capacity(n);
    let mut e_dedup = Vec::with_capacity(n);
    let mut e_summary = Vec::with_capacity(n);
    let mut e_severity = Vec::with_capacity(n);
    let mut e_source = Vec::with_capacity(n);
    let mut e_labels = Vec::with_capacity(n);
    let mut e_details = Vec::with_capacity(n);
    let mut e_links = Vec::with_capacity(n);
    let mut e_group = Vec::with_capacity(n);
    // Event number in the batch (0-based) → (request, event in request).
    let mut place: Vec<(usize, usize)> = Vec::with_capacity(n);
    for (i, req) in reqs.iter().enumerate() {
        r_integration.push(req.integration.id.0);
        r_received.push(req.received_at.as_millis());
        let index =
            i32::try_from(i + 1).map_err(|_| StoreError::Invalid("batch too large".into()))?;
        for (j, ev) in req.events.iter().enumerate() {
            let unique = seen.get(&(req.integration.id.0, ev.dedup_key.as_str())) == Some(&1);
            place.push((i, j));
            e_req.push(index);
            e_fast.push(
                shared.fast_triggers
                    && unique
                    && ev.action == AlertAction::Trigger
                    && ev.group_key.is_none(),
            );
            e_action.push(action_name(ev.action));
            e_dedup.push(ev.dedup_key.as_str());
            e_summary.push(ev.summary.as_str());
            e_severity.push(ev.severity.as_str());
            e_source.push(ev.source.as_str());
            e_labels.push(Value::Object(
                ev.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                    .collect(),
            ));
            e_details.push(&ev.details);
            e_links.push(
                serde_json::to_value(&ev.links).map_err(|e| StoreError::Invalid(e.to_string()))?,
            );
            e_group.push(ev.group_key.as_deref());
        }
    }
    let client = shared.pool.get().await?;
    let stmt = client.prepare_cached(INGEST_SQL).await?;
    let rows = client
        .query(
            &stmt,
            &[
                &shared.rules,
                &r_integration,
                &r_received,
                &e_req,
                &e_fast,
                &e_action,
                &e_dedup,
                &e_summary,
                &e_severity,
                &e_source,
                &e_labels,
                &e_details,
                &e_links,
                &e_group,
            ],
        )
        .await?;
    drop(client);

    let mut outcomes: Vec<Vec<Option<IngestOutcome>>> =
        reqs.iter().map(|r| vec![None; r.events.len()]).collect();
    let mut gone: Vec<bool> = vec![false; reqs.len()];
    for row in &rows {
        let req_no: i32 = row.try_get(0)?;
        let ord: Option<i32> = row.try_get(1)?;
        let effect: &str = row.try_get(2)?;
        let alert: Option<i64> = row.try_get(3)?;
        let incident: Option<i64> = row.try_get(4)?;
        let effect = match effect {
            "opened" => IngestEffect::Opened,
            "repeated" => IngestEffect::Repeated,
            "acknowledged" => IngestEffect::Acknowledged,
            "resolved" => IngestEffect::Resolved,
            "ignored" => IngestEffect::Ignored,
            "gone" => {
                let idx = usize::try_from(req_no - 1).map_err(|_| internal("request index"))?;
                *gone.get_mut(idx).ok_or_else(|| internal("request index"))? = true;
                continue;
            }
            _ => return Err(internal("effect").into()),
        };
        let ord = ord
            .and_then(|o| usize::try_from(o - 1).ok())
            .ok_or_else(|| internal("event index"))?;
        let &(i, j) = place.get(ord).ok_or_else(|| internal("event index"))?;
        let (Some(req), Some(slot)) = (reqs.get(i), outcomes.get_mut(i).and_then(|o| o.get_mut(j)))
        else {
            return Err(internal("event index").into());
        };
        let ev = req.events.get(j).ok_or_else(|| internal("event index"))?;
        *slot = Some(IngestOutcome {
            dedup_key: ev.dedup_key.clone(),
            effect,
            alert_id: alert.map(AlertId),
            incident_id: incident.map(IncidentId),
        });
    }
    let mut results = Vec::with_capacity(reqs.len());
    for ((req, outs), gone) in reqs.iter().zip(outcomes).zip(gone) {
        if gone {
            results.push(Err(StoreError::NotFound(format!(
                "integration {}",
                req.integration.id
            ))));
        } else {
            let outs: Option<Vec<IngestOutcome>> = outs.into_iter().collect();
            results.push(Ok(outs.ok_or_else(|| internal("event count"))?));
        }
    }
    Ok(results)
}

fn internal(what: &str) -> StoreError {
    StoreError::Internal(format!("fb_ingest answered an unexpected {what}"))
}
