//! Every malformed class of webhook body: refused with the field at fault.

use super::*;

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
