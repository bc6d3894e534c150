//! `/v2/accounts` and `/v2/fiscalyears`

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use uuid::Uuid;

use super::{ok, with_company};
use crate::errors::{ApiError, ApiResult};
use crate::paging::{list, Query};
use crate::server::{ApiCtx, App};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v2/accounts", get(list_all))
        .route("/v2/accounts/{fiscalyearId}", get(list_year))
        .route("/v2/accounts/{fiscalyearId}/{accountNumber}", get(get_one))
        .route("/v2/fiscalyears", get(list_years))
        .route("/v2/fiscalyears/{id}", get(get_year))
}

fn fy_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        3001,
        "FiscalYearDoesNotExist - The fiscal year was not found.",
    )
}

async fn list_all(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| {
        Ok(c.accounts.iter().map(|a| a.to_json()).collect())
    })?;
    Ok(ok(&list(items, &q)?))
}

async fn list_year(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(fy): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let fy = Uuid::parse_str(&fy).map_err(|_| fy_not_found())?;
    let items = with_company(&app, &ctx, |c, _| {
        c.fiscal_year(fy).ok_or_else(fy_not_found)?;
        Ok(c.accounts
            .iter()
            .filter(|a| a.fiscal_year_id == fy)
            .map(|a| a.to_json())
            .collect())
    })?;
    Ok(ok(&list(items, &q)?))
}

async fn get_one(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path((fy, number)): Path<(String, String)>,
) -> ApiResult<Response> {
    let fy = Uuid::parse_str(&fy).map_err(|_| fy_not_found())?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            3002,
            format!("AccountNotFound - Account {number} was not found in the fiscal year."),
        )
    };
    let n: u64 = number.parse().map_err(|_| not_found())?;
    with_company(&app, &ctx, |c, _| {
        c.fiscal_year(fy).ok_or_else(fy_not_found)?;
        c.account(fy, n)
            .map(|a| ok(&a.to_json()))
            .ok_or_else(not_found)
    })
}

async fn list_years(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| {
        Ok(c.fiscal_years.iter().map(|f| f.to_json()).collect())
    })?;
    Ok(ok(&list(items, &q)?))
}

async fn get_year(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| fy_not_found())?;
    with_company(&app, &ctx, |c, _| {
        c.fiscal_year(id)
            .map(|f| ok(&f.to_json()))
            .ok_or_else(fy_not_found)
    })
}
