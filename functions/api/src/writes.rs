//! The management API's writes: `PUT /account-mapping` and `POST /sync`.

use app::mapping::SaveError;
use app::{Deps, Problem};
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::connection::ConnectionStatus;
use domain::mapping::MappingInput;
use domain::SyncJob;
use serde_json::{json, Value};

use crate::auth::{self, Access};
use crate::reads::mapping_body;
use crate::store_failure;

/// `PUT /account-mapping`: 200 with the stored mapping (`confirmed: true`), or 422
/// `invalid_mapping` naming each bad entry (nothing stored).
pub async fn put_mapping(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Result<Json<Value>, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Write)?;
    let input: MappingInput = match crate::body::parse(&body) {
        Ok(input) => input,
        // A value of the wrong type in an entry is a bad entry, named like the others.
        Err(crate::body::BodyError::Field { field, message }) if !field.is_empty() => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_mapping",
                "The account mapping has invalid entries",
            )
            .field(field, message))
        }
        Err(_) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "The body must be an account mapping",
            )
            .detail("expected {\"sales\": [...], \"accounts\": {...}}"))
        }
    };
    match app::mapping::save(&deps, &caller.tenant, &input).await {
        Ok(saved) => Ok(Json(mapping_body(&saved))),
        Err(SaveError::Invalid(errors)) => {
            let mut p = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_mapping",
                "The account mapping has invalid entries",
            )
            .detail("each entry is checked against the chart of the current fiscal year and the article account codings pulled from Visma");
            for e in errors {
                p = p.field(e.field, e.message);
            }
            Err(p)
        }
        Err(SaveError::NotPulled) => Err(Problem::new(
            StatusCode::CONFLICT,
            "not_synced",
            "Nothing was pulled from Visma yet",
        )
        .detail(
            "the mapping is validated against Visma's chart and codings; wait for the first sync",
        )),
        Err(SaveError::Store(e)) => Err(store_failure(e)),
        Err(e) => {
            tracing::warn!(tenant = %caller.tenant, error = %e, "could not make the mapping's articles in Visma");
            Err(if e.is_transient() {
                Problem::unavailable()
            } else if e.is_authorization() {
                not_connected()
            } else {
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "visma_rejected",
                    "Visma refused to create the mapping's articles",
                )
            })
        }
    }
}

fn not_connected() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "not_connected",
        "The tenant is not connected to Visma",
    )
}

/// `POST /sync`: queues a pull now and retries the failed and blocked items; 202 with the
/// queued job's id as `sync_id`.
pub async fn sync(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    parts: Parts,
) -> Result<Response, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Write)?;
    let connected = deps
        .connections
        .get(&caller.tenant)
        .await
        .map_err(store_failure)?
        .is_some_and(|c| c.status == ConnectionStatus::Connected);
    if !connected {
        return Err(not_connected().detail("connect (or reconnect) to Visma first"));
    }
    let sync_id = deps
        .queue
        .send(
            &SyncJob::Pull {
                tenant: caller.tenant.clone(),
            },
            0,
        )
        .await
        .map_err(store_failure)?;
    // The push pipeline's half of a manual sync.
    if let Err(e) = app::resume::retry_failed_and_blocked(&deps, &caller.tenant).await {
        tracing::warn!(tenant = %caller.tenant, error = %e, "retrying failed and blocked items failed; the pull is queued");
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "sync_id": sync_id }))).into_response())
}
