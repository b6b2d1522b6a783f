//! Who may do what. Users (internal or external), teams that own services, base roles, grants
//! that give external responders a role on named services or incidents until an expiry, token
//! scopes, and the pure decision `decide(subject, permission, target)` every route goes through.

use crate::ids::{GrantId, IncidentId, ServiceId, TeamId, UserId};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Base roles, most powerful first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Configures the services of their teams; acts on their incidents.
    Manager,
    /// Acts on incidents and alerts of their teams' services.
    Responder,
    /// Reads.
    Observer,
    /// Sees incident summaries (no alerts, no timeline details).
    Stakeholder,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Manager,
        Role::Responder,
        Role::Observer,
        Role::Stakeholder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Responder => "responder",
            Role::Observer => "observer",
            Role::Stakeholder => "stakeholder",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Roles a grant may carry (a grant never makes anyone an admin or a manager).
    pub fn grantable(self) -> bool {
        matches!(self, Role::Responder | Role::Observer | Role::Stakeholder)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an API token may be used for; a token never exceeds its user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// GET requests.
    Read,
    /// Acting on incidents and alerts, configuring services.
    Write,
    /// Users, teams, grants, other people's tokens, the audit log.
    Admin,
}

impl TokenScope {
    pub const ALL: [TokenScope; 3] = [TokenScope::Read, TokenScope::Write, TokenScope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<TokenScope> {
        TokenScope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// External users (contractors, outsourced teams) see and touch only what grants give them.
    pub external: bool,
    pub time_zone: String,
    pub team_ids: Vec<TeamId>,
    pub disabled: bool,
    /// Signs in with a second factor (TOTP).
    pub mfa_enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A user's second factor: the TOTP secret (base32), whether it is confirmed and required at
/// sign-in, and the SHA-256 hashes of the unused recovery codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserMfa {
    pub secret: Option<String>,
    pub enabled: bool,
    pub recovery_hashes: Vec<String>,
    /// The last TOTP time step used, so a code cannot be replayed.
    pub last_step: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub external: bool,
    pub time_zone: String,
    /// Argon2id PHC string, when the user signs in with a password.
    pub password_hash: Option<String>,
    pub team_ids: Vec<TeamId>,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub time_zone: Option<String>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub member_ids: Vec<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewTeam {
    pub name: String,
    pub member_ids: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantScope {
    Services(Vec<ServiceId>),
    Incidents(Vec<IncidentId>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub user_id: UserId,
    pub role: Role,
    pub scope: GrantScope,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl Grant {
    /// Not revoked and not expired at `now` (incident grants also end when the incident closes;
    /// `decide` checks that against the incident).
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[derive(Debug, Clone)]
pub struct NewGrant {
    pub user_id: UserId,
    pub role: Role,
    pub scope: GrantScope,
    pub expires_at: Timestamp,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Incident summaries (lists, titles, status, severity).
    ReadIncidents,
    /// Alerts, timelines, details.
    ReadIncidentDetails,
    /// Acknowledge, resolve, declare.
    ActOnIncidents,
    /// Services and integrations (without keys).
    ReadConfig,
    /// The people directory: teams and their members (internal users only).
    ReadDirectory,
    /// Create and change services and integrations, see integration keys.
    ConfigureServices,
    /// Users, teams, grants, other people's tokens.
    ManageAccess,
    ReadAudit,
}

impl Permission {
    /// The token scope a request needs for this permission.
    pub fn scope(self) -> TokenScope {
        match self {
            Permission::ReadIncidents
            | Permission::ReadIncidentDetails
            | Permission::ReadConfig
            | Permission::ReadDirectory => TokenScope::Read,
            Permission::ActOnIncidents | Permission::ConfigureServices => TokenScope::Write,
            Permission::ManageAccess | Permission::ReadAudit => TokenScope::Admin,
        }
    }

    fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Admin => true,
            Role::Manager => !matches!(self, Permission::ManageAccess | Permission::ReadAudit),
            Role::Responder => !matches!(
                self,
                Permission::ConfigureServices | Permission::ManageAccess | Permission::ReadAudit
            ),
            Role::Observer => matches!(
                self,
                Permission::ReadIncidents
                    | Permission::ReadIncidentDetails
                    | Permission::ReadConfig
                    | Permission::ReadDirectory
            ),
            Role::Stakeholder => matches!(self, Permission::ReadIncidents),
        }
    }

    /// Whether team membership limits this permission for managers and responders.
    fn team_scoped(self) -> bool {
        matches!(
            self,
            Permission::ActOnIncidents | Permission::ConfigureServices
        )
    }
}

/// A service as access decisions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRef {
    pub id: ServiceId,
    pub team_id: Option<TeamId>,
}

/// What a request is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Lists, or creating something not yet tied to a service.
    Global,
    /// A service, or something belonging to these services.
    Services(Vec<ServiceRef>),
    /// An incident (and what belongs to it, like its alerts and timeline).
    Incident {
        id: IncidentId,
        services: Vec<ServiceRef>,
        open: bool,
    },
}

/// Who is asking: the user (or a service token's stand-in), their live grants, token scopes.
#[derive(Debug, Clone)]
pub struct Subject {
    pub user_id: Option<UserId>,
    pub role: Role,
    pub external: bool,
    pub team_ids: Vec<TeamId>,
    /// Live grants (not revoked, not expired).
    pub grants: Vec<Grant>,
    pub scopes: Vec<TokenScope>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        *self == Decision::Allow
    }
}

/// Which incidents and services an external user may see in lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visibility {
    pub service_ids: Vec<ServiceId>,
    /// Incidents granted one by one (only while they are open; the caller filters closed ones).
    pub incident_ids: Vec<IncidentId>,
}

impl Subject {
    /// For external users, what lists may show; `None` for internal users (everything).
    pub fn visibility(&self) -> Option<Visibility> {
        if !self.external {
            return None;
        }
        let mut v = Visibility::default();
        for g in &self.grants {
            match &g.scope {
                GrantScope::Services(ids) => v.service_ids.extend(ids),
                GrantScope::Incidents(ids) => v.incident_ids.extend(ids),
            }
        }
        v.service_ids.sort();
        v.service_ids.dedup();
        v.incident_ids.sort();
        v.incident_ids.dedup();
        Some(v)
    }
}

/// The one access decision. `subject.grants` must hold only live grants.
pub fn decide(subject: &Subject, permission: Permission, target: &Target) -> Decision {
    if !subject.scopes.contains(&permission.scope()) {
        return Decision::Deny(format!(
            "the token lacks the '{}' scope",
            permission.scope().as_str()
        ));
    }
    if subject.external {
        return decide_external(subject, permission, target);
    }
    if !permission.allowed_for(subject.role) {
        return Decision::Deny(format!("the {} role may not do this", subject.role));
    }
    if subject.role == Role::Admin || !permission.team_scoped() {
        return Decision::Allow;
    }
    let services = match target {
        Target::Global => return Decision::Allow,
        Target::Services(s) => s,
        Target::Incident { services, .. } => services,
    };
    // Incidents of team-less services are everyone's to act on; configuring a team-less service
    // is for admins. Otherwise one of the caller's teams must own every service.
    let all_ours = services.iter().all(|s| match s.team_id {
        Some(t) => subject.team_ids.contains(&t),
        None => permission == Permission::ActOnIncidents,
    });
    if all_ours {
        Decision::Allow
    } else {
        Decision::Deny("the service belongs to a team you are not in".into())
    }
}

fn decide_external(subject: &Subject, permission: Permission, target: &Target) -> Decision {
    let deny = || Decision::Deny("no grant covers this".into());
    if matches!(
        permission,
        Permission::ConfigureServices
            | Permission::ManageAccess
            | Permission::ReadAudit
            | Permission::ReadDirectory
    ) {
        return deny();
    }
    let covering = subject.grants.iter().filter(|g| match (&g.scope, target) {
        // Lists are filtered to what grants show; they need some grant.
        (_, Target::Global) => true,
        (GrantScope::Services(ids), Target::Services(services)) => {
            !services.is_empty() && services.iter().all(|s| ids.contains(&s.id))
        }
        (GrantScope::Services(ids), Target::Incident { services, .. }) => {
            services.iter().any(|s| ids.contains(&s.id))
        }
        (GrantScope::Incidents(ids), Target::Incident { id, open, .. }) => {
            *open && ids.contains(id)
        }
        (GrantScope::Incidents(_), Target::Services(_)) => false,
    });
    let allowed = covering.into_iter().any(|g| match target {
        // Declaring an incident is not something a grant gives.
        Target::Global => {
            permission != Permission::ActOnIncidents && permission.allowed_for(g.role)
        }
        _ => permission.allowed_for(g.role),
    });
    if allowed {
        Decision::Allow
    } else {
        deny()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(role: Role, teams: &[i64]) -> Subject {
        Subject {
            user_id: Some(UserId(1)),
            role,
            external: false,
            team_ids: teams.iter().map(|t| TeamId(*t)).collect(),
            grants: vec![],
            scopes: TokenScope::ALL.to_vec(),
        }
    }

    fn svc(id: i64, team: Option<i64>) -> ServiceRef {
        ServiceRef {
            id: ServiceId(id),
            team_id: team.map(TeamId),
        }
    }

    fn grant(role: Role, scope: GrantScope) -> Grant {
        Grant {
            id: GrantId(1),
            user_id: UserId(1),
            role,
            scope,
            expires_at: Timestamp::from_millis(i64::MAX),
            created_at: Timestamp::from_millis(0),
            revoked_at: None,
        }
    }

    #[test]
    fn roles_and_teams() {
        let theirs = Target::Services(vec![svc(1, Some(7))]);
        let ours = Target::Services(vec![svc(2, Some(3))]);
        let teamless = Target::Services(vec![svc(3, None)]);
        let responder = subject(Role::Responder, &[3]);
        assert!(decide(&responder, Permission::ActOnIncidents, &ours).is_allowed());
        assert!(decide(&responder, Permission::ActOnIncidents, &teamless).is_allowed());
        assert!(!decide(&responder, Permission::ActOnIncidents, &theirs).is_allowed());
        assert!(
            decide(&responder, Permission::ReadIncidentDetails, &theirs).is_allowed(),
            "internal users read across teams"
        );
        assert!(!decide(&responder, Permission::ConfigureServices, &ours).is_allowed());
        let manager = subject(Role::Manager, &[3]);
        assert!(decide(&manager, Permission::ConfigureServices, &ours).is_allowed());
        assert!(!decide(&manager, Permission::ConfigureServices, &theirs).is_allowed());
        assert!(
            !decide(&manager, Permission::ConfigureServices, &teamless).is_allowed(),
            "team-less services are configured by admins"
        );
        assert!(
            decide(&manager, Permission::ConfigureServices, &Target::Global).is_allowed(),
            "the route; the team is checked on the body"
        );
        assert!(!decide(&manager, Permission::ManageAccess, &Target::Global).is_allowed());
        let observer = subject(Role::Observer, &[3]);
        assert!(decide(&observer, Permission::ReadIncidentDetails, &ours).is_allowed());
        assert!(!decide(&observer, Permission::ActOnIncidents, &ours).is_allowed());
        let stakeholder = subject(Role::Stakeholder, &[]);
        assert!(decide(&stakeholder, Permission::ReadIncidents, &Target::Global).is_allowed());
        assert!(!decide(&stakeholder, Permission::ReadIncidentDetails, &ours).is_allowed());
        assert!(!decide(&stakeholder, Permission::ReadConfig, &Target::Global).is_allowed());
        let admin = subject(Role::Admin, &[]);
        for p in [
            Permission::ManageAccess,
            Permission::ReadAudit,
            Permission::ConfigureServices,
        ] {
            assert!(decide(&admin, p, &theirs).is_allowed());
        }
    }

    #[test]
    fn token_scopes_limit_even_admins() {
        let mut admin = subject(Role::Admin, &[]);
        admin.scopes = vec![TokenScope::Read];
        assert!(decide(&admin, Permission::ReadIncidents, &Target::Global).is_allowed());
        assert!(!decide(&admin, Permission::ActOnIncidents, &Target::Global).is_allowed());
        assert!(!decide(&admin, Permission::ReadAudit, &Target::Global).is_allowed());
    }

    #[test]
    fn external_users_only_get_what_grants_give() {
        let mut ext = subject(Role::Admin, &[1]);
        ext.external = true;
        let granted = Target::Services(vec![svc(5, Some(1))]);
        let other = Target::Services(vec![svc(6, Some(1))]);
        assert!(
            !decide(&ext, Permission::ReadIncidents, &Target::Global).is_allowed(),
            "no grant, nothing, whatever the role"
        );
        ext.grants = vec![grant(
            Role::Responder,
            GrantScope::Services(vec![ServiceId(5)]),
        )];
        assert!(decide(&ext, Permission::ReadIncidents, &Target::Global).is_allowed());
        assert!(decide(&ext, Permission::ActOnIncidents, &granted).is_allowed());
        assert!(!decide(&ext, Permission::ActOnIncidents, &other).is_allowed());
        assert!(
            !decide(&ext, Permission::ActOnIncidents, &Target::Global).is_allowed(),
            "no declaring"
        );
        assert!(!decide(&ext, Permission::ConfigureServices, &granted).is_allowed());
        assert!(
            !decide(&ext, Permission::ReadDirectory, &Target::Global).is_allowed(),
            "no people directory for outsiders"
        );
        let inc = |open| Target::Incident {
            id: IncidentId(9),
            services: vec![svc(6, None)],
            open,
        };
        assert!(!decide(&ext, Permission::ReadIncidentDetails, &inc(true)).is_allowed());
        ext.grants.push(grant(
            Role::Observer,
            GrantScope::Incidents(vec![IncidentId(9)]),
        ));
        assert!(decide(&ext, Permission::ReadIncidentDetails, &inc(true)).is_allowed());
        assert!(
            !decide(&ext, Permission::ActOnIncidents, &inc(true)).is_allowed(),
            "observer grant"
        );
        assert!(
            !decide(&ext, Permission::ReadIncidentDetails, &inc(false)).is_allowed(),
            "ends when the incident closes"
        );
        let v = ext.visibility().unwrap();
        assert_eq!(v.service_ids, vec![ServiceId(5)]);
        assert_eq!(v.incident_ids, vec![IncidentId(9)]);
        assert!(subject(Role::Observer, &[]).visibility().is_none());
    }
}
