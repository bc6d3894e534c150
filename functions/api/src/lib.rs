//! The management API behind the Integrations page (CONTRACT §4), plus `GET /health`.

use app::{Deps, Problem, Secret};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The secrets this function reads at start-up.
pub const SECRETS: &[Secret] = &[Secret::JwtSecret, Secret::VismaClientSecret];

/// Every route of this function. The same router runs in Lambda (through `lambda_http`) and in
/// `make serve`.
pub fn router(deps: Deps) -> Router {
    let base = "/tenants/{tenant}/visma";
    Router::new()
        .route("/health", get(health))
        .route(base, get(pending).delete(pending))
        .route(&format!("{base}/connect"), post(pending))
        .route(&format!("{base}/sync"), post(pending))
        .route(&format!("{base}/accounts"), get(pending))
        .route(&format!("{base}/fiscal-years"), get(pending))
        .route(&format!("{base}/vouchers"), get(pending))
        .route(&format!("{base}/account-mapping"), get(pending).put(pending))
        .route(&format!("{base}/sync-items"), get(pending))
        .route(&format!("{base}/sync-items/{{kind}}/{{id}}/retry"), post(pending))
        .fallback(not_found)
        .with_state(deps)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Routes whose behaviour lands with the connection, push and pull work; they answer 501
/// rather than pretend.
async fn pending() -> Problem {
    Problem::not_implemented()
}

async fn not_found() -> Problem {
    Problem::not_found()
}
