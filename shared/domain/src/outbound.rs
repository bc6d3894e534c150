//! Outbound events to Aourly (integration guide "Outbound events"): `{"id", "type", "tenant", "created_at", "data"}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TenantId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboundType {
    #[serde(rename = "visma.connection.connected")]
    ConnectionConnected,
    #[serde(rename = "visma.connection.expired")]
    ConnectionExpired,
    #[serde(rename = "visma.invoice.synced")]
    InvoiceSynced,
    #[serde(rename = "visma.item.failed")]
    ItemFailed,
    #[serde(rename = "visma.item.blocked")]
    ItemBlocked,
    #[serde(rename = "visma.accounts.updated")]
    AccountsUpdated,
    #[serde(rename = "visma.fiscal_years.updated")]
    FiscalYearsUpdated,
    #[serde(rename = "visma.vouchers.pulled")]
    VouchersPulled,
}

impl OutboundType {
    /// The wire name (`type` of the event).
    pub fn as_str(&self) -> &'static str {
        match self {
            OutboundType::ConnectionConnected => "visma.connection.connected",
            OutboundType::ConnectionExpired => "visma.connection.expired",
            OutboundType::InvoiceSynced => "visma.invoice.synced",
            OutboundType::ItemFailed => "visma.item.failed",
            OutboundType::ItemBlocked => "visma.item.blocked",
            OutboundType::AccountsUpdated => "visma.accounts.updated",
            OutboundType::FiscalYearsUpdated => "visma.fiscal_years.updated",
            OutboundType::VouchersPulled => "visma.vouchers.pulled",
        }
    }
}

/// Compares with a wire name, as the contract writes it.
impl PartialEq<&str> for OutboundType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: OutboundType,
    pub tenant: TenantId,
    pub created_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_contract_shape() {
        let event = OutboundEvent {
            id: "evt_1".into(),
            kind: OutboundType::InvoiceSynced,
            tenant: TenantId::parse("acme").unwrap(),
            created_at: DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
                .unwrap()
                .into(),
            data: serde_json::json!({"id": "inv_1", "visma_id": "x", "visma_number": "1001"}),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "visma.invoice.synced");
        assert_eq!(json["tenant"], "acme");
        assert_eq!(json["created_at"], "2026-11-23T10:00:00Z");
        for kind in [
            OutboundType::ConnectionConnected,
            OutboundType::ConnectionExpired,
            OutboundType::InvoiceSynced,
            OutboundType::ItemFailed,
            OutboundType::ItemBlocked,
            OutboundType::AccountsUpdated,
            OutboundType::FiscalYearsUpdated,
            OutboundType::VouchersPulled,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(
            serde_json::from_value::<OutboundEvent>(json).unwrap(),
            event
        );
    }
}
