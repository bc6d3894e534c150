//! `GET /sync-items` and `POST /sync-items/{kind}/{id}/retry` (integration guide "Management API"). The rules are in
//! [`app::items`].

use app::items::{self, ItemsPage, ListError, ListQuery, RetryAccepted, RetryError};
use app::{Deps, Problem};
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;

use crate::auth::{self, Access};
use crate::store_failure;

fn bad_parameter(e: items::BadParameter) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        "Invalid parameter",
    )
    .field(e.field, e.message)
}

pub(crate) async fn list(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    parts: Parts,
) -> Result<Json<ItemsPage>, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Read)?;
    let Query(query) = Query::<ListQuery>::try_from_uri(&parts.uri).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "Invalid query string",
        )
    })?;
    let page = items::list(&deps, &caller.tenant, &query)
        .await
        .map_err(|e| match e {
            ListError::BadParameter(bad) => bad_parameter(bad),
            ListError::Store(e) => store_failure(e),
        })?;
    Ok(Json(page))
}

pub(crate) async fn retry(
    State(deps): State<Deps>,
    Path((tenant, kind, id)): Path<(String, String, String)>,
    parts: Parts,
) -> Result<(StatusCode, Json<RetryAccepted>), Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Write)?;
    let kind = items::parse_kind(&kind).map_err(bad_parameter)?;
    let accepted = items::retry_one(&deps, &caller.tenant, kind, &id, chrono::Utc::now())
        .await
        .map_err(|e| match e {
            RetryError::NotFound => {
                Problem::not_found().detail("no sync item with this kind and id")
            }
            RetryError::NotConnected => Problem::new(
                StatusCode::CONFLICT,
                "not_connected",
                "The company is not connected to Visma",
            ),
            RetryError::NotRetryable => Problem::new(
                StatusCode::CONFLICT,
                "not_retryable",
                "The item is already in Visma",
            )
            .detail("synced items reach Visma once and are not pushed again"),
            RetryError::Queue(e) => {
                tracing::error!(error = %e, "could not queue a retried item");
                Problem::unavailable()
            }
            RetryError::Store(e) => store_failure(e),
        })?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
