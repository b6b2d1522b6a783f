//! Test support for firebreak: the store conformance suite that every `Store` adapter must pass
//! (SQLite and PostgreSQL run the same cases), and builders for the domain objects the cases and
//! other tests need.
//!
//! This is test support code: a failed expectation is reported by panicking with a message that
//! names what was expected, so `unwrap`/`expect`/`panic` are allowed here (they stay denied in the
//! product crates).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod builders;
pub mod conformance;
