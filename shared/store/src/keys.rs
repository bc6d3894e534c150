//! The single-table layout: every item's keys are built here and nowhere else.
//!
//! | item | PK | SK | GSI1PK / GSI1SK |
//! |---|---|---|---|
//! | connection (status, Visma company) | `TENANT#{t}` | `CONNECTION` | `CONNECTED` / `TENANT#{t}` while connected (sparse) |
//! | Visma tokens (KMS-encrypted) | `TENANT#{t}` | `TOKENS` | |
//! | accounting-system claim (one per company, shared with other integrations) | `TENANT#{t}` | `ACCOUNTING_SYSTEM` | |
//! | OAuth state (TTL 10 min) | `OAUTH_STATE#{state}` | `OAUTH_STATE` | |
//! | webhook event (de-duplication) | `TENANT#{t}` | `EVENT#{event id}` | |
//! | sync item (state + the record's latest payload) | `TENANT#{t}` | `ITEM#{kind}#{aourly id}` | |
//! | account mapping | `TENANT#{t}` | `MAPPING` | |
//! | pull state (watermarks, pulled codings and VAT codes) | `TENANT#{t}` | `PULL_STATE` | |
//! | fiscal year | `TENANT#{t}` | `FISCAL_YEAR#{visma id}` | |
//! | chart of accounts of one fiscal year (pages of accounts) | `TENANT#{t}` | `ACCOUNTS#{fiscal year id}#{page}` | |
//! | voucher pulled from Visma | `TENANT#{t}` | `VOUCHER#{changed at}#{visma id}` | |
//!
//! `expires_at` (epoch seconds) is the table's TTL attribute.

use domain::TenantId;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The GSI1 partition that lists connected tenants, so the schedule never scans the table.
pub const CONNECTED_PARTITION: &str = "CONNECTED";

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

pub fn connection_sk() -> &'static str {
    "CONNECTION"
}

pub fn tokens_sk() -> &'static str {
    "TOKENS"
}

pub fn accounting_system_sk() -> &'static str {
    "ACCOUNTING_SYSTEM"
}

pub fn oauth_state_pk(state: &str) -> String {
    format!("OAUTH_STATE#{state}")
}

pub fn oauth_state_sk() -> &'static str {
    "OAUTH_STATE"
}

pub fn event_sk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

pub fn item_sk(kind: domain::RecordKind, aourly_id: &str) -> String {
    format!("ITEM#{}#{aourly_id}", kind_str(kind))
}

pub const ITEM_PREFIX: &str = "ITEM#";

pub fn kind_str(kind: domain::RecordKind) -> &'static str {
    match kind {
        domain::RecordKind::Invoice => "invoice",
        domain::RecordKind::Customer => "customer",
        domain::RecordKind::Voucher => "voucher",
    }
}

pub fn mapping_sk() -> &'static str {
    "MAPPING"
}

pub fn pull_state_sk() -> &'static str {
    "PULL_STATE"
}

/// The GSI1 sort key of a connected tenant; [`tenant_from_connected_sk`] reads it back.
pub fn connected_sk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

pub fn tenant_from_connected_sk(sk: &str) -> Option<TenantId> {
    sk.strip_prefix("TENANT#")
        .and_then(|raw| TenantId::parse(raw).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_sort_key_round_trips() {
        let t = TenantId::parse("acme-1").unwrap();
        assert_eq!(tenant_from_connected_sk(&connected_sk(&t)), Some(t));
        assert_eq!(tenant_from_connected_sk("OTHER#x"), None);
    }
}
