//! Outbound events to Aourly (CONTRACT §7): `{"id", "type", "tenant", "created_at", "data"}`.

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
        assert_eq!(
            serde_json::from_value::<OutboundEvent>(json).unwrap(),
            event
        );
    }
}
