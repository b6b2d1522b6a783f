//! Users, teams and grants in SQLite.

use crate::list_query::ListQuery;
use crate::rows::{db_err, to_json};
use firebreak_core::access::{
    Grant, GrantScope, NewGrant, NewTeam, NewUser, Role, Team, User, UserMfa, UserPatch,
};
use firebreak_core::ids::{GrantId, IncidentId, ServiceId, TeamId, UserId};
use firebreak_core::store::{Page, PageRequest, StoreError, StoreResult};
use firebreak_core::timestamp::Timestamp;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};

const USER_COLS: &str = "u.id, u.email, u.name, u.role, u.external, u.time_zone, u.disabled, u.created_at, u.updated_at, \
     (SELECT group_concat(team_id) FROM team_members m WHERE m.user_id = u.id), u.mfa_enabled";

fn ids<T>(text: Option<String>, make: fn(i64) -> T, col: usize) -> rusqlite::Result<Vec<T>> {
    let mut out = Vec::new();
    for part in text
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let n: i64 = part.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(col, Type::Text, "bad id list".into())
        })?;
        out.push(make(n));
    }
    Ok(out)
}

fn bad(col: usize) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, "unexpected value".into())
}

fn user(row: &Row) -> rusqlite::Result<User> {
    let role: String = row.get(3)?;
    let mut team_ids = ids(row.get(9)?, TeamId, 9)?;
    team_ids.sort();
    Ok(User {
        id: UserId(row.get(0)?),
        email: row.get(1)?,
        name: row.get(2)?,
        role: Role::parse(&role).ok_or_else(|| bad(3))?,
        external: row.get(4)?,
        time_zone: row.get(5)?,
        disabled: row.get(6)?,
        created_at: Timestamp::from_millis(row.get(7)?),
        updated_at: Timestamp::from_millis(row.get(8)?),
        team_ids,
        mfa_enabled: row.get(10)?,
    })
}

const TEAM_COLS: &str = "t.id, t.name, t.created_at, t.updated_at, \
     (SELECT group_concat(user_id) FROM team_members m WHERE m.team_id = t.id)";

fn team(row: &Row) -> rusqlite::Result<Team> {
    let mut member_ids = ids(row.get(4)?, UserId, 4)?;
    member_ids.sort();
    Ok(Team {
        id: TeamId(row.get(0)?),
        name: row.get(1)?,
        created_at: Timestamp::from_millis(row.get(2)?),
        updated_at: Timestamp::from_millis(row.get(3)?),
        member_ids,
    })
}

const GRANT_COLS: &str =
    "id, user_id, role, scope_kind, scope_ids, expires_at, created_at, revoked_at";

fn grant(row: &Row) -> rusqlite::Result<Grant> {
    let role: String = row.get(2)?;
    let kind: String = row.get(3)?;
    let list: String = row.get(4)?;
    let raw: Vec<i64> = serde_json::from_str(&list).map_err(|_| bad(4))?;
    let scope = match kind.as_str() {
        "services" => GrantScope::Services(raw.into_iter().map(ServiceId).collect()),
        "incidents" => GrantScope::Incidents(raw.into_iter().map(IncidentId).collect()),
        _ => return Err(bad(3)),
    };
    Ok(Grant {
        id: GrantId(row.get(0)?),
        user_id: UserId(row.get(1)?),
        role: Role::parse(&role).ok_or_else(|| bad(2))?,
        scope,
        expires_at: Timestamp::from_millis(row.get(5)?),
        created_at: Timestamp::from_millis(row.get(6)?),
        revoked_at: row.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
    })
}

fn exists(conn: &Connection, sql: &str, id: i64) -> StoreResult<bool> {
    conn.prepare_cached(sql)
        .map_err(db_err)?
        .query_row([id], |r| r.get(0))
        .map_err(db_err)
}

fn require_teams(conn: &Connection, team_ids: &[TeamId]) -> StoreResult<()> {
    for t in team_ids {
        if !exists(
            conn,
            "SELECT EXISTS(SELECT 1 FROM teams WHERE id = ?1)",
            t.0,
        )? {
            return Err(StoreError::NotFound(format!("team {t}")));
        }
    }
    Ok(())
}

fn require_users(conn: &Connection, user_ids: &[UserId]) -> StoreResult<()> {
    for u in user_ids {
        if !exists(
            conn,
            "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1)",
            u.0,
        )? {
            return Err(StoreError::NotFound(format!("user {u}")));
        }
    }
    Ok(())
}

pub(crate) fn create_user(conn: &Connection, new: &NewUser, now: Timestamp) -> StoreResult<i64> {
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM users WHERE lower(email) = lower(?1))")
        .map_err(db_err)?
        .query_row([&new.email], |r| r.get(0))
        .map_err(db_err)?;
    if taken {
        return Err(StoreError::Conflict(format!(
            "a user with email '{}' exists already",
            new.email
        )));
    }
    require_teams(conn, &new.team_ids)?;
    conn.prepare_cached(
        "INSERT INTO users (email, name, role, external, time_zone, password_hash, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )
    .map_err(db_err)?
    .execute((&new.email, &new.name, new.role.as_str(), new.external, &new.time_zone, new.password_hash.as_deref(), now.as_millis()))
    .map_err(db_err)?;
    let id = conn.last_insert_rowid();
    for t in &new.team_ids {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?1, ?2)",
        )
        .map_err(db_err)?
        .execute((t.0, id))
        .map_err(db_err)?;
    }
    Ok(id)
}

pub(crate) fn get_user(conn: &Connection, id: i64) -> StoreResult<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"))
        .map_err(db_err)?
        .query_row([id], user)
        .optional()
        .map_err(db_err)
}

pub(crate) fn user_by_email(
    conn: &Connection,
    email: &str,
) -> StoreResult<Option<(User, Option<String>)>> {
    conn.prepare_cached(&format!(
        "SELECT {USER_COLS}, u.password_hash FROM users u WHERE lower(u.email) = lower(?1)"
    ))
    .map_err(db_err)?
    .query_row([email], |r| Ok((user(r)?, r.get(11)?)))
    .optional()
    .map_err(db_err)
}

pub(crate) fn list_users(conn: &Connection, page: PageRequest) -> StoreResult<Page<User>> {
    ListQuery::new(format!("SELECT {USER_COLS} FROM users u WHERE 1=1")).fetch(
        conn,
        "u.id",
        page,
        user,
        |u| u.id.0,
    )
}

pub(crate) fn update_user(
    conn: &Connection,
    id: i64,
    patch: &UserPatch,
    now: Timestamp,
) -> StoreResult<Option<User>> {
    let Some(before) = get_user(conn, id)? else {
        return Ok(None);
    };
    conn.prepare_cached(
        "UPDATE users SET name = ?2, role = ?3, time_zone = ?4, disabled = ?5, \
         password_hash = COALESCE(?6, password_hash), updated_at = ?7 WHERE id = ?1",
    )
    .map_err(db_err)?
    .execute((
        id,
        patch.name.as_deref().unwrap_or(&before.name),
        patch.role.unwrap_or(before.role).as_str(),
        patch.time_zone.as_deref().unwrap_or(&before.time_zone),
        patch.disabled.unwrap_or(before.disabled),
        patch.password_hash.as_deref(),
        now.as_millis(),
    ))
    .map_err(db_err)?;
    get_user(conn, id)
}

pub(crate) fn create_team(conn: &Connection, new: &NewTeam, now: Timestamp) -> StoreResult<i64> {
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM teams WHERE lower(name) = lower(?1))")
        .map_err(db_err)?
        .query_row([&new.name], |r| r.get(0))
        .map_err(db_err)?;
    if taken {
        return Err(StoreError::Conflict(format!(
            "a team named '{}' exists already",
            new.name
        )));
    }
    require_users(conn, &new.member_ids)?;
    conn.prepare_cached("INSERT INTO teams (name, created_at, updated_at) VALUES (?1, ?2, ?2)")
        .map_err(db_err)?
        .execute((&new.name, now.as_millis()))
        .map_err(db_err)?;
    let id = conn.last_insert_rowid();
    put_members(conn, id, &new.member_ids)?;
    Ok(id)
}

fn put_members(conn: &Connection, team_id: i64, members: &[UserId]) -> StoreResult<()> {
    for m in members {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?1, ?2)",
        )
        .map_err(db_err)?
        .execute((team_id, m.0))
        .map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn get_team(conn: &Connection, id: i64) -> StoreResult<Option<Team>> {
    conn.prepare_cached(&format!("SELECT {TEAM_COLS} FROM teams t WHERE t.id = ?1"))
        .map_err(db_err)?
        .query_row([id], team)
        .optional()
        .map_err(db_err)
}

pub(crate) fn list_teams(conn: &Connection, page: PageRequest) -> StoreResult<Page<Team>> {
    ListQuery::new(format!("SELECT {TEAM_COLS} FROM teams t WHERE 1=1")).fetch(
        conn,
        "t.id",
        page,
        team,
        |t| t.id.0,
    )
}

pub(crate) fn set_team_members(
    conn: &Connection,
    id: i64,
    members: &[UserId],
    now: Timestamp,
) -> StoreResult<Option<Team>> {
    if get_team(conn, id)?.is_none() {
        return Ok(None);
    }
    require_users(conn, members)?;
    conn.prepare_cached("DELETE FROM team_members WHERE team_id = ?1")
        .map_err(db_err)?
        .execute([id])
        .map_err(db_err)?;
    put_members(conn, id, members)?;
    conn.prepare_cached("UPDATE teams SET updated_at = ?2 WHERE id = ?1")
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    get_team(conn, id)
}

pub(crate) fn create_grant(conn: &Connection, new: &NewGrant, now: Timestamp) -> StoreResult<i64> {
    require_users(conn, &[new.user_id])?;
    let (kind, list) = match &new.scope {
        GrantScope::Services(ids) => {
            for s in ids {
                if !exists(
                    conn,
                    "SELECT EXISTS(SELECT 1 FROM services WHERE id = ?1 AND deleted_at IS NULL)",
                    s.0,
                )? {
                    return Err(StoreError::NotFound(format!("service {s}")));
                }
            }
            (
                "services",
                to_json(&ids.iter().map(|s| s.0).collect::<Vec<_>>()),
            )
        }
        GrantScope::Incidents(ids) => {
            for i in ids {
                if !exists(
                    conn,
                    "SELECT EXISTS(SELECT 1 FROM incidents WHERE id = ?1)",
                    i.0,
                )? {
                    return Err(StoreError::NotFound(format!("incident {i}")));
                }
            }
            (
                "incidents",
                to_json(&ids.iter().map(|i| i.0).collect::<Vec<_>>()),
            )
        }
    };
    conn.prepare_cached(
        "INSERT INTO grants (user_id, role, scope_kind, scope_ids, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(db_err)?
    .execute((new.user_id.0, new.role.as_str(), kind, list, new.expires_at.as_millis(), now.as_millis()))
    .map_err(db_err)?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn get_grant(conn: &Connection, id: i64) -> StoreResult<Option<Grant>> {
    conn.prepare_cached(&format!("SELECT {GRANT_COLS} FROM grants WHERE id = ?1"))
        .map_err(db_err)?
        .query_row([id], grant)
        .optional()
        .map_err(db_err)
}

pub(crate) fn list_grants(
    conn: &Connection,
    user_id: Option<UserId>,
    page: PageRequest,
) -> StoreResult<Page<Grant>> {
    let mut q = ListQuery::new(format!("SELECT {GRANT_COLS} FROM grants WHERE 1=1"));
    if let Some(u) = user_id {
        q.and("user_id = ?", u.0);
    }
    q.fetch(conn, "id", page, grant, |g| g.id.0)
}

pub(crate) fn live_grants(
    conn: &Connection,
    user_id: i64,
    now: Timestamp,
) -> StoreResult<Vec<Grant>> {
    conn.prepare_cached(&format!(
        "SELECT {GRANT_COLS} FROM grants WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY id"
    ))
    .map_err(db_err)?
    .query_map((user_id, now.as_millis()), grant)
    .map_err(db_err)?
    .collect::<Result<_, _>>()
    .map_err(db_err)
}

pub(crate) fn revoke_grant(
    conn: &Connection,
    id: i64,
    now: Timestamp,
) -> StoreResult<Option<Grant>> {
    conn.prepare_cached("UPDATE grants SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
        .map_err(db_err)?
        .execute((id, now.as_millis()))
        .map_err(db_err)?;
    get_grant(conn, id)
}

pub(crate) fn user_mfa(conn: &Connection, id: i64) -> StoreResult<Option<UserMfa>> {
    conn.prepare_cached(
        "SELECT totp_secret, mfa_enabled, recovery_codes, totp_last_step FROM users WHERE id = ?1",
    )
    .map_err(db_err)?
    .query_row([id], |r| {
        let codes: String = r.get(2)?;
        Ok(UserMfa {
            secret: r.get(0)?,
            enabled: r.get(1)?,
            recovery_hashes: serde_json::from_str(&codes).map_err(|_| bad(2))?,
            last_step: r.get(3)?,
        })
    })
    .optional()
    .map_err(db_err)
}

pub(crate) fn set_user_mfa(
    conn: &Connection,
    id: i64,
    mfa: &UserMfa,
    now: Timestamp,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE users SET totp_secret = ?2, mfa_enabled = ?3, recovery_codes = ?4, totp_last_step = ?5, updated_at = ?6 WHERE id = ?1",
        )
        .map_err(db_err)?
        .execute((id, mfa.secret.as_deref(), mfa.enabled, to_json(&mfa.recovery_hashes), mfa.last_step, now.as_millis()))
        .map_err(db_err)?;
    Ok(changed > 0)
}
