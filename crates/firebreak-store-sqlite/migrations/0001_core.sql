-- 0001: services, integrations, alerts, incidents, timeline, jobs, api tokens.
-- Timestamps are UTC epoch milliseconds. JSON columns hold JSON text.

CREATE TABLE services (
    id                      INTEGER PRIMARY KEY,
    name                    TEXT    NOT NULL,
    description             TEXT    NOT NULL DEFAULT '',
    auto_resolve_incidents  INTEGER NOT NULL DEFAULT 1,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    deleted_at              INTEGER
);

CREATE TABLE integrations (
    id                    INTEGER PRIMARY KEY,
    service_id            INTEGER NOT NULL REFERENCES services(id),
    kind                  TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    key                   TEXT    NOT NULL,
    severity_override     TEXT,
    auto_resolve_after_ms INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    deleted_at            INTEGER
);
-- Keys stay reserved after deletion so an old sender can never land in a new integration.
CREATE UNIQUE INDEX integrations_key ON integrations(key);
CREATE INDEX integrations_service ON integrations(service_id);

CREATE TABLE incidents (
    id                    INTEGER PRIMARY KEY,
    number                INTEGER NOT NULL UNIQUE,
    title                 TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    severity              TEXT    NOT NULL,
    urgency               TEXT    NOT NULL,
    origin_integration_id INTEGER,
    group_key             TEXT,
    alert_count           INTEGER NOT NULL DEFAULT 0,
    open_alert_count      INTEGER NOT NULL DEFAULT 0,
    detected_at           INTEGER NOT NULL,
    acknowledged_at       INTEGER,
    resolved_at           INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX incidents_open_group ON incidents(origin_integration_id, group_key)
    WHERE status <> 'resolved' AND group_key IS NOT NULL;
CREATE INDEX incidents_status ON incidents(status, id);

CREATE TABLE incident_services (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    service_id  INTEGER NOT NULL REFERENCES services(id),
    PRIMARY KEY (incident_id, service_id)
) WITHOUT ROWID;
CREATE INDEX incident_services_service ON incident_services(service_id, incident_id);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    service_id      INTEGER NOT NULL REFERENCES services(id),
    integration_id  INTEGER NOT NULL REFERENCES integrations(id),
    incident_id     INTEGER REFERENCES incidents(id),
    dedup_key       TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    summary         TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    labels          TEXT    NOT NULL,
    details         TEXT    NOT NULL,
    links           TEXT    NOT NULL,
    group_key       TEXT,
    count           INTEGER NOT NULL,
    first_seen_at   INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at     INTEGER
);
-- At most one open alert per (integration, dedup key): kept by the single writer thread with an
-- in-memory index (src/open_alerts.rs), loaded at start from alerts_status. A unique index here
-- would dirty a random page per new alert (dedup keys are random) and triple the WAL volume.
CREATE INDEX alerts_incident ON alerts(incident_id);
CREATE INDEX alerts_status ON alerts(status, id);
CREATE INDEX alerts_service ON alerts(service_id, id);

CREATE TABLE timeline_events (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incidents(id),
    service_id  INTEGER REFERENCES services(id),
    alert_id    INTEGER REFERENCES alerts(id),
    kind        TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    payload     TEXT    NOT NULL,
    visibility  TEXT    NOT NULL DEFAULT 'internal',
    pinned      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX timeline_incident ON timeline_events(incident_id, id) WHERE incident_id IS NOT NULL;
CREATE INDEX timeline_service ON timeline_events(service_id, id) WHERE incident_id IS NULL;

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    run_at       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(run_at);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    token_hash TEXT    NOT NULL UNIQUE,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
