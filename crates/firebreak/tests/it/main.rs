//! The one integration-test binary: black-box tests that start the real server (in-process or
//! as a child process), the store conformance suite on SQLite and PostgreSQL, a real Prometheus
//! Alertmanager, the CLI, and crash safety.
//!
//! Test code: unwrap/expect/panic are how a test fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access_matrix;
mod alertmanager_real;
mod api;
mod audit_log;
mod cli;
mod conformance;
mod console;
mod console_admin;
mod console_pages;
mod crash;
mod ingest;
mod jobs;
mod page_matrix;
mod postgres;
mod postgres_store;
mod security;
mod support;
