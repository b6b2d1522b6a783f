//! Points in time (UTC epoch milliseconds) and durations, with RFC 3339 and `"5m"` text forms.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time, UTC, millisecond precision. Stored as epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn plus(self, d: DurationMs) -> Self {
        Timestamp(self.0.saturating_add(d.as_millis()))
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-08-21T09:14:03.512Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000);
        match OffsetDateTime::from_unix_timestamp(secs) {
            Ok(dt) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                dt.year(),
                u8::from(dt.month()),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                millis
            ),
            Err(_) => format!("@{}ms", self.0),
        }
    }

    /// Parses RFC 3339 / ISO 8601 date-times. Also accepts offsets without a colon
    /// (`+0000`, as in PagerDuty's examples) and a space instead of `T`.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let text = text.trim();
        let normalized = normalize_offset(text);
        let dt = OffsetDateTime::parse(&normalized, &Rfc3339)
            .map_err(|_| TimestampError(text.chars().take(64).collect()))?;
        let ms = dt.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(ms)
            .map(Timestamp)
            .map_err(|_| TimestampError(text.chars().take(64).collect()))
    }
}

fn normalize_offset(text: &str) -> String {
    let mut s = text.replacen(' ', "T", 1);
    // "+0000" / "-0530" at the end → "+00:00" / "-05:30"
    let bytes = s.as_bytes();
    if bytes.len() > 5 {
        let tail = &bytes[bytes.len() - 5..];
        if (tail[0] == b'+' || tail[0] == b'-') && tail[1..].iter().all(u8::is_ascii_digit) {
            let at = s.len() - 2;
            s.insert(at, ':');
        }
    }
    s
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("'{0}' is not an RFC 3339 date-time (e.g. 2026-08-21T09:14:03Z)")]
pub struct TimestampError(String);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A span of time in milliseconds; text form `"30s"`, `"5m"`, `"2h"`, `"1d"`, `"1h30m"`, `"250ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationMs(i64);

impl DurationMs {
    pub const fn from_millis(ms: i64) -> Self {
        DurationMs(ms)
    }
    pub const fn from_secs(s: i64) -> Self {
        DurationMs(s * 1000)
    }
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let err = || DurationError(text.chars().take(64).collect());
        let t = text.trim();
        if t.is_empty() {
            return Err(err());
        }
        let mut total: i64 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return Err(err());
            }
            let n: i64 = rest[..digits].parse().map_err(|_| err())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let factor = match unit {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 604_800_000,
                _ => return Err(err()),
            };
            total = n
                .checked_mul(factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(err)?;
        }
        Ok(DurationMs(total))
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms != 0 && ms % 86_400_000 == 0 {
            write!(f, "{}d", ms / 86_400_000)
        } else if ms != 0 && ms % 3_600_000 == 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms != 0 && ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("'{0}' is not a duration (use e.g. \"30s\", \"5m\", \"2h\", \"1d\")")]
pub struct DurationError(String);

impl Serialize for DurationMs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DurationMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DurationMs::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_pagerduty_offset_without_colon() {
        let t = Timestamp::parse("2015-07-17T08:42:58.315+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2015-07-17T08:42:58.315Z");
        let t = Timestamp::parse("2026-08-21T11:14:03+0200").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-08-21T09:14:03.000Z");
    }

    #[test]
    fn parses_alertmanager_nanos() {
        let t = Timestamp::parse("2026-08-21T09:14:03.512345678Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-08-21T09:14:03.512Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn durations_round_trip() {
        for (text, ms) in [
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
        ] {
            let d = DurationMs::parse(text).unwrap();
            assert_eq!(d.as_millis(), ms, "{text}");
            assert_eq!(DurationMs::parse(&d.to_string()).unwrap(), d);
        }
        for bad in ["", "5", "m", "5x", "-5m", "99999999999999999999s"] {
            assert!(DurationMs::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips(ms in -62_000_000_000_000i64..250_000_000_000_000i64) {
            let t = Timestamp::from_millis(ms);
            prop_assert_eq!(Timestamp::parse(&t.to_rfc3339()).unwrap(), t);
        }

        #[test]
        fn timestamp_parse_never_panics(s in "\\PC{0,40}") {
            let _ = Timestamp::parse(&s);
            let _ = DurationMs::parse(&s);
        }
    }
}
