//! The resource handlers against a mock Visma: the requests they send and what they decode.

mod common;

use common::{client, meta, FakeTokens};
use rust_decimal_macros::dec;
use secrecy::SecretString;
use serde_json::json;
use visma::models::*;
use visma::{ListQuery, StaticToken, VoucherOptions};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The May 2024 salary voucher the voucher tests send, with `rows`.
fn salary_voucher(rows: Vec<VoucherRow>) -> Voucher {
    Voucher::new(
        chrono::NaiveDate::from_ymd_opt(2024, 5, 31).unwrap(),
        "Löner maj 2024",
        rows,
    )
}

#[tokio::test]
async fn invoice_list_sends_modified_since() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/customerinvoices"))
        .and(query_param("modifiedSinceUtc", "2024-05-01T00:00:00Z"))
        .and(query_param("$page", "2"))
        .and(query_param_is_missing("$filter"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"Meta": {"CurrentPage": 2, "PageSize": 50, "TotalNumberOfPages": 2, "TotalNumberOfResults": 51,
                         "ServerTimeUtc": "2024-05-02T08:15:30Z"},
               "Data": [{
                "Id": "9e000000-0000-4000-8000-000000000001",
                "CustomerId": "3c1d2e4f-0000-4000-8000-000000000001",
                "InvoiceDate": "2024-05-02T00:00:00",
                "DueDate": "2024-06-01",
                "EuThirdParty": false,
                "RotReducedInvoicingType": 0,
                "InvoiceNumber": 1001,
                "TotalAmount": 14843.75,
                "TotalVatAmount": 2968.75,
                "TotalRoundings": 0.0,
                "VoucherId": "d4923200-0000-4000-8000-000000000012",
                "VoucherNumber": "B12",
                "CurrencyCode": "SEK",
                "CreatedUtc": "2024-05-02T07:12:44.1234567Z",
                "ModifiedUtc": "2024-05-02T07:12:44.1234567",
                "Rows": [{"ArticleId": "a1b2c3d4-0000-4000-8000-000000000100", "Text": "Konsulttimmar april",
                          "UnitPrice": 950.00, "Quantity": 12.5, "DiscountPercentage": 0.1, "IsTextRow": false,
                          "LineNumber": 1}]
            }]}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let since = "2024-05-01T00:00:00Z".parse().unwrap();
    let page = client(&server)
        .connect(&tokens)
        .customer_invoices()
        .list(&ListQuery::new().modified_since(since).page(2))
        .await
        .unwrap();
    let inv = &page.data[0];
    assert_eq!(inv.total_amount, Some(dec!(14843.75)));
    assert_eq!(inv.rows[0].unit_price.unwrap().to_string(), "950.00");
    assert_eq!(inv.rows[0].discount_percentage, Some(dec!(0.1)));
    assert_eq!(
        inv.invoice_date,
        chrono::NaiveDate::from_ymd_opt(2024, 5, 2)
    );
    assert_eq!(inv.voucher_number.as_deref(), Some("B12"));
    assert_eq!(inv.created_utc, inv.modified_utc);
}

#[tokio::test]
async fn voucher_create_sends_options_and_exact_amounts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/vouchers"))
        .and(query_param("useDefaultVoucherSeries", "true"))
        .and(query_param("useAutomaticVatCalculation", "false"))
        .respond_with(ResponseTemplate::new(201).set_body_raw(
            r#"{
            "Id": "d4923200-0000-4000-8000-000000000012",
            "VoucherDate": "2024-05-31",
            "VoucherText": "Löner maj 2024",
            "NumberAndNumberSeries": "A57",
            "NumberSeries": "A",
            "VoucherType": 2,
            "SourceId": null,
            "CreatedUtc": "2024-06-01T07:12:44.1234567Z",
            "ModifiedUtc": "2024-06-01T07:12:44.1234567Z",
            "Attachments": null,
            "Rows": [
                {"AccountNumber": 7210, "AccountDescription": "Löner till tjänstemän", "DebitAmount": 30000.00,
                 "CreditAmount": 0.00, "TransactionText": "Bruttolön", "VatCodeId": null, "VatCodeAndPercent": null,
                 "ProjectId": null, "CostCenterItemId1": null, "CostCenterItemId2": null, "CostCenterItemId3": null}
            ]}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let voucher = salary_voucher(vec![
        VoucherRow {
            account_number: 7210,
            debit_amount: Some(dec!(30000.0)),
            credit_amount: Some(dec!(0.0)),
            transaction_text: Some("Bruttolön".into()),
            ..Default::default()
        },
        VoucherRow {
            account_number: 1930,
            credit_amount: Some(dec!(30000.00)),
            ..Default::default()
        },
    ]);
    let options = VoucherOptions {
        use_automatic_vat_calculation: Some(false),
        use_default_voucher_series: Some(true),
        ..Default::default()
    };
    let created = client(&server)
        .connect(&tokens)
        .vouchers()
        .create(&voucher, options)
        .await
        .unwrap();
    assert_eq!(created.number_and_number_series.as_deref(), Some("A57"));
    assert_eq!(
        created.rows[0].debit_amount.unwrap().to_string(),
        "30000.00"
    );

    let requests = server.received_requests().await.unwrap();
    let body = std::str::from_utf8(&requests[0].body).unwrap();
    assert_eq!(
        body,
        r#"{"VoucherDate":"2024-05-31","VoucherText":"Löner maj 2024","Rows":[{"AccountNumber":7210,"DebitAmount":30000.0,"CreditAmount":0.0,"TransactionText":"Bruttolön"},{"AccountNumber":1930,"CreditAmount":30000.00}]}"#
    );
    assert_eq!(
        requests[0].headers.get("content-type").unwrap(),
        "application/json"
    );
}

#[tokio::test]
async fn draft_create_and_convert() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/customerinvoicedrafts"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "Id": "dddddddd-0000-4000-8000-000000000001",
            "CustomerId": "3c1d2e4f-0000-4000-8000-000000000001",
            "EuThirdParty": false, "RotReducedInvoicingType": 0,
            "TotalAmount": 14843.75, "TotalVatAmount": 2968.75, "TotalRoundings": 0,
            "Rows": [{"IsTextRow": false, "ReversedConstructionServicesVatFree": false,
                      "ArticleId": "a1b2c3d4-0000-4000-8000-000000000100", "Quantity": 12.5, "UnitPrice": 950.0}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/v2/customerinvoicedrafts/dddddddd-0000-4000-8000-000000000001/convert",
        ))
        .and(query_param("keepOriginalDraftDate", "true"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "Id": "9e000000-0000-4000-8000-000000000001",
            "CustomerId": "3c1d2e4f-0000-4000-8000-000000000001",
            "EuThirdParty": false, "RotReducedInvoicingType": 0, "InvoiceNumber": 7,
            "Rows": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let client = client(&server);
    let api = client.connect(&tokens);
    let customer: CustomerId = "3c1d2e4f-0000-4000-8000-000000000001".parse().unwrap();
    let mut draft = CustomerInvoiceDraft::new(
        customer,
        vec![
            CustomerInvoiceDraftRow {
                article_id: Some("a1b2c3d4-0000-4000-8000-000000000100".parse().unwrap()),
                text: Some("Konsulttimmar april".into()),
                quantity: Some(dec!(12.5)),
                unit_price: Some(dec!(950.0)),
                ..Default::default()
            },
            CustomerInvoiceDraftRow {
                is_text_row: true,
                text: Some("Ordernummer 4711".into()),
                ..Default::default()
            },
        ],
    );
    draft.invoice_date = chrono::NaiveDate::from_ymd_opt(2024, 5, 2);
    let created = api.customer_invoice_drafts().create(&draft).await.unwrap();
    let validation = DraftValidation {
        total_amount_invoice_currency: created.total_amount,
        total_vat_amount_invoice_currency: created.total_vat_amount,
        total_roundings_invoice_currency: created.total_roundings,
    };
    let invoice = api
        .customer_invoice_drafts()
        .convert(
            created.id.unwrap(),
            &validation,
            visma::ConvertOptions {
                keep_original_draft_date: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(invoice.invoice_number, Some(7));

    let requests = server.received_requests().await.unwrap();
    let draft_body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(draft_body["InvoiceDate"], "2024-05-02");
    assert_eq!(draft_body["EuThirdParty"], false);
    assert_eq!(draft_body["RotReducedInvoicingType"], 0);
    assert_eq!(draft_body["Rows"][1]["IsTextRow"], true);
    assert!(draft_body["Rows"][1].get("ArticleId").is_none());
    assert_eq!(
        std::str::from_utf8(&requests[1].body).unwrap(),
        r#"{"TotalAmountInvoiceCurrency":14843.75,"TotalVatAmountInvoiceCurrency":2968.75,"TotalRoundingsInvoiceCurrency":0}"#
    );
}

#[tokio::test]
async fn accounts_and_vouchers_per_fiscal_year() {
    let server = MockServer::start().await;
    let fy = "0f7a0000-0000-4000-8000-000000002024";
    Mock::given(method("GET"))
        .and(path(format!("/v2/accounts/{fy}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Meta": meta(1, 1, 1, "2024-05-02T08:15:30Z"),
            "Data": [{ "Name": "Företagskonto", "Number": "1930", "FiscalYearId": fy,
              "IsActive": true, "VatCodeId": null, "VatCodeDescription": null, "Type": 9, "TypeDescription": "Kassa och bank",
              "IsBlockedForManualBooking": false, "IsProjectAllowed": true, "IsCostCenterAllowed": true,
              "CreatedUtc": "2024-01-02T09:00:00Z", "ModifiedUtc": "2024-01-02T09:00:00Z" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/vouchers/{fy}")))
        .and(query_param("$filter", "VoucherDate ge 2024-01-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Meta": meta(1, 1, 0, "2024-05-02T08:15:30Z"),
            "Data": []
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/fiscalyears"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Meta": meta(1, 1, 1, "2024-05-02T08:15:30Z"),
            "Data": [{ "Id": fy, "StartDate": "2024-01-01", "EndDate": "2024-12-31T00:00:00",
                       "IsLockedForAccounting": false, "BookkeepingMethod": 0 }]
        })))
        .mount(&server)
        .await;
    let tokens = StaticToken::new(SecretString::from("static"));
    let client = client(&server);
    let api = client.connect(&tokens);
    let years = api
        .fiscal_years()
        .list_all(&ListQuery::new())
        .await
        .unwrap();
    let year = &years.items[0];
    assert!(year.contains(chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap()));
    assert!(!year.contains(chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()));
    let accounts = api
        .accounts()
        .list_all_for_year(year.id, &ListQuery::new())
        .await
        .unwrap();
    assert_eq!(accounts.items[0].number, "1930");
    assert_eq!(accounts.items[0].r#type, Some(9));
    let vouchers = api
        .vouchers()
        .list_all_for_year(
            year.id,
            &ListQuery::new().filter("VoucherDate ge 2024-01-01"),
        )
        .await
        .unwrap();
    assert!(vouchers.items.is_empty());
}
