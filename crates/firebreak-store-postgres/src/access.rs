//! Users, teams and grants in PostgreSQL. Emails and team names are unique regardless of case
//! (unique indexes on `lower(...)`; inserts use `ON CONFLICT DO NOTHING` so that two nodes
//! creating the same user at once get one user and one `Conflict`). Users, teams, services and
//! incidents are never deleted, so an existence check stays true until commit; the foreign keys
//! back it up.

use crate::error::Attempt;
use crate::rows::{self, GRANT_COLS, TEAM_COLS, USER_COLS, USER_COL_COUNT};
use deadpool_postgres::{Pool, Transaction};
use firebreak_core::access::{
    Grant, GrantScope, NewGrant, NewTeam, NewUser, Team, User, UserMfa, UserPatch,
};
use firebreak_core::ids::{TeamId, UserId};
use firebreak_core::store::{Page, PageRequest, StoreError};
use firebreak_core::timestamp::Timestamp;

/// The first id of `ids` (in their order) with no row in `table` (matching `extra`, a condition
/// on `t`), if any.
async fn first_missing(
    tx: &Transaction<'_>,
    table: &str,
    extra: &str,
    ids: &[i64],
) -> Attempt<Option<i64>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT x.id FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, ord) \
              WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = x.id{extra}) \
              ORDER BY x.ord LIMIT 1"
        ))
        .await?;
    match tx.query_opt(&stmt, &[&ids]).await? {
        Some(row) => Ok(Some(row.try_get(0)?)),
        None => Ok(None),
    }
}

async fn require_teams(tx: &Transaction<'_>, teams: &[i64]) -> Attempt<()> {
    match first_missing(tx, "teams", "", teams).await? {
        Some(id) => Err(StoreError::NotFound(format!("team {}", TeamId(id))).into()),
        None => Ok(()),
    }
}

async fn require_users(tx: &Transaction<'_>, users: &[i64]) -> Attempt<()> {
    match first_missing(tx, "users", "", users).await? {
        Some(id) => Err(StoreError::NotFound(format!("user {}", UserId(id))).into()),
        None => Ok(()),
    }
}

async fn user_in(tx: &Transaction<'_>, id: i64) -> Attempt<Option<User>> {
    let stmt = tx
        .prepare_cached(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1"))
        .await?;
    match tx.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::user(&row)?)),
        None => Ok(None),
    }
}

async fn team_in(tx: &Transaction<'_>, id: i64) -> Attempt<Option<Team>> {
    let stmt = tx
        .prepare_cached(&format!("SELECT {TEAM_COLS} FROM teams t WHERE t.id = $1"))
        .await?;
    match tx.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::team(&row)?)),
        None => Ok(None),
    }
}

/// `Conflict` when the email is taken (any case); `NotFound` for an unknown team.
pub(crate) async fn create_user(pool: &Pool, new: &NewUser, now: Timestamp) -> Attempt<User> {
    let teams: Vec<i64> = new.team_ids.iter().map(|t| t.0).collect();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO users (email, name, role, external, time_zone, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, fb_ts($7), fb_ts($7)) \
             ON CONFLICT ((lower(email))) DO NOTHING RETURNING id",
        )
        .await?;
    let row = tx
        .query_opt(
            &stmt,
            &[
                &new.email,
                &new.name,
                &new.role.as_str(),
                &new.external,
                &new.time_zone,
                &new.password_hash,
                &now.as_millis(),
            ],
        )
        .await?;
    let Some(row) = row else {
        return Err(StoreError::Conflict(format!(
            "a user with email '{}' exists already",
            new.email
        ))
        .into());
    };
    let id: i64 = row.try_get(0)?;
    require_teams(&tx, &teams).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO team_members (team_id, user_id) SELECT t, $2 FROM unnest($1::bigint[]) AS t \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&stmt, &[&teams, &id]).await?;
    let user = user_in(&tx, id)
        .await?
        .ok_or_else(|| StoreError::Internal("user vanished".into()))?;
    tx.commit().await?;
    Ok(user)
}

pub(crate) async fn get_user(pool: &Pool, id: i64) -> Attempt<Option<User>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1"))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::user(&row)?)),
        None => Ok(None),
    }
}

/// The user with this email (any case) and their password hash.
pub(crate) async fn user_by_email(
    pool: &Pool,
    email: &str,
) -> Attempt<Option<(User, Option<String>)>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {USER_COLS}, u.password_hash FROM users u WHERE lower(u.email) = lower($1)"
        ))
        .await?;
    match client.query_opt(&stmt, &[&email]).await? {
        Some(row) => {
            let hash: Option<String> = row.try_get(USER_COL_COUNT)?;
            Ok(Some((rows::user(&row)?, hash)))
        }
        None => Ok(None),
    }
}

pub(crate) async fn list_users(pool: &Pool, page: PageRequest) -> Attempt<Page<User>> {
    let limit = rows::limit(page.limit);
    let fetch = i64::from(limit) + 1;
    let mut q = rows::Filtered::new(format!("SELECT {USER_COLS} FROM users u WHERE true"));
    if let Some(c) = &page.cursor {
        q.push(" AND u.id < ?", c);
    }
    q.push(" ORDER BY u.id DESC LIMIT ?", &fetch);
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let found = client.query(&stmt, &q.args).await?;
    Ok(Page::from_rows(
        rows::all(&found, rows::user)?,
        limit,
        |u| u.id.0,
    ))
}

pub(crate) async fn update_user(
    pool: &Pool,
    id: i64,
    patch: &UserPatch,
    now: Timestamp,
) -> Attempt<Option<User>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE users AS u SET name = coalesce($2, u.name), role = coalesce($3, u.role), \
             time_zone = coalesce($4, u.time_zone), disabled = coalesce($5, u.disabled), \
             password_hash = coalesce($6, u.password_hash), updated_at = fb_ts($7) \
             WHERE u.id = $1 RETURNING {USER_COLS}"
        ))
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &id,
                &patch.name,
                &patch.role.map(|r| r.as_str()),
                &patch.time_zone,
                &patch.disabled,
                &patch.password_hash,
                &now.as_millis(),
            ],
        )
        .await?;
    match row {
        Some(row) => Ok(Some(rows::user(&row)?)),
        None => Ok(None),
    }
}

/// The user's second factor; `None` when the user does not exist.
pub(crate) async fn user_mfa(pool: &Pool, id: i64) -> Attempt<Option<UserMfa>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT totp_secret, mfa_enabled, recovery_codes, totp_last_step FROM users WHERE id = $1",
        )
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(UserMfa {
            secret: row.try_get(0)?,
            enabled: row.try_get(1)?,
            recovery_hashes: row.try_get(2)?,
            last_step: row.try_get(3)?,
        })),
        None => Ok(None),
    }
}

/// Replaces the user's second factor (all of it) and bumps `updated_at`; `false` when the user
/// does not exist.
pub(crate) async fn set_user_mfa(
    pool: &Pool,
    id: i64,
    mfa: &UserMfa,
    now: Timestamp,
) -> Attempt<bool> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE users SET totp_secret = $2, mfa_enabled = $3, recovery_codes = $4, \
             totp_last_step = $5, updated_at = fb_ts($6) WHERE id = $1",
        )
        .await?;
    let changed = client
        .execute(
            &stmt,
            &[
                &id,
                &mfa.secret,
                &mfa.enabled,
                &mfa.recovery_hashes,
                &mfa.last_step,
                &now.as_millis(),
            ],
        )
        .await?;
    Ok(changed > 0)
}

/// `Conflict` when the name is taken (any case); `NotFound` for an unknown member.
pub(crate) async fn create_team(pool: &Pool, new: &NewTeam, now: Timestamp) -> Attempt<Team> {
    let members: Vec<i64> = new.member_ids.iter().map(|u| u.0).collect();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO teams (name, created_at, updated_at) VALUES ($1, fb_ts($2), fb_ts($2)) \
             ON CONFLICT ((lower(name))) DO NOTHING RETURNING id",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&new.name, &now.as_millis()]).await? else {
        return Err(
            StoreError::Conflict(format!("a team named '{}' exists already", new.name)).into(),
        );
    };
    let id: i64 = row.try_get(0)?;
    require_users(&tx, &members).await?;
    put_members(&tx, id, &members).await?;
    let team = team_in(&tx, id)
        .await?
        .ok_or_else(|| StoreError::Internal("team vanished".into()))?;
    tx.commit().await?;
    Ok(team)
}

async fn put_members(tx: &Transaction<'_>, team_id: i64, members: &[i64]) -> Attempt<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO team_members (team_id, user_id) SELECT $1, m FROM unnest($2::bigint[]) AS m \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&stmt, &[&team_id, &members]).await?;
    Ok(())
}

pub(crate) async fn get_team(pool: &Pool, id: i64) -> Attempt<Option<Team>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {TEAM_COLS} FROM teams t WHERE t.id = $1"))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::team(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn list_teams(pool: &Pool, page: PageRequest) -> Attempt<Page<Team>> {
    let limit = rows::limit(page.limit);
    let fetch = i64::from(limit) + 1;
    let mut q = rows::Filtered::new(format!("SELECT {TEAM_COLS} FROM teams t WHERE true"));
    if let Some(c) = &page.cursor {
        q.push(" AND t.id < ?", c);
    }
    q.push(" ORDER BY t.id DESC LIMIT ?", &fetch);
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let found = client.query(&stmt, &q.args).await?;
    Ok(Page::from_rows(
        rows::all(&found, rows::team)?,
        limit,
        |t| t.id.0,
    ))
}

/// Replaces the members. The team row is locked first, so concurrent replacements apply one
/// after the other (the last one wins whole). `None` for an unknown team, `NotFound` for an
/// unknown member.
pub(crate) async fn set_team_members(
    pool: &Pool,
    id: i64,
    members: &[UserId],
    now: Timestamp,
) -> Attempt<Option<Team>> {
    let members: Vec<i64> = members.iter().map(|u| u.0).collect();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached("SELECT 1 FROM teams WHERE id = $1 FOR NO KEY UPDATE")
        .await?;
    if tx.query_opt(&stmt, &[&id]).await?.is_none() {
        return Ok(None);
    }
    require_users(&tx, &members).await?;
    let stmt = tx
        .prepare_cached("DELETE FROM team_members WHERE team_id = $1")
        .await?;
    tx.execute(&stmt, &[&id]).await?;
    put_members(&tx, id, &members).await?;
    let stmt = tx
        .prepare_cached("UPDATE teams SET updated_at = fb_ts($2) WHERE id = $1")
        .await?;
    tx.execute(&stmt, &[&id, &now.as_millis()]).await?;
    let team = team_in(&tx, id).await?;
    tx.commit().await?;
    Ok(team)
}

/// `NotFound` for an unknown user, a service that does not exist (or was retired) or an unknown
/// incident in the scope.
pub(crate) async fn create_grant(pool: &Pool, new: &NewGrant, now: Timestamp) -> Attempt<Grant> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    require_users(&tx, &[new.user_id.0]).await?;
    let (kind, ids): (&str, Vec<i64>) = match &new.scope {
        GrantScope::Services(ids) => {
            let ids: Vec<i64> = ids.iter().map(|s| s.0).collect();
            if let Some(missing) =
                first_missing(&tx, "services", " AND t.deleted_at IS NULL", &ids).await?
            {
                return Err(StoreError::NotFound(format!("service {missing}")).into());
            }
            ("services", ids)
        }
        GrantScope::Incidents(ids) => {
            let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
            if let Some(missing) = first_missing(&tx, "incidents", "", &ids).await? {
                return Err(StoreError::NotFound(format!("incident {missing}")).into());
            }
            ("incidents", ids)
        }
    };
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO grants AS g (user_id, role, scope_kind, scope_ids, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, fb_ts($5), fb_ts($6)) RETURNING {GRANT_COLS}"
        ))
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &new.user_id.0,
                &new.role.as_str(),
                &kind,
                &ids,
                &new.expires_at.as_millis(),
                &now.as_millis(),
            ],
        )
        .await?;
    let grant = rows::grant(&row)?;
    tx.commit().await?;
    Ok(grant)
}

pub(crate) async fn get_grant(pool: &Pool, id: i64) -> Attempt<Option<Grant>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants g WHERE g.id = $1"
        ))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::grant(&row)?)),
        None => Ok(None),
    }
}

/// Newest first; every user's grants when `user_id` is `None`.
pub(crate) async fn list_grants(
    pool: &Pool,
    user_id: Option<UserId>,
    page: PageRequest,
) -> Attempt<Page<Grant>> {
    let limit = rows::limit(page.limit);
    let fetch = i64::from(limit) + 1;
    let user = user_id.map(|u| u.0);
    let mut q = rows::Filtered::new(format!("SELECT {GRANT_COLS} FROM grants g WHERE true"));
    if let Some(u) = &user {
        q.push(" AND g.user_id = ?", u);
    }
    if let Some(c) = &page.cursor {
        q.push(" AND g.id < ?", c);
    }
    q.push(" ORDER BY g.id DESC LIMIT ?", &fetch);
    let client = pool.get().await?;
    let stmt = client.prepare_cached(&q.sql).await?;
    let found = client.query(&stmt, &q.args).await?;
    Ok(Page::from_rows(
        rows::all(&found, rows::grant)?,
        limit,
        |g| g.id.0,
    ))
}

/// Grants of a user not revoked and not expired at `now`, oldest first.
pub(crate) async fn live_grants(pool: &Pool, user_id: i64, now: Timestamp) -> Attempt<Vec<Grant>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants g \
              WHERE g.user_id = $1 AND g.revoked_at IS NULL AND g.expires_at > fb_ts($2) ORDER BY g.id"
        ))
        .await?;
    let found = client.query(&stmt, &[&user_id, &now.as_millis()]).await?;
    Ok(rows::all(&found, rows::grant)?)
}

/// Idempotent: a revoked grant keeps its first `revoked_at`. `None` when it does not exist.
pub(crate) async fn revoke_grant(pool: &Pool, id: i64, now: Timestamp) -> Attempt<Option<Grant>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE grants SET revoked_at = fb_ts($2) WHERE id = $1 AND revoked_at IS NULL",
        )
        .await?;
    client.execute(&stmt, &[&id, &now.as_millis()]).await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {GRANT_COLS} FROM grants g WHERE g.id = $1"
        ))
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(Some(rows::grant(&row)?)),
        None => Ok(None),
    }
}
