use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{CustomerId, TermsOfPaymentId};

/// `CustomerApi`. Required on write: `Name`, `InvoiceCity`, `InvoicePostalCode`,
/// `TermsOfPaymentId`, `IsPrivatePerson`, `IsActive`. PUT replaces the whole customer, so
/// update a customer you fetched rather than a fresh struct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Customer {
    /// Read-only; `None` when creating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<CustomerId>,
    /// Max 16 characters, unique; Visma assigns one when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_number: Option<String>,
    /// Max 50 characters.
    pub name: String,
    pub is_private_person: bool,
    pub is_active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corporate_identity_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_address2: Option<String>,
    /// Required on write (max 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_postal_code: Option<String>,
    /// Required on write (max 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_country_code: Option<String>,
    /// Defaults to the company currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    pub terms_of_payment_id: TermsOfPaymentId,
    /// Fraction 0–1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub discount_percentage: Option<Decimal>,
    /// Read-only; the incremental-pull watermark field.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::utc_opt"
    )]
    pub changed_utc: Option<DateTime<Utc>>,
}

impl Customer {
    /// An active company customer; fill in the optional fields as needed.
    pub fn new(name: impl Into<String>, terms_of_payment_id: TermsOfPaymentId) -> Self {
        Self {
            id: None,
            customer_number: None,
            name: name.into(),
            is_private_person: false,
            is_active: true,
            corporate_identity_number: None,
            vat_number: None,
            email_address: None,
            invoice_address1: None,
            invoice_address2: None,
            invoice_postal_code: None,
            invoice_city: None,
            invoice_country_code: None,
            currency_code: None,
            terms_of_payment_id,
            discount_percentage: None,
            changed_utc: None,
        }
    }
}
