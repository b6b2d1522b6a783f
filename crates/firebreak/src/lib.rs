//! firebreak: the binary's library — CLI, configuration, HTTP API, ingest parsers, workers,
//! metrics. `app::start` runs a server; `cli::main` is the command line.
#![forbid(unsafe_code)]
// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "512"]

pub mod app;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod mfa;
pub mod ratelimit;
pub mod web;
pub mod workers;
