//! The second factor: TOTP enrolment (secret, `otpauth://` URI, QR code), confirmation with a
//! first code (which turns it on and hands out ten one-time recovery codes), checking a code at
//! sign-in (no replays; a recovery code is used up), and turning it off. Used by the API
//! (`/api/v1/me/mfa`) and the console (`/mfa`).

use crate::app::AppState;
use crate::auth::random_hex;
use crate::http::problem::Problem;
use axum::http::StatusCode;
use firebreak_core::access::{User, UserMfa};
use firebreak_core::totp;

/// Recovery codes handed out when the second factor is turned on.
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "firebreak";

/// What a person needs to add firebreak to an authenticator app.
pub struct Enrolment {
    pub secret: String,
    pub uri: String,
    /// The URI as a QR code (SVG markup; contains no user-controlled text but the account name,
    /// which the QR encoder turns into modules, not markup).
    pub qr_svg: String,
}

fn internal(e: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn current(state: &AppState, user: &User) -> Result<UserMfa, Problem> {
    state
        .store
        .user_mfa(user.id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("user {}", user.id)))
}

/// Starts (or restarts) enrolment with a new secret. 409 while the second factor is on.
pub async fn start(state: &AppState, user: &User) -> Result<Enrolment, Problem> {
    if current(state, user).await?.enabled {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the second factor is already on; turn it off first to enrol a new device",
        ));
    }
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(internal)?;
    let secret = totp::base32_encode(&bytes);
    let mfa = UserMfa {
        secret: Some(secret.clone()),
        enabled: false,
        recovery_hashes: Vec::new(),
        last_step: None,
    };
    state
        .store
        .set_user_mfa(user.id, mfa, state.clock.now())
        .await?;
    let uri = totp::otpauth_uri(ISSUER, &user.email, &secret);
    let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(internal)?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(Enrolment {
        secret,
        uri,
        qr_svg,
    })
}

/// Confirms enrolment with a code from the app; returns the recovery codes (shown once).
pub async fn confirm(state: &AppState, user: &User, code: &str) -> Result<Vec<String>, Problem> {
    let mfa = current(state, user).await?;
    if mfa.enabled {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the second factor is already on",
        ));
    }
    let secret = mfa
        .secret
        .as_deref()
        .and_then(totp::base32_decode)
        .ok_or_else(|| Problem::bad_request("start enrolment first (POST /api/v1/me/mfa)"))?;
    let Some(step) = totp::verify(&secret, code, state.clock.now()) else {
        return Err(Problem::bad_request(
            "the code does not match; check the time on your device and try the next code",
        ));
    };
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let hex = random_hex(5).map_err(internal)?;
        codes.push(format!("{}-{}", &hex[..5], &hex[5..]));
    }
    let hashes = codes.iter().map(|c| totp::recovery_hash(c)).collect();
    let enabled = UserMfa {
        secret: mfa.secret,
        enabled: true,
        recovery_hashes: hashes,
        last_step: Some(step),
    };
    state
        .store
        .set_user_mfa(user.id, enabled, state.clock.now())
        .await?;
    Ok(codes)
}

/// Whether `code` is a valid second factor for `user` now: a fresh TOTP code (each time step
/// once) or an unused recovery code (used up). Users without the second factor need none.
pub async fn check(state: &AppState, user: &User, code: &str) -> Result<bool, Problem> {
    let mfa = current(state, user).await?;
    if !mfa.enabled {
        return Ok(true);
    }
    let now = state.clock.now();
    if let Some(secret) = mfa.secret.as_deref().and_then(totp::base32_decode) {
        if let Some(step) = totp::verify(&secret, code, now) {
            if mfa.last_step.is_some_and(|last| step <= last) {
                return Ok(false); // that code was used already
            }
            let updated = UserMfa {
                last_step: Some(step),
                ..mfa
            };
            state.store.set_user_mfa(user.id, updated, now).await?;
            return Ok(true);
        }
    }
    let hash = totp::recovery_hash(code);
    if let Some(pos) = mfa.recovery_hashes.iter().position(|h| *h == hash) {
        let mut rest = mfa.recovery_hashes.clone();
        rest.remove(pos);
        let updated = UserMfa {
            recovery_hashes: rest,
            ..mfa
        };
        state.store.set_user_mfa(user.id, updated, now).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Turns the second factor off (the caller has checked a code, or an admin resets it).
pub async fn turn_off(state: &AppState, user: &User) -> Result<(), Problem> {
    state
        .store
        .set_user_mfa(user.id, UserMfa::default(), state.clock.now())
        .await?;
    Ok(())
}
