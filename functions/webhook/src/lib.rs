//! `POST /webhooks/aourly` (integration guide "Webhooks from Aourly"). The rules are in [`app::webhook`]; this adapter reads
//! the body within the 256 KiB limit (413 before anything is parsed) and the signature header.

use app::webhook::{self, Accepted, WebhookError, MAX_BODY_BYTES};
use app::{Deps, Problem, Secret};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};

pub const SECRETS: &[Secret] = &[Secret::WebhookSecret];

pub const PATH: &str = "/webhooks/aourly";

/// Every route [`router`] serves (see `api::ROUTES`).
pub const ROUTES: &[(&str, &str)] = &[("POST", PATH)];

pub fn router(deps: Deps) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .layer(axum::middleware::map_response(app::problem_json_errors))
        .with_state(deps)
}

async fn receive(
    State(deps): State<Deps>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(WebhookError::TooLarge.into());
    }
    // Reads at most one byte past the limit, so an undeclared oversize body is caught too.
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES + 1)
        .await
        .map_err(|_| Problem::from(WebhookError::TooLarge))?;
    let signature = headers
        .get(domain::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let accepted = webhook::accept(&deps, &bytes, signature, chrono::Utc::now()).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
