//! The Visma connection of one tenant: its lifecycle and the rules on it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// integration guide "Management API" `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    NotConnected,
    Connected,
    /// Visma refused the refresh token (revoked, password changed, lost rotation): the owner
    /// must reconnect. Mappings and history are kept; pushes wait as blocked.
    Expired,
    Disconnected,
}

/// The Visma company a tenant is connected to, read from `/v2/companysettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VismaCompany {
    pub name: String,
    pub corporate_identity_number: Option<String>,
    /// Visma's `CompanyIdentifier` when it has one; the stable identity of the company.
    pub company_identifier: Option<String>,
    /// The company's plan and the settings that decide how Visma books an invoice, as last
    /// read (at connect, then on every pull). `None` in records stored before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<CompanySettings>,
}

/// Visma eAccounting's plan of a company (`ProductVariant`): what it offers decides what the
/// service can push there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VismaPlan {
    /// 1: Standard (Smart).
    Standard,
    /// 2: invoicing only; no manual vouchers.
    Invoicing,
    /// 3: bookkeeping only; no customer ledger, no invoicing.
    Bookkeeping,
    /// 4: Solo (Start).
    Solo,
    /// 5: Pro.
    Pro,
    /// 6: invoicing with an accountant's collaboration.
    InvoicingCollaboration,
}

impl VismaPlan {
    /// The plan of Visma's `ProductVariant`, if it is one Visma documents.
    pub fn from_product_variant(variant: i32) -> Option<Self> {
        Some(match variant {
            1 => VismaPlan::Standard,
            2 => VismaPlan::Invoicing,
            3 => VismaPlan::Bookkeeping,
            4 => VismaPlan::Solo,
            5 => VismaPlan::Pro,
            6 => VismaPlan::InvoicingCollaboration,
            _ => return None,
        })
    }
}

/// The Visma company settings that decide how an invoice is booked (read from
/// `/v2/companysettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanySettings {
    pub plan: Option<VismaPlan>,
    /// Visma shows (and books) prices including VAT for private persons
    /// (`ShowPricesExclVatPC` false).
    pub prices_include_vat_for_private_persons: bool,
    /// Invoice totals in the domestic currency are rounded to whole kronor
    /// (`DomesticCurrencyRounding` 1, half away from zero).
    pub rounds_to_whole_kronor: bool,
    /// Construction-sector reverse charge rules apply (`UsesReverseConstructionVat`).
    pub uses_reverse_construction_vat: bool,
    /// ROT/RUT invoicing is on (`UsesRotReducedInvoicing`).
    pub uses_rot_rut: bool,
    /// Bookkeeping is locked up to and including this date (`AccountingLockedTo`).
    pub accounting_locked_to: Option<NaiveDate>,
    /// The company's currency (`CurrencyCode`).
    pub currency: Option<String>,
}

impl VismaCompany {
    /// A stable key for the company: its identifier, else its corporate identity number, else
    /// its name.
    pub fn key(&self) -> String {
        match (&self.company_identifier, &self.corporate_identity_number) {
            (Some(id), _) => format!("id:{id}"),
            (None, Some(org)) => format!("org:{org}"),
            (None, None) => format!("name:{}", self.name.to_lowercase()),
        }
    }

    /// Whether two reads name the same company: by identifier when both have one, else by
    /// corporate identity number, else by name.
    pub fn is_same_company(&self, other: &VismaCompany) -> bool {
        if let (Some(a), Some(b)) = (&self.company_identifier, &other.company_identifier) {
            return a == b;
        }
        match (
            &self.corporate_identity_number,
            &other.corporate_identity_number,
        ) {
            (Some(a), Some(b)) => a == b,
            _ => self.name == other.name,
        }
    }
}

/// How the last sync ended (integration guide "Management API" `last_sync_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncResult {
    Ok,
    Partial,
    Failed,
}

/// The stored connection record of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub status: ConnectionStatus,
    /// The company the tenant's data was synced to. Kept after disconnect and expiry, so a
    /// reconnect to another company can be recognised.
    pub company: Option<VismaCompany>,
    pub connected_at: Option<DateTime<Utc>>,
    pub connected_by: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    /// Why the connection is expired, in the owner's words (no Visma internals).
    pub status_reason: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_sync_result: Option<SyncResult>,
}

/// Why a completed Visma authorization may not become the tenant's connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectRefusal {
    #[error("the tenant's data was synced to another Visma company; disconnect first")]
    DifferentVismaCompany,
}

impl Connection {
    /// The rule for accepting a freshly authorized company: reconnecting to a *different*
    /// company than the one the tenant's data went to needs an explicit disconnect first.
    pub fn accepts(
        existing: Option<&Connection>,
        company: &VismaCompany,
    ) -> Result<(), ConnectRefusal> {
        match existing {
            Some(c) if c.status != ConnectionStatus::Disconnected => match &c.company {
                Some(previous) if !previous.is_same_company(company) => {
                    Err(ConnectRefusal::DifferentVismaCompany)
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: Option<&str>, org: Option<&str>, name: &str) -> VismaCompany {
        VismaCompany {
            name: name.into(),
            corporate_identity_number: org.map(Into::into),
            company_identifier: id.map(Into::into),
            settings: None,
        }
    }

    #[test]
    fn every_documented_product_variant_is_a_plan() {
        let plans: Vec<_> = (1..=6).map(VismaPlan::from_product_variant).collect();
        assert!(plans.iter().all(Option::is_some), "{plans:?}");
        assert_eq!(
            VismaPlan::from_product_variant(3),
            Some(VismaPlan::Bookkeeping)
        );
        assert_eq!(VismaPlan::from_product_variant(0), None);
        assert_eq!(VismaPlan::from_product_variant(7), None);
        assert_eq!(
            serde_json::to_value(VismaPlan::InvoicingCollaboration).unwrap(),
            "invoicing_collaboration"
        );
    }

    #[test]
    fn a_company_stored_before_its_settings_were_kept_still_reads() {
        let old = serde_json::json!({"name": "Exempel AB", "corporate_identity_number": "556677-8899", "company_identifier": null});
        let company: VismaCompany = serde_json::from_value(old).unwrap();
        assert_eq!(company.settings, None);
    }

    fn connection(status: ConnectionStatus, c: VismaCompany) -> Connection {
        Connection {
            status,
            company: Some(c),
            connected_at: None,
            connected_by: None,
            status_changed_at: Utc::now(),
            status_reason: None,
            last_sync_at: None,
            last_sync_result: None,
        }
    }

    #[test]
    fn same_company_is_decided_by_the_strongest_identity_both_have() {
        let a = company(Some("X1"), Some("556677-8899"), "Exempel AB");
        assert!(a.is_same_company(&company(Some("X1"), None, "Renamed AB")));
        assert!(!a.is_same_company(&company(Some("X2"), Some("556677-8899"), "Exempel AB")));
        assert!(a.is_same_company(&company(None, Some("556677-8899"), "Other name")));
        assert!(!a.is_same_company(&company(None, Some("559900-1122"), "Exempel AB")));
    }

    #[test]
    fn reconnecting_to_another_company_needs_a_disconnect_first() {
        let first = company(None, Some("556677-8899"), "Exempel AB");
        let other = company(None, Some("559900-1122"), "Andra Bolaget AB");
        assert_eq!(Connection::accepts(None, &other), Ok(()));
        for status in [ConnectionStatus::Connected, ConnectionStatus::Expired] {
            let existing = connection(status, first.clone());
            assert_eq!(
                Connection::accepts(Some(&existing), &other),
                Err(ConnectRefusal::DifferentVismaCompany)
            );
            assert_eq!(Connection::accepts(Some(&existing), &first), Ok(()));
        }
        let disconnected = connection(ConnectionStatus::Disconnected, first);
        assert_eq!(Connection::accepts(Some(&disconnected), &other), Ok(()));
    }
}
