//! The routes over pulled data: `GET /accounts`, `GET /fiscal-years`, `GET /vouchers` and
//! `GET /account-mapping` (the writes are in `writes`).

use std::collections::HashMap;

use app::Problem;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::mapping::AccountMapping;
use domain::pull::{current_fiscal_year, PulledVoucher};
use serde_json::{json, Value};
use store::{Pulled, VoucherPosition};

use crate::auth::{self, Access};
use crate::store_failure;
use app::Deps;

fn pulled(deps: &Deps) -> &Pulled {
    &deps.pulled
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
    let position = match query.get("cursor") {
        Some(raw) => Some(
            decode_cursor(raw).ok_or_else(|| bad("cursor", "not a cursor this API returned"))?,
        ),
        None => None,
    };
    let (page, next) = app::vouchers::page(&deps, &caller.tenant, since, position)
        .await
        .map_err(store_failure)?;
    let out: Vec<Value> = page.iter().map(voucher_body).collect();
    Ok(Json(json!({
        "vouchers": out,
        "next_cursor": next.as_ref().map(encode_cursor),
    })))
}

pub(crate) fn mapping_body(m: &AccountMapping) -> Value {
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
