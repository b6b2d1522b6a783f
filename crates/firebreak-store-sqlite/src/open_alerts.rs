//! The writer's in-memory index of open alerts by (integration, dedup key). It replaces a unique
//! index in the database: dedup keys are random, so such an index dirties a random page per new
//! alert, which was most of the write-ahead log's volume. The single writer thread owns it, which
//! is what keeps one open alert per key. Changes are undone when a write or a batch rolls back.

use crate::rows::db_err;
use firebreak_core::alert::AlertStatus;
use firebreak_core::store::StoreResult;
use rusqlite::Connection;
use std::collections::HashMap;

/// An open alert as the dedup path needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenAlert {
    pub id: i64,
    pub status: AlertStatus,
    pub incident_id: Option<i64>,
}

type Undo = (i64, String, Option<OpenAlert>);

#[derive(Default)]
pub(crate) struct OpenAlerts {
    by_key: HashMap<i64, HashMap<String, OpenAlert>>,
    loaded: bool,
    /// Previous values of entries changed by the running write, newest last.
    op_undo: Vec<Undo>,
    /// Previous values of entries changed by the writes of the running batch.
    batch_undo: Vec<Undo>,
}

impl OpenAlerts {
    /// Loads the open alerts once the schema exists (the writer calls this before each batch).
    pub fn ensure_loaded(&mut self, conn: &Connection) -> StoreResult<()> {
        if self.loaded {
            return Ok(());
        }
        let has_alerts: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alerts')",
                [],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if !has_alerts {
            return Ok(());
        }
        let mut stmt = conn
            .prepare("SELECT id, integration_id, dedup_key, status, incident_id FROM alerts WHERE status IN ('triggered', 'acknowledged')")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                let status: String = r.get(3)?;
                Ok((
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    OpenAlert {
                        id: r.get(0)?,
                        status: AlertStatus::parse(&status).unwrap_or(AlertStatus::Triggered),
                        incident_id: r.get(4)?,
                    },
                ))
            })
            .map_err(db_err)?;
        for row in rows {
            let (integration, key, alert) = row.map_err(db_err)?;
            self.by_key
                .entry(integration)
                .or_default()
                .insert(key, alert);
        }
        self.loaded = true;
        Ok(())
    }

    pub fn get(&self, integration: i64, key: &str) -> Option<OpenAlert> {
        self.by_key
            .get(&integration)
            .and_then(|m| m.get(key))
            .copied()
    }

    /// Sets (`Some`) or removes (`None`) the open alert of a key, remembering the old value.
    pub fn set(&mut self, integration: i64, key: &str, value: Option<OpenAlert>) {
        let map = self.by_key.entry(integration).or_default();
        let old = match value {
            Some(v) => map.insert(key.to_string(), v),
            None => map.remove(key),
        };
        self.op_undo.push((integration, key.to_string(), old));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_key.values().map(HashMap::len).sum()
    }

    /// The running write finished: keep its changes (`ok`) or undo them.
    pub fn end_write(&mut self, ok: bool) {
        if ok {
            self.batch_undo.append(&mut self.op_undo);
        } else {
            let undo = std::mem::take(&mut self.op_undo);
            self.undo(undo);
        }
    }

    /// The batch committed (`true`) or rolled back (`false`).
    pub fn end_batch(&mut self, committed: bool) {
        self.end_write(true);
        let undo = std::mem::take(&mut self.batch_undo);
        if !committed {
            self.undo(undo);
        }
    }

    fn undo(&mut self, log: Vec<Undo>) {
        for (integration, key, old) in log.into_iter().rev() {
            let map = self.by_key.entry(integration).or_default();
            match old {
                Some(v) => {
                    map.insert(key, v);
                }
                None => {
                    map.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(id: i64) -> Option<OpenAlert> {
        Some(OpenAlert {
            id,
            status: AlertStatus::Triggered,
            incident_id: None,
        })
    }

    #[test]
    fn failed_writes_and_rolled_back_batches_leave_no_trace() {
        let mut m = OpenAlerts::default();
        m.set(1, "a", open(1));
        m.end_write(true);
        m.end_batch(true);
        m.set(1, "a", None);
        m.set(1, "b", open(2));
        m.end_write(false);
        assert_eq!(m.get(1, "a"), open(1));
        assert_eq!(m.get(1, "b"), None);
        m.set(1, "c", open(3));
        m.end_write(true);
        m.set(1, "a", None);
        m.end_write(true);
        m.end_batch(false);
        assert_eq!(m.get(1, "a"), open(1));
        assert_eq!(m.get(1, "c"), None);
        assert_eq!(m.len(), 1);
    }
}
