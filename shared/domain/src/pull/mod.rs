//! The data pulled from Visma (fiscal years, charts of accounts, article account codings, VAT
//! codes, vouchers, sales terms of payment, the customer index) in the shapes the service stores and Aourly reads (integration guide "Management API"), and the
//! rules of the pull: which fiscal years are open, how pulled vouchers are de-duplicated, which
//! vouchers are the service's own, and which events a pull announces (integration guide "Outbound events").
//!
//! Free of AWS and HTTP: the app layer converts Visma's wire types into these.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::outbound::OutboundType;
use crate::VatRate;

/// How far back each incremental pull reaches before the stored watermark. Visma's
/// `ServerTimeUtc` is read from the first page, before the items; a record committed around
/// that instant could carry a slightly earlier timestamp, so we look a little further back and
/// de-duplicate by id.
pub const OVERLAP: chrono::Duration = chrono::Duration::minutes(2);

/// `GET /fiscal-years` entry (`id` is Visma's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiscalYear {
    pub id: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub locked: bool,
}

impl FiscalYear {
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start_date <= date && date <= self.end_date
    }
}

/// `GET /accounts` entry. `number` is a string, as in Visma's account resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub number: String,
    pub name: String,
    pub vat_code: Option<String>,
    pub active: bool,
}

/// An article account coding: the revenue account and VAT rate an article books to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coding {
    pub id: String,
    pub name: String,
    /// `None` when Visma's rate is not one of the Swedish rates 25/12/6/0.
    pub vat_rate: Option<VatRate>,
    pub active: bool,
    /// The domestic sales account (subject to VAT, or VAT-exempt for 0 %).
    pub revenue_account: Option<String>,
}

/// A VAT code, kept for reference (and for the mapping's VAT accounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatCode {
    pub id: String,
    pub code: Option<String>,
    pub description: Option<String>,
    /// Visma's rate as sent (the sandbox sends a fraction), as a decimal string.
    pub rate: Option<String>,
    pub related_accounts: Vec<String>,
}

/// A terms of payment for sales (Visma's type 0, "normal"): net days and Visma's id. The pull
/// keeps the company's list so that creating a customer needs no extra Visma request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesTerms {
    pub days: i32,
    pub id: String,
}

/// The terms of payment a customer with `days` days gets: the normal terms with exactly that
/// many days, else the nearest longer, else the longest there is. `None` for an empty list.
pub fn terms_for_days(terms: &[SalesTerms], days: u16) -> Option<&SalesTerms> {
    let days = i32::from(days);
    terms
        .iter()
        .filter(|t| t.days >= days)
        .min_by_key(|t| t.days)
        .or_else(|| terms.iter().max_by_key(|t| t.days))
}

/// A Visma customer as the customer index knows it: the pull writes one index item per
/// customer number and one per org number (`CorporateIdentityNumber`), each naming the Visma
/// customer id, so the push can match an Aourly customer without asking Visma. It also keeps
/// this, the customer's *current* keys, once per Visma customer: index entries are never
/// removed, so an entry is only believed while the customer it names still has that key
/// ([`index_entry_is_current`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedCustomer {
    pub visma_id: String,
    pub number: Option<String>,
    pub org_number: Option<String>,
}

impl IndexedCustomer {
    /// This customer's value for `key`; an empty one counts as none.
    pub fn value(&self, key: CustomerKey) -> Option<&str> {
        match key {
            CustomerKey::Number => self.number.as_deref(),
            CustomerKey::OrgNumber => self.org_number.as_deref(),
        }
        .filter(|v| !v.is_empty())
    }
}

/// Which index key an entry is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CustomerKey {
    /// Visma's `CustomerNumber` (unique in a company).
    Number,
    /// Visma's `CorporateIdentityNumber` (org number, or a private person's identity number);
    /// not unique: several Visma customers may share one.
    OrgNumber,
}

/// These customers, each Visma customer once (a write batch may not name the same item twice):
/// the first occurrence of an id wins, and a later one (a customer listed twice while it
/// changed) is left to the next pull, whose overlap reads it again. These are the customers
/// whose current keys one index write stores.
pub fn distinct_customers(customers: &[IndexedCustomer]) -> Vec<&IndexedCustomer> {
    let mut seen = HashSet::new();
    customers
        .iter()
        .filter(|c| seen.insert(c.visma_id.as_str()))
        .collect()
}

/// The index entries for these customers: `(key, value, Visma id)`, each key once (a write
/// batch may not name the same item twice), from [`distinct_customers`] only, so that they
/// agree with the current keys written with them. Empty numbers are left out. When several of
/// these customers share a key the first one wins, as the first match does in a Visma lookup (a
/// later pull that reads another customer with that key overwrites it: the index names *a*
/// Visma customer with that org number, which is all the matching rule asks for).
pub fn customer_index_entries(customers: &[IndexedCustomer]) -> Vec<(CustomerKey, String, String)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in distinct_customers(customers) {
        for key in [CustomerKey::Number, CustomerKey::OrgNumber] {
            let Some(value) = c.value(key) else {
                continue;
            };
            if seen.insert((key, value.to_owned())) {
                out.push((key, value.to_owned(), c.visma_id.clone()));
            }
        }
    }
    out
}

/// Whether the index entry `key = value` naming the Visma customer `visma_id` still holds,
/// given that customer's current keys as the index last stored them (`None`: the index has
/// none for it). Entries are never removed, so one is left behind whenever a customer's number
/// or org number changes (a `customer.updated` push, an edit in Visma that a pull read); such an
/// entry, or one without current keys to vouch for it, is a miss, never a match for a customer
/// that now has another number.
pub fn index_entry_is_current(
    key: CustomerKey,
    value: &str,
    visma_id: &str,
    current: Option<&IndexedCustomer>,
) -> bool {
    current.is_some_and(|c| c.visma_id == visma_id && c.value(key) == Some(value))
}

/// Where a voucher in Visma came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoucherOrigin {
    /// Booked in Visma (by hand, a bank rule, an import): what Aourly wants to see.
    Visma,
    /// Posted by this service (a pushed Aourly voucher).
    Pushed,
    /// Made by Visma when a customer invoice was bookkept (types 14/15); the invoice is
    /// Aourly's, so its voucher is not news to Aourly.
    Invoice,
}

/// Visma's `VoucherType` for vouchers booked from customer invoices and credit notes.
pub const INVOICE_VOUCHER_TYPES: [i32; 2] = [14, 15];

/// The tag that ends a pushed voucher's `VoucherText`: `[Aourly <Aourly voucher id>]`. It
/// names the voucher for the accountant and for the push's look-up after a lost answer.
pub fn pushed_voucher_tag(aourly_id: &str) -> String {
    format!("[Aourly {aourly_id}]")
}

/// Whether a voucher text ends with a [`pushed_voucher_tag`].
fn has_pushed_tag(text: &str) -> bool {
    let Some(inner) = text.trim_end().strip_suffix(']') else {
        return false;
    };
    inner.rfind("[Aourly ").is_some_and(|at| {
        let id = &inner[at + "[Aourly ".len()..];
        !id.is_empty() && !id.contains(['[', ']'])
    })
}

/// Whether a pulled voucher is news for Aourly, by its type, its text and the Visma ids of
/// the vouchers this service pushed. The tag matters when a push's answer was lost: Visma
/// has the voucher, the push has not recorded its id yet, and a pull in between must not
/// hand it to Aourly as booked in Visma.
pub fn voucher_origin(
    visma_id: &str,
    voucher_type: Option<i32>,
    text: Option<&str>,
    pushed: &HashSet<String>,
) -> VoucherOrigin {
    if pushed.contains(visma_id) || text.is_some_and(has_pushed_tag) {
        VoucherOrigin::Pushed
    } else if voucher_type.is_some_and(|t| INVOICE_VOUCHER_TYPES.contains(&t)) {
        VoucherOrigin::Invoice
    } else {
        VoucherOrigin::Visma
    }
}

/// One row of a pulled voucher. Money as decimal strings with two decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledVoucherRow {
    pub account: String,
    pub debit: String,
    pub credit: String,
    pub text: Option<String>,
}

/// A voucher pulled from Visma (`GET /vouchers` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledVoucher {
    /// Visma's id.
    pub id: String,
    /// Visma's number with series, e.g. `A12`.
    pub number: Option<String>,
    pub date: NaiveDate,
    pub text: String,
    pub voucher_type: Option<i32>,
    pub rows: Vec<PulledVoucherRow>,
    /// Visma's `ModifiedUtc` (or `CreatedUtc`): the version of the voucher.
    pub modified_at: DateTime<Utc>,
    /// When this version reached the service: the order of `GET /vouchers` and what `since`
    /// compares with. Set when stored.
    pub changed_at: DateTime<Utc>,
    pub origin: VoucherOrigin,
}

/// What to do with one pulled voucher, given the version already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoucherWrite {
    /// Not seen before.
    New(PulledVoucher),
    /// Seen, but Visma has a newer version: replace the item stored at `previous_changed_at`.
    Changed {
        voucher: PulledVoucher,
        previous_changed_at: DateTime<Utc>,
    },
}

/// De-duplicates one pull's vouchers (the overlap re-reads some, and a voucher may appear on
/// two pages if Visma's list shifts) against what is stored: `known` maps a Visma id to the
/// stored version's `(modified_at, changed_at)`. A voucher whose stored version is as new is
/// skipped, so the overlap never delivers a voucher twice.
pub fn plan_voucher_writes(
    pulled: Vec<PulledVoucher>,
    known: &HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<VoucherWrite> {
    let mut latest: BTreeMap<String, PulledVoucher> = BTreeMap::new();
    for v in pulled {
        match latest.get(&v.id) {
            Some(seen) if seen.modified_at >= v.modified_at => {}
            _ => {
                latest.insert(v.id.clone(), v);
            }
        }
    }
    let mut writes: Vec<VoucherWrite> = latest
        .into_values()
        .filter_map(|v| match known.get(&v.id) {
            None => Some(VoucherWrite::New(v)),
            Some((modified, _)) if *modified >= v.modified_at => None,
            Some((_, changed)) => Some(VoucherWrite::Changed {
                previous_changed_at: *changed,
                voucher: v,
            }),
        })
        .collect();
    // Oldest Visma change first, so `changed_at` (assigned in this order) keeps Visma's order.
    writes.sort_by_key(|w| match w {
        VoucherWrite::New(v) | VoucherWrite::Changed { voucher: v, .. } => v.modified_at,
    });
    writes
}

/// How the chart of one fiscal year is read on this pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartPull {
    /// Every account (the year was never pulled).
    Full,
    /// Only accounts modified after this instant (`ModifiedUtc gt ...`), merged into the
    /// stored chart.
    ChangedSince(DateTime<Utc>),
}

/// Whether a fiscal year is *open* for pulling: not locked for accounting, and ending on or
/// after 1 January of last year. Open years can still change (bookings, new accounts), so
/// their charts are pulled incrementally on every pull. Older years that were never locked
/// (many small companies never lock) and locked years are treated as closed: their chart is
/// pulled once, when the year is first seen, and then kept. This bounds the cost of a pull to
/// the current year, the previous one (still being closed) and any future year.
pub fn is_open(year: &FiscalYear, today: NaiveDate) -> bool {
    let start_of_last_year = NaiveDate::from_ymd_opt(today.year() - 1, 1, 1).unwrap_or(today);
    !year.locked && year.end_date >= start_of_last_year
}

/// Which charts this pull reads: every open year (incrementally when it has a watermark) and
/// every year never pulled before (in full, once).
pub fn charts_to_pull(
    years: &[FiscalYear],
    watermarks: &BTreeMap<String, DateTime<Utc>>,
    today: NaiveDate,
) -> Vec<(String, ChartPull)> {
    years
        .iter()
        .filter_map(|y| match watermarks.get(&y.id) {
            None => Some((y.id.clone(), ChartPull::Full)),
            Some(mark) if is_open(y, today) => {
                Some((y.id.clone(), ChartPull::ChangedSince(*mark - OVERLAP)))
            }
            Some(_) => None,
        })
        .collect()
}

/// The fiscal year containing `today`, else the latest one that started before it, else the
/// earliest: the year `GET /accounts` shows by default and the mapping is validated against.
pub fn current_fiscal_year(years: &[FiscalYear], today: NaiveDate) -> Option<&FiscalYear> {
    years.iter().find(|y| y.contains(today)).or_else(|| {
        years
            .iter()
            .filter(|y| y.start_date <= today)
            .max_by_key(|y| y.start_date)
            .or_else(|| years.iter().min_by_key(|y| y.start_date))
    })
}

/// Merges accounts changed since the last pull into a stored chart (by number), sorted by
/// number (numerically where numbers are numeric). Returns the chart and whether it changed.
pub fn merge_chart(stored: &[Account], changed: Vec<Account>) -> (Vec<Account>, bool) {
    let mut by_number: BTreeMap<String, Account> = stored
        .iter()
        .map(|a| (a.number.clone(), a.clone()))
        .collect();
    let mut any = false;
    for a in changed {
        if by_number.get(&a.number) != Some(&a) {
            any = true;
            by_number.insert(a.number.clone(), a);
        }
    }
    (sort_chart(by_number.into_values().collect()), any)
}

/// Sorts a chart by account number (numeric numbers first, in numeric order).
pub fn sort_chart(mut chart: Vec<Account>) -> Vec<Account> {
    chart.sort_by(|a, b| {
        let key = |n: &str| (n.parse::<u64>().unwrap_or(u64::MAX), n.to_owned());
        key(&a.number).cmp(&key(&b.number))
    });
    chart
}

/// Merges codings changed since the last pull into the stored list (by id).
pub fn merge_codings(stored: &[Coding], changed: Vec<Coding>) -> (Vec<Coding>, bool) {
    let mut by_id: BTreeMap<String, Coding> =
        stored.iter().map(|c| (c.id.clone(), c.clone())).collect();
    let mut any = false;
    for c in changed {
        if by_id.get(&c.id) != Some(&c) {
            any = true;
            by_id.insert(c.id.clone(), c);
        }
    }
    (by_id.into_values().collect(), any)
}

/// How a pull ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    /// The tenant was not connected: nothing was read.
    pub skipped: bool,
    pub changes: PullChanges,
    /// The account mapping was proposed on this pull.
    pub mapping_proposed: bool,
}

impl PullReport {
    /// The pull changed what blocked items are checked against: the mapping, fiscal years,
    /// charts of accounts or codings (VAT codes and vouchers are not checked by any block).
    pub fn changed_pulled_data(&self) -> bool {
        let c = &self.changes;
        self.mapping_proposed || c.fiscal_years || c.codings || !c.accounts.is_empty()
    }
}

/// What one pull changed in the stored data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PullChanges {
    pub fiscal_years: bool,
    /// Fiscal year ids whose chart changed.
    pub accounts: Vec<String>,
    pub codings: bool,
    pub vat_codes: bool,
    /// New or changed vouchers that Aourly will see (booked in Visma, not by us).
    pub vouchers_for_aourly: usize,
}

impl PullChanges {
    pub fn is_empty(&self) -> bool {
        *self == PullChanges::default()
    }

    /// Adds `other`'s changes (those of a pull that could not announce them) to these.
    pub fn merge(&mut self, other: &PullChanges) {
        self.fiscal_years |= other.fiscal_years;
        for id in &other.accounts {
            if !self.accounts.contains(id) {
                self.accounts.push(id.clone());
            }
        }
        self.codings |= other.codings;
        self.vat_codes |= other.vat_codes;
        self.vouchers_for_aourly += other.vouchers_for_aourly;
    }
}

/// The outbound event types (integration guide "Outbound events") a pull with these changes announces; nothing when
/// nothing changed.
pub fn events_for(changes: &PullChanges) -> Vec<OutboundType> {
    let mut events = Vec::new();
    if !changes.accounts.is_empty() {
        events.push(OutboundType::AccountsUpdated);
    }
    if changes.fiscal_years {
        events.push(OutboundType::FiscalYearsUpdated);
    }
    if changes.vouchers_for_aourly > 0 {
        events.push(OutboundType::VouchersPulled);
    }
    events
}

/// An article account coding's VAT rate from what Visma sends: the label (`"25%"`, `"25 %"`,
/// `"25"`) when it parses, else `VatRatePercent`, which the sandbox sends as a fraction (0.25)
/// and which is read as a percentage when above 1.
pub fn coding_vat_rate(
    label: Option<&str>,
    percent: Option<rust_decimal::Decimal>,
) -> Option<VatRate> {
    if let Some(rate) = label
        .map(|l| l.trim().trim_end_matches('%').trim())
        .and_then(|l| VatRate::parse(l).ok())
    {
        return Some(rate);
    }
    let p = percent?;
    let p = if p <= rust_decimal::Decimal::ONE {
        p * rust_decimal::Decimal::from(100)
    } else {
        p
    };
    VatRate::parse(&p.normalize().to_string()).ok()
}

/// A Visma amount as the contract's decimal string with two decimals (`None` is zero).
pub fn money_string(amount: Option<rust_decimal::Decimal>) -> String {
    let mut d = amount.unwrap_or_default().round_dp(2);
    d.rescale(2);
    d.to_string()
}

#[cfg(test)]
mod tests;
