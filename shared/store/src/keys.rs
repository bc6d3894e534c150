//! The single-table layout: every item's keys are built here and nowhere else.
//!
//! | item | PK | SK | GSI1PK / GSI1SK |
//! |---|---|---|---|
//! | connection (status, Visma company) | `TENANT#{t}` | `CONNECTION` | `CONNECTED` / `TENANT#{t}` while connected (sparse) |
//! | Visma tokens (KMS-encrypted) | `TENANT#{t}` | `TOKENS` | |
//! | accounting-system claim (one per company, shared with other integrations) | `TENANT#{t}` | `ACCOUNTING_SYSTEM` | |
//! | Visma company claim (one tenant per Visma company) | `VISMA_COMPANY#{company key}` | `TENANT` | |
//! | OAuth state (TTL 10 min) | `OAUTH_STATE#{state}` | `OAUTH_STATE` | |
//! | webhook event (de-duplication) | `TENANT#{t}` | `EVENT#{event id}` | |
//! | sync item (state + the record's latest payload) | `TENANT#{t}` | `ITEM#{kind}#{aourly id}` | (`GSI2PK` `TENANT#{t}#STATUS#{status}`) |
//! | customer link (Aourly customer → Visma customer id) | `TENANT#{t}` | `LINK#customer#{aourly id}` | |
//! | creation lease of a customer without a customer number (the pushing attempt's, 60 s, released when the outcome is known, TTL a day later) | `TENANT#{t}` | `CREATING#customer#{aourly id}` | |
//! | customer index: a Visma customer by customer number (pulled) | `TENANT#{t}` | `VISMA_CUSTOMER#number#{customer number}` | |
//! | customer index: a Visma customer by org number (pulled) | `TENANT#{t}` | `VISMA_CUSTOMER#org#{org number}` | |
//! | customer index: a Visma customer's current customer number and org number (what the two above are checked against) | `TENANT#{t}` | `VISMA_CUSTOMER#id#{visma id}` | |
//! | account mapping | `TENANT#{t}` | `MAPPING` | |
//! | pull state (watermarks, pulled codings, VAT codes and sales terms of payment, changes not yet announced) | `TENANT#{t}` | `PULL_STATE` | |
//! | fiscal year | `TENANT#{t}` | `FISCAL_YEAR#{visma id}` | |
//! | chart of accounts of one fiscal year (pages of accounts) | `TENANT#{t}` | `ACCOUNTS#{fiscal year id}#{page}` | |
//! | voucher pulled from Visma | `TENANT#{t}` | `VOUCHER#{changed at}#{visma id}` | |
//! | pulled voucher's current version (de-duplication by id) | `TENANT#{t}` | `VOUCHER_ID#{visma id}` | |
//! | voucher this service pushed (never delivered back to Aourly) | `TENANT#{t}` | `PUSHED_VOUCHER#{visma id}` | |
//!
//! | Visma send schedule per route (shared by all tenants) | `RATE#{client id}` | `{method} {route}` | |
//!
//! `GSI2` (`GSI2PK` HASH, `SK` RANGE, keys only) holds just the sync items, by tenant and
//! status: the status page counts each status there, and lists failed or blocked items,
//! without reading the whole history.
//!
//! `expires_at` (epoch seconds) is the table's TTL attribute.

use domain::TenantId;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The GSI1 partition that lists connected tenants, so the schedule never scans the table.
pub const CONNECTED_PARTITION: &str = "CONNECTED";

/// The GSI2 partition of a tenant's sync items with `status` (`pending`, `synced`, …).
pub fn item_status_pk(tenant: &TenantId, status: &str) -> String {
    format!("{}#STATUS#{status}", tenant_pk(tenant))
}

/// The partition of the Visma send schedule of one client id (every tenant's routes).
pub fn rate_pk(client_id: &str) -> String {
    format!("RATE#{client_id}")
}

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

pub fn visma_company_pk(company_key: &str) -> String {
    format!("VISMA_COMPANY#{company_key}")
}

pub fn visma_company_sk() -> &'static str {
    "TENANT"
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
    format!("ITEM#{}#{aourly_id}", kind.as_str())
}

pub const ITEM_PREFIX: &str = "ITEM#";

/// The Visma customer an Aourly customer is linked to.
pub fn customer_link_sk(aourly_id: &str) -> String {
    format!("LINK#customer#{aourly_id}")
}

/// The short lease a push holds while it creates a customer without a customer number in
/// Visma (nothing in Visma refuses a second one).
pub fn customer_creation_sk(aourly_id: &str) -> String {
    format!("CREATING#customer#{aourly_id}")
}

/// The customer index item for a Visma customer number or org number (the pull writes them,
/// the push reads them to match an Aourly customer without asking Visma).
pub fn visma_customer_sk(key: domain::pull::CustomerKey, value: &str) -> String {
    let kind = match key {
        domain::pull::CustomerKey::Number => "number",
        domain::pull::CustomerKey::OrgNumber => "org",
    };
    format!("VISMA_CUSTOMER#{kind}#{value}")
}

/// The customer index item holding a Visma customer's current customer number and org number:
/// an index entry naming that customer is believed only while they still match it (entries
/// left behind by a change are never removed).
pub fn visma_customer_keys_sk(visma_id: &str) -> String {
    format!("VISMA_CUSTOMER#id#{visma_id}")
}

pub fn mapping_sk() -> &'static str {
    "MAPPING"
}

pub fn pull_state_sk() -> &'static str {
    "PULL_STATE"
}

pub const FISCAL_YEAR_PREFIX: &str = "FISCAL_YEAR#";

pub fn fiscal_year_sk(id: &str) -> String {
    format!("{FISCAL_YEAR_PREFIX}{id}")
}

/// The prefix of every chart page of one fiscal year (the `#` keeps ids that are prefixes of
/// others apart).
pub fn accounts_prefix(fiscal_year_id: &str) -> String {
    format!("ACCOUNTS#{fiscal_year_id}#")
}

/// A chart page; the page number is zero-padded so pages sort in order.
pub fn accounts_sk(fiscal_year_id: &str, page: usize) -> String {
    format!("ACCOUNTS#{fiscal_year_id}#{page:04}")
}

pub const VOUCHER_PREFIX: &str = "VOUCHER#";

/// Fixed-width UTC with microseconds, so sort keys order chronologically.
fn sortable_time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn voucher_sk(changed_at: &chrono::DateTime<chrono::Utc>, visma_id: &str) -> String {
    format!("{VOUCHER_PREFIX}{}#{visma_id}", sortable_time(changed_at))
}

/// The lowest voucher sort key changed at or after `since`.
pub fn voucher_since_bound(since: &chrono::DateTime<chrono::Utc>) -> String {
    format!("{VOUCHER_PREFIX}{}", sortable_time(since))
}

/// Above every voucher sort key (`~` sorts after every digit), and below `VOUCHER_ID#...`
/// (`#` sorts before `_`), so a range query reads vouchers only.
pub fn voucher_upper_bound() -> String {
    format!("{VOUCHER_PREFIX}~")
}

pub fn voucher_id_sk(visma_id: &str) -> String {
    format!("VOUCHER_ID#{visma_id}")
}

pub const PUSHED_VOUCHER_PREFIX: &str = "PUSHED_VOUCHER#";

pub fn pushed_voucher_sk(visma_id: &str) -> String {
    format!("{PUSHED_VOUCHER_PREFIX}{visma_id}")
}

/// The prefix of every sync item of one kind.
pub fn item_prefix(kind: domain::RecordKind) -> String {
    format!("{ITEM_PREFIX}{}#", kind.as_str())
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
    fn voucher_keys_sort_by_time_and_stay_apart_from_pointers() {
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let a = voucher_sk(&t("2026-05-01T08:00:00Z"), "b");
        let b = voucher_sk(&t("2026-05-01T08:00:00.5Z"), "a");
        let c = voucher_sk(&t("2026-05-01T10:00:00Z"), "a");
        assert!(a < b && b < c);
        assert!(voucher_since_bound(&t("2026-05-01T08:00:00Z")) <= a);
        assert!(c < voucher_upper_bound());
        assert!(voucher_upper_bound() < voucher_id_sk("a"));
        assert!(accounts_sk("fy", 2) < accounts_sk("fy", 10));
    }

    #[test]
    fn customer_index_keys_keep_numbers_and_org_numbers_apart() {
        use domain::pull::CustomerKey;
        assert_eq!(
            visma_customer_sk(CustomerKey::Number, "10042"),
            "VISMA_CUSTOMER#number#10042"
        );
        assert_eq!(
            visma_customer_sk(CustomerKey::OrgNumber, "556677-8899"),
            "VISMA_CUSTOMER#org#556677-8899"
        );
        assert_ne!(
            visma_customer_sk(CustomerKey::Number, "556677-8899"),
            visma_customer_sk(CustomerKey::OrgNumber, "556677-8899")
        );
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(
            visma_customer_keys_sk(id),
            format!("VISMA_CUSTOMER#id#{id}")
        );
        assert_ne!(
            visma_customer_keys_sk(id),
            visma_customer_sk(CustomerKey::Number, id)
        );
        assert_ne!(
            visma_customer_keys_sk(id),
            visma_customer_sk(CustomerKey::OrgNumber, id)
        );
    }

    #[test]
    fn connected_sort_key_round_trips() {
        let t = TenantId::parse("acme-1").unwrap();
        assert_eq!(tenant_from_connected_sk(&connected_sk(&t)), Some(t));
        assert_eq!(tenant_from_connected_sk("OTHER#x"), None);
    }
}
