//! The vocabulary of a sync item (one Aourly record on its way to Visma): its status, the
//! codes of `last_error`, and the warnings of the status body. Every producer and consumer of
//! these names uses the types here, so a misspelt code is a compile error, not a resume that
//! silently never happens.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A sync item's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Waiting for (or in) a push.
    Pending,
    /// In Visma.
    Synced,
    /// Retries exhausted, or Visma refused it for good.
    Failed,
    /// Waiting for the owner: expired connection, incomplete mapping, locked year, ...
    Blocked,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 4] = [
        ItemStatus::Pending,
        ItemStatus::Synced,
        ItemStatus::Failed,
        ItemStatus::Blocked,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Synced => "synced",
            ItemStatus::Failed => "failed",
            ItemStatus::Blocked => "blocked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Failed and blocked items wait for a retry (manual, or after the owner fixed the cause).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ItemStatus::Failed | ItemStatus::Blocked)
    }
}

/// Every code a sync item's `last_error` can carry. The wire name (`as_str`, serde) is part
/// of the contract: Aourly's Integrations page shows a text per code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemCode {
    // Blocked: the owner (or the next pull) can clear these.
    /// Visma no longer accepts the connection, or the service holds it as expired.
    ConnectionExpired,
    /// The company is not connected to Visma.
    NotConnected,
    /// No valid account mapping entry for one of the record's VAT rates.
    MappingIncomplete,
    /// No pulled fiscal year contains the record's date.
    FiscalYearMissing,
    /// The fiscal year containing the record's date is locked in Visma.
    FiscalYearLocked,
    /// The chart of accounts of the record's fiscal year has not been pulled yet.
    AccountsNotPulled,
    /// An account the record names does not exist or is inactive in Visma.
    AccountMissing,
    /// A Visma company setting stops the record (no terms of payment, a missing module, ...).
    VismaCompanySetup,
    /// The Visma user who connected lacks a scope the record needs.
    MissingScope,
    /// Visma's validation refused the record; the owner fixes the data.
    VismaValidation,
    /// A credit note whose credited invoice is not (yet) in Visma.
    OriginalInvoiceMissing,
    /// The company's Visma plan has no manual vouchers (Invoicing).
    VismaPlanNoVouchers,
    // Failed: Visma refused the record for good, or retries ran out.
    /// Visma refused the record.
    VismaRejected,
    /// Visma reports a conflict with a record it already has.
    VismaConflict,
    /// The queue gave up after repeated transient failures.
    RetriesExhausted,
    /// The stored copy of the record could not be read.
    UnreadableRecord,
    /// A fault on the service's side (tokens that do not decrypt).
    InternalError,
    // Pending: a transient failure, retried automatically.
    /// The last attempt failed transiently; the queue retries it.
    Retrying,
    /// A stored code this version does not know (written by a newer version before a
    /// rollback): the item stays readable, and nothing resumes it on its own.
    #[serde(other)]
    Unrecognised,
}

impl ItemCode {
    pub const ALL: [ItemCode; 18] = [
        ItemCode::ConnectionExpired,
        ItemCode::NotConnected,
        ItemCode::MappingIncomplete,
        ItemCode::FiscalYearMissing,
        ItemCode::FiscalYearLocked,
        ItemCode::AccountsNotPulled,
        ItemCode::AccountMissing,
        ItemCode::VismaCompanySetup,
        ItemCode::MissingScope,
        ItemCode::VismaValidation,
        ItemCode::OriginalInvoiceMissing,
        ItemCode::VismaPlanNoVouchers,
        ItemCode::VismaRejected,
        ItemCode::VismaConflict,
        ItemCode::RetriesExhausted,
        ItemCode::UnreadableRecord,
        ItemCode::InternalError,
        ItemCode::Retrying,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ItemCode::ConnectionExpired => "connection_expired",
            ItemCode::NotConnected => "not_connected",
            ItemCode::MappingIncomplete => "mapping_incomplete",
            ItemCode::FiscalYearMissing => "fiscal_year_missing",
            ItemCode::FiscalYearLocked => "fiscal_year_locked",
            ItemCode::AccountsNotPulled => "accounts_not_pulled",
            ItemCode::AccountMissing => "account_missing",
            ItemCode::VismaCompanySetup => "visma_company_setup",
            ItemCode::MissingScope => "missing_scope",
            ItemCode::VismaValidation => "visma_validation",
            ItemCode::OriginalInvoiceMissing => "original_invoice_missing",
            ItemCode::VismaPlanNoVouchers => "visma_plan_no_vouchers",
            ItemCode::VismaRejected => "visma_rejected",
            ItemCode::VismaConflict => "visma_conflict",
            ItemCode::RetriesExhausted => "retries_exhausted",
            ItemCode::UnreadableRecord => "unreadable_record",
            ItemCode::InternalError => "internal_error",
            ItemCode::Retrying => "retrying",
            ItemCode::Unrecognised => "unrecognised",
        }
    }

    /// Cleared by a working connection: resumed after a reconnect, and after a pull (which has
    /// just used the connection) when the block raced the reconnect.
    pub fn is_resolved_by_connection(&self) -> bool {
        matches!(self, ItemCode::ConnectionExpired | ItemCode::NotConnected)
    }

    /// Checked against pulled data (the mapping, fiscal years, charts of accounts): resumed
    /// after a pull that changed that data.
    pub fn is_resolved_by_pulled_data(&self) -> bool {
        matches!(
            self,
            ItemCode::MappingIncomplete
                | ItemCode::FiscalYearMissing
                | ItemCode::FiscalYearLocked
                | ItemCode::AccountsNotPulled
                | ItemCode::AccountMissing
        )
    }

    /// Cleared when the credited invoice is synced.
    pub fn waits_for_original_invoice(&self) -> bool {
        matches!(self, ItemCode::OriginalInvoiceMissing)
    }
}

impl fmt::Display for ItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not one of [`ItemCode`]'s wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync item code {0:?}")]
pub struct UnknownCode(pub String);

impl FromStr for ItemCode {
    type Err = UnknownCode;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == raw)
            .ok_or_else(|| UnknownCode(raw.to_owned()))
    }
}

/// Compares with a wire name: `item.last_error.code == "mapping_incomplete"` reads as the
/// contract does.
impl PartialEq<&str> for ItemCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A sync item's `last_error`. `detail` is for the owner; never Visma internals or tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    pub code: ItemCode,
    pub detail: Option<String>,
}

impl ItemError {
    pub fn new(code: ItemCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: Some(detail.into()),
        }
    }
}

/// A warning of the status body, for the Integrations page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// Visma's authorization expired: the owner reconnects.
    ReauthorizationRequired,
    /// An invoice VAT rate has no mapping entry yet.
    MappingIncomplete,
    /// The mapping was proposed from the pulled data but the owner has not saved it.
    MappingUnconfirmed,
    /// A stored mapping entry no longer validates against the pulled data (an account
    /// deactivated in Visma, an article removed).
    MappingInvalid,
}

impl Warning {
    pub fn as_str(&self) -> &'static str {
        match self {
            Warning::ReauthorizationRequired => "reauthorization_required",
            Warning::MappingIncomplete => "mapping_incomplete",
            Warning::MappingUnconfirmed => "mapping_unconfirmed",
            Warning::MappingInvalid => "mapping_invalid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_name() {
        for code in ItemCode::ALL {
            assert_eq!(code.as_str().parse::<ItemCode>(), Ok(code));
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "serde and as_str agree");
            assert_eq!(serde_json::from_value::<ItemCode>(json).unwrap(), code);
        }
        assert!("mapping_incomplet".parse::<ItemCode>().is_err());
    }

    #[test]
    fn a_stored_code_this_version_does_not_know_still_reads() {
        let stored = serde_json::json!({"code": "a_code_from_a_newer_version", "detail": "x"});
        let error: ItemError = serde_json::from_value(stored).expect("readable");
        assert_eq!(error.code, ItemCode::Unrecognised);
        assert!(!error.code.is_resolved_by_connection());
        assert!(!error.code.is_resolved_by_pulled_data());
    }

    #[test]
    fn resume_questions_partition_the_blocked_codes() {
        let connection: Vec<_> = ItemCode::ALL
            .into_iter()
            .filter(ItemCode::is_resolved_by_connection)
            .collect();
        assert_eq!(
            connection,
            [ItemCode::ConnectionExpired, ItemCode::NotConnected]
        );
        for code in ItemCode::ALL {
            let answers = [
                code.is_resolved_by_connection(),
                code.is_resolved_by_pulled_data(),
                code.waits_for_original_invoice(),
            ];
            assert!(
                answers.iter().filter(|a| **a).count() <= 1,
                "{code}: one cause at most"
            );
        }
        // What the owner must fix in Visma's data is not resumed by a pull.
        assert!(!ItemCode::VismaValidation.is_resolved_by_pulled_data());
        assert!(!ItemCode::VismaRejected.is_resolved_by_connection());
    }

    #[test]
    fn statuses_and_warnings_use_their_wire_names() {
        for status in ItemStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
            assert_eq!(ItemStatus::parse(status.as_str()), Some(status));
        }
        for warning in [
            Warning::ReauthorizationRequired,
            Warning::MappingIncomplete,
            Warning::MappingUnconfirmed,
            Warning::MappingInvalid,
        ] {
            assert_eq!(serde_json::to_value(warning).unwrap(), warning.as_str());
        }
        let error = ItemError::new(ItemCode::AccountMissing, "account 3001");
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"code": "account_missing", "detail": "account 3001"})
        );
        assert!(ItemCode::AccountMissing == "account_missing");
    }
}
