//! The integration tests: one binary (zero2prod's `tests/api/main.rs`), so the service and its
//! dependencies are linked once. Each module is one theme; the fixtures they share (the
//! `TestApp` client, payload builders, fault injection, the service's internals) are in
//! `tests/integration/src`.
//!
//! Kept as binaries of their own, each for a reason:
//! - `tests/logs.rs` installs the process-wide log subscriber and searches everything logged;
//!   in this binary it would capture (and depend on) every other test's logs.
//! - `tests/browser.rs` drives Chromium through chromedriver against the service listening on
//!   a real port, a process of its own.
//! - `tests/soak.rs` is `#[ignore]`d: minutes of load against the service run as its own
//!   process (`make soak`).

mod company_settings;
mod connection;
mod connection_lifecycle;
mod credit_notes;
mod customer_leases;
mod entry_points;
mod events;
mod exactly_once;
mod iam;
mod iam_flows;
mod lambda_events;
mod local_runner;
mod mapping;
mod openapi;
mod outcomes;
mod pull;
mod pull_vouchers;
mod push_customers;
mod push_invoices;
mod push_vouchers;
mod rate_budget;
mod status_counts;
mod store;
mod sync_items;
mod tokens;
mod visma_client;
mod webhook;
mod webhook_dedup;
