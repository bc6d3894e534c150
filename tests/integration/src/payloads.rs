//! Aourly's webhook payloads (integration guide "Webhooks from Aourly"), built once for every test, and their signing.
//!
//! Two families: the "today" builders the push tests send through to Visma ([`customer`],
//! [`invoice`], [`event`], ...), and the fixed-date November ones the webhook tests compare
//! field by field ([`november_invoice`], [`event_at`], ...).

use serde_json::{json, Value};

use crate::internals::{self, RecordKind, WebhookEvent};

/// The webhook secret of the test configuration.
pub const WEBHOOK_SECRET: &[u8] = b"test-webhook-secret";

/// The signature header value for `body`, signed now with the test webhook secret.
pub fn signature(body: &[u8]) -> String {
    internals::sign(WEBHOOK_SECRET, chrono::Utc::now().timestamp(), body)
}

/// `POST /webhooks/aourly` with `event`, signed now with the test webhook secret.
pub fn signed_webhook_request(event: &Value) -> axum::http::Request<axum::body::Body> {
    let body = serde_json::to_vec(event).expect("event JSON");
    axum::http::Request::builder()
        .method("POST")
        .uri("/webhooks/aourly")
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header(internals::SIGNATURE_HEADER, signature(&body))
        .body(axum::body::Body::from(body))
        .expect("request")
}

pub fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

// ---------------------------------------------------------------- dated today, tenant acme

/// An Aourly customer: company `Kund {number} AB`, org number `55{number}-0000`.
pub fn customer(id: &str, number: &str) -> Value {
    json!({"id": id, "number": number, "name": format!("Kund {number} AB"), "is_private_person": false,
           "org_number": format!("55{number}-0000"), "vat_number": null, "email": "faktura@exempel.se",
           "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
           "currency": "SEK", "payment_terms_days": 30})
}

/// A private person: no customer number, no personal identity number.
pub fn person(id: &str, name: &str) -> Value {
    let mut person = customer(id, "0");
    person["number"] = Value::Null;
    person["org_number"] = Value::Null;
    person["is_private_person"] = json!(true);
    person["name"] = json!(name);
    person
}

/// An invoice issued today: 12.5 h at 950.00, 25 % VAT, 14,843.75 SEK.
pub fn invoice(id: &str, number: &str, customer: Value) -> Value {
    json!({"id": id, "number": number, "customer": customer,
           "issue_date": today(), "due_date": today(),
           "currency": "SEK", "your_reference": "Anna Andersson", "our_reference": null,
           "lines": [{"description": "Konsulttimmar", "quantity": "12.5", "unit": "h",
                      "unit_price": "950.00", "vat_rate": "25", "discount_percent": "0"}],
           "totals": {"net": "11875.00", "vat": "2968.75", "gross": "14843.75"}})
}

/// The invoice most tests push: `inv_1`, number 1042, 14,843.75 SEK, for customer `cus_1`
/// (number 10042).
pub fn invoice_1042() -> Value {
    invoice("inv_1", "1042", customer("cus_1", "10042"))
}

/// `invoice.credited` for the whole of invoice 1042's amount, crediting `credits`.
pub fn credit_note(id: &str, number: &str, credits: &str) -> Value {
    let mut credit = invoice(id, number, customer("cus_1", "10042"));
    credit["lines"][0]["quantity"] = json!("-12.5");
    credit["totals"] = json!({"net": "-11875.00", "vat": "-2968.75", "gross": "-14843.75"});
    event(
        &format!("evt_{id}"),
        "invoice.credited",
        json!({"invoice": credit, "credits_invoice_id": credits}),
    )
}

/// A voucher dated today: a train ticket, 800.00 + 6 % VAT.
pub fn voucher(id: &str) -> Value {
    json!({"id": id, "date": today(), "text": "Utlägg tåg", "rows": [
        {"account": "5800", "debit": "800.00", "credit": "0", "text": "Resa"},
        {"account": "2641", "debit": "48.00", "credit": "0", "text": "Moms 6%"},
        {"account": "1930", "debit": "0", "credit": "848.00", "text": null}]})
}

/// An event for tenant acme, created now.
pub fn event(id: &str, kind: &str, data: Value) -> Value {
    event_at(id, kind, "acme", &chrono::Utc::now().to_rfc3339(), data)
}

pub fn invoice_event(event_id: &str, invoice: Value) -> Value {
    event(event_id, "invoice.created", json!({"invoice": invoice}))
}

pub fn customer_event(event_id: &str, kind: &str, customer: Value) -> Value {
    event(event_id, kind, json!({"customer": customer}))
}

pub fn voucher_event(event_id: &str, voucher: Value) -> Value {
    event(event_id, "voucher.created", json!({"voucher": voucher}))
}

// ---------------------------------------------------------------- fixed November dates

/// Customer `Exempel Bygg AB`-style, number 10042, org number 556677-8899, named `name`.
pub fn named_customer(id: &str, name: &str) -> Value {
    json!({"id": id, "number": "10042", "name": name, "is_private_person": false,
           "org_number": "556677-8899", "vat_number": "SE556677889901", "email": "faktura@exempel.se",
           "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
           "currency": "SEK", "payment_terms_days": 30})
}

/// Invoice 1042 of 2026-11-20 for `cus_9`, 14,843.75 SEK.
pub fn november_invoice(id: &str) -> Value {
    json!({"id": id, "number": "1042", "customer": named_customer("cus_9", "Exempel Bygg AB"),
           "issue_date": "2026-11-20", "due_date": "2026-12-20",
           "currency": "SEK", "your_reference": "Anna Andersson", "our_reference": null,
           "lines": [{"description": "Konsulttimmar november", "quantity": "12.5", "unit": "h",
                      "unit_price": "950.00", "vat_rate": "25", "discount_percent": "0"}],
           "totals": {"net": "11875.00", "vat": "2968.75", "gross": "14843.75"}})
}

/// The voucher of 2026-11-21 (848.00, balanced).
pub fn november_voucher(id: &str) -> Value {
    json!({"id": id, "date": "2026-11-21", "text": "Utlägg tåg", "rows": [
             {"account": "5800", "debit": "800.00", "credit": "0", "text": "Resa"},
             {"account": "2641", "debit": "48.00", "credit": "0", "text": "Moms 6%"},
             {"account": "1930", "debit": "0", "credit": "848.00", "text": null}]})
}

/// Any event, for any tenant, created at `created_at`.
pub fn event_at(id: &str, kind: &str, tenant: &str, created_at: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "tenant": tenant, "created_at": created_at, "data": data})
}

/// `invoice.created` of [`november_invoice`] for `tenant`, created 2026-11-23 10:00.
pub fn november_invoice_event(id: &str, tenant: &str, invoice_id: &str) -> Value {
    event_at(
        id,
        "invoice.created",
        tenant,
        "2026-11-23T10:00:00Z",
        json!({"invoice": november_invoice(invoice_id)}),
    )
}

/// A customer without a number (org number 556677-8899), for items seeded straight into the
/// table.
pub fn unnumbered_customer(id: &str) -> Value {
    json!({"id": id, "number": null, "name": "Exempel Bygg AB", "is_private_person": false,
           "org_number": "556677-8899", "vat_number": null, "email": null,
           "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
           "currency": "SEK", "payment_terms_days": 30})
}

/// A parsed event of `kind` for record `id` (event id `evt_{id}`), tenant acme.
pub fn parsed_event(kind: RecordKind, id: &str) -> WebhookEvent {
    parsed_event_with_id(kind, id, &format!("evt_{id}"))
}

pub fn parsed_event_with_id(kind: RecordKind, id: &str, event_id: &str) -> WebhookEvent {
    let (kind, data) = match kind {
        RecordKind::Customer => (
            "customer.created",
            json!({"customer": unnumbered_customer(id)}),
        ),
        RecordKind::Invoice => (
            "invoice.created",
            json!({"invoice": {"id": id, "number": "1042", "customer": unnumbered_customer("cus_9"),
                "issue_date": "2026-11-20", "due_date": "2026-12-20", "currency": "SEK",
                "your_reference": null, "our_reference": null,
                "lines": [{"description": "Timmar", "quantity": "1", "unit": "h",
                           "unit_price": "100.00", "vat_rate": "25", "discount_percent": "0"}],
                "totals": {"net": "100.00", "vat": "25.00", "gross": "125.00"}}}),
        ),
        RecordKind::Voucher => (
            "voucher.created",
            json!({"voucher": {"id": id, "date": "2026-11-21", "text": "Utlägg", "rows": [
                {"account": "5800", "debit": "100.00", "credit": "0", "text": null},
                {"account": "1930", "debit": "0", "credit": "100.00", "text": null}]}}),
        ),
    };
    let body = json!({"id": event_id, "type": kind, "tenant": "acme",
                      "created_at": "2026-11-23T10:00:00Z", "data": data});
    internals::parse_event(&serde_json::to_vec(&body).unwrap()).unwrap()
}

// ---------------------------------------------------------------- what Visma holds

/// A customer as Visma's UI would create it (the fields Visma requires).
pub fn visma_customer(name: &str, number: Option<&str>, org_number: &str) -> Value {
    let mut c = json!({"Name": name, "IsPrivatePerson": false, "IsActive": true,
                       "CorporateIdentityNumber": org_number,
                       "InvoiceCity": "Stockholm", "InvoicePostalCode": "11122"});
    if let Some(n) = number {
        c["CustomerNumber"] = json!(n);
    }
    c
}

/// The Visma API requests in the sandbox log, as `METHOD route`, in order.
pub fn visma_requests(sb: &visma_sandbox::Sandbox) -> Vec<String> {
    sb.request_log()
        .iter()
        .filter(|r| r.route.starts_with("/v2/"))
        .map(|r| format!("{} {}", r.method, r.route))
        .collect()
}

/// How many of the first company's invoices carry `reference` (Aourly's number).
pub fn invoices_with_reference(sb: &visma_sandbox::Sandbox, reference: &str) -> usize {
    sb.customer_invoices(sb.companies()[0].id)
        .iter()
        .filter(|i| i["BuyersOrderReference"] == reference)
        .count()
}

/// The Visma customer id the invoice with `reference` was booked to.
pub fn invoice_customer_id(sb: &visma_sandbox::Sandbox, reference: &str) -> Value {
    sb.customer_invoices(crate::first_company(sb))
        .into_iter()
        .find(|i| i["BuyersOrderReference"] == reference)
        .unwrap_or_else(|| panic!("no invoice {reference}"))["CustomerId"]
        .clone()
}
