//! `/v2/customers`

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{created, ok, path_uuid, with_company};
use crate::errors::{ApiError, ApiResult, FieldError};
use crate::paging::{list, Query};
use crate::server::{ApiCtx, App};
use crate::state::{find_by_id, position_by_id, Company};
use crate::util::fmt_utc;
use crate::validate::{self, opt, req, s, Field, Kind, FRACTION};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v2/customers", get(list_customers).post(create_customer))
        .route(
            "/v2/customers/{id}",
            get(get_customer).put(put_customer).delete(delete_customer),
        )
}

pub const FIELDS: &[Field] = &[
    opt("CustomerNumber", s(16)),
    req("Name", s(50)),
    req("InvoiceCity", s(50)),
    req("InvoicePostalCode", s(10)),
    req("TermsOfPaymentId", Kind::Uuid),
    req("IsPrivatePerson", Kind::Bool),
    req("IsActive", Kind::Bool),
    opt("CorporateIdentityNumber", s(20)),
    opt("VatNumber", s(20)),
    opt("EmailAddress", s(255)),
    opt("EmailAddresses", Kind::Array),
    opt("EmailAddressOrder", s(255)),
    opt("EmailAddressQuote", s(255)),
    opt("InvoiceAddress1", s(50)),
    opt("InvoiceAddress2", s(50)),
    opt("InvoiceCountryCode", s(2)),
    opt("DeliveryCustomerName", s(100)),
    opt("DeliveryAddress1", s(50)),
    opt("DeliveryAddress2", s(50)),
    opt("DeliveryPostalCode", s(10)),
    opt("DeliveryCity", s(50)),
    opt("DeliveryCountryCode", s(2)),
    opt("DeliveryBasedVat", Kind::Bool),
    opt("IsNorthernIreland", Kind::Bool),
    opt("ContactPersonName", s(100)),
    opt("ContactPersonEmail", s(255)),
    opt("ContactPersonPhone", s(50)),
    opt("ContactPersonMobile", s(50)),
    opt("Telephone", s(50)),
    opt("MobilePhone", s(50)),
    opt("WwwAddress", s(255)),
    opt("CurrencyCode", s(3)),
    opt("DiscountPercentage", FRACTION),
    opt("DiscountAgreementId", Kind::Uuid),
    opt("SalesPriceListId", Kind::Uuid),
    opt("DeliveryMethodId", Kind::Uuid),
    opt("DeliveryTermId", Kind::Uuid),
    opt("ReverseChargeOnConstructionServices", Kind::Bool),
    opt("ForceBookkeepVat", Kind::Bool),
    opt("SalesDocumentLanguage", s(2)),
    opt("ElectronicAddress", s(255)),
    opt("ElectronicReference", s(35)),
    opt("EdiGlnNumber", s(255)),
    opt("EdiServiceDelivererId", s(255)),
    opt("GLN", s(255)),
    opt("Note", s(4000)),
    opt("CustomerLabels", Kind::Array),
    opt(
        "WebshopCustomerNumber",
        Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
    ),
    opt("Iban", s(34)),
    opt("AutoInvoiceActivationEmailSentDate", Kind::Date),
    opt("AutoInvoiceRegistrationRequestSentDate", Kind::Date),
];

async fn list_customers(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let items = with_company(&app, &ctx, |c, _| Ok(c.customers.clone()))?;
    Ok(ok(&list(items, &q)?))
}

async fn get_customer(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    with_company(&app, &ctx, |c, _| {
        find_by_id(&c.customers, &id)
            .map(ok)
            .ok_or_else(|| ApiError::not_found("Customer"))
    })
}

/// Validates and stores a customer; `existing` is the id being replaced by PUT.
pub fn save_customer(
    c: &mut Company,
    now: DateTime<Utc>,
    body: &Map<String, Value>,
    existing: Option<Uuid>,
) -> ApiResult<Value> {
    let mut errors = Vec::new();
    let mut out = validate::check(body, FIELDS, "", &mut errors);
    if let Some(list) = out.get("EmailAddresses").and_then(Value::as_array) {
        if list.len() > 5 || list.iter().any(|e| !e.is_string()) {
            errors.push(FieldError::new(
                "EmailAddresses",
                "MaxLength",
                "EmailAddresses may hold at most 5 e-mail addresses.",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let terms_id = out
        .get("TermsOfPaymentId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(terms) = c.terms_by_id(&terms_id).cloned() else {
        return Err(ApiError::referenced_missing(
            "TermsOfPaymentId",
            "TermsOfPayment",
        ));
    };
    let old = existing.and_then(|id| position_by_id(&c.customers, id));
    let number = match out.get("CustomerNumber").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => match old.and_then(|i| c.customers[i].get("CustomerNumber")) {
            Some(Value::String(n)) => n.clone(),
            _ => {
                let taken = |n: u64| {
                    c.customers.iter().any(|x| {
                        x.get("CustomerNumber").and_then(Value::as_str) == Some(&n.to_string())
                    })
                };
                let mut n = c.next_customer_number;
                while taken(n) {
                    n += 1;
                }
                n.to_string()
            }
        },
    };
    let duplicate = c.customers.iter().enumerate().any(|(i, x)| {
        Some(i) != old && x.get("CustomerNumber").and_then(Value::as_str) == Some(number.as_str())
    });
    if duplicate {
        let mut e = ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            4000,
            format!("Conflict - A customer with CustomerNumber '{number}' already exists."),
        );
        e.errors = Some(vec![FieldError::new(
            "CustomerNumber",
            "Conflict",
            "CustomerNumber must be unique.",
        )]);
        return Err(e);
    }
    if let Ok(n) = number.parse::<u64>() {
        if n >= c.next_customer_number {
            c.next_customer_number = n + 1;
        }
    }
    let id = existing.unwrap_or_else(Uuid::new_v4);
    out.insert("CustomerNumber".into(), Value::String(number));
    validate::fill_nulls(&mut out, FIELDS);
    for (k, default) in [
        ("CurrencyCode", json!("SEK")),
        ("InvoiceCountryCode", json!("SE")),
        ("EmailAddresses", json!([])),
        ("CustomerLabels", json!([])),
        ("DeliveryBasedVat", json!(false)),
        ("IsNorthernIreland", json!(false)),
        ("ReverseChargeOnConstructionServices", json!(false)),
        ("ForceBookkeepVat", json!(false)),
        ("DiscountPercentage", json!(0)),
    ] {
        if out.get(k).is_none_or(Value::is_null) {
            out.insert(k.into(), default);
        }
    }
    out.insert("Id".into(), json!(id));
    out.insert("TermsOfPayment".into(), terms);
    out.insert("ChangedUtc".into(), json!(fmt_utc(now)));
    let (last_invoice, unpaid) = old
        .map(|i| {
            (
                c.customers[i]["LastInvoiceDate"].clone(),
                c.customers[i]["UnpaidInvoicesAmount"].clone(),
            )
        })
        .unwrap_or((Value::Null, crate::util::money(rust_decimal::Decimal::ZERO)));
    out.insert("LastInvoiceDate".into(), last_invoice);
    out.insert("UnpaidInvoicesAmount".into(), unpaid);
    out.insert("PayToAccountId".into(), Value::Null);
    out.insert("IsFutureInvoiceDateAllowed".into(), json!(true));
    out.insert("MessageThreads".into(), json!([]));
    out.insert("Notes".into(), json!([]));
    let v = Value::Object(out);
    match old {
        Some(i) => c.customers[i] = v.clone(),
        None => c.customers.push(v.clone()),
    }
    Ok(v)
}

async fn create_customer(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = validate::body_object(&body)?;
    with_company(&app, &ctx, |c, now| {
        save_customer(c, now, &body, None).map(|v| created(&v))
    })
}

async fn put_customer(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let id = path_uuid(&id, "Customer")?;
    let body = validate::body_object(&body)?;
    with_company(&app, &ctx, |c, now| {
        if position_by_id(&c.customers, id).is_none() {
            return Err(ApiError::not_found("Customer"));
        }
        save_customer(c, now, &body, Some(id)).map(|v| ok(&v))
    })
}

async fn delete_customer(
    State(app): State<App>,
    Extension(ctx): Extension<ApiCtx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = path_uuid(&id, "Customer")?;
    with_company(&app, &ctx, |c, _| {
        let Some(i) = position_by_id(&c.customers, id) else {
            return Err(ApiError::not_found("Customer"));
        };
        let idstr = id.to_string();
        let used = c
            .invoices
            .iter()
            .chain(c.drafts.iter())
            .any(|inv| inv.get("CustomerId").and_then(Value::as_str) == Some(idstr.as_str()));
        if used {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                4001,
                "CanNotBeDeleted - The customer has transactions; set IsActive to false instead.",
            ));
        }
        c.customers.remove(i);
        Ok(ok(&Value::Null))
    })
}
