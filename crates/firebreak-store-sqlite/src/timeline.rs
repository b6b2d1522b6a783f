//! Appending timeline events inside a write transaction.

use crate::rows::{db_err, to_json};
use firebreak_core::store::StoreResult;
use firebreak_core::timeline::Actor;
use firebreak_core::timestamp::Timestamp;
use rusqlite::Connection;

/// Where an event belongs and what it says.
pub(crate) struct NewEvent<'a> {
    pub incident_id: Option<i64>,
    pub service_id: Option<i64>,
    pub alert_id: Option<i64>,
    pub kind: &'a str,
    pub actor: &'a Actor,
    pub at: Timestamp,
    pub payload: Payload<'a>,
}

/// An event payload: a JSON value, or JSON text already serialised (off the writer thread).
pub(crate) enum Payload<'a> {
    Json(serde_json::Value),
    Text(&'a str),
}

impl From<serde_json::Value> for Payload<'_> {
    fn from(v: serde_json::Value) -> Self {
        Payload::Json(v)
    }
}

pub(crate) fn append(conn: &Connection, ev: NewEvent<'_>) -> StoreResult<i64> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO timeline_events (incident_id, service_id, alert_id, kind, actor_kind, actor_id, actor_name, at, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(db_err)?;
    stmt.execute((
        ev.incident_id,
        ev.service_id,
        ev.alert_id,
        ev.kind,
        ev.actor.kind.as_str(),
        ev.actor.id.as_deref(),
        ev.actor.name.as_str(),
        ev.at.as_millis(),
        match &ev.payload {
            Payload::Json(v) => std::borrow::Cow::Owned(to_json(v)),
            Payload::Text(t) => std::borrow::Cow::Borrowed(*t),
        },
    ))
    .map_err(db_err)?;
    Ok(conn.last_insert_rowid())
}
