//! `/v2/customerinvoices` (create = bookkeep) and `/v2/customerinvoicedrafts` (+ convert).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::vouchers::{self, RowIn as VRow, VoucherIn};
use super::{created, ok, path_uuid, with_company};
use crate::errors::{ApiError, ApiResult, FieldError};
use crate::paging::{list, Query};
use crate::server::{ApiCtx, App};
use crate::state::{find_by_id, position_by_id, Company};
use crate::util::{
    fmt_date, fmt_utc, json_decimal, luhn_digit, money, num, parse_date, parse_datetime, round2,
};
use crate::validate::{self, opt, req, s, Field, Kind, FRACTION, MONEY};

/// Account debited with the gross amount of customer invoices.
pub const RECEIVABLES_ACCOUNT: u64 = 1510;
/// Voucher series used for customer-invoice vouchers (sandbox choice).
pub const INVOICE_VOUCHER_SERIES: &str = "B";

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/v2/customerinvoices",
            get(list_invoices).post(create_invoice),
        )
        .route("/v2/customerinvoices/{id}", get(get_invoice))
        .route(
            "/v2/customerinvoicedrafts",
            get(list_drafts).post(create_draft),
        )
        .route(
            "/v2/customerinvoicedrafts/{id}",
            get(get_draft).put(put_draft).delete(delete_draft),
        )
        .route(
            "/v2/customerinvoicedrafts/{id}/convert",
            post(convert_draft),
        )
}

const QTY: Kind = Kind::Dec {
    dp: 2,
    min: None,
    max: None,
};

const COMMON_HEADER: &[Field] = &[
    req("CustomerId", Kind::Uuid),
    req("EuThirdParty", Kind::Bool),
    req("RotReducedInvoicingType", Kind::Int { min: 0, max: 2 }),
    opt("InvoiceDate", Kind::Date),
    opt("DueDate", Kind::Date),
    opt("DeliveryDate", Kind::Date),
    opt("IsCreditInvoice", Kind::Bool),
    opt("TermsOfPaymentId", Kind::Uuid),
    opt("YourReference", s(100)),
    opt("OurReference", s(100)),
    opt("BuyersOrderReference", s(35)),
    opt("ElectronicReference", s(100)),
    opt("InvoiceAddress1", s(50)),
    opt("InvoiceAddress2", s(50)),
    opt("DeliveryAddress1", s(50)),
    opt("DeliveryAddress2", s(50)),
    opt("DeliveryPostalCode", s(10)),
    opt("DeliveryCity", s(50)),
    opt("DeliveryCountryCode", s(2)),
    opt("RotReducedInvoicingOrgNumber", s(11)),
    opt("RotReducedInvoicingPropertyName", s(40)),
    opt("RotPropertyType", Kind::Int { min: 1, max: 2 }),
    opt("RotReducedInvoicingAmount", MONEY),
    opt("Persons", Kind::Array),
    opt("UsesGreenTechnology", Kind::Bool),
    opt("SubscriptionNumber", s(100)),
    opt("ContractNumber", s(100)),
];

const INVOICE_ONLY: &[Field] = &[
    req("Rows", Kind::Array),
    opt(
        "CurrencyRate",
        Kind::Dec {
            dp: 6,
            min: Some(0),
            max: None,
        },
    ),
    opt("EdiServiceDelivererId", s(50)),
    opt("InvoiceCity", s(50)),
    opt("InvoicePostalCode", s(50)),
    opt("InvoiceCountryCode", s(2)),
    opt("DeliveryCustomerName", s(100)),
    opt("SendType", Kind::Int { min: 0, max: 4 }),
    opt("CreatedFromDraftId", Kind::Uuid),
    opt("WorkHouseOtherCosts", MONEY),
];

const DRAFT_ONLY: &[Field] = &[
    opt("Rows", Kind::Array),
    opt("DeliveryCustomerName", s(50)),
    opt("ReplaceUnitPriceWhenZero", Kind::Bool),
    opt("RotReducedInvoicingAutomaticDistribution", Kind::Bool),
    opt("HouseWorkOtherCosts", MONEY),
];

const INVOICE_ROW: &[Field] = &[
    opt("ArticleId", Kind::Uuid),
    opt("Text", s(2000)),
    opt("UnitPrice", MONEY),
    opt("Quantity", QTY),
    opt("DiscountPercentage", FRACTION),
    opt("IsVatFree", Kind::Bool),
    opt("IsTextRow", Kind::Bool),
    opt("ProjectId", Kind::Uuid),
    opt("CostCenterItemId1", Kind::Uuid),
    opt("CostCenterItemId2", Kind::Uuid),
    opt("CostCenterItemId3", Kind::Uuid),
    opt("WorkCostType", Kind::Int { min: 0, max: 100 }),
    opt("WorkHours", QTY),
    opt("MaterialCosts", MONEY),
    opt("GreenTechnologyType", Kind::Int { min: 0, max: 3 }),
];

const DRAFT_ROW: &[Field] = &[
    req("IsTextRow", Kind::Bool),
    req("ReversedConstructionServicesVatFree", Kind::Bool),
    opt("ArticleId", Kind::Uuid),
    opt("Text", s(2000)),
    opt("UnitPrice", MONEY),
    opt("Quantity", QTY),
    opt("DiscountPercentage", FRACTION),
    opt("LineNumber", Kind::Int { min: 0, max: 1000 }),
    opt("ProjectId", Kind::Uuid),
    opt("CostCenterItemId1", Kind::Uuid),
    opt("CostCenterItemId2", Kind::Uuid),
    opt("CostCenterItemId3", Kind::Uuid),
    opt("UnitName", s(50)),
    opt("IsWorkCost", Kind::Bool),
    opt("WorkCostType", Kind::Int { min: 0, max: 100 }),
    opt("WorkHours", QTY),
    opt("MaterialCosts", MONEY),
    opt("GreenTechnologyType", Kind::Int { min: 0, max: 3 }),
];

/// One validated invoice/draft row.
#[derive(Debug, Clone)]
pub struct RowIn {
    pub is_text: bool,
    pub article_id: Option<Uuid>,
    pub text: Option<String>,
    pub quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub discount: Decimal,
    pub vat_free: bool,
    pub extra: Map<String, Value>,
}

fn parse_rows(list: &[Value], draft: bool, errors: &mut Vec<FieldError>) -> Vec<RowIn> {
    let mut rows = Vec::new();
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
        let ro = validate::check(obj, if draft { DRAFT_ROW } else { INVOICE_ROW }, &p, errors);
        if errors.len() > before {
            continue;
        }
        let article_id = ro
            .get("ArticleId")
            .and_then(Value::as_str)
            .and_then(|x| Uuid::parse_str(x).ok());
        let text = ro.get("Text").and_then(Value::as_str).map(str::to_string);
        let quantity = ro.get("Quantity").and_then(json_decimal);
        let unit_price = ro.get("UnitPrice").and_then(json_decimal);
        let flag = ro.get("IsTextRow").and_then(Value::as_bool);
        let is_text = if draft {
            flag.unwrap_or(false)
        } else {
            article_id.is_none()
                && flag != Some(false)
                && quantity.is_none()
                && unit_price.is_none()
        };
        if !is_text && article_id.is_none() {
            errors.push(FieldError::new(
                format!("{p}.ArticleId"),
                "Required",
                "The ArticleId field is required for rows that are not text rows.",
            ));
            continue;
        }
        if is_text && text.as_deref().is_none_or(|t| t.trim().is_empty()) {
            errors.push(FieldError::new(
                format!("{p}.Text"),
                "Required",
                "A text row needs a Text.",
            ));
            continue;
        }
        rows.push(RowIn {
            is_text,
            article_id: if is_text { None } else { article_id },
            text,
            quantity,
            unit_price,
            discount: ro
                .get("DiscountPercentage")
                .and_then(json_decimal)
                .unwrap_or_default(),
            vat_free: ro
                .get("IsVatFree")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            extra: ro,
        });
    }
    rows
}

#[derive(Debug, Clone, Default)]
struct Group {
    net: Decimal,
}

/// Computed rows and totals.
#[derive(Debug, Clone)]
pub struct Calc {
    pub rows: Vec<Value>,
    /// (revenue account, VAT account, VAT percent) → net amount
    groups: BTreeMap<(u64, Option<u64>, u32), Group>,
    pub net: Decimal,
    pub vat: Decimal,
    pub gross: Decimal,
    pub vat_spec: Vec<Value>,
}

fn compute(c: &Company, rows: &[RowIn], draft: bool) -> ApiResult<Calc> {
    let mut out_rows = Vec::new();
    let mut groups: BTreeMap<(u64, Option<u64>, u32), Group> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let mut row = Map::new();
        row.insert("Id".into(), json!(Uuid::new_v4()));
        row.insert("LineNumber".into(), json!(i));
        row.insert("IsTextRow".into(), json!(r.is_text));
        row.insert("Text".into(), json!(r.text));
        for k in [
            "ProjectId",
            "CostCenterItemId1",
            "CostCenterItemId2",
            "CostCenterItemId3",
            "WorkCostType",
            "WorkHours",
            "MaterialCosts",
            "GreenTechnologyType",
        ] {
            row.insert(k.into(), r.extra.get(k).cloned().unwrap_or(Value::Null));
        }
        row.insert(
            "IsWorkCost".into(),
            r.extra.get("IsWorkCost").cloned().unwrap_or(json!(false)),
        );
        row.insert(
            "ReversedConstructionServicesVatFree".into(),
            r.extra
                .get("ReversedConstructionServicesVatFree")
                .cloned()
                .unwrap_or(json!(false)),
        );
        row.insert("IsVatFree".into(), json!(r.vat_free));
        row.insert("ContributionMargin".into(), Value::Null);
        if r.is_text {
            for k in [
                "ArticleId",
                "ArticleNumber",
                "UnitPrice",
                "Quantity",
                "DiscountPercentage",
                "UnitId",
                "UnitName",
                "UnitAbbreviation",
                "UnitAbbreviationEnglish",
                "PercentVat",
                "VatRate",
                "VatRateId",
                "IsServiceArticle",
            ] {
                row.insert(k.into(), Value::Null);
            }
            row.insert("Amount".into(), money(Decimal::ZERO));
            row.insert("AmountNoVat".into(), money(Decimal::ZERO));
            out_rows.push(Value::Object(row));
            continue;
        }
        let aid = r.article_id.map(|a| a.to_string()).unwrap_or_default();
        let Some(article) = find_by_id(&c.articles, &aid) else {
            return Err(ApiError::referenced_missing(
                &format!("Rows[{i}].ArticleId"),
                "Article",
            ));
        };
        let coding = article
            .get("CodingId")
            .and_then(Value::as_str)
            .and_then(|x| Uuid::parse_str(x).ok())
            .and_then(|id| c.codings.iter().find(|x| x.id == id));
        let Some(coding) = coding else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                4024,
                "SalesAccountNumberMissing - The article's account coding has no sales account.",
            ));
        };
        let price = r
            .unit_price
            .or_else(|| article.get("NetPrice").and_then(json_decimal))
            .unwrap_or_default();
        let qty = r.quantity.unwrap_or(Decimal::ONE);
        let amount = round2(qty * price * (Decimal::ONE - r.discount));
        let (vat_percent, vat_account, revenue) = if r.vat_free {
            (0, None, 3004)
        } else {
            (
                coding.vat_percent,
                coding.vat_account,
                coding.revenue_account,
            )
        };
        groups
            .entry((revenue, vat_account, vat_percent))
            .or_default()
            .net += amount;
        let rate = Decimal::new(i64::from(vat_percent), 2);
        row.insert("ArticleId".into(), json!(aid));
        row.insert("ArticleNumber".into(), article["Number"].clone());
        row.insert("UnitPrice".into(), money(price));
        row.insert("Quantity".into(), num(qty));
        row.insert("DiscountPercentage".into(), num(r.discount));
        row.insert("UnitId".into(), article["UnitId"].clone());
        row.insert("UnitName".into(), article["UnitName"].clone());
        row.insert(
            "UnitAbbreviation".into(),
            article["UnitAbbreviation"].clone(),
        );
        row.insert("UnitAbbreviationEnglish".into(), Value::Null);
        row.insert(
            "IsServiceArticle".into(),
            article["IsServiceArticle"].clone(),
        );
        row.insert("PercentVat".into(), num(rate));
        row.insert("VatRate".into(), num(rate));
        row.insert("VatRateId".into(), json!(coding.id));
        row.insert("AmountNoVat".into(), money(amount));
        row.insert("Amount".into(), money(amount));
        if draft {
            row.remove("IsVatFree");
        }
        out_rows.push(Value::Object(row));
    }
    let mut net = Decimal::ZERO;
    let mut vat = Decimal::ZERO;
    let mut by_rate: BTreeMap<u32, (Decimal, Decimal)> = BTreeMap::new();
    for ((_, _, pct), g) in &groups {
        let v = round2(g.net * Decimal::new(i64::from(*pct), 2));
        net += g.net;
        vat += v;
        let e = by_rate.entry(*pct).or_default();
        e.0 += g.net;
        e.1 += v;
    }
    let vat_spec = by_rate
        .iter()
        .map(|(pct, (n, v))| {
            json!({
                "AmountInvoiceCurrency": money(*n),
                "VatAmountInvoiceCurrency": money(*v),
                "VatPercent": num(Decimal::new(i64::from(*pct), 2)),
            })
        })
        .collect();
    Ok(Calc {
        rows: out_rows,
        groups,
        net,
        vat,
        gross: net + vat,
        vat_spec,
    })
}

/// (debit, credit) for a signed amount where positive means debit.
fn side(a: Decimal) -> (Decimal, Decimal) {
    if a >= Decimal::ZERO {
        (a, Decimal::ZERO)
    } else {
        (Decimal::ZERO, -a)
    }
}

fn customer_field(customer: &Value, k: &str) -> Value {
    customer.get(k).cloned().unwrap_or(Value::Null)
}

/// Creates and bookkeeps a customer invoice.
pub fn book_invoice(
    c: &mut Company,
    now: DateTime<Utc>,
    header: Map<String, Value>,
    rows: Vec<RowIn>,
    date_override: Option<NaiveDate>,
    draft_id: Option<Uuid>,
) -> ApiResult<Value> {
    let customer_id = header["CustomerId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(customer) = find_by_id(&c.customers, &customer_id).cloned() else {
        return Err(ApiError::referenced_missing("CustomerId", "Customer"));
    };
    if rows.is_empty() || rows.iter().all(|r| r.is_text) {
        return Err(ApiError::field(
            "Rows",
            "Required",
            "An invoice needs at least one article row.",
        ));
    }
    let calc = compute(c, &rows, false)?;
    let is_credit = header
        .get("IsCreditInvoice")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if is_credit && calc.net >= Decimal::ZERO {
        return Err(ApiError::field(
            "IsCreditInvoice",
            "CreditInvoiceAmount",
            "A credit invoice must have negative quantities or amounts.",
        ));
    }
    if !is_credit && calc.net < Decimal::ZERO {
        return Err(ApiError::field(
            "IsCreditInvoice",
            "NegativeInvoice",
            "An invoice with a negative total must be sent as a credit invoice (IsCreditInvoice: true).",
        ));
    }
    let terms_id = header
        .get("TermsOfPaymentId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            customer
                .get("TermsOfPaymentId")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| c.default_terms_id.to_string());
    let Some(terms) = c.terms_by_id(&terms_id).cloned() else {
        return Err(ApiError::referenced_missing(
            "TermsOfPaymentId",
            "TermsOfPayment",
        ));
    };
    let draft_pos = match (
        draft_id,
        header.get("CreatedFromDraftId").and_then(Value::as_str),
    ) {
        (Some(d), _) => position_by_id(&c.drafts, d),
        (None, Some(d)) => match Uuid::parse_str(d)
            .ok()
            .and_then(|d| position_by_id(&c.drafts, d))
        {
            Some(p) => Some(p),
            None => {
                return Err(ApiError::referenced_missing(
                    "CreatedFromDraftId",
                    "CustomerInvoiceDraft",
                ))
            }
        },
        (None, None) => None,
    };
    let date = date_override
        .or_else(|| {
            header
                .get("InvoiceDate")
                .and_then(Value::as_str)
                .and_then(parse_date)
        })
        .unwrap_or_else(|| now.date_naive());
    let days = terms
        .get("NumberOfDays")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    let due = header
        .get("DueDate")
        .and_then(Value::as_str)
        .and_then(parse_date)
        .unwrap_or(date + Duration::days(days));
    let number = c.next_invoice_number;
    let invoice_id = Uuid::new_v4();
    let customer_name = customer["Name"].as_str().unwrap_or_default().to_string();
    let mut vrows = Vec::new();
    let (d, cr) = side(calc.gross);
    vrows.push(VRow {
        account: RECEIVABLES_ACCOUNT,
        debit: d,
        credit: cr,
        text: Some(customer_name.clone()),
        extra: Map::new(),
    });
    for ((revenue, vat_account, pct), g) in &calc.groups {
        if !g.net.is_zero() {
            let (d, cr) = side(-g.net);
            vrows.push(VRow {
                account: *revenue,
                debit: d,
                credit: cr,
                text: None,
                extra: Map::new(),
            });
        }
        let v = round2(g.net * Decimal::new(i64::from(*pct), 2));
        if let (Some(acc), false) = (vat_account, v.is_zero()) {
            let (d, cr) = side(-v);
            vrows.push(VRow {
                account: *acc,
                debit: d,
                credit: cr,
                text: None,
                extra: Map::new(),
            });
        }
    }
    let kind = if is_credit {
        "Kreditfaktura"
    } else {
        "Kundfaktura"
    };
    let voucher = vouchers::book(
        c,
        now,
        VoucherIn {
            date,
            text: format!("{kind} {number}, {customer_name}"),
            rows: vrows,
            series: INVOICE_VOUCHER_SERIES.to_string(),
            voucher_type: if is_credit { 15 } else { 14 },
            source_id: Some(invoice_id),
            attachments: Value::Null,
        },
        4013,
    )?;
    c.next_invoice_number += 1;
    let mut out = header;
    validate::fill_nulls(&mut out, COMMON_HEADER);
    validate::fill_nulls(&mut out, INVOICE_ONLY);
    let ocr = format!("{number}{}", luhn_digit(&number.to_string()));
    let pick = |out: &Map<String, Value>, k: &str, ck: &str| {
        out.get(k)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| customer_field(&customer, ck))
    };
    let overrides = [
        ("InvoiceAddress1", "InvoiceAddress1"),
        ("InvoiceAddress2", "InvoiceAddress2"),
        ("InvoiceCity", "InvoiceCity"),
        ("InvoicePostalCode", "InvoicePostalCode"),
        ("InvoiceCountryCode", "InvoiceCountryCode"),
        ("DeliveryCustomerName", "DeliveryCustomerName"),
        ("DeliveryAddress1", "DeliveryAddress1"),
        ("DeliveryAddress2", "DeliveryAddress2"),
        ("DeliveryPostalCode", "DeliveryPostalCode"),
        ("DeliveryCity", "DeliveryCity"),
        ("DeliveryCountryCode", "DeliveryCountryCode"),
    ]
    .map(|(k, ck)| (k, pick(&out, k, ck)));
    for (k, v) in overrides {
        out.insert(k.into(), v);
    }
    let computed = [
        ("Id", json!(invoice_id)),
        ("InvoiceNumber", json!(number)),
        ("InvoiceDate", json!(fmt_date(date))),
        ("DueDate", json!(fmt_date(due))),
        ("IsCreditInvoice", json!(is_credit)),
        ("TermsOfPaymentId", terms["Id"].clone()),
        (
            "CustomerNumber",
            customer_field(&customer, "CustomerNumber"),
        ),
        ("CustomerName", json!(customer_name)),
        ("CustomerEmail", customer_field(&customer, "EmailAddress")),
        (
            "CustomerIsPrivatePerson",
            customer_field(&customer, "IsPrivatePerson"),
        ),
        ("InvoiceCustomerName", json!(customer_name)),
        (
            "ElectronicAddress",
            customer_field(&customer, "ElectronicAddress"),
        ),
        ("CurrencyCode", json!("SEK")),
        ("CurrencyRate", json!(1)),
        ("TotalAmount", money(calc.gross)),
        ("TotalVatAmount", money(calc.vat)),
        ("TotalRoundings", money(Decimal::ZERO)),
        ("TotalAmountInvoiceCurrency", money(calc.gross)),
        ("TotalVatAmountInvoiceCurrency", money(calc.vat)),
        ("SetOffAmountInvoiceCurrency", money(Decimal::ZERO)),
        ("RemainingAmount", money(calc.gross)),
        ("RemainingAmountInvoiceCurrency", money(calc.gross)),
        ("VatSpecification", json!(calc.vat_spec)),
        ("PaymentStatus", json!(1)),
        ("PaymentDate", Value::Null),
        ("PaymentReferenceNumber", json!(ocr)),
        ("VoucherId", voucher["Id"].clone()),
        ("VoucherNumber", voucher["NumberAndNumberSeries"].clone()),
        ("CreatedUtc", json!(fmt_utc(now))),
        ("ModifiedUtc", json!(fmt_utc(now))),
        ("CreatedByUserId", Value::Null),
        ("CreatedFromOrderId", Value::Null),
        (
            "CreatedFromDraftId",
            json!(draft_pos.map(|p| c.drafts[p]["Id"].clone())),
        ),
        ("CreditedBy", json!([])),
        ("ReferringInvoiceId", Value::Null),
        ("IsNotDelivered", json!(false)),
        ("HasAutoInvoiceError", json!(false)),
        ("IsSold", json!(false)),
        ("FactoringInvoiceStatus", Value::Null),
        ("IncludesVat", json!(false)),
        ("IsDirectDebit", json!(false)),
        ("PaymentReminderIssued", json!(false)),
        ("ReverseChargeOnConstructionServices", json!(false)),
        ("ReversedConstructionVatInvoicing", json!(false)),
        ("RotReducedInvoicingPercent", Value::Null),
        ("RotReducedInvoicingAutomaticDistribution", json!(false)),
        ("DeliveryMethodCode", Value::Null),
        ("DeliveryMethodName", Value::Null),
        ("DeliveryTermCode", Value::Null),
        ("DeliveryTermName", Value::Null),
        ("SalesDocumentAttachments", json!([])),
        ("MessageThreads", json!([])),
        ("Notes", json!([])),
        ("ContributionMargin", Value::Null),
        ("Rows", json!(calc.rows)),
    ];
    for (k, v) in computed {
        out.insert(k.into(), v);
    }
    for (k, d) in [
        ("SendType", json!(0)),
        ("Persons", json!([])),
        ("UsesGreenTechnology", json!(false)),
    ] {
        if out.get(k).is_none_or(Value::is_null) {
            out.insert(k.into(), d);
        }
    }
    if let Some(p) = draft_pos {
        c.drafts.remove(p);
    }
    let v = Value::Object(out);
    c.invoices.push(v.clone());
    Ok(v)
}

fn parse_invoice(body: &Map<String, Value>) -> ApiResult<(Map<String, Value>, Vec<RowIn>)> {
    let mut errors = Vec::new();
    let mut header = validate::check(body, COMMON_HEADER, "", &mut errors);
    header.extend(validate::check(body, INVOICE_ONLY, "", &mut errors));
    let rows = match header.get("Rows").and_then(Value::as_array) {
        Some(list) if list.is_empty() => {
            errors.push(FieldError::new(
                "Rows",
                "Required",
                "The Rows field must contain at least one row.",
            ));
            Vec::new()
        }
        Some(list) => parse_rows(list, false, &mut errors),
        None => Vec::new(),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok((header, rows))
}

async fn create_invoice(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = validate::body_object(&body)?;
    let (header, rows) = parse_invoice(&body)?;
    with_company(&app, &ctx, |c, now| {
        book_invoice(c, now, header, rows, None, None).map(|v| created(&v))
    })
}

async fn list_invoices(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let since = match q.get("modifiedSinceUtc") {
        None => None,
        Some(s) => Some(parse_datetime(s).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                6001,
                format!("InvalidInput - modifiedSinceUtc '{s}' is not a valid date-time."),
            )
        })?),
    };
    let mut items = with_company(&app, &ctx, |c, _| Ok(c.invoices.clone()))?;
    if let Some(since) = since {
        items.retain(|v| {
            v.get("ModifiedUtc")
                .and_then(Value::as_str)
                .and_then(parse_datetime)
                .is_some_and(|m| m >= since)
        });
    }
    Ok(ok(&list(items, &q)?))
}

async fn get_invoice(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    with_company(&app, &ctx, |c, _| {
        find_by_id(&c.invoices, &id)
            .map(ok)
            .ok_or_else(|| ApiError::not_found("CustomerInvoice"))
    })
}

// ---- drafts ----

fn parse_draft(body: &Map<String, Value>) -> ApiResult<(Map<String, Value>, Vec<RowIn>)> {
    let mut errors = Vec::new();
    let mut header = validate::check(body, COMMON_HEADER, "", &mut errors);
    header.extend(validate::check(body, DRAFT_ONLY, "", &mut errors));
    let rows = match header.get("Rows").and_then(Value::as_array) {
        Some(list) => parse_rows(list, true, &mut errors),
        None => Vec::new(),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok((header, rows))
}

fn save_draft(
    c: &mut Company,
    now: DateTime<Utc>,
    mut header: Map<String, Value>,
    rows: Vec<RowIn>,
    existing: Option<Uuid>,
) -> ApiResult<Value> {
    let customer_id = header["CustomerId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(customer) = find_by_id(&c.customers, &customer_id).cloned() else {
        return Err(ApiError::referenced_missing("CustomerId", "Customer"));
    };
    if let Some(t) = header.get("TermsOfPaymentId").and_then(Value::as_str) {
        if c.terms_by_id(t).is_none() {
            return Err(ApiError::referenced_missing(
                "TermsOfPaymentId",
                "TermsOfPayment",
            ));
        }
    }
    let calc = compute(c, &rows, true)?;
    let old = existing.and_then(|id| position_by_id(&c.drafts, id));
    validate::fill_nulls(&mut header, COMMON_HEADER);
    validate::fill_nulls(&mut header, DRAFT_ONLY);
    let created_utc = old
        .map(|i| c.drafts[i]["CreatedUtc"].clone())
        .unwrap_or_else(|| json!(fmt_utc(now)));
    for (k, v) in [
        ("Id", json!(existing.unwrap_or_else(Uuid::new_v4))),
        ("CreatedUtc", created_utc),
        (
            "CustomerNumber",
            customer_field(&customer, "CustomerNumber"),
        ),
        ("CustomerName", customer_field(&customer, "Name")),
        (
            "CustomerIsPrivatePerson",
            customer_field(&customer, "IsPrivatePerson"),
        ),
        ("InvoiceCustomerName", customer_field(&customer, "Name")),
        ("InvoiceCity", customer_field(&customer, "InvoiceCity")),
        (
            "InvoicePostalCode",
            customer_field(&customer, "InvoicePostalCode"),
        ),
        (
            "InvoiceCountryCode",
            customer_field(&customer, "InvoiceCountryCode"),
        ),
        ("InvoiceCurrencyCode", json!("SEK")),
        ("IncludesVat", json!(false)),
        (
            "IsCreditInvoice",
            json!(header
                .get("IsCreditInvoice")
                .and_then(Value::as_bool)
                .unwrap_or(false)),
        ),
        ("TotalAmount", money(calc.gross)),
        ("TotalVatAmount", money(calc.vat)),
        ("TotalRoundings", money(Decimal::ZERO)),
        ("TotalAmountBaseCurrency", money(calc.gross)),
        ("TotalVatAmountBaseCurrency", money(calc.vat)),
        ("ReverseChargeOnConstructionServices", json!(false)),
        ("IsDirectDebit", json!(false)),
        ("SalesDocumentAttachments", json!([])),
        ("MessageThreads", json!([])),
        ("Notes", json!([])),
        ("Rows", json!(calc.rows)),
    ] {
        header.insert(k.into(), v);
    }
    let v = Value::Object(header);
    match old {
        Some(i) => c.drafts[i] = v.clone(),
        None => c.drafts.push(v.clone()),
    }
    Ok(v)
}

async fn create_draft(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = validate::body_object(&body)?;
    let (header, rows) = parse_draft(&body)?;
    with_company(&app, &ctx, |c, now| {
        save_draft(c, now, header, rows, None).map(|v| created(&v))
    })
}

async fn put_draft(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let id = path_uuid(&id, "CustomerInvoiceDraft")?;
    let body = validate::body_object(&body)?;
    let (header, rows) = parse_draft(&body)?;
    with_company(&app, &ctx, |c, now| {
        if position_by_id(&c.drafts, id).is_none() {
            return Err(ApiError::not_found("CustomerInvoiceDraft"));
        }
        save_draft(c, now, header, rows, Some(id)).map(|v| ok(&v))
    })
}

async fn delete_draft(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = path_uuid(&id, "CustomerInvoiceDraft")?;
    with_company(&app, &ctx, |c, _| {
        let i = position_by_id(&c.drafts, id)
            .ok_or_else(|| ApiError::not_found("CustomerInvoiceDraft"))?;
        c.drafts.remove(i);
        Ok(ok(&Value::Null))
    })
}

async fn list_drafts(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| Ok(c.drafts.clone()))?;
    Ok(ok(&list(items, &q)?))
}

async fn get_draft(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    with_company(&app, &ctx, |c, _| {
        find_by_id(&c.drafts, &id)
            .map(ok)
            .ok_or_else(|| ApiError::not_found("CustomerInvoiceDraft"))
    })
}

const CONVERT_FIELDS: &[Field] = &[
    opt("TotalAmountInvoiceCurrency", MONEY),
    opt("TotalVatAmountInvoiceCurrency", MONEY),
    opt("TotalRoundingsInvoiceCurrency", MONEY),
];

async fn convert_draft(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let id = path_uuid(&id, "CustomerInvoiceDraft")?;
    let body = validate::body_object(&body)?;
    let mut errors = Vec::new();
    let expect = validate::check(&body, CONVERT_FIELDS, "", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let keep = q.bool("keepOriginalDraftDate", false);
    with_company(&app, &ctx, |c, now| {
        let draft = position_by_id(&c.drafts, id)
            .map(|i| c.drafts[i].clone())
            .ok_or_else(|| ApiError::not_found("CustomerInvoiceDraft"))?;
        let obj = draft.as_object().cloned().unwrap_or_default();
        let (mut header, rows) = parse_draft(&obj)?;
        let calc = compute(c, &rows, false)?;
        for (k, actual) in [
            ("TotalAmountInvoiceCurrency", calc.gross),
            ("TotalVatAmountInvoiceCurrency", calc.vat),
            ("TotalRoundingsInvoiceCurrency", Decimal::ZERO),
        ] {
            if let Some(want) = expect.get(k).and_then(json_decimal) {
                if want != actual {
                    return Err(ApiError::field(
                        k,
                        "Mismatch",
                        format!("Expected {want} but the draft gives {actual}."),
                    ));
                }
            }
        }
        let today = now.date_naive();
        let draft_date = header
            .get("InvoiceDate")
            .and_then(Value::as_str)
            .and_then(parse_date);
        let created = draft
            .get("CreatedUtc")
            .and_then(Value::as_str)
            .and_then(parse_date)
            .unwrap_or(today);
        let date = match draft_date {
            Some(d) if d > today || keep => d,
            None if keep => created,
            _ => today,
        };
        header.remove("HouseWorkOtherCosts");
        header.remove("ReplaceUnitPriceWhenZero");
        header.remove("RotReducedInvoicingAutomaticDistribution");
        header.insert("Rows".into(), json!([]));
        header.remove("DueDate");
        let due = draft
            .get("DueDate")
            .and_then(Value::as_str)
            .and_then(parse_date);
        if let Some(d) = due.filter(|d| *d >= date) {
            header.insert("DueDate".into(), json!(fmt_date(d)));
        }
        book_invoice(c, now, header, rows, Some(date), Some(id)).map(|v| created_resp(&v))
    })
}

fn created_resp(v: &Value) -> Response {
    created(v)
}
