//! `/v2/vouchers` and the bookkeeping core shared with customer invoices.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{created, ok, path_uuid, with_company};
use crate::errors::{ApiError, ApiResult, FieldError};
use crate::paging::{list, Query};
use crate::server::{ApiCtx, App};
use crate::state::Company;
use crate::util::{fmt_date, fmt_utc, json_decimal, money, parse_date};
use crate::validate::{self, opt, req, s, Field, Kind, MONEY_POS};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v2/vouchers", get(list_all).post(create))
        .route("/v2/vouchers/{fiscalyearId}", get(list_year))
        .route("/v2/vouchers/{fiscalyearId}/{voucherId}", get(get_one))
}

pub const FIELDS: &[Field] = &[
    req("VoucherDate", Kind::Date),
    req("VoucherText", s(1000)),
    req("Rows", Kind::Array),
    opt("NumberSeries", s(10)),
    opt("Attachments", Kind::Object),
];

pub const ROW_FIELDS: &[Field] = &[
    req(
        "AccountNumber",
        Kind::Int {
            min: 1,
            max: 9_999_999_999,
        },
    ),
    opt("DebitAmount", MONEY_POS),
    opt("CreditAmount", MONEY_POS),
    opt("TransactionText", s(60)),
    opt("VatCodeId", Kind::Uuid),
    opt("VatAmount", crate::validate::MONEY),
    opt("ProjectId", Kind::Uuid),
    opt("CostCenterItemId1", Kind::Uuid),
    opt("CostCenterItemId2", Kind::Uuid),
    opt("CostCenterItemId3", Kind::Uuid),
    opt(
        "Quantity",
        Kind::Dec {
            dp: 4,
            min: None,
            max: None,
        },
    ),
];

/// One validated voucher row.
#[derive(Debug, Clone)]
pub struct RowIn {
    pub account: u64,
    pub debit: Decimal,
    pub credit: Decimal,
    pub text: Option<String>,
    pub extra: Map<String, Value>,
}

/// A voucher ready to be booked.
#[derive(Debug, Clone)]
pub struct VoucherIn {
    pub date: NaiveDate,
    pub text: String,
    pub rows: Vec<RowIn>,
    pub series: String,
    pub voucher_type: i32,
    pub source_id: Option<Uuid>,
    pub attachments: Value,
}

/// Error code when the fiscal year is locked: 4038 for vouchers, 4013 for invoices.
pub fn book(
    c: &mut Company,
    now: DateTime<Utc>,
    v: VoucherIn,
    locked_code: u32,
) -> ApiResult<Value> {
    let Some(fy) = c.fiscal_year_for(v.date).cloned() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            3001,
            format!(
                "FiscalYearDoesNotExist - There is no fiscal year for the date {}.",
                fmt_date(v.date)
            ),
        ));
    };
    if fy.locked {
        let msg = if locked_code == 4038 {
            "VoucherDateInLockedYear - The voucher date is in a fiscal year that is locked for accounting."
        } else {
            "CannotBookkeepInvoice - The invoice date is in a fiscal year that is locked for accounting."
        };
        return Err(ApiError::new(StatusCode::BAD_REQUEST, locked_code, msg));
    }
    let mut rows_json = Vec::new();
    for (i, r) in v.rows.iter().enumerate() {
        let acc = c.account(fy.id, r.account);
        let Some(acc) = acc.filter(|a| a.active) else {
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                3002,
                format!(
                    "AccountNotFound - Account {} does not exist or is inactive in the fiscal year {} - {}.",
                    r.account,
                    fmt_date(fy.start),
                    fmt_date(fy.end)
                ),
            );
            e.errors = Some(vec![FieldError::new(
                format!("Rows[{i}].AccountNumber"),
                "AccountNotFound",
                format!("Account {} not found", r.account),
            )]);
            return Err(e);
        };
        let mut row = Map::new();
        row.insert("AccountNumber".into(), json!(r.account));
        row.insert("AccountDescription".into(), json!(acc.name));
        row.insert("DebitAmount".into(), money(r.debit));
        row.insert("CreditAmount".into(), money(r.credit));
        row.insert("TransactionText".into(), json!(r.text));
        for k in [
            "VatCodeId",
            "VatCodeAndPercent",
            "VatAmount",
            "ProjectId",
            "CostCenterItemId1",
            "CostCenterItemId2",
            "CostCenterItemId3",
            "Quantity",
        ] {
            row.insert(k.into(), r.extra.get(k).cloned().unwrap_or(Value::Null));
        }
        rows_json.push(Value::Object(row));
    }
    let seq = c.voucher_seq.entry((fy.id, v.series.clone())).or_insert(1);
    let number = *seq;
    *seq += 1;
    let voucher = json!({
        "Id": Uuid::new_v4(),
        "VoucherDate": fmt_date(v.date),
        "VoucherText": v.text,
        "NumberAndNumberSeries": format!("{}{}", v.series, number),
        "NumberSeries": v.series,
        "VoucherType": v.voucher_type,
        "SourceId": v.source_id,
        "ImportedVoucherNumber": null,
        "CreatedUtc": fmt_utc(now),
        "ModifiedUtc": fmt_utc(now),
        "Attachments": v.attachments,
        "Rows": rows_json,
    });
    c.vouchers.push(voucher.clone());
    Ok(voucher)
}

/// Validates a voucher body (fields, rows, balance).
pub fn parse(body: &Map<String, Value>, q: &Query) -> ApiResult<VoucherIn> {
    let mut errors = Vec::new();
    let out = validate::check(body, FIELDS, "", &mut errors);
    let mut rows = Vec::new();
    if let Some(list) = out.get("Rows").and_then(Value::as_array) {
        if list.is_empty() {
            errors.push(FieldError::new(
                "Rows",
                "Required",
                "A voucher needs at least two rows.",
            ));
        }
        for (i, r) in list.iter().enumerate() {
            let p = format!("Rows[{i}]");
            let Some(obj) = r.as_object() else {
                errors.push(FieldError::new(
                    &p,
                    "InvalidType",
                    "A row must be an object.",
                ));
                continue;
            };
            let before = errors.len();
            let ro = validate::check(obj, ROW_FIELDS, &p, &mut errors);
            if errors.len() > before {
                continue;
            }
            let debit = ro
                .get("DebitAmount")
                .and_then(json_decimal)
                .unwrap_or_default();
            let credit = ro
                .get("CreditAmount")
                .and_then(json_decimal)
                .unwrap_or_default();
            if debit.is_zero() == credit.is_zero() {
                errors.push(FieldError::new(
                    &p,
                    "DebitOrCredit",
                    "Each row must have either a DebitAmount or a CreditAmount (not both, not none).",
                ));
                continue;
            }
            rows.push(RowIn {
                account: ro
                    .get("AccountNumber")
                    .and_then(Value::as_u64)
                    .unwrap_or_default(),
                debit,
                credit,
                text: ro
                    .get("TransactionText")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                extra: ro,
            });
        }
    }
    if errors.is_empty() {
        let d: Decimal = rows.iter().map(|r| r.debit).sum();
        let cr: Decimal = rows.iter().map(|r| r.credit).sum();
        if d != cr {
            errors.push(FieldError::new(
                "Rows",
                "Unbalanced",
                format!("The voucher is not balanced: debit {d} != credit {cr}."),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let series = if q.bool("useDefaultVoucherSeries", true) {
        "A".to_string()
    } else {
        out.get("NumberSeries")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("A")
            .to_string()
    };
    Ok(VoucherIn {
        date: out
            .get("VoucherDate")
            .and_then(Value::as_str)
            .and_then(parse_date)
            .unwrap_or_default(),
        text: out
            .get("VoucherText")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        rows,
        series,
        voucher_type: 2,
        source_id: None,
        attachments: out.get("Attachments").cloned().unwrap_or(Value::Null),
    })
}

async fn create(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let body = validate::body_object(&body)?;
    let v = parse(&body, &q)?;
    with_company(&app, &ctx, |c, now| {
        book(c, now, v, 4038).map(|x| created(&x))
    })
}

async fn list_all(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| Ok(c.vouchers.clone()))?;
    Ok(ok(&list(items, &q)?))
}

fn in_year(v: &Value, start: NaiveDate, end: NaiveDate) -> bool {
    v.get("VoucherDate")
        .and_then(Value::as_str)
        .and_then(parse_date)
        .is_some_and(|d| start <= d && d <= end)
}

fn fiscal_year_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        3001,
        "FiscalYearDoesNotExist - The fiscal year was not found.",
    )
}

async fn list_year(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(fy): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let fy = Uuid::parse_str(&fy).map_err(|_| fiscal_year_not_found())?;
    let items = with_company(&app, &ctx, |c, _| {
        let fy = c
            .fiscal_year(fy)
            .cloned()
            .ok_or_else(fiscal_year_not_found)?;
        Ok(c.vouchers
            .iter()
            .filter(|v| in_year(v, fy.start, fy.end))
            .cloned()
            .collect())
    })?;
    Ok(ok(&list(items, &q)?))
}

async fn get_one(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path((fy, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let fy = Uuid::parse_str(&fy).map_err(|_| fiscal_year_not_found())?;
    let id = path_uuid(&id, "Voucher")?;
    with_company(&app, &ctx, |c, _| {
        let fy = c
            .fiscal_year(fy)
            .cloned()
            .ok_or_else(fiscal_year_not_found)?;
        let idx = crate::state::position_by_id(&c.vouchers, id)
            .filter(|i| in_year(&c.vouchers[*i], fy.start, fy.end))
            .ok_or_else(|| ApiError::not_found("Voucher"))?;
        Ok(ok(&c.vouchers[idx]))
    })
}
