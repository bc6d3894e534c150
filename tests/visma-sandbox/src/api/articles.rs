//! `/v2/articles`, `/v2/articleaccountcodings`, `/v2/units`

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{created, ok, path_uuid, with_company};
use crate::errors::{ApiError, ApiResult, FieldError};
use crate::paging::{list, Query};
use crate::server::{ApiCtx, App};
use crate::state::{find_by_id, position_by_id, Company};
use crate::util::{fmt_utc, json_decimal, money, round2};
use crate::validate::{self, opt, req, s, Field, Kind, MONEY};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v2/articles", get(list_articles).post(create_article))
        .route("/v2/articles/{id}", get(get_article).put(put_article))
        .route("/v2/articleaccountcodings", get(list_codings))
        .route("/v2/articleaccountcodings/{id}", get(get_coding))
        .route("/v2/units", get(list_units))
        .route("/v2/units/{id}", get(get_unit))
}

const PRICE: Kind = Kind::Dec {
    dp: 2,
    min: Some(0),
    max: Some(10_000_000),
};

pub const FIELDS: &[Field] = &[
    req("Number", s(40)),
    req("Name", s(50)),
    opt("NameEnglish", s(50)),
    req("CodingId", Kind::Uuid),
    req("UnitId", Kind::Uuid),
    req("IsActive", Kind::Bool),
    opt("NetPrice", PRICE),
    opt("GrossPrice", PRICE),
    opt("PurchasePrice", MONEY),
    opt("FreightCosts", MONEY),
    opt("DiscountPercentage", crate::validate::FRACTION),
    opt("IsStock", Kind::Bool),
    opt("StockBalance", MONEY),
    opt("StockLocationReference", s(100)),
    opt("HouseWorkType", Kind::Int { min: 0, max: 100 }),
    opt("GreenTechnologyType", Kind::Int { min: 0, max: 3 }),
    opt("UsesMoss", Kind::Bool),
    opt("SendToWebshop", Kind::Bool),
    opt("ArticleLabels", Kind::Array),
    opt("Barcodes", Kind::Array),
];

async fn list_articles(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| Ok(c.articles.clone()))?;
    Ok(ok(&list(items, &q)?))
}

async fn get_article(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    with_company(&app, &ctx, |c, _| {
        find_by_id(&c.articles, &id)
            .map(ok)
            .ok_or_else(|| ApiError::not_found("Article"))
    })
}

pub fn save_article(
    c: &mut Company,
    now: DateTime<Utc>,
    body: &Map<String, Value>,
    existing: Option<Uuid>,
) -> ApiResult<Value> {
    let mut errors = Vec::new();
    let mut out = validate::check(body, FIELDS, "", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let coding_id = out["CodingId"].as_str().unwrap_or_default().to_string();
    let Some(coding) = Uuid::parse_str(&coding_id)
        .ok()
        .and_then(|id| c.codings.iter().find(|x| x.id == id))
        .cloned()
    else {
        return Err(ApiError::referenced_missing(
            "CodingId",
            "ArticleAccountCoding",
        ));
    };
    let unit_id = out["UnitId"].as_str().unwrap_or_default().to_string();
    let Some(unit) = find_by_id(&c.units, &unit_id).cloned() else {
        return Err(ApiError::referenced_missing("UnitId", "Unit"));
    };
    let number = out["Number"].as_str().unwrap_or_default().to_string();
    let old = existing.and_then(|id| position_by_id(&c.articles, id));
    let duplicate = c.articles.iter().enumerate().any(|(i, a)| {
        Some(i) != old && a.get("Number").and_then(Value::as_str) == Some(number.as_str())
    });
    if duplicate {
        let mut e = ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            4000,
            format!("Conflict - An article with Number '{number}' already exists."),
        );
        e.errors = Some(vec![FieldError::new(
            "Number",
            "Conflict",
            "Number must be unique.",
        )]);
        return Err(e);
    }
    let factor = Decimal::ONE + coding.vat_rate();
    let net = out.get("NetPrice").and_then(json_decimal);
    let gross = out.get("GrossPrice").and_then(json_decimal);
    let (net, gross) = match (net, gross) {
        (Some(n), Some(g)) => (n, g),
        (Some(n), None) => (n, round2(n * factor)),
        (None, Some(g)) => (round2(g / factor), g),
        (None, None) => (Decimal::ZERO, Decimal::ZERO),
    };
    validate::fill_nulls(&mut out, FIELDS);
    let id = existing.unwrap_or_else(Uuid::new_v4);
    let created_utc = old
        .map(|i| c.articles[i]["CreatedUtc"].clone())
        .unwrap_or_else(|| json!(fmt_utc(now)));
    let unit_code = unit["Code"].as_str().unwrap_or_default().to_string();
    for (k, v) in [
        ("Id", json!(id)),
        ("NetPrice", money(net)),
        ("GrossPrice", money(gross)),
        ("CodingName", json!(coding.name)),
        ("UnitName", unit["Name"].clone()),
        ("UnitAbbreviation", unit["Abbreviation"].clone()),
        (
            "IsServiceArticle",
            json!(matches!(unit_code.as_str(), "h" | "dag" | "man")),
        ),
        ("ChangedUtc", json!(fmt_utc(now))),
        ("CreatedUtc", created_utc),
        ("StockBalanceReserved", json!(0)),
        ("StockBalanceAvailable", json!(0)),
        ("StockValue", json!(0)),
        ("MessageThreads", json!([])),
        ("Notes", json!([])),
    ] {
        out.insert(k.into(), v);
    }
    for (k, d) in [
        ("IsStock", json!(false)),
        ("UsesMoss", json!(false)),
        ("SendToWebshop", json!(false)),
        ("ArticleLabels", json!([])),
        ("Barcodes", json!([])),
    ] {
        if out.get(k).is_none_or(Value::is_null) {
            out.insert(k.into(), d);
        }
    }
    let v = Value::Object(out);
    match old {
        Some(i) => c.articles[i] = v.clone(),
        None => c.articles.push(v.clone()),
    }
    Ok(v)
}

async fn create_article(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = validate::body_object(&body)?;
    with_company(&app, &ctx, |c, now| {
        save_article(c, now, &body, None).map(|v| created(&v))
    })
}

async fn put_article(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let id = path_uuid(&id, "Article")?;
    let body = validate::body_object(&body)?;
    with_company(&app, &ctx, |c, now| {
        if position_by_id(&c.articles, id).is_none() {
            return Err(ApiError::not_found("Article"));
        }
        save_article(c, now, &body, Some(id)).map(|v| ok(&v))
    })
}

async fn list_codings(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| {
        Ok(c.codings.iter().map(|x| x.to_json()).collect())
    })?;
    Ok(ok(&list(items, &q)?))
}

async fn get_coding(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = path_uuid(&id, "ArticleAccountCoding")?;
    with_company(&app, &ctx, |c, _| {
        c.codings
            .iter()
            .find(|x| x.id == id)
            .map(|x| ok(&x.to_json()))
            .ok_or_else(|| ApiError::not_found("ArticleAccountCoding"))
    })
}

async fn list_units(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| Ok(c.units.clone()))?;
    Ok(ok(&list(items, &q)?))
}

async fn get_unit(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    with_company(&app, &ctx, |c, _| {
        find_by_id(&c.units, &id)
            .map(ok)
            .ok_or_else(|| ApiError::not_found("Unit"))
    })
}
