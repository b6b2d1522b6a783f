//! Typed identifiers. Integers inside the stores; opaque strings on the API.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! id_type {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl $name {
            /// Parses the API form of the id; `None` for anything that is not one.
            pub fn parse(text: &str) -> Option<Self> {
                let n: i64 = text.parse().ok()?;
                (n > 0 && text.bytes().all(|b| b.is_ascii_digit())).then_some($name(n))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not a valid id")))
            }
        }
    )*};
}

id_type!(
    ServiceId,
    IntegrationId,
    AlertId,
    IncidentId,
    TimelineEventId,
    JobId,
    TokenId,
    UserId,
    TeamId,
    GrantId,
    AuditId
);
