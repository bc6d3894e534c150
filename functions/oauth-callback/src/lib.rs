//! `GET /oauth/visma/callback` (integration guide "OAuth callback").

use app::connection::{self, CallbackOutcome, CallbackQuery};
use app::{Deps, Secret};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub const SECRETS: &[Secret] = &[Secret::VismaClientSecret];

pub const PATH: &str = "/oauth/visma/callback";

/// Every route [`router`] serves (see `api::ROUTES`).
pub const ROUTES: &[(&str, &str)] = &[("GET", PATH)];

pub fn router(deps: Deps) -> Router {
    Router::new()
        .route(PATH, get(callback))
        .layer(axum::middleware::map_response(app::problem_json_errors))
        .with_state(deps)
}

async fn callback(State(deps): State<Deps>, RawQuery(raw): RawQuery) -> Response {
    // A malformed query is treated like a missing state: the plain 400 page.
    let query: CallbackQuery =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).unwrap_or_default();
    match connection::complete(&deps, query, chrono::Utc::now()).await {
        Ok(CallbackOutcome::Redirect(url)) => {
            (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
        }
        Ok(CallbackOutcome::InvalidState) => page(
            StatusCode::BAD_REQUEST,
            "This link has expired or was already used",
            "Go back to Aourly and start the connection to Visma again.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "the OAuth callback failed");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong",
                "Go back to Aourly and try connecting to Visma again in a moment.",
            )
        }
    }
}

/// A plain page for the browser: never a return URL, never internal detail.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}
