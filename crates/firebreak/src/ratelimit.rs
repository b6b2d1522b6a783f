//! Per-key fixed-window rate limits for ingest (PagerDuty-compatible 429s). Windows are measured
//! with the injected clock.

use firebreak_core::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;
/// Keys tracked at most; the table is cleared when it grows past this (a brief reset of limits).
const MAX_KEYS: usize = 100_000;

pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    pub fn per_minute(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `key`; `Err(seconds until the window ends)` when over the limit.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), u32> {
        let window = now.as_millis().div_euclid(WINDOW_MS);
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(());
        };
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            windows.clear();
        }
        let entry = windows.entry(key.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.per_minute {
            let left_ms = (window + 1) * WINDOW_MS - now.as_millis();
            return Err(u32::try_from((left_ms + 999) / 1000).unwrap_or(60).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_per_minute() {
        let l = RateLimiter::per_minute(2);
        let t = Timestamp::from_millis(60_000 * 100 + 15_000);
        assert!(l.check("a", t).is_ok());
        assert!(l.check("a", t).is_ok());
        assert_eq!(l.check("a", t), Err(45));
        assert!(l.check("b", t).is_ok(), "keys are limited separately");
        assert!(
            l.check("a", Timestamp::from_millis(60_000 * 101)).is_ok(),
            "a new minute starts afresh"
        );
    }
}
