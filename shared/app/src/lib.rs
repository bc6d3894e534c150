//! The service's use cases and its composition root, shared by every function and the local
//! runner.
//!
//! Composition: configuration parsed once ([`Config`]), telemetry ([`telemetry`]),
//! problem+json answers ([`Problem`]) and the dependencies built once per cold start
//! ([`Deps`]).
//!
//! Use cases (no module imports one that imports it: `docs/architecture.md` draws the graph):
//! - [`jobs`]: one job from the sync queue; the sync worker adapts SQS to it;
//! - [`pull`]: reading Visma into the pulled data; it proposes the mapping ([`mapping`]);
//! - [`push`]: one Aourly record into Visma, exactly once;
//! - [`webhook`], [`connection`], [`items`], [`mapping`], [`vouchers`]: what the HTTP
//!   functions call;
//! - [`resume`]: putting waiting items back on the queue (after a reconnect, a mapping fix,
//!   a pull, or Sync now);
//! - [`translate`]: Visma's models to ours and back; [`events`]: outbound events to Aourly;
//!   [`tokens`]: the tenant's Visma tokens; [`pacer`]: Visma's rate limit; [`backoff`]: waits.

pub mod backoff;
mod config;
pub mod connection;
mod deps;
pub mod events;
pub mod items;
pub mod jobs;
pub mod mapping;
pub mod pacer;
mod problem;
pub mod pull;
pub mod push;
pub mod resume;
pub mod telemetry;
pub mod tokens;
pub mod translate;
pub mod vouchers;
pub mod webhook;

pub use config::{Config, ConfigError, LocalConfig, Secret, Secrets};
pub use deps::Deps;
pub use problem::{problem_json_errors, FieldProblem, Problem};

/// Start-up helper for every `main`: a configuration error becomes the one clear line on
/// stderr (and in CloudWatch) naming the variable, then the process exits.
pub fn or_exit<T>(result: Result<T, ConfigError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => {
            tracing::error!(variable = %e.variable, "{e}");
            eprintln!("{e}");
            std::process::exit(2)
        }
    }
}
