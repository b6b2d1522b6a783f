//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP: HMAC-SHA1, 30-second steps,
//! 6 digits) — what every authenticator app speaks — plus base32 secrets, `otpauth://` URIs and
//! one-time recovery codes.

use crate::timestamp::Timestamp;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now that still count (clock drift between phone and server).
pub const DRIFT_STEPS: i64 = 1;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (how authenticator apps take secrets).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32 (case-insensitive, spaces and `=` ignored); `None` for other characters.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = BASE32
            .iter()
            .position(|b| char::from(*b) == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The HOTP value of `secret` for `counter`, `digits` long (RFC 4226 §5.3).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).ok()?;
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest.last()? & 0x0f);
    let slice = digest.get(offset..offset + 4)?;
    let code = (u32::from(slice[0] & 0x7f) << 24)
        | (u32::from(slice[1]) << 16)
        | (u32::from(slice[2]) << 8)
        | u32::from(slice[3]);
    Some(code % 10u32.pow(digits))
}

/// The time step a moment falls in.
pub fn step(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(1000).div_euclid(STEP_SECS)
}

/// The 6-digit code of `secret` at `at`, zero-padded.
pub fn code_at(secret: &[u8], at: Timestamp) -> Option<String> {
    let counter = u64::try_from(step(at)).ok()?;
    hotp(secret, counter, DIGITS).map(|c| format!("{c:06}"))
}

/// Checks a code typed by a person at `at`, allowing `DRIFT_STEPS` either side. Returns the step
/// that matched, so a caller can refuse the same step twice (no replay).
pub fn verify(secret: &[u8], code: &str, at: Timestamp) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step(at);
    (now - DRIFT_STEPS..=now + DRIFT_STEPS).find(|s| {
        u64::try_from(*s)
            .ok()
            .and_then(|c| hotp(secret, c, DIGITS))
            .is_some_and(|v| format!("{v:06}") == code)
    })
}

/// The `otpauth://totp/...` URI an authenticator app scans.
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// How a recovery code is stored: SHA-256 of its normalised text (lower case, no dashes/spaces).
pub fn recovery_hash(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(norm.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890".
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_test_vectors() {
        for (secs, expect) in [
            (59i64, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            let counter = u64::try_from(secs / 30).unwrap();
            assert_eq!(hotp(SEED, counter, 8), Some(expect), "T = {secs}");
        }
        assert_eq!(
            code_at(SEED, Timestamp::from_millis(59_000)).as_deref(),
            Some("287082")
        );
    }

    #[test]
    fn verification_allows_one_step_of_drift_and_nothing_else() {
        let at = Timestamp::from_millis(1_111_111_109_000);
        let code = code_at(SEED, at).unwrap();
        assert!(verify(SEED, &code, at).is_some());
        assert!(verify(SEED, &code, Timestamp::from_millis(at.as_millis() + 30_000)).is_some());
        assert!(verify(SEED, &code, Timestamp::from_millis(at.as_millis() + 90_000)).is_none());
        assert!(verify(SEED, "12345", at).is_none());
        assert!(verify(SEED, "abcdef", at).is_none());
        assert!(verify(SEED, &format!("{} ", &code[..3]), at).is_none());
    }

    #[test]
    fn base32_round_trips() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert!(base32_decode("not base32!").is_none());
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base32_decode(&base32_encode(&bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn uri_and_recovery_codes() {
        let uri = otpauth_uri("firebreak", "ana@example.com", "MZXW6YTBOI");
        assert_eq!(uri, "otpauth://totp/firebreak:ana@example.com?secret=MZXW6YTBOI&issuer=firebreak&algorithm=SHA1&digits=6&period=30");
        assert_eq!(recovery_hash("ABCD-EFGH"), recovery_hash("abcdefgh"));
        assert_ne!(recovery_hash("abcdefgh"), recovery_hash("abcdefgi"));
    }
}
