//! `POST /webhooks/aourly` (CONTRACT §6).

use app::{Deps, Problem, Secret};
use axum::routing::post;
use axum::Router;

pub const SECRETS: &[Secret] = &[Secret::WebhookSecret];

pub const PATH: &str = "/webhooks/aourly";

pub fn router(deps: Deps) -> Router {
    Router::new().route(PATH, post(receive)).with_state(deps)
}

/// Lands with the push pipeline; answers 501 until then.
async fn receive() -> Problem {
    Problem::not_implemented()
}
