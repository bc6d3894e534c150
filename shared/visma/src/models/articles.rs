use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ArticleCodingId, ArticleId, UnitId};

/// `ArticleApi`. Required on write: `Number`, `Name`, `CodingId`, `UnitId`, `IsActive`.
/// The coding decides revenue account and VAT for invoice rows using the article.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Article {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ArticleId>,
    /// Max 40 characters.
    pub number: String,
    /// Max 50 characters.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_english: Option<String>,
    pub coding_id: ArticleCodingId,
    pub unit_id: UnitId,
    pub is_active: bool,
    /// Price excluding VAT, at most 2 decimals.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub net_price: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub gross_price: Option<Decimal>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coding_name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_service_article: Option<bool>,
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
    pub changed_utc: Option<DateTime<Utc>>,
}

/// `ArticleAccountCodingAPI` (read-only in this client): the sales accounts and VAT rate per
/// sales scenario. Note the spec types `Type` and `VatRate` as strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArticleAccountCoding {
    pub id: ArticleCodingId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_english: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Textual VAT rate label as Visma sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_rate: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub vat_rate_percent: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domestic_sales_subject_to_vat_account_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domestic_sales_vat_exempt_account_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_sales_subject_to_vat_within_eu_account_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_sales_vat_exempt_within_eu_account_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_sales_vat_exempt_outside_eu_account_number: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::serde_helpers::utc_opt"
    )]
    pub changed_utc: Option<DateTime<Utc>>,
}

/// `UnitApi`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Unit {
    pub id: UnitId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abbreviation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abbreviation_english: Option<String>,
}
