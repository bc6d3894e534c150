//! The routes over pulled data (CONTRACT §4): `GET /accounts`, `GET /fiscal-years`,
//! `GET /vouchers`, `GET`/`PUT /account-mapping`, and `POST /sync`.

use std::collections::HashMap;

use app::mapping::SaveError;
use app::Problem;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::connection::ConnectionStatus;
use domain::mapping::{AccountMapping, MappingInput};
use domain::pull::{current_fiscal_year, PulledVoucher, VoucherOrigin};
use domain::SyncJob;
use serde_json::{json, Value};
use store::{Pulled, VoucherPosition};

use crate::auth::{self, Access};
use crate::store_failure;
use app::Deps;

/// Vouchers per `GET /vouchers` page.
pub const VOUCHER_PAGE_SIZE: usize = 100;

fn pulled(deps: &Deps) -> Pulled {
    Pulled::new(deps.table.clone())
}

fn unknown_fiscal_year(detail: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown_fiscal_year",
        "No such fiscal year was pulled from Visma",
    )
    .detail(detail)
}

/// `GET /accounts?fiscal_year={id}`: the pulled chart of one fiscal year (default: the one
/// containing today).
pub async fn accounts(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    parts: Parts,
) -> Result<Json<Value>, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Read)?;
    let pulled = pulled(&deps);
    let years = pulled
        .fiscal_years(&caller.tenant)
        .await
        .map_err(store_failure)?;
    let year = match query.get("fiscal_year").map(String::as_str) {
        Some(id) => years.iter().find(|y| y.id == id).ok_or_else(|| {
            unknown_fiscal_year("no fiscal year with this id was pulled from Visma")
        })?,
        None => current_fiscal_year(&years, Utc::now().date_naive())
            .ok_or_else(|| unknown_fiscal_year("no fiscal years were pulled from Visma yet"))?,
    };
    let chart = pulled
        .chart(&caller.tenant, &year.id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| unknown_fiscal_year("this fiscal year's accounts were not pulled yet"))?;
    Ok(Json(json!({
        "fiscal_year_id": year.id,
        "accounts": chart,
    })))
}

/// `GET /fiscal-years`: every pulled fiscal year, oldest first.
pub async fn fiscal_years(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    parts: Parts,
) -> Result<Json<Value>, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Read)?;
    let years = pulled(&deps)
        .fiscal_years(&caller.tenant)
        .await
        .map_err(store_failure)?;
    Ok(Json(json!({ "fiscal_years": years })))
}

/// The opaque `GET /vouchers` cursor: the position of the last voucher of the page.
pub fn encode_cursor(p: &VoucherPosition) -> String {
    format!("{}_{}", p.changed_at.timestamp_micros(), p.visma_id)
}

pub fn decode_cursor(raw: &str) -> Option<VoucherPosition> {
    let (micros, id) = raw.split_once('_')?;
    let changed_at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    id_ok.then(|| VoucherPosition {
        changed_at,
        visma_id: id.to_owned(),
    })
}

fn voucher_body(v: &PulledVoucher) -> Value {
    json!({
        "id": v.id,
        "number": v.number,
        "date": v.date,
        "text": v.text,
        "voucher_type": v.voucher_type,
        "rows": v.rows,
        "modified_at": v.modified_at,
        "changed_at": v.changed_at,
    })
}

/// `GET /vouchers?since={rfc3339}&cursor={c}`: vouchers booked in Visma (not the ones this
/// service pushed, nor invoice vouchers), in the order they reached the service (`changed_at`,
/// oldest first), 100 per page. `since` is inclusive; `cursor` continues a previous page (and
/// wins over `since`). `next_cursor` is null on the last page.
pub async fn vouchers(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    parts: Parts,
) -> Result<Json<Value>, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Read)?;
    let bad = |field: &str, message: &str| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "Invalid query parameter",
        )
        .field(field, message)
    };
    let since = match query.get("since") {
        Some(raw) => Some(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| bad("since", "must be an RFC 3339 timestamp"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let mut position = match query.get("cursor") {
        Some(raw) => Some(
            decode_cursor(raw).ok_or_else(|| bad("cursor", "not a cursor this API returned"))?,
        ),
        None => None,
    };
    let pulled = pulled(&deps);
    let pushed = pulled
        .pushed_voucher_ids(&caller.tenant)
        .await
        .map_err(store_failure)?;
    let limit = i32::try_from(VOUCHER_PAGE_SIZE).unwrap_or(100);
    let mut out = Vec::new();
    let next = 'pages: loop {
        let (page, more) = pulled
            .vouchers_page(&caller.tenant, since, position.as_ref(), limit)
            .await
            .map_err(store_failure)?;
        let count = page.len();
        for (i, v) in page.into_iter().enumerate() {
            if v.origin == VoucherOrigin::Visma && !pushed.contains(&v.id) {
                out.push(voucher_body(&v));
            }
            position = Some(VoucherPosition {
                changed_at: v.changed_at,
                visma_id: v.id,
            });
            if out.len() == VOUCHER_PAGE_SIZE {
                let rest = i + 1 < count || more.is_some();
                break 'pages if rest { position } else { None };
            }
        }
        if more.is_none() {
            break None;
        }
    };
    Ok(Json(json!({
        "vouchers": out,
        "next_cursor": next.as_ref().map(encode_cursor),
    })))
}

fn mapping_body(m: &AccountMapping) -> Value {
    json!(m)
}

/// `GET /account-mapping`: the stored mapping re-validated against the pulled data, or an empty
/// unconfirmed one before the first pull.
pub async fn get_mapping(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    parts: Parts,
) -> Result<Json<Value>, Problem> {
    let caller = auth::authorize(&deps, &parts, &tenant, Access::Read)?;
    let view = app::mapping::view(&deps, &caller.tenant)
        .await
        .map_err(store_failure)?;
    Ok(Json(mapping_body(&view.mapping)))
}

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
    if let Err(e) = app::retry::retry_failed_and_blocked(&deps, &caller.tenant).await {
        tracing::warn!(tenant = %caller.tenant, error = %e, "retrying failed and blocked items failed; the pull is queued");
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "sync_id": sync_id }))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let p = VoucherPosition {
            changed_at: "2026-05-01T08:00:00.123456Z".parse().unwrap(),
            visma_id: "5eed0001-0000-4000-8000-000000000001".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&p)), Some(p));
        for bad in ["", "abc", "12_", "x_y", "1_a b", "99999999999999999999_a"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
