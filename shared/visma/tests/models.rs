use chrono::{NaiveDate, Timelike};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use visma::models::*;
use visma::{Page, PaginationMeta};

#[test]
fn decimals_round_trip_as_exact_json_numbers() {
    for (text, expected) in [
        ("14843.75", dec!(14843.75)),
        ("0.1", dec!(0.1)),
        ("950.00", dec!(950.00)),
        ("0.0001", dec!(0.0001)),
        ("-2968.75", dec!(-2968.75)),
        ("12345678.99", dec!(12345678.99)),
    ] {
        let json = format!(r#"{{"AccountNumber":3001,"DebitAmount":{text}}}"#);
        let row: VoucherRow = serde_json::from_str(&json).unwrap();
        assert_eq!(row.debit_amount, Some(expected));
        // Same digits as the wire, including trailing zeros.
        assert_eq!(row.debit_amount.unwrap().to_string(), text);
        let back = serde_json::to_string(&row).unwrap();
        assert_eq!(back, json, "written as a number, not a string");
    }
    // Through serde_json::Value (arbitrary precision) too.
    let value = json!({"AccountNumber": 1, "CreditAmount": 0.1});
    let row: VoucherRow = serde_json::from_value(value).unwrap();
    assert_eq!(row.credit_amount, Some(dec!(0.1)));
    // 0.1 + 0.2 is exactly 0.3 in Decimal; no float is involved anywhere.
    let sum: Decimal = row.credit_amount.unwrap() + dec!(0.2);
    assert_eq!(
        serde_json::to_string(&VoucherRow {
            credit_amount: Some(sum),
            ..row
        })
        .unwrap(),
        r#"{"AccountNumber":1,"CreditAmount":0.3}"#
    );
}

#[test]
fn integer_and_exponent_amounts_decode() {
    let row: VoucherRow =
        serde_json::from_str(r#"{"AccountNumber":1930,"DebitAmount":30000,"CreditAmount":null}"#)
            .unwrap();
    assert_eq!(row.debit_amount, Some(dec!(30000)));
    assert_eq!(row.credit_amount, None);
    let row: VoucherRow =
        serde_json::from_str(r#"{"AccountNumber":1930,"DebitAmount":1.5E2}"#).unwrap();
    assert_eq!(row.debit_amount, Some(dec!(150)));
}

#[test]
fn calendar_dates_in_three_forms() {
    for (raw, expected) in [
        ("2026-03-30", NaiveDate::from_ymd_opt(2026, 3, 30)),
        ("2026-08-20T00:00:00", NaiveDate::from_ymd_opt(2026, 8, 20)),
        (
            "2026-06-27T17:34:17.672816Z",
            NaiveDate::from_ymd_opt(2026, 6, 27),
        ),
    ] {
        let fy: FiscalYear = serde_json::from_value(json!({
            "Id": "0f7a0000-0000-4000-8000-000000002024",
            "StartDate": raw, "EndDate": raw, "IsLockedForAccounting": false
        }))
        .unwrap();
        assert_eq!(Some(fy.start_date), expected, "{raw}");
        let back = serde_json::to_value(&fy).unwrap();
        assert_eq!(
            back["StartDate"],
            expected.unwrap().format("%Y-%m-%d").to_string()
        );
    }
    let bad = serde_json::from_value::<FiscalYear>(json!({
        "Id": "0f7a0000-0000-4000-8000-000000002024", "StartDate": "31/12/2024", "EndDate": "2024-12-31"
    }));
    assert!(bad.unwrap_err().to_string().contains("31/12/2024"));
}

#[test]
fn utc_timestamps_with_up_to_seven_digits() {
    let page: Page<Unit> = serde_json::from_value(json!({
        "Meta": {"CurrentPage": 1, "PageSize": 50, "TotalNumberOfPages": 1, "TotalNumberOfResults": 0,
                 "ServerTimeUtc": "2024-05-02T08:15:30.1234567"},
        "Data": []
    }))
    .unwrap();
    let PaginationMeta {
        server_time_utc, ..
    } = page.meta;
    assert_eq!(server_time_utc.nanosecond(), 123_456_700);
    assert_eq!(
        server_time_utc.to_rfc3339(),
        "2024-05-02T08:15:30.123456700+00:00"
    );
    let c: Customer = serde_json::from_value(json!({
        "Name": "A", "IsPrivatePerson": true, "IsActive": true,
        "TermsOfPaymentId": "8f9a8f7b-0000-4000-8000-000000000030",
        "ChangedUtc": "2026-06-27T17:34:17.672816Z"
    }))
    .unwrap();
    let back = serde_json::to_value(&c).unwrap();
    assert_eq!(back["ChangedUtc"], "2026-06-27T17:34:17.672816Z");
}

#[test]
fn customer_create_body_matches_reference_shape() {
    let mut c = Customer::new(
        "Exempel Bygg AB",
        "8f9a8f7b-0000-4000-8000-000000000030".parse().unwrap(),
    );
    c.customer_number = Some("10042".into());
    c.corporate_identity_number = Some("556677-8899".into());
    c.vat_number = Some("SE556677889901".into());
    c.email_address = Some("faktura@exempelbygg.se".into());
    c.invoice_address1 = Some("Storgatan 1".into());
    c.invoice_postal_code = Some("11122".into());
    c.invoice_city = Some("Stockholm".into());
    c.invoice_country_code = Some("SE".into());
    c.currency_code = Some("SEK".into());
    let value = serde_json::to_value(&c).unwrap();
    assert_eq!(
        value,
        json!({
            "CustomerNumber": "10042",
            "Name": "Exempel Bygg AB",
            "IsPrivatePerson": false,
            "IsActive": true,
            "CorporateIdentityNumber": "556677-8899",
            "VatNumber": "SE556677889901",
            "EmailAddress": "faktura@exempelbygg.se",
            "InvoiceAddress1": "Storgatan 1",
            "InvoicePostalCode": "11122",
            "InvoiceCity": "Stockholm",
            "InvoiceCountryCode": "SE",
            "CurrencyCode": "SEK",
            "TermsOfPaymentId": "8f9a8f7b-0000-4000-8000-000000000030"
        })
    );
}

#[test]
fn coding_and_vat_code_decode_spec_types() {
    let coding: ArticleAccountCoding = serde_json::from_value(json!({
        "Id": "a1b2c3d4-0000-4000-8000-000000000101", "Name": "Tjänster 25%", "Type": "Services",
        "VatRate": "25%", "VatRatePercent": 0.25, "IsActive": true,
        "DomesticSalesSubjectToVatAccountNumber": 3001, "DomesticSalesVatExemptAccountNumber": 3004,
        "ChangedUtc": "2024-01-02T09:00:00Z"
    }))
    .unwrap();
    assert_eq!(coding.vat_rate_percent, Some(dec!(0.25)));
    assert_eq!(
        coding.domestic_sales_subject_to_vat_account_number,
        Some(3001)
    );
    // Raw text: `json!` would turn 25.00 into an f64 and lose the trailing zero.
    let vat: VatCode = serde_json::from_str(
        r#"{"Id": "7a000000-0000-4000-8000-000000000001", "Code": "MP1", "Description": "Utgående moms 25%",
            "VatRate": 25.00, "RelatedAccounts": {"AccountNumber1": 2611, "AccountNumber2": null, "AccountNumber3": null},
            "OssCodeType": 0}"#,
    )
    .unwrap();
    assert_eq!(vat.vat_rate.unwrap().to_string(), "25.00");
    assert_eq!(vat.related_accounts.unwrap().account_number1, Some(2611));
}

#[test]
fn ids_are_typed_and_parse_any_case() {
    let id: CustomerId = "3C1D2E4F-0000-4000-8000-000000000001".parse().unwrap();
    assert_eq!(id.to_string(), "3c1d2e4f-0000-4000-8000-000000000001");
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, r#""3c1d2e4f-0000-4000-8000-000000000001""#);
    assert!("nope".parse::<ArticleId>().is_err());
}
