use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{TermsOfPaymentId, VatCodeId};

/// `CompanySettingsApi`, read side: who the token's company is and how it is set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Organisation number; store it with the connection to detect a wrong company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corporate_identity_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// The company's VAT registration number (not a VAT code id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// 1 Standard, 2 Invoicing, 3 Bookkeeping, 4 Solo, 5 Pro, 6 InvoicingCollaboration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_variant: Option<i32>,
    /// 0 inactive, 1 active, 2 read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_status: Option<i32>,
    /// Default terms of payment for new customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_payment_id: Option<TermsOfPaymentId>,
    /// Bookkeeping is locked up to and including this date.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::date_opt"
    )]
    pub accounting_locked_to: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_modules: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_original_draft_date: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_automatic_vat_calculation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_payment_reference_number: Option<bool>,
    /// Prices for private individuals are shown excluding VAT (Visma's default shows them
    /// including VAT).
    #[serde(
        rename = "ShowPricesExclVatPC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub show_prices_excl_vat_pc: Option<bool>,
    /// 0 none, 1 half away from zero (to whole units of the domestic currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domestic_currency_rounding: Option<i32>,
    /// Construction sector: reverse charge VAT rules apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_reverse_construction_vat: Option<bool>,
    /// Swedish companies: ROT/RUT rules apply to services for private individuals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_rot_reduced_invoicing: Option<bool>,
}

/// `VatCodeApi`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VatCode {
    pub id: VatCodeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// As sent by Visma (fraction vs percent is unconfirmed; compare with a sandbox).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub vat_rate: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_accounts: Option<RelatedAccounts>,
    /// 0 none, 1 sales, 2 VAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oss_code_type: Option<i32>,
}

/// Accounts a VAT code books to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RelatedAccounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number1: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number2: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number3: Option<i64>,
}

/// `TermsOfPaymentApi`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TermsOfPayment {
    pub id: TermsOfPaymentId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_english: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_days: Option<i32>,
    /// 0 normal, 1 current month, 2 cash, 3 card, 4 digital wallet, 5 PSP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_payment_type_id: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_payment_type_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_for_sales: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_for_purchase: Option<bool>,
}
