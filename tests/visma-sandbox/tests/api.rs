mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use visma_sandbox::{Sandbox, SandboxConfig, Seed};

fn field_names(v: &Value) -> Vec<String> {
    v["Errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["Field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn assert_validation(s: StatusCode, v: &Value, field: &str) {
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["ErrorCode"], 2000, "{v}");
    assert!(
        field_names(v).iter().any(|f| f == field),
        "expected field {field} in {v}"
    );
    assert!(v["DeveloperErrorMessage"]
        .as_str()
        .unwrap()
        .contains(field.rsplit('.').next().unwrap()));
}

async fn setup() -> (Sandbox, Api) {
    let sb = start().await;
    let api = Api::new(&sb, sb.companies()[0].id, ALL_SCOPES);
    (sb, api)
}

#[tokio::test]
async fn paging_across_three_pages() {
    let (_sb, api) = setup().await;
    for i in 0..120 {
        api.create_customer(&format!("Kund {i:03}")).await;
    }
    let (s, p1) = api.get("/v2/customers").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p1["Meta"]["PageSize"], 50);
    assert_eq!(p1["Meta"]["CurrentPage"], 1);
    assert_eq!(p1["Meta"]["TotalNumberOfPages"], 3);
    assert_eq!(p1["Meta"]["TotalNumberOfResults"], 120);
    assert!(p1["Meta"]["ServerTimeUtc"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p1["Data"].as_array().unwrap().len(), 50);
    let (_, p3) = api.get("/v2/customers?$page=3").await;
    assert_eq!(p3["Data"].as_array().unwrap().len(), 20);
    assert_eq!(p3["Data"][19]["Name"], "Kund 119");
    let (_, p4) = api.get("/v2/customers?$page=4").await;
    assert_eq!(p4["Data"].as_array().unwrap().len(), 0);
    assert_eq!(p4["Meta"]["TotalNumberOfResults"], 120);
    let (_, big) = api.get("/v2/customers?$pagesize=1000").await;
    assert_eq!(big["Data"].as_array().unwrap().len(), 120);
    assert_eq!(big["Meta"]["TotalNumberOfPages"], 1);
    let (s, v) = api.get("/v2/customers?$pagesize=1001").await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(6000))
    );
    let (s, v) = api.get("/v2/customers?$page=0").await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(6000))
    );
    // auto-assigned customer numbers and $orderby
    let (_, ord) = api
        .get("/v2/customers?$orderby=Name%20desc&$pagesize=2")
        .await;
    assert_eq!(ord["Data"][0]["Name"], "Kund 119");
    assert_eq!(ord["Data"][0]["CustomerNumber"], "120");
}

#[tokio::test]
async fn filters_on_changed_utc_and_strings() {
    let (_sb, api) = setup().await;
    api.create_customer("Alfa AB").await;
    api.create_customer("Beta AB").await;
    let (_, page) = api.get("/v2/customers").await;
    let watermark = page["Meta"]["ServerTimeUtc"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    api.create_customer("Gamma AB").await;
    let (s, v) = api
        .get(&format!("/v2/customers?$filter=ChangedUtc gt {watermark}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names: Vec<&str> = v["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Gamma AB"]);
    let (_, v) = api.get("/v2/customers?$filter=Name eq 'Beta AB'").await;
    assert_eq!(v["Meta"]["TotalNumberOfResults"], 1);
    let (_, v) = api
        .get("/v2/customers?$filter=(Name eq 'Alfa AB' or CustomerNumber eq '3') and IsActive eq true")
        .await;
    assert_eq!(v["Meta"]["TotalNumberOfResults"], 2);
    let (_, v) = api
        .get("/v2/customers?$filter=ChangedUtc lt 2000-01-01T00:00:00Z")
        .await;
    assert_eq!(v["Meta"]["TotalNumberOfResults"], 0);
    for bad in [
        "Name eq",
        "Name like 'x'",
        "(Name eq 'x'",
        "NoSuchProperty eq 1",
        "Name eq 'unterminated",
    ] {
        let (s, v) = api.get(&format!("/v2/customers?$filter={bad}")).await;
        assert_eq!(
            (s, v["ErrorCode"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(6000)),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn customer_validation_and_conflicts() {
    let (_sb, api) = setup().await;
    let terms = api.terms_id(30).await;
    let base = json!({
        "Name": "Exempel Bygg AB", "InvoiceCity": "Stockholm", "InvoicePostalCode": "11122",
        "TermsOfPaymentId": terms, "IsPrivatePerson": false, "IsActive": true,
    });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    for req in [
        "Name",
        "InvoiceCity",
        "InvoicePostalCode",
        "TermsOfPaymentId",
        "IsPrivatePerson",
        "IsActive",
    ] {
        let (s, v) = api.post("/v2/customers", &without(req)).await;
        assert_validation(s, &v, req);
    }
    for (field, max) in [
        ("Name", 50),
        ("InvoiceCity", 50),
        ("InvoicePostalCode", 10),
        ("CustomerNumber", 16),
        ("CorporateIdentityNumber", 20),
        ("VatNumber", 20),
        ("EmailAddress", 255),
        ("InvoiceAddress1", 50),
    ] {
        let (s, v) = api
            .post("/v2/customers", &with(field, json!("x".repeat(max + 1))))
            .await;
        assert_validation(s, &v, field);
        let (s, v) = api
            .post("/v2/customers", &with(field, json!("é".repeat(max))))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{field} at max length: {v}");
    }
    let (s, v) = api
        .post("/v2/customers", &with("IsActive", json!("yes")))
        .await;
    assert_validation(s, &v, "IsActive");
    let (s, v) = api
        .post(
            "/v2/customers",
            &with("TermsOfPaymentId", json!(uuid::Uuid::new_v4())),
        )
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(3000))
    );

    let (s, first) = api
        .post("/v2/customers", &with("CustomerNumber", json!("10042")))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(first["CustomerNumber"], "10042");
    assert_eq!(first["TermsOfPayment"]["NumberOfDays"], 30);
    let (s, dup) = api
        .post("/v2/customers", &with("CustomerNumber", json!("10042")))
        .await;
    assert_eq!(
        (s, dup["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(4000))
    );
    let (_, next) = api.post("/v2/customers", &base).await;
    assert_eq!(next["CustomerNumber"], "10043");

    // GET, PUT (full replace) and 404
    let id = first["Id"].as_str().unwrap();
    let (s, got) = api.get(&format!("/v2/customers/{id}")).await;
    assert_eq!(
        (s, &got["Name"]),
        (StatusCode::OK, &json!("Exempel Bygg AB"))
    );
    let mut replaced = with("Name", json!("Nytt Namn AB"));
    replaced["EmailAddress"] = json!("a@b.se");
    let (s, put) = api.put(&format!("/v2/customers/{id}"), &replaced).await;
    assert_eq!(s, StatusCode::OK, "{put}");
    assert_eq!(put["CustomerNumber"], "10042");
    assert_eq!(put["Name"], "Nytt Namn AB");
    assert!(put["ChangedUtc"].as_str().unwrap() > first["ChangedUtc"].as_str().unwrap());
    let (s, v) = api
        .get(&format!("/v2/customers/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::NOT_FOUND, Some(3000))
    );
}

struct Fixture {
    api: Api,
    customer: Value,
    article_25: Value,
    article_12: Value,
}

async fn fixture(sb: &Sandbox) -> Fixture {
    let api = Api::new(sb, sb.companies()[0].id, ALL_SCOPES);
    let customer = api.create_customer("Exempel Bygg AB").await;
    let article_25 = api.create_article("KONS", "25", "h").await;
    let article_12 = api.create_article("BOK", "12", "st").await;
    Fixture {
        api,
        customer,
        article_25,
        article_12,
    }
}

fn today() -> String {
    chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

fn row_for(voucher: &Value, account: u64) -> &Value {
    voucher["Rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["AccountNumber"].as_u64() == Some(account))
        .unwrap_or_else(|| panic!("no row for {account} in {voucher}"))
}

#[tokio::test]
async fn invoice_booking_numbers_and_voucher() {
    let sb = start().await;
    let f = fixture(&sb).await;
    let company = sb.companies()[0].id;
    let body = json!({
        "CustomerId": f.customer["Id"], "EuThirdParty": false, "RotReducedInvoicingType": 0,
        "InvoiceDate": today(), "YourReference": "aourly:inv-1", "OurReference": "Integration",
        "Rows": [
            {"ArticleId": f.article_25["Id"], "Text": "Konsulttimmar april", "Quantity": 12.5, "UnitPrice": 950.00},
            {"Text": "Ordernummer 4711"}
        ]
    });
    let (s, inv) = f.api.post("/v2/customerinvoices", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["InvoiceNumber"], 1001);
    assert_eq!(dec(&inv["Rows"][0]["Amount"]), d("11875.00"));
    assert_eq!(inv["Rows"][1]["IsTextRow"], true);
    assert_eq!(dec(&inv["TotalVatAmount"]), d("2968.75"));
    assert_eq!(dec(&inv["TotalAmount"]), d("14843.75"));
    assert_eq!(dec(&inv["TotalRoundings"]), d("0"));
    assert_eq!(inv["TotalAmount"].to_string(), "14843.75");
    assert_eq!(inv["CustomerName"], "Exempel Bygg AB");
    assert_eq!(inv["YourReference"], "aourly:inv-1");

    let vouchers = sb.vouchers(company);
    assert_eq!(vouchers.len(), 1);
    let v = &vouchers[0];
    assert_eq!(v["Id"], inv["VoucherId"]);
    assert_eq!(v["NumberAndNumberSeries"], inv["VoucherNumber"]);
    assert_eq!(v["VoucherType"], 14);
    assert_eq!(v["SourceId"], inv["Id"]);
    assert_eq!(dec(&row_for(v, 1510)["DebitAmount"]), d("14843.75"));
    assert_eq!(dec(&row_for(v, 3001)["CreditAmount"]), d("11875.00"));
    assert_eq!(dec(&row_for(v, 2611)["CreditAmount"]), d("2968.75"));
    let debit: rust_decimal::Decimal = v["Rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| dec(&r["DebitAmount"]))
        .sum();
    let credit: rust_decimal::Decimal = v["Rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| dec(&r["CreditAmount"]))
        .sum();
    assert_eq!(debit, credit);

    // second invoice: 12 % coding with discount, next number
    let body2 = json!({
        "CustomerId": f.customer["Id"], "EuThirdParty": false, "RotReducedInvoicingType": 0,
        "BuyersOrderReference": "PO-77",
        "Rows": [{"ArticleId": f.article_12["Id"], "Quantity": 3, "UnitPrice": 199.99, "DiscountPercentage": 0.1}]
    });
    let (s, inv2) = f.api.post("/v2/customerinvoices", &body2).await;
    assert_eq!(s, StatusCode::CREATED, "{inv2}");
    assert_eq!(inv2["InvoiceNumber"], 1002);
    // 3 * 199.99 * 0.9 = 539.973 -> 539.97; VAT 12 % = 64.7964 -> 64.80
    assert_eq!(dec(&inv2["Rows"][0]["Amount"]), d("539.97"));
    assert_eq!(dec(&inv2["TotalVatAmount"]), d("64.80"));
    assert_eq!(dec(&inv2["TotalAmount"]), d("604.77"));
    let v2 = sb
        .vouchers(company)
        .into_iter()
        .find(|v| v["Id"] == inv2["VoucherId"])
        .unwrap();
    assert_eq!(dec(&row_for(&v2, 3002)["CreditAmount"]), d("539.97"));
    assert_eq!(dec(&row_for(&v2, 2621)["CreditAmount"]), d("64.80"));

    // list: $filter and modifiedSinceUtc
    let (_, l) = f
        .api
        .get("/v2/customerinvoices?$filter=YourReference eq 'aourly:inv-1'")
        .await;
    assert_eq!(l["Meta"]["TotalNumberOfResults"], 1);
    assert_eq!(l["Data"][0]["Id"], inv["Id"]);
    let (_, l) = f
        .api
        .get("/v2/customerinvoices?$filter=InvoiceNumber gt 1001")
        .await;
    assert_eq!(l["Data"][0]["InvoiceNumber"], 1002);
    let (_, l) = f
        .api
        .get("/v2/customerinvoices?$filter=BuyersOrderReference eq 'PO-77'")
        .await;
    assert_eq!(l["Meta"]["TotalNumberOfResults"], 1);
    let since = inv2["ModifiedUtc"].as_str().unwrap();
    let (_, l) = f
        .api
        .get(&format!("/v2/customerinvoices?modifiedSinceUtc={since}"))
        .await;
    assert_eq!(l["Meta"]["TotalNumberOfResults"], 1);
    let (s, got) = f
        .api
        .get(&format!(
            "/v2/customerinvoices/{}",
            inv["Id"].as_str().unwrap()
        ))
        .await;
    assert_eq!((s, &got["InvoiceNumber"]), (StatusCode::OK, &json!(1001)));

    // no PUT/DELETE
    let (s, _) = f
        .api
        .put(
            &format!("/v2/customerinvoices/{}", inv["Id"].as_str().unwrap()),
            &body,
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _) = f
        .api
        .send(
            reqwest::Method::DELETE,
            &format!("/v2/customerinvoices/{}", inv["Id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(sb.customer_invoices(company).len(), 2);

    // credit invoice keeps references and books type 15 with reversed sides
    let credit = json!({
        "CustomerId": f.customer["Id"], "EuThirdParty": false, "RotReducedInvoicingType": 0,
        "IsCreditInvoice": true, "YourReference": "aourly:inv-1", "OurReference": "Kredit",
        "Rows": [{"ArticleId": f.article_25["Id"], "Quantity": -12.5, "UnitPrice": 950.00}]
    });
    let (s, cr) = f.api.post("/v2/customerinvoices", &credit).await;
    assert_eq!(s, StatusCode::CREATED, "{cr}");
    assert_eq!(cr["InvoiceNumber"], 1003);
    assert_eq!(cr["IsCreditInvoice"], true);
    assert_eq!(cr["YourReference"], "aourly:inv-1");
    assert_eq!(dec(&cr["TotalAmount"]), d("-14843.75"));
    let vc = sb
        .vouchers(company)
        .into_iter()
        .find(|v| v["Id"] == cr["VoucherId"])
        .unwrap();
    assert_eq!(vc["VoucherType"], 15);
    assert_eq!(dec(&row_for(&vc, 1510)["CreditAmount"]), d("14843.75"));
    assert_eq!(dec(&row_for(&vc, 3001)["DebitAmount"]), d("11875.00"));
    assert_eq!(dec(&row_for(&vc, 2611)["DebitAmount"]), d("2968.75"));
    let mut bad_credit = credit.clone();
    bad_credit["Rows"][0]["Quantity"] = json!(1);
    let (s, v) = f.api.post("/v2/customerinvoices", &bad_credit).await;
    assert_validation(s, &v, "IsCreditInvoice");
}

#[tokio::test]
async fn invoice_validation_errors() {
    let sb = start().await;
    let f = fixture(&sb).await;
    let company = sb.companies()[0].id;
    let ok_row = json!({"ArticleId": f.article_25["Id"], "Quantity": 1, "UnitPrice": 100});
    let inv = |rows: Value| json!({"CustomerId": f.customer["Id"], "EuThirdParty": false, "RotReducedInvoicingType": 0, "Rows": rows});

    let (s, v) = f
        .api
        .post(
            "/v2/customerinvoices",
            &inv(json!([{"Text": "Timmar", "Quantity": 2, "UnitPrice": 100}])),
        )
        .await;
    assert_validation(s, &v, "Rows[0].ArticleId");
    let (s, v) = f
        .api
        .post(
            "/v2/customerinvoices",
            &inv(json!([ok_row, {"IsTextRow": false, "Text": "x"}])),
        )
        .await;
    assert_validation(s, &v, "Rows[1].ArticleId");
    let (s, v) = f
        .api
        .post(
            "/v2/customerinvoices",
            &inv(json!([{"ArticleId": f.article_25["Id"], "Quantity": 1, "UnitPrice": 100.123}])),
        )
        .await;
    assert_validation(s, &v, "Rows[0].UnitPrice");
    let (s, v) = f
        .api
        .post(
            "/v2/customerinvoices",
            &inv(json!([{"ArticleId": f.article_25["Id"], "Quantity": 1.255, "UnitPrice": 100}])),
        )
        .await;
    assert_validation(s, &v, "Rows[0].Quantity");
    let (s, v) = f.api.post("/v2/customerinvoices", &inv(json!([{"ArticleId": f.article_25["Id"], "Quantity": 1, "DiscountPercentage": 1.5}]))).await;
    assert_validation(s, &v, "Rows[0].DiscountPercentage");
    let (s, v) = f.api.post("/v2/customerinvoices", &inv(json!([]))).await;
    assert_validation(s, &v, "Rows");
    let mut no_eu = inv(json!([ok_row]));
    no_eu.as_object_mut().unwrap().remove("EuThirdParty");
    no_eu
        .as_object_mut()
        .unwrap()
        .remove("RotReducedInvoicingType");
    let (s, v) = f.api.post("/v2/customerinvoices", &no_eu).await;
    assert_validation(s, &v, "EuThirdParty");
    assert!(field_names(&v).contains(&"RotReducedInvoicingType".to_string()));
    let mut unknown_customer = inv(json!([ok_row]));
    unknown_customer["CustomerId"] = json!(uuid::Uuid::new_v4());
    let (s, v) = f.api.post("/v2/customerinvoices", &unknown_customer).await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(3000))
    );
    let (s, v) = f
        .api
        .post(
            "/v2/customerinvoices",
            &inv(json!([{"ArticleId": uuid::Uuid::new_v4(), "Quantity": 1}])),
        )
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(3000))
    );
    // locked (previous) year and missing year
    let mut last_year = inv(json!([ok_row]));
    last_year["InvoiceDate"] = json!(format!("{}-06-01", current_year() - 1));
    let (s, v) = f.api.post("/v2/customerinvoices", &last_year).await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(4013))
    );
    last_year["InvoiceDate"] = json!("2001-06-01");
    let (s, v) = f.api.post("/v2/customerinvoices", &last_year).await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(3001))
    );
    // nothing was booked, numbering untouched
    assert!(sb.customer_invoices(company).is_empty());
    assert!(sb.vouchers(company).is_empty());
    let (_, inv_ok) = f
        .api
        .post("/v2/customerinvoices", &inv(json!([ok_row])))
        .await;
    assert_eq!(inv_ok["InvoiceNumber"], 1001);
}

#[tokio::test]
async fn drafts_convert_to_booked_invoices() {
    let sb = start().await;
    let f = fixture(&sb).await;
    let draft = json!({
        "CustomerId": f.customer["Id"], "EuThirdParty": false, "RotReducedInvoicingType": 0,
        "InvoiceDate": today(), "YourReference": "Anna Andersson",
        "Rows": [
            {"IsTextRow": false, "ReversedConstructionServicesVatFree": false, "ArticleId": f.article_25["Id"], "Text": "Konsulttimmar", "Quantity": 12.5, "UnitPrice": 950.0},
            {"IsTextRow": true, "ReversedConstructionServicesVatFree": false, "Text": "Ordernummer 4711"}
        ]
    });
    let mut bad = draft.clone();
    bad["Rows"][0].as_object_mut().unwrap().remove("ArticleId");
    let (s, v) = f.api.post("/v2/customerinvoicedrafts", &bad).await;
    assert_validation(s, &v, "Rows[0].ArticleId");

    let (s, dr) = f.api.post("/v2/customerinvoicedrafts", &draft).await;
    assert_eq!(s, StatusCode::CREATED, "{dr}");
    assert_eq!(dec(&dr["TotalAmount"]), d("14843.75"));
    let id = dr["Id"].as_str().unwrap();
    let (s, _) = f.api.get(&format!("/v2/customerinvoicedrafts/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = f
        .api
        .post(
            &format!("/v2/customerinvoicedrafts/{id}/convert"),
            &json!({"TotalAmountInvoiceCurrency": 1.0}),
        )
        .await;
    assert_validation(s, &v, "TotalAmountInvoiceCurrency");
    let (s, inv) = f
        .api
        .post(
            &format!("/v2/customerinvoicedrafts/{id}/convert"),
            &json!({"TotalAmountInvoiceCurrency": 14843.75, "TotalVatAmountInvoiceCurrency": 2968.75, "TotalRoundingsInvoiceCurrency": 0.0}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["InvoiceNumber"], 1001);
    assert_eq!(inv["CreatedFromDraftId"], dr["Id"]);
    assert!(inv["VoucherId"].is_string());
    assert_eq!(dec(&inv["TotalVatAmount"]), d("2968.75"));
    let (s, _) = f.api.get(&format!("/v2/customerinvoicedrafts/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f
        .api
        .post(
            &format!("/v2/customerinvoicedrafts/{id}/convert"),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

fn voucher(date: &str, rows: Value) -> Value {
    json!({"VoucherDate": date, "VoucherText": "Löner maj", "Rows": rows})
}

#[tokio::test]
async fn vouchers_balance_accounts_and_years() {
    let (sb, api) = setup().await;
    let company = sb.companies()[0].id;
    let y = current_year();
    let date = format!("{y}-05-31");
    let rows = json!([
        {"AccountNumber": 7210, "DebitAmount": 30000.0, "CreditAmount": 0.0, "TransactionText": "Bruttolön"},
        {"AccountNumber": 2710, "DebitAmount": 0.0, "CreditAmount": 9000.0, "TransactionText": "Personalskatt"},
        {"AccountNumber": 1930, "DebitAmount": 0.0, "CreditAmount": 21000.0, "TransactionText": "Utbetalt"}
    ]);
    let (s, v1) = api
        .post("/v2/vouchers", &voucher(&date, rows.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v1}");
    assert_eq!(v1["NumberAndNumberSeries"], "A1");
    assert_eq!(v1["NumberSeries"], "A");
    assert_eq!(v1["VoucherType"], 2);
    assert_eq!(v1["VoucherDate"], date);
    assert_eq!(v1["Rows"][0]["AccountDescription"], "Löner till tjänstemän");
    assert_eq!(dec(&v1["Rows"][0]["DebitAmount"]), d("30000"));
    let (_, v2) = api
        .post(
            "/v2/vouchers?useDefaultVoucherSeries=true",
            &voucher(&date, rows.clone()),
        )
        .await;
    assert_eq!(v2["NumberAndNumberSeries"], "A2");

    let mut unbalanced = rows.clone();
    unbalanced[2]["CreditAmount"] = json!(20999.99);
    let (s, v) = api.post("/v2/vouchers", &voucher(&date, unbalanced)).await;
    assert_validation(s, &v, "Rows");
    let mut three_dp = rows.clone();
    three_dp[0]["DebitAmount"] = json!(30000.001);
    let (s, v) = api.post("/v2/vouchers", &voucher(&date, three_dp)).await;
    assert_validation(s, &v, "Rows[0].DebitAmount");
    let mut both = rows.clone();
    both[0]["CreditAmount"] = json!(1);
    let (s, v) = api.post("/v2/vouchers", &voucher(&date, both)).await;
    assert_validation(s, &v, "Rows[0]");
    let (s, v) = api
        .post(
            "/v2/vouchers",
            &json!({"VoucherDate": date, "Rows": rows.clone()}),
        )
        .await;
    assert_validation(s, &v, "VoucherText");

    let mut missing_account = rows.clone();
    missing_account[0]["AccountNumber"] = json!(1234);
    let (s, v) = api
        .post("/v2/vouchers", &voucher(&date, missing_account.clone()))
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(3002)),
        "{v}"
    );
    let (_, years) = api.get("/v2/fiscalyears").await;
    let this_fy = years["Data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["IsLockedForAccounting"] == false)
        .unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.add_account(company, this_fy.parse().unwrap(), "1234", "Testkonto");
    let (s, v) = api
        .post("/v2/vouchers", &voucher(&date, missing_account))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["NumberAndNumberSeries"], "A3");

    let (s, v) = api
        .post(
            "/v2/vouchers",
            &voucher(&format!("{}-05-31", y - 1), rows.clone()),
        )
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(4038))
    );
    let (s, v) = api
        .post("/v2/vouchers", &voucher("2001-05-31", rows.clone()))
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(3001))
    );

    // a new fiscal year gets its own series counter and the chart copied
    let next = sb.add_fiscal_year(
        company,
        chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(y + 1, 12, 31).unwrap(),
    );
    let (s, v) = api
        .post(
            "/v2/vouchers",
            &voucher(&format!("{}-02-01", y + 1), rows.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["NumberAndNumberSeries"], "A1");
    sb.lock_fiscal_year(company, next);
    let (s, v) = api
        .post(
            "/v2/vouchers",
            &voucher(&format!("{}-02-01", y + 1), rows.clone()),
        )
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(4038))
    );

    // reads
    let manual = sb.book_manual_voucher(company, voucher(&format!("{y}-06-15"), rows.clone()));
    assert_eq!(manual["NumberAndNumberSeries"], "A4");
    let (_, all) = api.get("/v2/vouchers").await;
    assert_eq!(all["Meta"]["TotalNumberOfResults"], 5);
    let (_, this_year) = api.get(&format!("/v2/vouchers/{this_fy}")).await;
    assert_eq!(this_year["Meta"]["TotalNumberOfResults"], 4);
    let (s, one) = api
        .get(&format!(
            "/v2/vouchers/{this_fy}/{}",
            v1["Id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (s, &one["NumberAndNumberSeries"]),
        (StatusCode::OK, &json!("A1"))
    );
    let (s, _) = api
        .get(&format!("/v2/vouchers/{this_fy}/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, june) = api
        .get(&format!("/v2/vouchers?$filter=VoucherDate ge {y}-06-01T00:00:00Z and VoucherDate le {y}-06-30T23:59:59Z"))
        .await;
    assert_eq!(june["Meta"]["TotalNumberOfResults"], 1);
    let created = v1["CreatedUtc"].as_str().unwrap();
    let (_, after) = api
        .get(&format!("/v2/vouchers?$filter=CreatedUtc gt {created}"))
        .await;
    assert_eq!(after["Meta"]["TotalNumberOfResults"], 4);
}

#[tokio::test]
async fn accounts_fiscal_years_and_reference_data() {
    let (_sb, api) = setup().await;
    let (_, years) = api.get("/v2/fiscalyears").await;
    let years = years["Data"].as_array().unwrap().clone();
    assert_eq!(years.len(), 2);
    let y = current_year();
    let current = years
        .iter()
        .find(|f| f["StartDate"] == json!(format!("{y}-01-01")))
        .unwrap();
    assert_eq!(current["EndDate"], json!(format!("{y}-12-31")));
    assert_eq!(current["IsLockedForAccounting"], false);
    let previous = years
        .iter()
        .find(|f| f["StartDate"] == json!(format!("{}-01-01", y - 1)))
        .unwrap();
    assert_eq!(previous["IsLockedForAccounting"], true);
    let fy = current["Id"].as_str().unwrap();
    let (s, one) = api.get(&format!("/v2/fiscalyears/{fy}")).await;
    assert_eq!((s, &one["Id"]), (StatusCode::OK, &current["Id"]));

    let (s, acc) = api.get(&format!("/v2/accounts/{fy}/1930")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(acc["Name"], "Företagskonto");
    assert_eq!(acc["Number"], "1930");
    assert_eq!(acc["FiscalYearId"], current["Id"]);
    assert_eq!(acc["Type"], 9);
    let (s, v) = api.get(&format!("/v2/accounts/{fy}/1234")).await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::NOT_FOUND, Some(3002))
    );
    let (_, per_year) = api.get(&format!("/v2/accounts/{fy}?$pagesize=1000")).await;
    let n = per_year["Meta"]["TotalNumberOfResults"].as_u64().unwrap();
    assert!(n >= 60);
    let (_, all) = api.get("/v2/accounts?$pagesize=1000").await;
    assert_eq!(all["Meta"]["TotalNumberOfResults"].as_u64().unwrap(), 2 * n);
    let (_, sales) = api
        .get(&format!(
            "/v2/accounts/{fy}?$filter=Number ge 3000 and Number lt 4000"
        ))
        .await;
    assert!(sales["Data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["Number"] == "3740"));

    let (_, vat) = api.get("/v2/vatcodes").await;
    assert!(vat["Data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["RelatedAccounts"]["AccountNumber1"] == 2611));
    let (_, terms) = api.get("/v2/termsofpayments").await;
    let days: Vec<i64> = terms["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["NumberOfDays"].as_i64().unwrap())
        .collect();
    assert_eq!(days, vec![10, 15, 30]);
    let (_, units) = api.get("/v2/units").await;
    assert!(units["Data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["Code"] == "h" && u["Name"] == "Timme"));
    let (_, codings) = api.get("/v2/articleaccountcodings").await;
    assert_eq!(codings["Meta"]["TotalNumberOfResults"], 4);
    let (_, settings) = api.get("/v2/companysettings").await;
    assert_eq!(settings["Name"], "Exempel AB");
    assert_eq!(settings["CurrencyCode"], "SEK");
    assert_eq!(settings["NextCustomerInvoiceNumber"], 1001);
}

#[tokio::test]
async fn big_chart_of_accounts_pages() {
    let sb = Sandbox::start(SandboxConfig {
        seed: Seed {
            extra_accounts: 2000,
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let api = Api::new(&sb, sb.companies()[0].id, ALL_SCOPES);
    let (_, years) = api.get("/v2/fiscalyears").await;
    let fy = years["Data"][1]["Id"].as_str().unwrap().to_string();
    let mut seen = std::collections::BTreeSet::new();
    let mut page = 1;
    loop {
        let (s, v) = api
            .get(&format!("/v2/accounts/{fy}?$pagesize=1000&$page={page}"))
            .await;
        assert_eq!(s, StatusCode::OK);
        let data = v["Data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        assert_eq!(v["Meta"]["TotalNumberOfPages"], 3);
        for a in data {
            seen.insert(a["Number"].as_str().unwrap().to_string());
        }
        page += 1;
    }
    assert_eq!(page, 4);
    assert!(seen.len() > 2060);
}

#[tokio::test]
async fn articles_are_validated() {
    let (_sb, api) = setup().await;
    let a = api.create_article("A-1", "25", "h").await;
    assert_eq!(a["UnitName"], "Timme");
    assert_eq!(dec(&a["GrossPrice"]), d("125.00"));
    let (s, v) = api
        .post("/v2/articles", &json!({"Number": "A-1", "Name": "x", "CodingId": a["CodingId"], "UnitId": a["UnitId"], "IsActive": true}))
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(4000))
    );
    let (s, v) = api
        .post("/v2/articles", &json!({"Number": "A-2", "Name": "x", "CodingId": uuid::Uuid::new_v4(), "UnitId": a["UnitId"], "IsActive": true}))
        .await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(3000))
    );
    let (s, v) = api
        .post("/v2/articles", &json!({"Number": "x".repeat(41), "Name": "x", "CodingId": a["CodingId"], "UnitId": a["UnitId"], "IsActive": true}))
        .await;
    assert_validation(s, &v, "Number");
}
