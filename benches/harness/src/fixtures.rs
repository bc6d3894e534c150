//! Aourly payloads and tenants made ready the way the integration tests make them.

use app::Deps;
use domain::TenantId;
use serde_json::{json, Value};
use visma_sandbox::Sandbox;

pub fn customer(id: &str, number: &str) -> Value {
    json!({"id": id, "number": number, "name": format!("Kund {number} AB"), "is_private_person": false,
           "org_number": format!("55{number}-0000"), "vat_number": null, "email": "faktura@exempel.se",
           "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
           "currency": "SEK", "payment_terms_days": 30})
}

pub fn invoice(id: &str, number: &str, customer: Value) -> Value {
    let today = chrono::Utc::now().date_naive().to_string();
    json!({"id": id, "number": number, "customer": customer,
           "issue_date": today, "due_date": today,
           "currency": "SEK", "your_reference": "Anna Andersson", "our_reference": null,
           "lines": [{"description": "Konsulttimmar", "quantity": "12.5", "unit": "h",
                      "unit_price": "950.00", "vat_rate": "25", "discount_percent": "0"}],
           "totals": {"net": "11875.00", "vat": "2968.75", "gross": "14843.75"}})
}

pub fn invoice_event(event_id: &str, tenant: &str, invoice: Value) -> Value {
    json!({"id": event_id, "type": "invoice.created", "tenant": tenant,
           "created_at": chrono::Utc::now().to_rfc3339(), "data": {"invoice": invoice}})
}

/// Connects `tenant` to `company` and runs the first pull (which proposes the mapping), as
/// the integration tests' `ready` does. Panics when the mapping is incomplete.
pub async fn ready(deps: &Deps, sb: &Sandbox, tenant: &str, company: uuid::Uuid) -> TenantId {
    let tenant = TenantId::parse(tenant).expect("tenant id");
    integration_tests::connect_tenant(deps, sb, &tenant, company).await;
    app::pull::run(deps, &tenant).await.expect("first pull");
    let mapping = app::mapping::current(deps, &tenant)
        .await
        .expect("read the mapping")
        .expect("a proposed mapping");
    assert!(
        mapping.complete,
        "the sandbox company has codings for every rate"
    );
    tenant
}

/// Visma API requests (`/v2/...`) in the sandbox log, per `METHOD route`.
pub fn visma_requests(sb: &Sandbox) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for r in sb.request_log() {
        if r.route.starts_with("/v2/") {
            *counts
                .entry(format!("{} {}", r.method, r.route))
                .or_insert(0) += 1;
        }
    }
    counts
}

pub fn sum(counts: &std::collections::BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

pub fn describe(counts: &std::collections::BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The dependencies of a fresh service pointing at `sb` for Visma (table and queues created).
pub async fn deps_with_sandbox(sb: &Sandbox, overrides: &[(&str, &str)]) -> Deps {
    integration_tests::spawn_app_with_sandbox(sb, overrides)
        .await
        .deps
}

/// The integration tests' client over `deps` (which may be counted ones).
pub async fn test_app(deps: &Deps) -> integration_tests::TestApp {
    integration_tests::TestApp::new(deps.clone(), &integration_tests::aws().await)
}
