//! The management API behind the Integrations page (integration guide "Management API"), plus `GET /health`.

mod auth;
mod body;
mod items;
mod reads;
mod writes;

use app::connection::{self, ConnectError};
use app::{Deps, Problem, Secret};
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub use auth::{Access, Caller};

/// The secrets this function reads at start-up.
pub const SECRETS: &[Secret] = &[Secret::JwtSecret, Secret::VismaClientSecret];

/// Every route this function serves, as `(method, path template)`: the one list [`router`] is
/// built from, and the one the OpenAPI document is checked against.
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

/// The handler of one entry of [`ROUTES`].
fn endpoint(method: &str, path: &str) -> MethodRouter<Deps> {
    const BASE: &str = "/tenants/{tenant}/visma";
    let at = |tail: &str| path == format!("{BASE}{tail}");
    match method {
        "GET" if path == "/health" => get(health),
        "GET" if at("") => get(status),
        "DELETE" if at("") => delete(disconnect),
        "POST" if at("/connect") => post(connect),
        "POST" if at("/sync") => post(writes::sync),
        "GET" if at("/accounts") => get(reads::accounts),
        "GET" if at("/fiscal-years") => get(reads::fiscal_years),
        "GET" if at("/vouchers") => get(reads::vouchers),
        "GET" if at("/account-mapping") => get(reads::get_mapping),
        "PUT" if at("/account-mapping") => put(writes::put_mapping),
        "GET" if at("/sync-items") => get(items::list),
        "POST" if at("/sync-items/{kind}/{id}/retry") => post(items::retry),
        _ => unreachable!("{method} {path} is listed in ROUTES without a handler"),
    }
}

/// Every route of this function, from [`ROUTES`]. The same router runs in Lambda (through
/// `lambda_http`) and in `make serve`.
pub fn router(deps: Deps) -> Router {
    let mut paths: Vec<(&str, MethodRouter<Deps>)> = Vec::new();
    for (method, path) in ROUTES {
        let handler = endpoint(method, path);
        match paths.iter_mut().find(|(p, _)| p == path) {
            Some((_, methods)) => *methods = std::mem::take(methods).merge(handler),
            None => paths.push((path, handler)),
        }
    }
    paths
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed route has its handler (a missing one would panic at cold start).
    #[test]
    fn every_listed_route_has_a_handler() {
        for (method, path) in ROUTES {
            let _ = endpoint(method, path);
        }
    }

    #[test]
    #[should_panic(expected = "without a handler")]
    fn a_route_without_a_handler_is_caught() {
        let _ = endpoint("GET", "/tenants/{tenant}/visma/health");
    }
}
