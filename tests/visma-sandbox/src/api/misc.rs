//! `/v2/vatcodes`, `/v2/termsofpayments`, `/v2/companysettings`

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};

use super::{ok, with_company};
use crate::errors::{ApiError, ApiResult};
use crate::paging::{list, Query};
use crate::server::{ApiCtx, App};
use crate::state::find_by_id;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v2/vatcodes", get(list_vat))
        .route("/v2/vatcodes/{id}", get(get_vat))
        .route("/v2/termsofpayments", get(list_terms))
        .route("/v2/termsofpayments/{id}", get(get_terms))
        .route("/v2/companysettings", get(settings))
}

async fn list_vat(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| Ok(c.vat_codes.clone()))?;
    Ok(ok(&list(items, &q)?))
}

/// Like Visma's spec, a single VAT code comes back in the paginated envelope.
async fn get_vat(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let item = with_company(&app, &ctx, |c, _| {
        find_by_id(&c.vat_codes, &id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("VatCode"))
    })?;
    Ok(ok(&list(vec![item], &Query::default())?))
}

async fn list_terms(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| Ok(c.terms.clone()))?;
    Ok(ok(&list(items, &q)?))
}

async fn get_terms(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    with_company(&app, &ctx, |c, _| {
        find_by_id(&c.terms, &id)
            .map(ok)
            .ok_or_else(|| ApiError::not_found("TermsOfPayment"))
    })
}

async fn settings(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
) -> ApiResult<Response> {
    with_company(&app, &ctx, |c, _| Ok(ok(&c.settings_json())))
}
