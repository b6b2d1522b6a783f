//! The OpenAPI 3 description of the HTTP API, served at `/api/v1/openapi.json`. A black-box test
//! checks that every operation listed here is routed.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::OnceLock;

pub async fn document() -> Response {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(DOC.get_or_init(build).clone()).into_response()
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn problem_responses() -> Value {
    let p = json!({"description": "problem", "content": {"application/problem+json": {"schema": r("Problem")}}});
    json!({"400": p, "401": p, "404": p, "503": p})
}

fn op(
    summary: &str,
    ok_code: &str,
    ok_schema: Option<Value>,
    body: Option<Value>,
    params: Vec<Value>,
) -> Value {
    let mut responses = problem_responses();
    let ok = match ok_schema {
        Some(s) => {
            json!({"description": "success", "content": {"application/json": {"schema": s}}})
        }
        None => json!({"description": "success"}),
    };
    responses[ok_code] = ok;
    let mut o = json!({"summary": summary, "responses": responses, "security": [{"bearer": []}]});
    if let Some(b) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": b}}});
    }
    if !params.is_empty() {
        o["parameters"] = Value::Array(params);
    }
    o
}

fn path_id() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}})
}

fn q(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": "string"}})
}

fn list_of(item: &str) -> Value {
    json!({"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": r(item)},
        "next_cursor": {"type": ["string", "null"]}}})
}

fn page_params() -> Vec<Value> {
    vec![
        q("limit", "1–500, default 50"),
        q("cursor", "next_cursor of the previous page"),
    ]
}

fn filters(severity: &str) -> Vec<Value> {
    let mut v = vec![
        q(
            "status",
            "comma-separated: open, triggered, acknowledged, resolved",
        ),
        q("service_id", "only this service"),
        q("severity", severity),
        q("since", "RFC 3339; first seen / detected at or after"),
        q("until", "RFC 3339; before"),
    ];
    v.extend(page_params());
    v
}

fn audit_params() -> Vec<Value> {
    let mut v = vec![
        q("actor_id", "user id (or token id for service tokens)"),
        q("action", "e.g. service.create, access.denied"),
        q("object_kind", "e.g. service, incident, route"),
        q("object_id", "the object's id"),
        q("outcome", "done or denied"),
        q("since", "RFC 3339"),
        q("until", "RFC 3339"),
    ];
    v.extend(page_params());
    v
}

fn public(mut o: Value) -> Value {
    o["security"] = json!([]);
    o
}

fn build() -> Value {
    let ts = json!({"type": "string", "format": "date-time"});
    let ts_null = json!({"type": ["string", "null"], "format": "date-time"});
    let id = json!({"type": "string"});
    let id_null = json!({"type": ["string", "null"]});
    let mut alert_params = filters("critical, error, warning, info");
    alert_params.push(q("incident_id", "only alerts of this incident"));
    json!({
      "openapi": "3.1.0",
      "info": {"title": "firebreak API", "version": env!("CARGO_PKG_VERSION"),
               "description": "Incident response: alerts become incidents. Errors are application/problem+json (RFC 9457)."},
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
          "Problem": {"type": "object", "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}}},
          "Service": {"type": "object", "properties": {"id": id, "name": {"type": "string"}, "description": {"type": "string"}, "auto_resolve_incidents": {"type": "boolean"}, "team_id": id_null, "created_at": ts, "updated_at": ts}},
          "ServiceCreate": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "auto_resolve_incidents": {"type": "boolean"}, "team_id": id}},
          "ServiceUpdate": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "auto_resolve_incidents": {"type": "boolean"}, "team_id": id_null}},
          "Integration": {"type": "object", "properties": {"id": id, "service_id": id, "kind": {"enum": ["pagerduty", "alertmanager", "generic"]}, "name": {"type": "string"}, "key": {"type": "string"}, "severity_override": {"type": ["string", "null"]}, "auto_resolve_after": {"type": ["string", "null"]}, "created_at": ts, "updated_at": ts}},
          "IntegrationCreate": {"type": "object", "required": ["kind", "name"], "additionalProperties": false, "properties": {"kind": {"enum": ["pagerduty", "alertmanager", "generic"]}, "name": {"type": "string"}, "key": {"type": "string", "minLength": 32, "maxLength": 32}, "severity_override": {"enum": ["SEV1", "SEV2", "SEV3", "SEV4"]}, "auto_resolve_after": {"type": "string", "description": "duration, e.g. 4h"}}},
          "IntegrationUpdate": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "severity_override": {"type": ["string", "null"]}, "auto_resolve_after": {"type": ["string", "null"]}}},
          "Alert": {"type": "object", "properties": {"id": id, "service_id": id, "integration_id": id, "incident_id": id_null, "dedup_key": {"type": "string"}, "status": {"enum": ["triggered", "acknowledged", "resolved"]}, "severity": {"enum": ["critical", "error", "warning", "info"]}, "summary": {"type": "string"}, "source": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}, "details": {}, "links": {"type": "array"}, "group_key": {"type": ["string", "null"]}, "count": {"type": "integer"}, "first_seen_at": ts, "last_seen_at": ts, "acknowledged_at": ts_null, "resolved_at": ts_null}},
          "Incident": {"type": "object", "properties": {"id": id, "number": {"type": "integer"}, "title": {"type": "string"}, "status": {"enum": ["triggered", "acknowledged", "resolved"]}, "severity": {"enum": ["SEV1", "SEV2", "SEV3", "SEV4"]}, "urgency": {"enum": ["high", "low"]}, "service_ids": {"type": "array", "items": id}, "alert_count": {"type": "integer"}, "open_alert_count": {"type": "integer"}, "detected_at": ts, "acknowledged_at": ts_null, "resolved_at": ts_null, "created_at": ts, "updated_at": ts}},
          "IncidentDetail": {"allOf": [r("Incident"), {"type": "object", "properties": {"alerts": {"type": "array", "items": r("Alert")}}}]},
          "IncidentDeclare": {"type": "object", "required": ["title", "severity", "service_ids"], "additionalProperties": false, "properties": {"title": {"type": "string"}, "severity": {"enum": ["SEV1", "SEV2", "SEV3", "SEV4"]}, "service_ids": {"type": "array", "items": id}, "urgency": {"enum": ["high", "low"]}}},
          "TimelineEvent": {"type": "object", "properties": {"id": id, "incident_id": id_null, "service_id": id_null, "alert_id": id_null, "kind": {"type": "string"}, "actor": {"type": "object"}, "at": ts, "payload": {}, "visibility": {"enum": ["internal", "public"]}, "pinned": {"type": "boolean"}}},
          "User": {"type": "object", "properties": {"id": id, "email": {"type": "string"}, "name": {"type": "string"}, "role": {"enum": ["admin", "manager", "responder", "observer", "stakeholder"]}, "external": {"type": "boolean"}, "time_zone": {"type": "string"}, "team_ids": {"type": "array", "items": id}, "disabled": {"type": "boolean"}, "created_at": ts, "updated_at": ts}},
          "UserCreate": {"type": "object", "required": ["email", "name", "role"], "additionalProperties": false, "properties": {"email": {"type": "string"}, "name": {"type": "string"}, "role": {"type": "string"}, "external": {"type": "boolean"}, "time_zone": {"type": "string"}, "password": {"type": "string", "minLength": 12}, "team_ids": {"type": "array", "items": id}}},
          "UserUpdate": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "role": {"type": "string"}, "time_zone": {"type": "string"}, "disabled": {"type": "boolean"}, "password": {"type": "string"}, "mfa": {"type": "boolean", "description": "false resets the user's second factor"}}},
          "Team": {"type": "object", "properties": {"id": id, "name": {"type": "string"}, "member_ids": {"type": "array", "items": id}, "created_at": ts, "updated_at": ts}},
          "Token": {"type": "object", "properties": {"id": id, "name": {"type": "string"}, "user_id": id_null, "role": {"type": "string"}, "scopes": {"type": "array", "items": {"enum": ["read", "write", "admin"]}}, "created_at": ts, "expires_at": ts_null, "revoked_at": ts_null, "token": {"type": "string", "description": "only in the answer to POST"}}},
          "TokenCreate": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {"name": {"type": "string"}, "user_id": id, "scopes": {"type": "array", "items": {"enum": ["read", "write", "admin"]}}, "expires_in": {"type": "string", "description": "duration, e.g. 90d"}, "role": {"type": "string", "description": "a service token with this role (admins only)"}}},
          "Grant": {"type": "object", "properties": {"id": id, "user_id": id, "role": {"enum": ["responder", "observer", "stakeholder"]}, "scope": {"type": "object"}, "expires_at": ts, "created_at": ts, "revoked_at": ts_null}},
          "GrantCreate": {"type": "object", "required": ["user_id", "role", "expires_at"], "additionalProperties": false, "properties": {"user_id": id, "role": {"enum": ["responder", "observer", "stakeholder"]}, "service_ids": {"type": "array", "items": id}, "incident_ids": {"type": "array", "items": id}, "expires_at": ts}},
          "AuditEntry": {"type": "object", "properties": {"id": id, "at": ts, "actor": {"type": "object"}, "action": {"type": "string"}, "object_kind": {"type": "string"}, "object_id": {"type": ["string", "null"]}, "outcome": {"enum": ["done", "denied"]}, "ip": {"type": ["string", "null"]}, "user_agent": {"type": ["string", "null"]}, "detail": {}, "before": {}, "after": {}, "prev_hash": {"type": "string"}, "hash": {"type": "string"}}},
          "GenericEvent": {"type": "object", "additionalProperties": false, "properties": {"summary": {"type": "string"}, "severity": {"enum": ["critical", "error", "warning", "info"]}, "dedup_key": {"type": "string"}, "source": {"type": "string"}, "action": {"enum": ["trigger", "acknowledge", "resolve"]}, "labels": {"type": "object"}, "details": {"type": "object"}, "links": {"type": "array"}}}
        }
      },
      "paths": {
        "/api/v1/services": {
          "get": op("List services", "200", Some(list_of("Service")), None, page_params()),
          "post": op("Create a service", "201", Some(r("Service")), Some(r("ServiceCreate")), vec![])
        },
        "/api/v1/services/{id}": {
          "get": op("Get a service", "200", Some(r("Service")), None, vec![path_id()]),
          "patch": op("Update a service", "200", Some(r("Service")), Some(r("ServiceUpdate")), vec![path_id()]),
          "delete": op("Retire a service and its integrations", "204", None, None, vec![path_id()])
        },
        "/api/v1/services/{id}/integrations": {
          "get": op("List a service's integrations", "200", Some(list_of("Integration")), None, vec![path_id()]),
          "post": op("Create an integration (key generated when absent)", "201", Some(r("Integration")), Some(r("IntegrationCreate")), vec![path_id()])
        },
        "/api/v1/services/{id}/timeline": {
          "get": op("Service-level events (changes, configuration), oldest first", "200", Some(list_of("TimelineEvent")), None, {let mut p = vec![path_id()]; p.extend(page_params()); p})
        },
        "/api/v1/integrations/{id}": {
          "get": op("Get an integration", "200", Some(r("Integration")), None, vec![path_id()]),
          "patch": op("Update an integration", "200", Some(r("Integration")), Some(r("IntegrationUpdate")), vec![path_id()]),
          "delete": op("Retire an integration (its key stops working)", "204", None, None, vec![path_id()])
        },
        "/api/v1/integrations/{id}/rotate": {"post": op("Give the integration a new key (the old one stops working); the answer carries it", "200", Some(r("Integration")), None, vec![path_id()])},
        "/api/v1/alerts": {"get": op("List alerts, newest first", "200", Some(list_of("Alert")), None, alert_params)},
        "/api/v1/alerts/{id}": {"get": op("Get an alert", "200", Some(r("Alert")), None, vec![path_id()])},
        "/api/v1/alerts/{id}/acknowledge": {"post": op("Acknowledge an alert", "200", Some(r("Alert")), None, vec![path_id()])},
        "/api/v1/alerts/{id}/resolve": {"post": op("Resolve an alert", "200", Some(r("Alert")), None, vec![path_id()])},
        "/api/v1/incidents": {
          "get": op("List incidents, newest first", "200", Some(list_of("Incident")), None, filters("SEV1, SEV2, SEV3, SEV4")),
          "post": op("Declare an incident", "201", Some(r("Incident")), Some(r("IncidentDeclare")), vec![])
        },
        "/api/v1/incidents/{id}": {"get": op("Get an incident with its alerts", "200", Some(r("IncidentDetail")), None, vec![path_id()])},
        "/api/v1/incidents/{id}/timeline": {"get": op("An incident's timeline, oldest first", "200", Some(list_of("TimelineEvent")), None, {let mut p = vec![path_id()]; p.extend(page_params()); p})},
        "/api/v1/incidents/{id}/acknowledge": {"post": op("Acknowledge an incident and its triggered alerts", "200", Some(r("Incident")), None, vec![path_id()])},
        "/api/v1/incidents/{id}/resolve": {"post": op("Resolve an incident and its open alerts", "200", Some(r("Incident")), None, vec![path_id()])},
        "/api/v1/me": {"get": op("The caller: user, token, role, grants", "200", None, None, vec![])},
        "/api/v1/me/mfa": {
          "post": op("Start TOTP enrolment: a new secret and its otpauth:// URI", "200", None, None, vec![]),
          "delete": op("Turn the second factor off (needs a current or recovery code)", "200", None, Some(json!({"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}})), vec![])
        },
        "/api/v1/me/mfa/confirm": {"post": op("Turn the second factor on with a first code; answers ten recovery codes once", "200", None, Some(json!({"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}})), vec![])},
        "/api/v1/me/password": {"post": op("Change your own password (the current one is required when set)", "200", None, Some(json!({"type": "object", "required": ["new_password"], "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 12}}})), vec![])},
        "/api/v1/users": {
          "get": op("List users (admin)", "200", Some(list_of("User")), None, page_params()),
          "post": op("Create a user (admin)", "201", Some(r("User")), Some(r("UserCreate")), vec![])
        },
        "/api/v1/users/{id}": {
          "get": op("Get a user (admin)", "200", Some(r("User")), None, vec![path_id()]),
          "patch": op("Change a user: name, role, time zone, disabled, password reset (admin)", "200", Some(r("User")), Some(r("UserUpdate")), vec![path_id()])
        },
        "/api/v1/teams": {
          "get": op("List teams", "200", Some(list_of("Team")), None, page_params()),
          "post": op("Create a team (admin)", "201", Some(r("Team")), Some(json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "member_ids": {"type": "array", "items": id}}})), vec![])
        },
        "/api/v1/teams/{id}": {
          "get": op("Get a team", "200", Some(r("Team")), None, vec![path_id()]),
          "patch": op("Replace a team's members (admin)", "200", Some(r("Team")), Some(json!({"type": "object", "required": ["member_ids"], "properties": {"member_ids": {"type": "array", "items": id}}})), vec![path_id()])
        },
        "/api/v1/tokens": {
          "get": op("List API tokens (your own; admins: all)", "200", Some(list_of("Token")), None, page_params()),
          "post": op("Create an API token; the token text is in the answer once", "201", Some(r("Token")), Some(r("TokenCreate")), vec![])
        },
        "/api/v1/tokens/{id}": {"delete": op("Revoke a token (your own; admins: any)", "200", Some(r("Token")), None, vec![path_id()])},
        "/api/v1/grants": {
          "get": op("List grants (admin)", "200", Some(list_of("Grant")), None, {let mut p = vec![q("user_id", "only this user's grants")]; p.extend(page_params()); p}),
          "post": op("Grant a role on services or incidents until an expiry (admin)", "201", Some(r("Grant")), Some(r("GrantCreate")), vec![])
        },
        "/api/v1/grants/{id}": {
          "get": op("Get a grant (admin)", "200", Some(r("Grant")), None, vec![path_id()]),
          "delete": op("Revoke a grant (admin)", "200", Some(r("Grant")), None, vec![path_id()])
        },
        "/api/v1/audit": {"get": op("The audit log, newest first (admin)", "200", Some(list_of("AuditEntry")), None, audit_params())},
        "/api/v1/audit/export": {"get": op("The audit log as JSON Lines for SIEMs (admin)", "200", None, None, audit_params())},
        "/api/v1/audit/chain": {"get": op("Audit entries oldest first, to verify the hash chain (admin)", "200", None, None, vec![q("after", "entry id to continue after"), q("limit", "1–5000, default 1000")])},
        "/v2/enqueue": {"post": public(op("PagerDuty Events API v2 (routing_key in the body; PD response shapes)", "202", None, Some(json!({"type": "object"})), vec![]))},
        "/v2/change/enqueue": {"post": public(op("PagerDuty change events", "202", None, Some(json!({"type": "object"})), vec![]))},
        "/ingest/alertmanager/{key}": {"post": public(op("Prometheus Alertmanager webhook (payload version 4)", "200", None, Some(json!({"type": "object"})), vec![json!({"name": "key", "in": "path", "required": true, "schema": {"type": "string"}})]))},
        "/ingest/generic/{key}": {"post": public(op("Generic JSON event", "202", None, Some(r("GenericEvent")), vec![json!({"name": "key", "in": "path", "required": true, "schema": {"type": "string"}})]))},
        "/healthz": {"get": public(op("Liveness", "200", None, None, vec![]))},
        "/readyz": {"get": public(op("Readiness: store reachable and migrated", "200", None, None, vec![]))},
        "/api/v1/openapi.json": {"get": public(op("This document", "200", None, None, vec![]))}
      }
    })
}
