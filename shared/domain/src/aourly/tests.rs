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

/// The contract's own example invoice (CONTRACT §6).
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

// ---- every malformed class of CONTRACT §6 ----

#[test]
fn invalid_json() {
    let err = parse_event(b"{\"id\": ").unwrap_err();
    assert_eq!(err.code, "invalid_json");
    names(&err, "body", "not valid JSON");
    assert_eq!(parse_event(b"").unwrap_err().code, "invalid_json");
    let err = parse_event(b"[1, 2]").unwrap_err();
    assert_eq!(err.code, "invalid_event");
    names(&err, "body", "must be an object");
}

#[test]
fn unknown_type() {
    let err = rejected(&event("invoice.deleted", json!({})), "unknown_type");
    names(&err, "type", "not a known event type");
    assert!(!err.error_at("type").unwrap().message.contains("deleted"));
    let mut body = event("invoice.deleted", json!({}));
    body["tenant"] = json!("bad tenant");
    let err = rejected(&body, "unknown_type");
    assert!(err.error_at("tenant").is_some(), "{err}");
    // A type that is not a string, or none at all, is an invalid event.
    let mut body = invoice_event();
    body["type"] = json!(7);
    names(
        &rejected(&body, "invalid_event"),
        "type",
        "must be a string",
    );
    body.as_object_mut().unwrap().remove("type");
    names(&rejected(&body, "invalid_event"), "type", "is required");
}

#[test]
fn missing_required_fields_are_all_reported() {
    let mut body = invoice_event();
    let root = body.as_object_mut().unwrap();
    root.remove("id");
    root.remove("created_at");
    let invoice = body["data"]["invoice"].as_object_mut().unwrap();
    invoice.remove("issue_date");
    invoice.insert("currency".into(), Value::Null);
    let customer = body["data"]["invoice"]["customer"].as_object_mut().unwrap();
    customer.remove("name");
    customer["address"].as_object_mut().unwrap().remove("city");
    body["data"]["invoice"]["lines"][0]
        .as_object_mut()
        .unwrap()
        .remove("vat_rate");
    body["data"]["invoice"]["totals"]
        .as_object_mut()
        .unwrap()
        .remove("gross");
    let err = rejected(&body, "invalid_event");
    for field in [
        "id",
        "created_at",
        "data.invoice.issue_date",
        "data.invoice.currency",
        "data.invoice.customer.name",
        "data.invoice.customer.address.city",
        "data.invoice.lines[0].vat_rate",
        "data.invoice.totals.gross",
    ] {
        names(&err, field, "is required");
    }
    assert_eq!(err.errors.len(), 8, "{err}");

    let body = event("invoice.created", json!({}));
    names(
        &rejected(&body, "invalid_event"),
        "data.invoice",
        "is required",
    );
    let mut body = invoice_event();
    body.as_object_mut().unwrap().remove("data");
    names(&rejected(&body, "invalid_event"), "data", "is required");
    let body = event("voucher.created", json!({"voucher": []}));
    names(
        &rejected(&body, "invalid_event"),
        "data.voucher",
        "must be an object",
    );
}

/// Visma keeps the number as `Aourly <number>` in `BuyersOrderReference` (35 characters): a
/// longer one is refused here, not blocked in Visma later.
#[test]
fn an_invoice_number_fits_visma_s_reference_field() {
    let mut body = invoice_event();
    body["data"]["invoice"]["number"] = json!("1".repeat(INVOICE_NUMBER_MAX));
    assert!(parse(&body).is_ok());
    body["data"]["invoice"]["number"] = json!("1".repeat(INVOICE_NUMBER_MAX + 1));
    names(
        &rejected(&body, "invalid_event"),
        "data.invoice.number",
        "at most 28",
    );
}

#[test]
fn an_invoice_needs_at_least_one_line() {
    let mut body = invoice_event();
    body["data"]["invoice"]["lines"] = json!([]);
    names(
        &rejected(&body, "invalid_event"),
        "data.invoice.lines",
        "at least one line",
    );
    body["data"]["invoice"]["lines"] = json!({});
    names(
        &rejected(&body, "invalid_event"),
        "data.invoice.lines",
        "must be an array",
    );
}

#[test]
fn three_decimal_amounts() {
    let mut body = invoice_event();
    body["data"]["invoice"]["lines"][0]["unit_price"] = json!("950.001");
    body["data"]["invoice"]["lines"][0]["quantity"] = json!("12.505");
    body["data"]["invoice"]["totals"]["vat"] = json!("2968.750");
    let err = rejected(&body, "invalid_event");
    names(
        &err,
        "data.invoice.lines[0].unit_price",
        "at most 2 decimals",
    );
    names(&err, "data.invoice.lines[0].quantity", "at most 2 decimals");
    names(&err, "data.invoice.totals.vat", "at most 2 decimals");
}

#[test]
fn numbers_instead_of_strings() {
    let mut body = invoice_event();
    body["data"]["invoice"]["lines"][0]["unit_price"] = json!(950.00);
    body["data"]["invoice"]["lines"][0]["quantity"] = json!(12.5);
    body["data"]["invoice"]["lines"][0]["vat_rate"] = json!(25);
    body["data"]["invoice"]["lines"][0]["discount_percent"] = json!(0);
    body["data"]["invoice"]["totals"]["net"] = json!(11875);
    let err = rejected(&body, "invalid_event");
    for field in [
        "data.invoice.lines[0].unit_price",
        "data.invoice.lines[0].quantity",
        "data.invoice.lines[0].vat_rate",
        "data.invoice.lines[0].discount_percent",
        "data.invoice.totals.net",
    ] {
        names(&err, field, "must be a decimal string");
    }
    let mut body = voucher_event();
    body["data"]["voucher"]["rows"][0]["debit"] = json!(800);
    body["data"]["voucher"]["rows"][0]["account"] = json!(5800);
    let err = rejected(&body, "invalid_event");
    names(
        &err,
        "data.voucher.rows[0].debit",
        "must be a decimal string",
    );
    names(&err, "data.voucher.rows[0].account", "must be a string");
}

#[test]
fn other_bad_amounts() {
    let mut body = invoice_event();
    body["data"]["invoice"]["lines"][0]["unit_price"] = json!("1e3");
    body["data"]["invoice"]["lines"][0]["vat_rate"] = json!("24");
    body["data"]["invoice"]["lines"][0]["discount_percent"] = json!("101");
    body["data"]["invoice"]["totals"]["gross"] = json!("");
    let err = rejected(&body, "invalid_event");
    names(&err, "data.invoice.lines[0].unit_price", "decimal string");
    names(&err, "data.invoice.lines[0].vat_rate", "VAT rates");
    names(
        &err,
        "data.invoice.lines[0].discount_percent",
        "between 0 and 100",
    );
    names(&err, "data.invoice.totals.gross", "must not be empty");
}

#[test]
fn negative_quantity_on_invoice_created() {
    let mut body = invoice_event();
    body["data"]["invoice"]["lines"][0]["quantity"] = json!("-12.5");
    body["data"]["invoice"]["totals"] =
        json!({"net": "-11875.00", "vat": "-2968.75", "gross": "-14843.75"});
    let err = rejected(&body, "invalid_event");
    names(
        &err,
        "data.invoice.lines[0].quantity",
        "must be positive on invoice.created",
    );
    names(&err, "data.invoice.totals.gross", "must not be negative");
    body["data"]["invoice"]["lines"][0]["quantity"] = json!("0");
    names(
        &rejected(&body, "invalid_event"),
        "data.invoice.lines[0].quantity",
        "must be positive",
    );
}

#[test]
fn negative_gross_on_invoice_created() {
    // Positive quantities, but a negative unit price makes the invoice negative.
    let mut body = invoice_event();
    body["data"]["invoice"]["lines"][0]["unit_price"] = json!("-950.00");
    body["data"]["invoice"]["totals"] =
        json!({"net": "-11875.00", "vat": "-2968.75", "gross": "-14843.75"});
    let err = rejected(&body, "invalid_event");
    names(&err, "data.invoice.totals.gross", "must not be negative");
    assert_eq!(err.errors.len(), 1, "{err}");
}

#[test]
fn positive_quantity_on_invoice_credited() {
    let mut body = credit_event();
    body["data"]["invoice"]["lines"][0]["quantity"] = json!("12.5");
    body["data"]["invoice"]["totals"] =
        json!({"net": "11875.00", "vat": "2968.75", "gross": "14843.75"});
    names(
        &rejected(&body, "invalid_event"),
        "data.invoice.lines[0].quantity",
        "must be negative on invoice.credited",
    );
}

#[test]
fn credited_invoice_needs_the_credited_id() {
    let mut body = credit_event();
    body["data"]
        .as_object_mut()
        .unwrap()
        .remove("credits_invoice_id");
    names(
        &rejected(&body, "invalid_event"),
        "data.credits_invoice_id",
        "is required",
    );
    body["data"]["credits_invoice_id"] = json!("inv_124");
    names(
        &rejected(&body, "invalid_event"),
        "data.credits_invoice_id",
        "another invoice",
    );
    body["data"]["credits_invoice_id"] = json!("");
    names(
        &rejected(&body, "invalid_event"),
        "data.credits_invoice_id",
        "must not be empty",
    );
}

#[test]
fn totals_mismatches_name_their_field() {
    for (field, given, expected) in [
        ("net", "11875.01", "11875.00"),
        ("vat", "2968.74", "2968.75"),
        ("gross", "14843.76", "14843.75"),
    ] {
        let mut body = invoice_event();
        body["data"]["invoice"]["totals"][field] = json!(given);
        let err = rejected(&body, "invalid_event");
        names(
            &err,
            &format!("data.invoice.totals.{field}"),
            &format!("expected {expected}, given {given}"),
        );
        assert_eq!(err.errors.len(), 1, "{err}");
    }
}

#[test]
fn unbalanced_voucher() {
    let mut body = voucher_event();
    body["data"]["voucher"]["rows"][2]["credit"] = json!("847.99");
    let err = rejected(&body, "invalid_event");
    names(&err, "data.voucher.rows", "must balance");
    names(&err, "data.voucher.rows", "848.00");
    names(&err, "data.voucher.rows", "847.99");
}

#[test]
fn voucher_rows_with_both_or_neither_side() {
    let mut body = voucher_event();
    body["data"]["voucher"]["rows"][1]["credit"] = json!("48.00");
    body["data"]["voucher"]["rows"][2]["credit"] = json!("0");
    body["data"]["voucher"]["rows"][2]["debit"] = json!("0.00");
    let err = rejected(&body, "invalid_event");
    names(&err, "data.voucher.rows[1]", "not both");
    names(&err, "data.voucher.rows[2]", "both are zero");

    let mut body = voucher_event();
    body["data"]["voucher"]["rows"][0]["debit"] = json!("-800.00");
    body["data"]["voucher"]["rows"][0]["account"] = json!("58a0");
    let err = rejected(&body, "invalid_event");
    names(&err, "data.voucher.rows[0].debit", "must not be negative");
    names(&err, "data.voucher.rows[0].account", "account number");
}

#[test]
fn a_voucher_needs_two_rows() {
    let mut body = voucher_event();
    body["data"]["voucher"]["rows"] =
        json!([{"account": "1930", "debit": "0", "credit": "0", "text": null}]);
    let err = rejected(&body, "invalid_event");
    names(&err, "data.voucher.rows", "at least 2 rows");
    // The row's own problem is reported too.
    names(&err, "data.voucher.rows[0]", "both are zero");
}

#[test]
fn bad_dates() {
    let mut body = invoice_event();
    body["data"]["invoice"]["issue_date"] = json!("2026-02-30");
    body["data"]["invoice"]["due_date"] = json!("2026-12-20T00:00:00Z");
    let err = rejected(&body, "invalid_event");
    names(&err, "data.invoice.issue_date", "is not a valid date");
    names(&err, "data.invoice.due_date", "YYYY-MM-DD");

    let mut body = invoice_event();
    body["data"]["invoice"]["due_date"] = json!("2026-11-19");
    names(
        &rejected(&body, "invalid_event"),
        "data.invoice.due_date",
        "before issue_date",
    );

    let mut body = voucher_event();
    body["data"]["voucher"]["date"] = json!("2026-2-3");
    body["created_at"] = json!("yesterday");
    let err = rejected(&body, "invalid_event");
    names(&err, "data.voucher.date", "YYYY-MM-DD");
    names(&err, "created_at", "RFC 3339");
}

#[test]
fn bad_tenant_and_envelope() {
    for tenant in [json!("bad tenant"), json!(""), json!(42)] {
        let mut body = invoice_event();
        body["tenant"] = tenant;
        let err = rejected(&body, "invalid_event");
        assert!(err.error_at("tenant").is_some(), "{err}");
        assert_eq!(err.errors.len(), 1, "{err}");
    }
    let mut body = invoice_event();
    body["id"] = json!(" evt");
    names(&rejected(&body, "invalid_event"), "id", "whitespace");
}

#[test]
fn customer_field_rules() {
    let mut c = customer_json();
    c["email"] = json!("not-an-email");
    c["address"]["country_code"] = json!("Sweden");
    c["currency"] = json!("kr");
    c["payment_terms_days"] = json!(366);
    c["is_private_person"] = json!("no");
    c["number"] = json!("12345678901234567");
    c["name"] = json!("   ");
    let err = rejected(
        &event("customer.updated", json!({"customer": c})),
        "invalid_event",
    );
    names(&err, "data.customer.email", "e-mail");
    names(&err, "data.customer.address.country_code", "2-letter");
    names(&err, "data.customer.currency", "3-letter");
    names(&err, "data.customer.payment_terms_days", "0 to 365");
    names(&err, "data.customer.is_private_person", "true or false");
    names(&err, "data.customer.number", "at most 16");
    names(&err, "data.customer.name", "blank");
    assert_eq!(err.errors.len(), 7, "{err}");

    let mut c = customer_json();
    c["payment_terms_days"] = json!("30");
    let err = rejected(
        &event("customer.created", json!({"customer": c})),
        "invalid_event",
    );
    names(&err, "data.customer.payment_terms_days", "whole number");
    let mut c = customer_json();
    c["payment_terms_days"] = json!(0);
    c["name"] = json!("  Trimmed AB ");
    let ok = parse(&event("customer.created", json!({"customer": c}))).unwrap();
    let EventData::CustomerCreated(c) = ok.data() else {
        panic!()
    };
    assert_eq!((c.payment_terms_days, c.name.as_str()), (0, "Trimmed AB"));
}

#[test]
fn errors_in_many_lines_are_collected_in_one_pass() {
    let mut body = invoice_event();
    let line = body["data"]["invoice"]["lines"][0].clone();
    body["data"]["invoice"]["lines"] = json!([line.clone(), line.clone(), line]);
    body["data"]["invoice"]["lines"][0]["vat_rate"] = json!("24");
    body["data"]["invoice"]["lines"][2]["vat_rate"] = json!(null);
    body["data"]["invoice"]["lines"][2]["quantity"] = json!("-1");
    body["data"]["invoice"]["customer"]["address"]["country_code"] = json!("se");
    let err = rejected(&body, "invalid_event");
    let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "data.invoice.customer.address.country_code",
            "data.invoice.lines[0].vat_rate",
            "data.invoice.lines[2].quantity",
            "data.invoice.lines[2].vat_rate",
        ]
    );
    // Totals are not checked against lines that are themselves invalid.
    assert!(err.error_at("data.invoice.totals.net").is_none());
}

// ---- properties ----

/// One line as (quantity cents, unit price cents, discount hundredths of a percent, rate).
type RawLineCents = (i64, i64, i64, &'static str);

fn line_strategy() -> impl Strategy<Value = RawLineCents> {
    (
        1_i64..=1_000_000,
        0_i64..=100_000_000,
        prop_oneof![Just(0_i64), 0_i64..=10_000],
        prop::sample::select(vec!["25", "12", "6", "0"]),
    )
}

fn lines_json(lines: &[RawLineCents], sign: i64) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|(q, p, disc, rate)| {
                json!({"description": "x", "quantity": Decimal::new(q * sign, 2).to_string(),
                       "unit_price": Decimal::new(*p, 2).to_string(), "vat_rate": rate,
                       "discount_percent": Decimal::new(*disc, 2).to_string()})
            })
            .collect(),
    )
}

/// Visma's rule, independently, in integers: amounts in cents, rounding half away from zero.
fn reference_totals(lines: &[RawLineCents], sign: i64) -> (i128, i128, i128) {
    fn div_round(n: i128, d: i128) -> i128 {
        let (q, r) = (n / d, n % d);
        if 2 * r.abs() >= d {
            q + n.signum()
        } else {
            q
        }
    }
    let mut net = 0;
    let mut by_rate = std::collections::BTreeMap::<i128, i128>::new();
    for (q, p, disc, rate) in lines {
        // q, p in cents, (10000 − disc) in hundredths of a percent: 10^-8 units.
        let exact = i128::from(q * sign) * i128::from(*p) * i128::from(10_000 - disc);
        let cents = div_round(exact, 1_000_000);
        net += cents;
        *by_rate.entry(rate.parse().unwrap()).or_default() += cents;
    }
    let vat = by_rate
        .iter()
        .map(|(rate, cents)| div_round(cents * rate, 100))
        .sum::<i128>();
    (net, vat, net + vat)
}

/// Money always has scale 2, so its mantissa is in cents.
fn cents(m: Money) -> i128 {
    assert_eq!(m.amount().scale(), 2);
    m.amount().mantissa()
}

fn invoice_with(lines: &[RawLineCents], credit: bool) -> (Value, Totals) {
    let sign = if credit { -1 } else { 1 };
    let mut body = if credit {
        credit_event()
    } else {
        invoice_event()
    };
    body["data"]["invoice"]["lines"] = lines_json(lines, sign);
    // Build the lines through the parser of single values, then total them.
    let parsed: Vec<InvoiceLine> = lines
        .iter()
        .map(|(q, p, disc, rate)| InvoiceLine {
            description: "x".into(),
            quantity: Quantity::parse(&Decimal::new(q * sign, 2).to_string()).unwrap(),
            unit: None,
            unit_price: Money::parse(&Decimal::new(*p, 2).to_string()).unwrap(),
            vat_rate: VatRate::parse(rate).unwrap(),
            discount_percent: Percent::parse(&Decimal::new(*disc, 2).to_string()).unwrap(),
        })
        .collect();
    let totals = compute_totals(&parsed).unwrap();
    body["data"]["invoice"]["totals"] = serde_json::to_value(totals).unwrap();
    (body, totals)
}

proptest! {
    #[test]
    fn computed_totals_always_validate(lines in prop::collection::vec(line_strategy(), 1..8),
                                       credit in any::<bool>()) {
        let (body, totals) = invoice_with(&lines, credit);
        let (net, vat, gross) = reference_totals(&lines, if credit { -1 } else { 1 });
        prop_assert_eq!((cents(totals.net), cents(totals.vat), cents(totals.gross)), (net, vat, gross));
        let event = parse(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let invoice = match event.data() {
            EventData::InvoiceCreated(i) | EventData::InvoiceCredited { invoice: i, .. } => i,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(invoice.totals(), &totals);
    }

    #[test]
    fn a_total_off_by_one_cent_is_refused(lines in prop::collection::vec(line_strategy(), 1..8),
                                          which in prop::sample::select(vec!["net", "vat", "gross"]),
                                          up in any::<bool>(),
                                          credit in any::<bool>()) {
        let (mut body, _) = invoice_with(&lines, credit);
        let given = Decimal::from_str_exact(body["data"]["invoice"]["totals"][which].as_str().unwrap()).unwrap();
        let cent = Decimal::new(if up { 1 } else { -1 }, 2);
        body["data"]["invoice"]["totals"][which] = json!((given + cent).to_string());
        let err = parse(&body).expect_err("must be refused");
        let field = format!("data.invoice.totals.{which}");
        prop_assert!(
            err.errors.iter().any(|e| e.field == field && e.message.contains("expected")),
            "{}", err
        );
    }

    #[test]
    fn balanced_vouchers_pass_and_any_cent_breaks_them(
        debits in prop::collection::vec(100_i64..=100_000_000, 1..5),
        credit_rows in 1_usize..=4,
        change_row in any::<prop::sample::Index>(),
        change_zero_side in any::<bool>(),
        up in any::<bool>(),
    ) {
        let total: i64 = debits.iter().sum();
        let share = total / credit_rows as i64;
        let mut credits = vec![share; credit_rows];
        credits[0] += total - share * credit_rows as i64;
        let mut rows: Vec<(i64, i64)> = debits.iter().map(|d| (*d, 0)).collect();
        rows.extend(credits.iter().map(|c| (0, *c)));
        let to_json = |rows: &[(i64, i64)]| Value::Array(rows.iter().enumerate().map(|(i, (d, c))| json!({
            "account": (1000 + i).to_string(), "debit": Decimal::new(*d, 2).to_string(),
            "credit": Decimal::new(*c, 2).to_string(), "text": null})).collect());

        let mut body = voucher_event();
        body["data"]["voucher"]["rows"] = to_json(&rows);
        let event = parse(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let EventData::VoucherCreated(voucher) = event.data() else { unreachable!() };
        prop_assert_eq!(voucher.total(), Decimal::new(total, 2));

        let i = change_row.index(rows.len());
        let delta = if up { 1 } else { -1 };
        let (d, c) = &mut rows[i];
        let side = match (change_zero_side, *d == 0) {
            (false, false) | (true, true) => d,
            (false, true) | (true, false) => c,
        };
        *side += if *side == 0 { 1 } else { delta };
        body["data"]["voucher"]["rows"] = to_json(&rows);
        let err = parse(&body).expect_err("a one-cent change must be refused");
        let row_field = format!("data.voucher.rows[{i}]");
        prop_assert!(
            err.error_at("data.voucher.rows").is_some() || err.error_at(&row_field).is_some(),
            "{}", err
        );
    }

    #[test]
    fn money_strings_round_trip(cents in -999_999_999_999_999_i64..=999_999_999_999_999, short in any::<bool>()) {
        let value = Decimal::new(cents, 2);
        let text = if short { value.normalize().to_string() } else { value.to_string() };
        let money = Money::parse(&text).unwrap();
        prop_assert_eq!(money.amount(), value);
        prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money);
        prop_assert_eq!(Money::parse(&format!("{value}1")), Err(crate::AmountError::TooManyDecimals));
    }
}
