use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{FiscalYearId, VatCodeId, VoucherId};

/// `VoucherApi` (journal entry). Immutable once created: no PUT or DELETE; reverse with a new
/// voucher. Rows must balance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Voucher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<VoucherId>,
    /// Bookkeeping date.
    #[serde(with = "super::serde_helpers::date")]
    pub voucher_date: NaiveDate,
    /// Max 1000 characters.
    pub voucher_text: String,
    pub rows: Vec<VoucherRow>,
    /// Series letter; only honoured with `useDefaultVoucherSeries=false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_series: Option<String>,
    /// Read-only, e.g. `A12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_and_number_series: Option<String>,
    /// Read-only: 2 manual, 14/15 customer invoice, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher_type: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::utc_opt"
    )]
    pub created_utc: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::utc_opt"
    )]
    pub modified_utc: Option<DateTime<Utc>>,
}

impl Voucher {
    pub fn new(
        voucher_date: NaiveDate,
        voucher_text: impl Into<String>,
        rows: Vec<VoucherRow>,
    ) -> Self {
        Self {
            id: None,
            voucher_date,
            voucher_text: voucher_text.into(),
            rows,
            number_series: None,
            number_and_number_series: None,
            voucher_type: None,
            created_utc: None,
            modified_utc: None,
        }
    }
}

/// `VoucherRowApi`. One of debit or credit per row, ≥ 0, at most 2 decimals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoucherRow {
    /// Integer here, although `Account.Number` is a string.
    pub account_number: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub debit_amount: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub credit_amount: Option<Decimal>,
    /// Max 60 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_code_id: Option<VatCodeId>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_description: Option<String>,
}

/// `AccountApi`. Accounts exist per fiscal year.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    /// A string here, although voucher rows use an integer.
    pub number: String,
    pub name: String,
    pub fiscal_year_id: FiscalYearId,
    pub is_active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_code_id: Option<VatCodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_code_description: Option<String>,
    /// Read-only account type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_blocked_for_manual_booking: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::utc_opt"
    )]
    pub modified_utc: Option<DateTime<Utc>>,
}

/// `FiscalYearApi`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FiscalYear {
    pub id: FiscalYearId,
    #[serde(with = "super::serde_helpers::date")]
    pub start_date: NaiveDate,
    #[serde(with = "super::serde_helpers::date")]
    pub end_date: NaiveDate,
    #[serde(default)]
    pub is_locked_for_accounting: bool,
    /// 0 accrual (invoicing), 1 cash, 2 no bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bookkeeping_method: Option<i32>,
}

impl FiscalYear {
    /// True when `date` falls inside this fiscal year (both ends inclusive).
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start_date <= date && date <= self.end_date
    }
}
