//! The management API behind the Integrations page (CONTRACT §4), plus `GET /health`.

mod auth;
mod body;
mod items;
mod reads;

use app::connection::{self, ConnectError};
use app::{Deps, Problem, Secret};
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub use auth::{Access, Caller};

/// The secrets this function reads at start-up.
pub const SECRETS: &[Secret] = &[Secret::JwtSecret, Secret::VismaClientSecret];

/// Every route [`router`] serves, as `(method, path template)`: the list the OpenAPI document
/// is checked against (`tests/integration/tests/openapi.rs`), which also proves each entry is
/// served and no other method is.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/tenants/{tenant}/visma"),
    ("DELETE", "/tenants/{tenant}/visma"),
    ("POST", "/tenants/{tenant}/visma/connect"),
    ("POST", "/tenants/{tenant}/visma/sync"),
    ("GET", "/tenants/{tenant}/visma/accounts"),
    ("GET", "/tenants/{tenant}/visma/fiscal-years"),
    ("GET", "/tenants/{tenant}/visma/vouchers"),
    ("GET", "/tenants/{tenant}/visma/account-mapping"),
    ("PUT", "/tenants/{tenant}/visma/account-mapping"),
    ("GET", "/tenants/{tenant}/visma/sync-items"),
    (
        "POST",
        "/tenants/{tenant}/visma/sync-items/{kind}/{id}/retry",
    ),
];

/// Every route of this function. The same router runs in Lambda (through `lambda_http`) and in
/// `make serve`.
pub fn router(deps: Deps) -> Router {
    let base = "/tenants/{tenant}/visma";
    Router::new()
        .route("/health", get(health))
        .route(base, get(status).delete(disconnect))
        .route(&format!("{base}/connect"), post(connect))
        .route(&format!("{base}/sync"), post(reads::sync))
        .route(&format!("{base}/accounts"), get(reads::accounts))
        .route(&format!("{base}/fiscal-years"), get(reads::fiscal_years))
        .route(&format!("{base}/vouchers"), get(reads::vouchers))
        .route(
            &format!("{base}/account-mapping"),
            get(reads::get_mapping).put(reads::put_mapping),
        )
        .route(&format!("{base}/sync-items"), get(items::list))
        .route(
            &format!("{base}/sync-items/{{kind}}/{{id}}/retry"),
            post(items::retry),
        )
        .fallback(not_found)
        .layer(axum::middleware::map_response(app::problem_json_errors))
        .with_state(deps)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Deserialize)]
struct ConnectBody {
    return_url: Option<String>,
}

fn store_failure(e: store::StoreError) -> Problem {
    tracing::error!(error = %e, "store failure");
    if e.is_retryable() {
        Problem::unavailable()
    } else {
        Problem::internal()
    }
}

async fn connect(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Result<Json<Value>, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Write)?;
    let body: ConnectBody = body::parse(&body).map_err(|e| {
        let problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "The body must be JSON",
        );
        match e {
            body::BodyError::Field { field, message } if !field.is_empty() => {
                problem.field(field, message)
            }
            _ => problem.field("return_url", "required"),
        }
    })?;
    let return_url = body.return_url.unwrap_or_default();
    let url = connection::start(
        &deps,
        &caller.tenant,
        &caller.user,
        &return_url,
        chrono::Utc::now(),
    )
    .await
    .map_err(|e| match e {
        ConnectError::InvalidReturnUrl => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_return_url",
            "The return URL is not allowed",
        )
        .field(
            "return_url",
            "must start with one of the configured return URL prefixes",
        ),
        ConnectError::AccountingSystemConflict(other) => Problem::new(
            StatusCode::CONFLICT,
            "accounting_system_conflict",
            "Another accounting system is connected",
        )
        .detail(format!(
            "{other} is connected to this company; disconnect it first"
        )),
        ConnectError::Store(e) => store_failure(e),
    })?;
    Ok(Json(json!({"authorize_url": url.as_str()})))
}

async fn status(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    parts: Parts,
) -> Result<Json<connection::StatusBody>, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Read)?;
    let body = connection::status(&deps, &caller.tenant)
        .await
        .map_err(store_failure)?;
    Ok(Json(body))
}

async fn disconnect(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    parts: Parts,
) -> Result<Response, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Write)?;
    connection::disconnect(&deps, &caller.tenant, chrono::Utc::now())
        .await
        .map_err(store_failure)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn not_found() -> Problem {
    Problem::unknown_route()
}
