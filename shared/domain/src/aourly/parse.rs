//! From raw webhook bytes to a [`WebhookEvent`], collecting every field error in one pass.
//!
//! The JSON is first read into "raw" structs whose fields are all `Option<Value>`, so a wrong
//! type anywhere becomes a field error at its path instead of one opaque serde message; each
//! raw field is then parsed into its domain type.

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

/// Parses and checks a webhook body (CONTRACT §6). See the module docs of `aourly` for the
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

// ---- the parsers ----

fn event_data(c: &mut Check, kind: EventKind, value: Option<Value>) -> Option<EventData> {
    let raw: RawData = c.object("data", value)?;
    match kind {
        EventKind::CustomerCreated | EventKind::CustomerUpdated => {
            let customer = customer(c, "data.customer", raw.customer)?;
            Some(if kind == EventKind::CustomerCreated {
                EventData::CustomerCreated(customer)
            } else {
                EventData::CustomerUpdated(customer)
            })
        }
        EventKind::InvoiceCreated => {
            invoice(c, "data.invoice", raw.invoice, kind).map(EventData::InvoiceCreated)
        }
        EventKind::InvoiceCredited => {
            let invoice = invoice(c, "data.invoice", raw.invoice, kind);
            let credits = c.value(
                "data.credits_invoice_id",
                raw.credits_invoice_id,
                parsed(AourlyId::parse),
            );
            let (invoice, credits_invoice_id) = (invoice?, credits?);
            if invoice.id == credits_invoice_id {
                c.fail(
                    "data.credits_invoice_id",
                    "must name another invoice than the credit note itself",
                );
                return None;
            }
            Some(EventData::InvoiceCredited {
                invoice,
                credits_invoice_id,
            })
        }
        EventKind::VoucherCreated => {
            voucher(c, "data.voucher", raw.voucher).map(EventData::VoucherCreated)
        }
    }
}

fn customer(c: &mut Check, path: &str, value: Option<Value>) -> Option<Customer> {
    let raw: RawCustomer = c.object(path, value)?;
    let id = c.value(&at(path, "id"), raw.id, parsed(AourlyId::parse));
    let number = c.optional(&at(path, "number"), raw.number, text_max(16));
    let name = c.value(&at(path, "name"), raw.name, text);
    let is_private_person = c.value(
        &at(path, "is_private_person"),
        raw.is_private_person,
        boolean,
    );
    let org_number = c.optional(&at(path, "org_number"), raw.org_number, text_max(20));
    let vat_number = c.optional(&at(path, "vat_number"), raw.vat_number, text_max(20));
    let email = c.optional(&at(path, "email"), raw.email, parsed(Email::parse));
    let address = address(c, &at(path, "address"), raw.address);
    let currency = c.value(
        &at(path, "currency"),
        raw.currency,
        parsed(CurrencyCode::parse),
    );
    let payment_terms_days = c.value(
        &at(path, "payment_terms_days"),
        raw.payment_terms_days,
        days,
    );
    Some(Customer {
        id: id?,
        number: number?,
        name: name?,
        is_private_person: is_private_person?,
        org_number: org_number?,
        vat_number: vat_number?,
        email: email?,
        address: address?,
        currency: currency?,
        payment_terms_days: payment_terms_days?,
    })
}

fn address(c: &mut Check, path: &str, value: Option<Value>) -> Option<Address> {
    let raw: RawAddress = c.object(path, value)?;
    let line1 = c.value(&at(path, "line1"), raw.line1, text);
    let line2 = c.optional(&at(path, "line2"), raw.line2, text);
    let postal_code = c.value(&at(path, "postal_code"), raw.postal_code, text);
    let city = c.value(&at(path, "city"), raw.city, text);
    let country_code = c.value(
        &at(path, "country_code"),
        raw.country_code,
        parsed(CountryCode::parse),
    );
    Some(Address {
        line1: line1?,
        line2: line2?,
        postal_code: postal_code?,
        city: city?,
        country_code: country_code?,
    })
}

fn invoice(c: &mut Check, path: &str, value: Option<Value>, kind: EventKind) -> Option<Invoice> {
    let raw: RawInvoice = c.object(path, value)?;
    let id = c.value(&at(path, "id"), raw.id, parsed(AourlyId::parse));
    let number = c.value(
        &at(path, "number"),
        raw.number,
        text_max(super::INVOICE_NUMBER_MAX),
    );
    let customer = customer(c, &at(path, "customer"), raw.customer);
    let issue_date = c.value(&at(path, "issue_date"), raw.issue_date, date);
    let due_date = c.value(&at(path, "due_date"), raw.due_date, date);
    let currency = c.value(
        &at(path, "currency"),
        raw.currency,
        parsed(CurrencyCode::parse),
    );
    let your_reference = c.optional(&at(path, "your_reference"), raw.your_reference, text);
    let our_reference = c.optional(&at(path, "our_reference"), raw.our_reference, text);

    let lines_path = at(path, "lines");
    let lines = c.array(&lines_path, raw.lines).and_then(|items| {
        if items.is_empty() {
            c.fail(&lines_path, "must have at least one line");
            return None;
        }
        let parsed: Vec<Option<InvoiceLine>> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| line(c, &format!("{lines_path}[{i}]"), item, kind))
            .collect();
        parsed.into_iter().collect::<Option<Vec<_>>>()
    });

    let totals_path = at(path, "totals");
    let totals = totals(c, &totals_path, raw.totals);
    if let Some(totals) = &totals {
        if kind == EventKind::InvoiceCreated && totals.gross.is_negative() {
            c.fail(
                &at(&totals_path, "gross"),
                "must not be negative on invoice.created",
            );
        }
    }
    if let (Some(lines), Some(given)) = (&lines, &totals) {
        check_totals(c, &totals_path, lines, given);
    }
    if let (Some(issue), Some(due)) = (issue_date, due_date) {
        if due < issue {
            c.fail(&at(path, "due_date"), "must not be before issue_date");
        }
    }

    Some(Invoice {
        id: id?,
        number: number?,
        customer: customer?,
        issue_date: issue_date?,
        due_date: due_date?,
        currency: currency?,
        your_reference: your_reference?,
        our_reference: our_reference?,
        lines: lines?,
        totals: totals?,
    })
    // The totals, gross-sign and due-date errors recorded above make the whole event invalid
    // through the collector, so such an invoice never leaves parse_event_value.
}

fn line(c: &mut Check, path: &str, value: Value, kind: EventKind) -> Option<InvoiceLine> {
    let raw: RawLine = c.object(path, Some(value))?;
    let description = c.value(&at(path, "description"), raw.description, text);
    let quantity_path = at(path, "quantity");
    let quantity = c.value(&quantity_path, raw.quantity, decimal(Quantity::parse));
    let quantity = quantity.filter(|q| match kind {
        EventKind::InvoiceCredited if !q.is_negative() => {
            c.fail(
                &quantity_path,
                "must be negative on invoice.credited (the invoice is the credit note)",
            );
            false
        }
        EventKind::InvoiceCreated if !q.is_positive() => {
            c.fail(&quantity_path, "must be positive on invoice.created");
            false
        }
        _ => true,
    });
    let unit = c.optional(&at(path, "unit"), raw.unit, text);
    let unit_price = c.value(
        &at(path, "unit_price"),
        raw.unit_price,
        decimal(Money::parse),
    );
    let vat_rate = c.value(&at(path, "vat_rate"), raw.vat_rate, decimal(VatRate::parse));
    let discount_percent = c.optional(
        &at(path, "discount_percent"),
        raw.discount_percent,
        decimal(Percent::parse),
    );

    Some(InvoiceLine {
        description: description?,
        quantity: quantity?,
        unit: unit?,
        unit_price: unit_price?,
        vat_rate: vat_rate?,
        discount_percent: discount_percent?.unwrap_or(Percent::ZERO),
    })
}

fn totals(c: &mut Check, path: &str, value: Option<Value>) -> Option<Totals> {
    let raw: RawTotals = c.object(path, value)?;
    let net = c.value(&at(path, "net"), raw.net, decimal(Money::parse));
    let vat = c.value(&at(path, "vat"), raw.vat, decimal(Money::parse));
    let gross = c.value(&at(path, "gross"), raw.gross, decimal(Money::parse));
    Some(Totals {
        net: net?,
        vat: vat?,
        gross: gross?,
    })
}

/// Each given total must equal the one computed from the lines; each mismatch names its field.
fn check_totals(c: &mut Check, path: &str, lines: &[InvoiceLine], given: &Totals) {
    let Some(expected) = compute_totals(lines) else {
        c.fail(path, "the lines add up to more than an amount can hold");
        return;
    };
    for (name, expected, given) in [
        ("net", expected.net, given.net),
        ("vat", expected.vat, given.vat),
        ("gross", expected.gross, given.gross),
    ] {
        if expected != given {
            c.fail(
                &at(path, name),
                format!("does not match the lines: expected {expected}, given {given}"),
            );
        }
    }
}

fn voucher(c: &mut Check, path: &str, value: Option<Value>) -> Option<Voucher> {
    let raw: RawVoucher = c.object(path, value)?;
    let id = c.value(&at(path, "id"), raw.id, parsed(AourlyId::parse));
    let date = c.value(&at(path, "date"), raw.date, date);
    let text = c.value(&at(path, "text"), raw.text, text);

    let rows_path = at(path, "rows");
    let rows = c.array(&rows_path, raw.rows).and_then(|items| {
        let count = items.len();
        let rows: Vec<Option<VoucherRow>> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| row(c, &format!("{rows_path}[{i}]"), item))
            .collect();
        if count < 2 {
            c.fail(&rows_path, "must have at least 2 rows");
            return None;
        }
        let rows = rows.into_iter().collect::<Option<Vec<_>>>()?;
        let debit: rust_decimal::Decimal = rows.iter().map(|r| r.debit.amount()).sum();
        let credit: rust_decimal::Decimal = rows.iter().map(|r| r.credit.amount()).sum();
        if debit != credit {
            c.fail(
                &rows_path,
                format!("must balance: total debit {debit} is not total credit {credit}"),
            );
            return None;
        }
        Some(rows)
    });

    Some(Voucher {
        id: id?,
        date: date?,
        text: text?,
        rows: rows?,
    })
}

fn row(c: &mut Check, path: &str, value: Value) -> Option<VoucherRow> {
    let raw: RawRow = c.object(path, Some(value))?;
    let account = c.value(
        &at(path, "account"),
        raw.account,
        parsed(AccountNumber::parse),
    );
    let not_negative = |m: Money| {
        if m.is_negative() {
            Err("must not be negative".to_owned())
        } else {
            Ok(m)
        }
    };
    let debit = c.value(&at(path, "debit"), raw.debit, |v| {
        decimal(Money::parse)(v).and_then(not_negative)
    });
    let credit = c.value(&at(path, "credit"), raw.credit, |v| {
        decimal(Money::parse)(v).and_then(not_negative)
    });
    let text = c.optional(&at(path, "text"), raw.text, text);
    // The debit-or-credit rule is checked even when another field of the row is bad.
    let (debit, credit) = (debit?, credit?);
    if let Err(e) = VoucherRow::check_amounts(debit, credit) {
        c.fail(path, e.to_string());
        return None;
    }
    VoucherRow::new(account?, debit, credit, text?).ok()
}
