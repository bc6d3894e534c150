//! From raw webhook bytes to a [`WebhookEvent`], collecting every field error in one pass.
//!
//! The JSON is first read into "raw" structs whose fields are all `Option<Value>`, so a wrong
//! type anywhere becomes a field error at its path instead of one opaque serde message; each
//! raw field is then parsed into its domain type.

mod records;

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    compute_totals, AccountNumber, Address, AourlyId, CountryCode, CurrencyCode, Customer, Email,
    EventData, EventId, EventKind, Invoice, InvoiceLine, Totals, Voucher, VoucherRow, WebhookEvent,
};
use crate::money::{Money, Percent, Quantity, VatRate};
use crate::{FieldError, TenantId};
use records::event_data;

/// A webhook body that is not a valid event: answered with 400 and these field errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct InvalidEvent {
    /// `invalid_json`, `unknown_type` or `invalid_event` (the problem body's `code`).
    pub code: &'static str,
    /// Every problem found, in document order; never empty.
    pub errors: Vec<FieldError>,
}

impl InvalidEvent {
    pub const INVALID_JSON: &'static str = "invalid_json";
    pub const UNKNOWN_TYPE: &'static str = "unknown_type";
    pub const INVALID_EVENT: &'static str = "invalid_event";

    /// The error at `field`, if any (handy in tests and logs).
    pub fn error_at(&self, field: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.field == field)
    }
}

impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid webhook event ({})", self.code)?;
        for (i, error) in self.errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            fmt::Display::fmt(error, f)?;
        }
        Ok(())
    }
}

/// Parses and checks a webhook body (integration guide "Webhooks from Aourly"). See the module docs of `aourly` for the
/// required fields; the rules on amounts, totals and vouchers are on the types.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, InvalidEvent> {
    let value: Value = serde_json::from_slice(body).map_err(|e| InvalidEvent {
        code: InvalidEvent::INVALID_JSON,
        errors: vec![FieldError::new(
            "body",
            format!(
                "is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )],
    })?;
    parse_event_value(value)
}

/// [`parse_event`] for JSON that is already parsed.
pub fn parse_event_value(value: Value) -> Result<WebhookEvent, InvalidEvent> {
    let mut c = Check::default();
    let Some(raw) = c.object::<RawEvent>("body", Some(value)) else {
        return Err(c.into_error(InvalidEvent::INVALID_EVENT));
    };

    let id = c.value("id", raw.id, parsed(EventId::parse));
    let tenant = c.value("tenant", raw.tenant, parsed(TenantId::parse));
    let created_at = c.value("created_at", raw.created_at, timestamp);
    let mut unknown_type = false;
    let kind = c.value("type", raw.kind, |v| {
        let name = string(v)?;
        EventKind::parse(&name).ok_or_else(|| {
            unknown_type = true;
            let known: Vec<&str> = EventKind::ALL.iter().map(EventKind::as_str).collect();
            format!(
                "is not a known event type; expected one of {}",
                known.join(", ")
            )
        })
    });
    let data = kind.and_then(|kind| event_data(&mut c, kind, raw.data));

    match (id, kind, tenant, created_at, data) {
        (Some(id), Some(kind), Some(tenant), Some(created_at), Some(data)) if c.is_empty() => {
            Ok(WebhookEvent {
                id,
                kind,
                tenant,
                created_at,
                data,
            })
        }
        _ if unknown_type => Err(c.into_error(InvalidEvent::UNKNOWN_TYPE)),
        _ => Err(c.into_error(InvalidEvent::INVALID_EVENT)),
    }
}

// ---- raw shapes: every field optional and untyped ----

#[derive(Deserialize)]
struct RawEvent {
    id: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    tenant: Option<Value>,
    created_at: Option<Value>,
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RawData {
    customer: Option<Value>,
    invoice: Option<Value>,
    credits_invoice_id: Option<Value>,
    voucher: Option<Value>,
}

#[derive(Deserialize)]
struct RawCustomer {
    id: Option<Value>,
    number: Option<Value>,
    name: Option<Value>,
    is_private_person: Option<Value>,
    org_number: Option<Value>,
    vat_number: Option<Value>,
    email: Option<Value>,
    address: Option<Value>,
    currency: Option<Value>,
    payment_terms_days: Option<Value>,
}

#[derive(Deserialize)]
struct RawAddress {
    line1: Option<Value>,
    line2: Option<Value>,
    postal_code: Option<Value>,
    city: Option<Value>,
    country_code: Option<Value>,
}

#[derive(Deserialize)]
struct RawInvoice {
    id: Option<Value>,
    number: Option<Value>,
    customer: Option<Value>,
    issue_date: Option<Value>,
    due_date: Option<Value>,
    currency: Option<Value>,
    your_reference: Option<Value>,
    our_reference: Option<Value>,
    lines: Option<Value>,
    totals: Option<Value>,
}

#[derive(Deserialize)]
struct RawLine {
    description: Option<Value>,
    quantity: Option<Value>,
    unit: Option<Value>,
    unit_price: Option<Value>,
    vat_rate: Option<Value>,
    discount_percent: Option<Value>,
}

#[derive(Deserialize)]
struct RawTotals {
    net: Option<Value>,
    vat: Option<Value>,
    gross: Option<Value>,
}

#[derive(Deserialize)]
struct RawVoucher {
    id: Option<Value>,
    date: Option<Value>,
    text: Option<Value>,
    rows: Option<Value>,
}

#[derive(Deserialize)]
struct RawRow {
    account: Option<Value>,
    debit: Option<Value>,
    credit: Option<Value>,
    text: Option<Value>,
}

// ---- the collector ----

/// Collects field errors. Each method returns `None` after recording why, so a parser reads
/// every field first and only then combines them with `?`.
#[derive(Default)]
struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    fn into_error(self, code: &'static str) -> InvalidEvent {
        InvalidEvent {
            code,
            errors: self.errors,
        }
    }

    /// A required field (`null` counts as absent), converted by `convert`.
    fn value<T>(
        &mut self,
        field: &str,
        value: Option<Value>,
        convert: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<T> {
        let Some(value) = value else {
            self.fail(field, "is required");
            return None;
        };
        convert(value).map_err(|m| self.fail(field, m)).ok()
    }

    /// An optional field: `Some(None)` when absent or `null`, `None` when present but invalid.
    fn optional<T>(
        &mut self,
        field: &str,
        value: Option<Value>,
        convert: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match value {
            None => Some(None),
            Some(value) => convert(value)
                .map(Some)
                .map_err(|m| self.fail(field, m))
                .ok(),
        }
    }

    /// A required JSON object, read into its raw struct.
    fn object<R: DeserializeOwned>(&mut self, field: &str, value: Option<Value>) -> Option<R> {
        self.value(field, value, |v| match v {
            // All raw fields are Option<Value>, so an object always converts.
            Value::Object(_) => serde_json::from_value(v).map_err(|_| "is malformed".to_owned()),
            _ => Err("must be an object".to_owned()),
        })
    }

    /// A required JSON array, with its elements.
    fn array(&mut self, field: &str, value: Option<Value>) -> Option<Vec<Value>> {
        self.value(field, value, |v| match v {
            Value::Array(items) => Ok(items),
            _ => Err("must be an array".to_owned()),
        })
    }
}

fn at(prefix: &str, key: &str) -> String {
    format!("{prefix}.{key}")
}

// ---- converters: Value -> domain value, or the field error's message ----

fn string(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err("must be a string".to_owned()),
    }
}

/// Free text: trimmed, not blank.
fn text(value: Value) -> Result<String, String> {
    let s = string(value)?;
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err("must not be blank".to_owned());
    }
    Ok(trimmed.to_owned())
}

fn text_max(max: usize) -> impl FnOnce(Value) -> Result<String, String> {
    move |value| {
        let s = text(value)?;
        if s.chars().count() > max {
            return Err(format!("must be at most {max} characters"));
        }
        Ok(s)
    }
}

fn parsed<T, E: fmt::Display>(
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> impl FnOnce(Value) -> Result<T, String> {
    move |value| parse(&string(value)?).map_err(|e| e.to_string())
}

/// An amount, which the contract sends as a decimal string; a JSON number is refused (it may
/// have passed through a float on Aourly's side).
fn decimal<T, E: fmt::Display>(
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> impl FnOnce(Value) -> Result<T, String> {
    move |value| match value {
        Value::String(s) => parse(&s).map_err(|e| e.to_string()),
        Value::Number(_) => {
            Err("must be a decimal string such as \"950.00\", not a JSON number".to_owned())
        }
        _ => Err("must be a decimal string such as \"950.00\"".to_owned()),
    }
}

fn boolean(value: Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| "must be true or false".to_owned())
}

/// A calendar date written exactly `YYYY-MM-DD`.
fn date(value: Value) -> Result<NaiveDate, String> {
    let s = string(value)?;
    let shape_ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err("must be a date written YYYY-MM-DD".to_owned());
    }
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| "is not a valid date".to_owned())
}

/// An RFC 3339 timestamp, kept in UTC.
fn timestamp(value: Value) -> Result<DateTime<Utc>, String> {
    let s = string(value)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 timestamp such as \"2026-11-23T10:00:00Z\"".to_owned())
}

fn days(value: Value) -> Result<u16, String> {
    value
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n <= 365)
        .ok_or_else(|| "must be a whole number of days from 0 to 365".to_owned())
}
