use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ArticleId, CustomerId, InvoiceDraftId, InvoiceId, TermsOfPaymentId, VoucherId};

/// `RotReducedInvoicingType` value for an ordinary invoice (1 = ROT, 2 = RUT).
pub const ROT_REDUCED_INVOICING_NORMAL: i32 = 0;

/// `CustomerInvoiceApi`. POST creates **and bookkeeps** the invoice; there is no PUT or DELETE
/// (corrections are credit invoices). Required on write: `CustomerId`, `EuThirdParty`,
/// `RotReducedInvoicingType`, `Rows`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerInvoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<InvoiceId>,
    pub customer_id: CustomerId,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::date_opt"
    )]
    pub invoice_date: Option<NaiveDate>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::date_opt"
    )]
    pub due_date: Option<NaiveDate>,
    /// Normally false.
    pub eu_third_party: bool,
    /// See [`ROT_REDUCED_INVOICING_NORMAL`].
    pub rot_reduced_invoicing_type: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_credit_invoice: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_payment_id: Option<TermsOfPaymentId>,
    /// Max 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub your_reference: Option<String>,
    /// Max 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub our_reference: Option<String>,
    /// Max 35 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyers_order_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electronic_reference: Option<String>,
    /// Bookkeep an existing draft by creating the invoice from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_from_draft_id: Option<InvoiceDraftId>,
    #[serde(default)]
    pub rows: Vec<CustomerInvoiceRow>,
    /// Read-only, sequential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_number: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    /// Read-only, in the company currency.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_amount: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_vat_amount: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_roundings: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_amount_invoice_currency: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub remaining_amount: Option<Decimal>,
    /// Read-only: 0 paid, 1 unpaid, 2 overdue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<i32>,
    /// Read-only (OCR/KID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference_number: Option<String>,
    /// Read-only: the voucher Visma booked for this invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher_id: Option<VoucherId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher_number: Option<String>,
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

impl CustomerInvoice {
    /// A normal (non-ROT/RUT, non-EU-triangulation) invoice for `customer_id`.
    pub fn new(customer_id: CustomerId, rows: Vec<CustomerInvoiceRow>) -> Self {
        Self {
            id: None,
            customer_id,
            invoice_date: None,
            due_date: None,
            eu_third_party: false,
            rot_reduced_invoicing_type: ROT_REDUCED_INVOICING_NORMAL,
            is_credit_invoice: None,
            terms_of_payment_id: None,
            your_reference: None,
            our_reference: None,
            buyers_order_reference: None,
            electronic_reference: None,
            created_from_draft_id: None,
            rows,
            invoice_number: None,
            customer_number: None,
            currency_code: None,
            total_amount: None,
            total_vat_amount: None,
            total_roundings: None,
            total_amount_invoice_currency: None,
            remaining_amount: None,
            payment_status: None,
            payment_reference_number: None,
            voucher_id: None,
            voucher_number: None,
            created_utc: None,
            modified_utc: None,
        }
    }
}

/// `CustomerInvoiceRowApi`. A row without `ArticleId` is a text row. Revenue account and VAT
/// come from the article's account coding; rows have no account field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerInvoiceRow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<ArticleId>,
    /// Max 2000 characters; defaults to the article name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// 2 decimals (4 for foreign currency).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub unit_price: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub quantity: Option<Decimal>,
    /// Fraction 0–1 (0.1 = 10 %).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub discount_percentage: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_vat_free: Option<bool>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_text_row: Option<bool>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<i32>,
    /// Read-only.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub amount_no_vat: Option<Decimal>,
}

/// `CustomerInvoiceDraftApi`. Drafts are not bookkept until converted, which makes them the
/// safe way to create an invoice idempotently (create draft, then convert once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerInvoiceDraft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<InvoiceDraftId>,
    pub customer_id: CustomerId,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::date_opt"
    )]
    pub invoice_date: Option<NaiveDate>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::date_opt"
    )]
    pub due_date: Option<NaiveDate>,
    pub eu_third_party: bool,
    pub rot_reduced_invoicing_type: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_credit_invoice: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_payment_id: Option<TermsOfPaymentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub your_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub our_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyers_order_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electronic_reference: Option<String>,
    #[serde(default)]
    pub rows: Vec<CustomerInvoiceDraftRow>,
    /// Read-only totals (company currency).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_amount: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_vat_amount: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_roundings: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::utc_opt"
    )]
    pub created_utc: Option<DateTime<Utc>>,
}

impl CustomerInvoiceDraft {
    /// A normal draft for `customer_id`.
    pub fn new(customer_id: CustomerId, rows: Vec<CustomerInvoiceDraftRow>) -> Self {
        Self {
            id: None,
            customer_id,
            invoice_date: None,
            due_date: None,
            eu_third_party: false,
            rot_reduced_invoicing_type: ROT_REDUCED_INVOICING_NORMAL,
            is_credit_invoice: None,
            terms_of_payment_id: None,
            your_reference: None,
            our_reference: None,
            buyers_order_reference: None,
            electronic_reference: None,
            rows,
            total_amount: None,
            total_vat_amount: None,
            total_roundings: None,
            created_utc: None,
        }
    }
}

/// `CustomerInvoiceDraftRowApi`. `ArticleId` is required unless `IsTextRow`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerInvoiceDraftRow {
    pub is_text_row: bool,
    /// True only for reverse-charge construction articles.
    pub reversed_construction_services_vat_free: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<ArticleId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub unit_price: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub quantity: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub discount_percentage: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<i32>,
}

/// `CustomerInvoiceDraftValidationApi`: totals the server must match before it bookkeeps the
/// draft. All optional; an empty value sends `{}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DraftValidation {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_amount_invoice_currency: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_vat_amount_invoice_currency: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub total_roundings_invoice_currency: Option<Decimal>,
}
