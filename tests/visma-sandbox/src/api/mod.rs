//! The `/v2/...` eAccounting API.

use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::errors::{ApiError, ApiResult};
use crate::server::{ApiCtx, App};
use crate::state::{Company, State};
use crate::util::json_response;

pub mod accounts;
pub mod articles;
pub mod customers;
pub mod invoices;
pub mod misc;
pub mod vouchers;

pub fn routes() -> Router<App> {
    Router::new()
        .merge(customers::routes())
        .merge(articles::routes())
        .merge(invoices::routes())
        .merge(vouchers::routes())
        .merge(accounts::routes())
        .merge(misc::routes())
}

/// Runs `f` on the caller's company with the sandbox clock's `now`.
pub fn with_company<R>(
    app: &App,
    ctx: &ApiCtx,
    f: impl FnOnce(&mut Company, DateTime<Utc>) -> ApiResult<R>,
) -> ApiResult<R> {
    let mut st = app.state.lock();
    let now = st.tick();
    let company = st
        .company_mut(ctx.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    f(company, now)
}

/// Same as [`with_company`] but for code that runs outside a request (Sandbox helpers).
pub fn on_company<R>(
    st: &mut State,
    company_id: Uuid,
    f: impl FnOnce(&mut Company, DateTime<Utc>) -> ApiResult<R>,
) -> ApiResult<R> {
    let now = st.tick();
    let company = st
        .company_mut(company_id)
        .ok_or_else(|| ApiError::not_found("Company"))?;
    f(company, now)
}

pub fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

pub fn created(v: &Value) -> Response {
    json_response(StatusCode::CREATED, v)
}

/// Parses a path id; a malformed GUID answers like a missing resource.
pub fn path_uuid(s: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found(what))
}
