//! `GET /oauth/visma/callback` (CONTRACT §5).

use app::{Deps, Problem, Secret};
use axum::routing::get;
use axum::Router;

pub const SECRETS: &[Secret] = &[Secret::VismaClientSecret];

pub const PATH: &str = "/oauth/visma/callback";

pub fn router(deps: Deps) -> Router {
    Router::new().route(PATH, get(callback)).with_state(deps)
}

/// Lands with the connection lifecycle; answers 501 until then.
async fn callback() -> Problem {
    Problem::not_implemented()
}
