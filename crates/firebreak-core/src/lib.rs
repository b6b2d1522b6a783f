//! firebreak's domain: the nouns (services, integrations, alerts, incidents, timeline events,
//! jobs), their state machines, the injected clock, and the `Store` port that the SQLite and
//! PostgreSQL adapters implement.
#![forbid(unsafe_code)]

pub mod access;
pub mod alert;
pub mod audit;
pub mod clock;
pub mod ids;
pub mod incident;
pub mod jobs;
pub mod service;
pub mod severity;
pub mod store;
pub mod timeline;
pub mod timestamp;
pub mod token;
pub mod totp;

pub use alert::{Alert, AlertAction, AlertEvent, AlertFilter, AlertStatus, ChangeEvent, Link};
pub use clock::{Clock, FakeClock, SystemClock};
pub use ids::{
    AlertId, AuditId, GrantId, IncidentId, IntegrationId, JobId, ServiceId, TeamId,
    TimelineEventId, TokenId, UserId,
};
pub use incident::{Incident, IncidentFilter, IncidentStatus, NewIncident};
pub use jobs::{Job, JobKind};
pub use service::{
    Integration, IntegrationKind, IntegrationPatch, NewIntegration, NewService, Service,
    ServicePatch,
};
pub use severity::{AlertSeverity, IncidentSeverity, Urgency};
pub use store::{IngestEffect, IngestOutcome, IngestRequest, Page, Store, StoreError};
pub use timeline::{Actor, ActorKind, TimelineEvent, Visibility};
pub use timestamp::{DurationMs, Timestamp};
pub use token::{ApiToken, NewApiToken};
