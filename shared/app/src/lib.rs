//! The composition root shared by every function and the local runner: configuration parsed
//! once ([`Config`]), telemetry ([`telemetry`]), problem+json answers ([`Problem`]) and the
//! dependencies built once per cold start ([`Deps`]).

mod config;
pub mod connection;
mod deps;
pub mod events;
pub mod items;
pub mod mapping;
pub mod pacer;
mod problem;
pub mod pull;
pub mod push;
pub mod retry;
pub mod telemetry;
pub mod tokens;
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
