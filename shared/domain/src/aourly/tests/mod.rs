use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::*;

fn customer_json() -> Value {
    json!({"id": "cus_9", "number": "10042", "name": "Exempel Bygg AB", "is_private_person": false,
           "org_number": "556677-8899", "vat_number": "SE556677889901", "email": "faktura@exempel.se",
           "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
           "currency": "SEK", "payment_terms_days": 30})
}

/// The contract's own example invoice (integration guide "Webhooks from Aourly").
fn invoice_json() -> Value {
    json!({"id": "inv_123", "number": "1042", "customer": customer_json(), "issue_date": "2026-11-20", "due_date": "2026-12-20",
           "currency": "SEK", "your_reference": "Anna Andersson", "our_reference": null,
           "lines": [{"description": "Konsulttimmar november", "quantity": "12.5", "unit": "h",
                      "unit_price": "950.00", "vat_rate": "25", "discount_percent": "0"}],
           "totals": {"net": "11875.00", "vat": "2968.75", "gross": "14843.75"}})
}

fn voucher_json() -> Value {
    json!({"id": "vch_7", "date": "2026-11-21", "text": "Utlägg tåg", "rows": [
             {"account": "5800", "debit": "800.00", "credit": "0", "text": "Resa"},
             {"account": "2641", "debit": "48.00", "credit": "0", "text": "Moms 6%"},
             {"account": "1930", "debit": "0", "credit": "848.00", "text": null}]})
}

fn event(kind: &str, data: Value) -> Value {
    json!({"id": "evt_01J", "type": kind, "tenant": "acme", "created_at": "2026-11-23T10:00:00Z", "data": data})
}

fn invoice_event() -> Value {
    event("invoice.created", json!({"invoice": invoice_json()}))
}

/// A credit note for the example invoice: the same line with a negative quantity.
fn credit_event() -> Value {
    let mut invoice = invoice_json();
    invoice["id"] = json!("inv_124");
    invoice["lines"][0]["quantity"] = json!("-12.5");
    invoice["totals"] = json!({"net": "-11875.00", "vat": "-2968.75", "gross": "-14843.75"});
    event(
        "invoice.credited",
        json!({"invoice": invoice, "credits_invoice_id": "inv_123"}),
    )
}

fn voucher_event() -> Value {
    event("voucher.created", json!({"voucher": voucher_json()}))
}

fn parse(value: &Value) -> Result<WebhookEvent, InvalidEvent> {
    parse_event(&serde_json::to_vec(value).unwrap())
}

/// Parses, expecting failure with `code`, and returns the error.
fn rejected(value: &Value, code: &str) -> InvalidEvent {
    let err = parse(value).expect_err("should be rejected");
    assert_eq!(err.code, code, "{err}");
    err
}

/// Asserts that the error names `field` with a message containing `needle`.
fn names(err: &InvalidEvent, field: &str, needle: &str) {
    let e = err
        .error_at(field)
        .unwrap_or_else(|| panic!("no error at {field}: {err}"));
    assert!(
        e.message.contains(needle),
        "{field}: {:?} lacks {needle:?}",
        e.message
    );
}

fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

// ---- valid events ----

#[test]
fn the_contract_example_invoice_parses() {
    let event = parse(&invoice_event()).unwrap();
    assert_eq!(event.id().as_str(), "evt_01J");
    assert_eq!(event.kind(), EventKind::InvoiceCreated);
    assert_eq!(event.tenant().as_str(), "acme");
    assert_eq!(event.created_at().to_rfc3339(), "2026-11-23T10:00:00+00:00");
    let EventData::InvoiceCreated(invoice) = event.data() else {
        panic!("wrong data: {:?}", event.data());
    };
    assert_eq!(invoice.id().as_str(), "inv_123");
    assert_eq!(invoice.number(), "1042");
    assert_eq!(
        invoice.issue_date(),
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    );
    assert_eq!(invoice.your_reference(), Some("Anna Andersson"));
    assert_eq!(invoice.our_reference(), None);
    let line = &invoice.lines()[0];
    assert_eq!(line.quantity.value(), d("12.5"));
    assert_eq!(line.vat_rate, VatRate::TwentyFive);
    assert_eq!(line.discount_percent, Percent::ZERO);
    assert_eq!(line.net(), d("11875.00"));
    assert_eq!(invoice.totals().net.amount(), d("11875.00"));
    assert_eq!(invoice.totals().vat.amount(), d("2968.75"));
    assert_eq!(invoice.totals().gross.amount(), d("14843.75"));
    assert_eq!(
        compute_totals(invoice.lines()).as_ref(),
        Some(invoice.totals())
    );
    let customer = invoice.customer();
    assert_eq!(customer.org_number.as_deref(), Some("556677-8899"));
    assert_eq!(customer.address.line2, None);
    assert_eq!(customer.address.country_code.as_str(), "SE");
    assert_eq!(customer.payment_terms_days, 30);
    assert!(!customer.is_private_person);
    assert_eq!(event.data().record_id().as_str(), "inv_123");
    assert_eq!(event.kind().record_kind(), RecordKind::Invoice);
}

#[test]
fn customer_voucher_and_credit_events_parse() {
    let created = parse(&event(
        "customer.created",
        json!({"customer": customer_json()}),
    ))
    .unwrap();
    assert!(matches!(created.data(), EventData::CustomerCreated(c) if c.name == "Exempel Bygg AB"));
    let updated = parse(&event(
        "customer.updated",
        json!({"customer": customer_json()}),
    ))
    .unwrap();
    assert_eq!(updated.kind(), EventKind::CustomerUpdated);
    assert!(matches!(updated.data(), EventData::CustomerUpdated(_)));

    let voucher = parse(&voucher_event()).unwrap();
    let EventData::VoucherCreated(v) = voucher.data() else {
        panic!()
    };
    assert_eq!(v.rows().len(), 3);
    assert_eq!(v.total(), d("848.00"));
    assert_eq!(v.rows()[0].account().as_u64(), 5800);
    assert_eq!(v.rows()[2].text(), None);

    let credit = parse(&credit_event()).unwrap();
    let EventData::InvoiceCredited {
        invoice,
        credits_invoice_id,
    } = credit.data()
    else {
        panic!()
    };
    assert_eq!(credits_invoice_id.as_str(), "inv_123");
    assert_eq!(invoice.totals().gross.amount(), d("-14843.75"));
}

#[test]
fn optional_fields_may_be_absent_and_unknown_fields_are_ignored() {
    let mut body = invoice_event();
    let invoice = &mut body["data"]["invoice"];
    invoice.as_object_mut().unwrap().remove("your_reference");
    invoice["lines"][0]
        .as_object_mut()
        .unwrap()
        .remove("discount_percent");
    invoice["lines"][0]["unit"] = Value::Null;
    invoice["something_new"] = json!({"x": 1});
    let customer = invoice["customer"].as_object_mut().unwrap();
    for key in ["number", "org_number", "vat_number", "email"] {
        customer.remove(key);
    }
    let event = parse(&body).unwrap();
    let EventData::InvoiceCreated(invoice) = event.data() else {
        panic!()
    };
    assert_eq!(invoice.lines()[0].discount_percent, Percent::ZERO);
    assert_eq!(invoice.customer().email, None);
}

#[test]
fn serializing_gives_back_the_contract_shape() {
    for body in [invoice_event(), credit_event(), voucher_event()] {
        let event = parse(&body).unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(parse(&json).unwrap(), event);
        let again: WebhookEvent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(again, event);
    }
    let json = serde_json::to_value(parse(&invoice_event()).unwrap()).unwrap();
    assert_eq!(json["type"], "invoice.created");
    assert_eq!(json["data"]["invoice"]["totals"]["gross"], "14843.75");
    assert_eq!(json["data"]["invoice"]["lines"][0]["unit_price"], "950.00");
    assert_eq!(json["data"]["invoice"]["lines"][0]["vat_rate"], "25");
    assert_eq!(json["data"]["invoice"]["issue_date"], "2026-11-20");
    // Deserializing runs the same rules.
    let mut bad = invoice_event();
    bad["data"]["invoice"]["totals"]["net"] = json!("1.00");
    let err = serde_json::from_value::<WebhookEvent>(bad).unwrap_err();
    assert!(err.to_string().contains("data.invoice.totals.net"), "{err}");
}

#[test]
fn a_mixed_rate_invoice_with_discounts_totals_right() {
    let mut body = invoice_event();
    body["data"]["invoice"]["lines"] = json!([
        // 3 × 199.99 × 0.9 = 539.973 → 539.97
        {"description": "A", "quantity": "3", "unit_price": "199.99", "vat_rate": "25", "discount_percent": "10"},
        // 2.5 × 80.10 = 200.25
        {"description": "B", "quantity": "2.5", "unit_price": "80.10", "vat_rate": "12", "discount_percent": "0"},
        // 33.33 × 0.6667 = 22.221111 → 22.22
        {"description": "C", "quantity": "1", "unit_price": "33.33", "vat_rate": "6", "discount_percent": "33.33"},
        // 7 × 10.05 × 0.95 = 66.8325 → 66.83
        {"description": "D", "quantity": "7", "unit_price": "10.05", "vat_rate": "25.00", "discount_percent": "5"},
        {"description": "E", "quantity": "1", "unit_price": "500", "vat_rate": "0"}
    ]);
    // net 1329.27; VAT 25 %: 606.80 × 0.25 = 151.70, 12 %: 24.03, 6 %: 1.3332 → 1.33, 0 %: 0
    body["data"]["invoice"]["totals"] =
        json!({"net": "1329.27", "vat": "177.06", "gross": "1506.33"});
    let event = parse(&body).unwrap();
    let EventData::InvoiceCreated(invoice) = event.data() else {
        panic!()
    };
    let nets: Vec<Decimal> = invoice.lines().iter().map(InvoiceLine::net).collect();
    assert_eq!(
        nets,
        [
            d("539.97"),
            d("200.25"),
            d("22.22"),
            d("66.83"),
            d("500.00")
        ]
    );
    assert_eq!(
        invoice.vat_rates(),
        [
            VatRate::Zero,
            VatRate::Six,
            VatRate::Twelve,
            VatRate::TwentyFive
        ]
    );
    assert_eq!(
        invoice.lines()[2].discount_percent.as_fraction(),
        d("0.3333")
    );

    // The same lines with the VAT summed per line instead of per rate are refused.
    body["data"]["invoice"]["totals"]["vat"] = json!("177.07");
    let err = rejected(&body, "invalid_event");
    names(
        &err,
        "data.invoice.totals.vat",
        "expected 177.06, given 177.07",
    );
}

#[test]
fn vat_is_rounded_per_rate_not_per_line() {
    let mut body = invoice_event();
    let line = json!({"description": "x", "quantity": "1", "unit_price": "0.02", "vat_rate": "25"});
    body["data"]["invoice"]["lines"] = json!([line.clone(), line]);
    // Per line: round2(0.005) = 0.01 twice = 0.02. Per rate: round2(0.04 × 0.25) = 0.01.
    body["data"]["invoice"]["totals"] = json!({"net": "0.04", "vat": "0.01", "gross": "0.05"});
    assert!(parse(&body).is_ok());
    body["data"]["invoice"]["totals"] = json!({"net": "0.04", "vat": "0.02", "gross": "0.06"});
    let err = rejected(&body, "invalid_event");
    names(&err, "data.invoice.totals.vat", "expected 0.01, given 0.02");
    names(
        &err,
        "data.invoice.totals.gross",
        "expected 0.05, given 0.06",
    );
}

mod properties;
mod rejected;
