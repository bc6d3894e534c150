//! Webhook events from Aourly (integration guide "Webhooks from Aourly"), as parsed, valid values.
//!
//! The only way in is [`parse_event`] (or deserializing a [`WebhookEvent`], which runs the
//! same rules). Which fields are required is decided here, from the contract's example:
//! fields shown as `null` there, and the ones listed below, may be `null` or absent:
//! - customer: `number`, `org_number`, `vat_number`, `email`;
//! - address: `line2`;
//! - invoice: `your_reference`, `our_reference`;
//! - invoice line: `unit`, and `discount_percent` (absent or null means 0);
//! - voucher row: `text`.
//!
//! Every other field is required. Unknown fields are ignored, so Aourly can add fields
//! without breaking the service. Free-text fields are trimmed and must not be blank.

mod parse;
#[cfg(test)]
mod tests;
mod values;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{round2, Money, Percent, Quantity, VatRate};
use crate::{RecordKind, TenantId};

pub use parse::{parse_event, parse_event_value, InvalidEvent};

/// The longest invoice number Visma can keep: it goes into `BuyersOrderReference` (at most 35
/// characters) as `Aourly <number>`, where the accountant sees it and the push looks it up.
pub const INVOICE_NUMBER_MAX: usize = 35 - "Aourly ".len();
pub use values::{
    AccountNumber, AourlyId, CountryCode, CurrencyCode, Email, EventId, InvalidValue,
};

/// The event `type`s of integration guide "Webhooks from Aourly".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "customer.created")]
    CustomerCreated,
    #[serde(rename = "customer.updated")]
    CustomerUpdated,
    #[serde(rename = "invoice.created")]
    InvoiceCreated,
    #[serde(rename = "invoice.credited")]
    InvoiceCredited,
    #[serde(rename = "voucher.created")]
    VoucherCreated,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::CustomerCreated,
        EventKind::CustomerUpdated,
        EventKind::InvoiceCreated,
        EventKind::InvoiceCredited,
        EventKind::VoucherCreated,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::CustomerCreated => "customer.created",
            EventKind::CustomerUpdated => "customer.updated",
            EventKind::InvoiceCreated => "invoice.created",
            EventKind::InvoiceCredited => "invoice.credited",
            EventKind::VoucherCreated => "voucher.created",
        }
    }

    /// The kind of record the event creates or changes.
    pub fn record_kind(&self) -> RecordKind {
        match self {
            EventKind::CustomerCreated | EventKind::CustomerUpdated => RecordKind::Customer,
            EventKind::InvoiceCreated | EventKind::InvoiceCredited => RecordKind::Invoice,
            EventKind::VoucherCreated => RecordKind::Voucher,
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid webhook event. Its `kind` always agrees with its `data`. Serializes back to the
/// contract's JSON shape, and deserializes through the same rules as [`parse_event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEvent {
    id: EventId,
    #[serde(rename = "type")]
    kind: EventKind,
    tenant: TenantId,
    created_at: DateTime<Utc>,
    data: EventData,
}

impl WebhookEvent {
    pub fn id(&self) -> &EventId {
        &self.id
    }
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn data(&self) -> &EventData {
        &self.data
    }
    pub fn into_data(self) -> EventData {
        self.data
    }
}

impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        parse_event_value(value).map_err(serde::de::Error::custom)
    }
}

/// The `data` of an event, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    CustomerCreated(Customer),
    CustomerUpdated(Customer),
    InvoiceCreated(Invoice),
    /// `invoice` is the credit note itself (negative quantities); it credits another invoice.
    InvoiceCredited {
        invoice: Invoice,
        credits_invoice_id: AourlyId,
    },
    VoucherCreated(Voucher),
}

impl EventData {
    pub fn kind(&self) -> EventKind {
        match self {
            EventData::CustomerCreated(_) => EventKind::CustomerCreated,
            EventData::CustomerUpdated(_) => EventKind::CustomerUpdated,
            EventData::InvoiceCreated(_) => EventKind::InvoiceCreated,
            EventData::InvoiceCredited { .. } => EventKind::InvoiceCredited,
            EventData::VoucherCreated(_) => EventKind::VoucherCreated,
        }
    }

    /// The Aourly id of the record the event is about (for `invoice.credited`, the credit note).
    pub fn record_id(&self) -> &AourlyId {
        match self {
            EventData::CustomerCreated(c) | EventData::CustomerUpdated(c) => &c.id,
            EventData::InvoiceCreated(i) | EventData::InvoiceCredited { invoice: i, .. } => &i.id,
            EventData::VoucherCreated(v) => &v.id,
        }
    }
}

impl Serialize for EventData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        match self {
            EventData::CustomerCreated(c) | EventData::CustomerUpdated(c) => {
                map.serialize_entry("customer", c)?
            }
            EventData::InvoiceCreated(i) => map.serialize_entry("invoice", i)?,
            EventData::InvoiceCredited {
                invoice,
                credits_invoice_id,
            } => {
                map.serialize_entry("invoice", invoice)?;
                map.serialize_entry("credits_invoice_id", credits_invoice_id)?;
            }
            EventData::VoucherCreated(v) => map.serialize_entry("voucher", v)?,
        }
        map.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: AourlyId,
    /// Aourly's customer number, used to match an existing Visma customer (at most 16
    /// characters, Visma's limit for `CustomerNumber`).
    pub number: Option<String>,
    pub name: String,
    pub is_private_person: bool,
    pub org_number: Option<String>,
    pub vat_number: Option<String>,
    pub email: Option<Email>,
    pub address: Address,
    pub currency: CurrencyCode,
    /// 0 to 365.
    pub payment_terms_days: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub country_code: CountryCode,
}

/// An invoice whose totals equal its lines by Visma's rule (see [`compute_totals`]) and that
/// has at least one line. On `invoice.created` every quantity is positive and the gross total
/// not negative; on `invoice.credited` (a credit note) every quantity is negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    id: AourlyId,
    number: String,
    customer: Customer,
    issue_date: NaiveDate,
    due_date: NaiveDate,
    currency: CurrencyCode,
    your_reference: Option<String>,
    our_reference: Option<String>,
    lines: Vec<InvoiceLine>,
    totals: Totals,
}

impl Invoice {
    pub fn id(&self) -> &AourlyId {
        &self.id
    }
    /// Aourly's invoice number (`"1042"`, at most [`INVOICE_NUMBER_MAX`] characters).
    pub fn number(&self) -> &str {
        &self.number
    }
    pub fn customer(&self) -> &Customer {
        &self.customer
    }
    pub fn issue_date(&self) -> NaiveDate {
        self.issue_date
    }
    /// Never before the issue date.
    pub fn due_date(&self) -> NaiveDate {
        self.due_date
    }
    pub fn currency(&self) -> &CurrencyCode {
        &self.currency
    }
    pub fn your_reference(&self) -> Option<&str> {
        self.your_reference.as_deref()
    }
    pub fn our_reference(&self) -> Option<&str> {
        self.our_reference.as_deref()
    }
    /// Never empty.
    pub fn lines(&self) -> &[InvoiceLine] {
        &self.lines
    }
    pub fn totals(&self) -> &Totals {
        &self.totals
    }
    /// The VAT rates the lines use, each once, in ascending order.
    pub fn vat_rates(&self) -> Vec<VatRate> {
        let mut rates: Vec<VatRate> = self.lines.iter().map(|l| l.vat_rate).collect();
        rates.sort();
        rates.dedup();
        rates
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    pub description: String,
    pub quantity: Quantity,
    pub unit: Option<String>,
    pub unit_price: Money,
    pub vat_rate: VatRate,
    pub discount_percent: Percent,
}

impl InvoiceLine {
    /// The line's net amount by Visma's rule:
    /// round2(quantity × unit_price × (1 − discount_percent/100)).
    ///
    /// Exact: the bounds of [`Quantity`], [`Money`] and [`Percent`] keep the product within
    /// 28 significant digits, so nothing is rounded before the final round2.
    pub fn net(&self) -> Decimal {
        let hundredths = self.quantity.value()
            * self.unit_price.amount()
            * (Decimal::ONE_HUNDRED - self.discount_percent.value());
        round2(hundredths / Decimal::ONE_HUNDRED)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub net: Money,
    pub vat: Money,
    pub gross: Money,
}

/// The totals Visma computes for these lines (integration guide "Webhooks from Aourly"):
/// `net` = Σ line nets ([`InvoiceLine::net`]); `vat` = Σ over VAT rates of
/// round2(net of that rate × rate/100); `gross` = `net` + `vat`.
///
/// `None` when a total does not fit in [`Money`].
pub fn compute_totals(lines: &[InvoiceLine]) -> Option<Totals> {
    // Sums stay far below this bound, so each addition is exact; beyond it we give up
    // rather than let a 96-bit decimal round silently.
    let bound = Decimal::from_i128_with_scale(10_i128.pow(24), 0);
    let checked = |sum: Decimal| (sum.abs() < bound).then_some(sum);

    let mut net = Decimal::ZERO;
    let mut net_by_rate: BTreeMap<VatRate, Decimal> = BTreeMap::new();
    for line in lines {
        let line_net = line.net();
        net = checked(net + line_net)?;
        let rate_net = net_by_rate.entry(line.vat_rate).or_default();
        *rate_net = checked(*rate_net + line_net)?;
    }
    let mut vat = Decimal::ZERO;
    for (rate, rate_net) in net_by_rate {
        vat = checked(vat + round2(rate_net * rate.percent() / Decimal::ONE_HUNDRED))?;
    }
    Some(Totals {
        net: Money::from_decimal(net).ok()?,
        vat: Money::from_decimal(vat).ok()?,
        gross: Money::from_decimal(net + vat).ok()?,
    })
}

/// A balanced voucher: at least 2 rows, total debit equal to total credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Voucher {
    id: AourlyId,
    date: NaiveDate,
    text: String,
    rows: Vec<VoucherRow>,
}

impl Voucher {
    pub fn id(&self) -> &AourlyId {
        &self.id
    }
    pub fn date(&self) -> NaiveDate {
        self.date
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    /// At least 2 rows; Σ debit = Σ credit.
    pub fn rows(&self) -> &[VoucherRow] {
        &self.rows
    }
    /// The total debit (equal to the total credit).
    pub fn total(&self) -> Decimal {
        self.rows.iter().map(|r| r.debit.amount()).sum()
    }
}

/// A voucher row with either a debit or a credit: both non-negative, exactly one non-zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoucherRow {
    account: AccountNumber,
    debit: Money,
    credit: Money,
    text: Option<String>,
}

impl VoucherRow {
    /// Checks the debit-XOR-credit rule; the error message is the one a field error carries.
    pub fn new(
        account: AccountNumber,
        debit: Money,
        credit: Money,
        text: Option<String>,
    ) -> Result<Self, InvalidValue> {
        Self::check_amounts(debit, credit)?;
        Ok(Self {
            account,
            debit,
            credit,
            text,
        })
    }

    /// The debit-XOR-credit rule alone.
    pub fn check_amounts(debit: Money, credit: Money) -> Result<(), InvalidValue> {
        if debit.is_negative() || credit.is_negative() {
            return Err(InvalidValue("debit and credit must not be negative"));
        }
        match (debit.is_zero(), credit.is_zero()) {
            (false, false) => Err(InvalidValue(
                "must have a debit or a credit, not both (the other must be \"0\")",
            )),
            (true, true) => Err(InvalidValue("must have a debit or a credit; both are zero")),
            _ => Ok(()),
        }
    }

    pub fn account(&self) -> &AccountNumber {
        &self.account
    }
    pub fn debit(&self) -> Money {
        self.debit
    }
    pub fn credit(&self) -> Money {
        self.credit
    }
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
}
