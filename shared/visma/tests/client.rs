//! The client's behaviour against a mock Visma: token refresh, retries, rate limits, paging,
//! errors and timeouts.

mod common;

use std::time::Duration;

use common::{client, config, meta, FakeTokens, ACCESS_TOKEN, FRESH_TOKEN};
use serde_json::json;
use visma::models::*;
use visma::{ApiClient, ErrorClass, ListQuery, RetryPolicy, VoucherOptions};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The May 2024 salary voucher the voucher tests send, with `rows`.
fn salary_voucher(rows: Vec<VoucherRow>) -> Voucher {
    Voucher::new(
        chrono::NaiveDate::from_ymd_opt(2024, 5, 31).unwrap(),
        "Löner maj 2024",
        rows,
    )
}

fn customer_json(id: &str, number: &str) -> serde_json::Value {
    json!({
        "Id": id,
        "CustomerNumber": number,
        "Name": "Exempel Bygg AB",
        "IsPrivatePerson": false,
        "IsActive": true,
        "InvoiceCity": "Stockholm",
        "InvoicePostalCode": "11122",
        "TermsOfPaymentId": "8f9a8f7b-0000-4000-8000-000000000030",
        "ChangedUtc": "2026-06-27T17:34:17.672816Z",
        "SomeFieldWeDoNotModel": {"nested": [1, 2, 3]}
    })
}

#[tokio::test]
async fn unauthorized_refreshes_once_and_retries_with_new_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/companysettings"))
        .and(header("authorization", format!("Bearer {ACCESS_TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "ErrorCode": 4005,
            "DeveloperErrorMessage": "AuthorizationException - Authorization has been denied for this request.",
            "ErrorId": "11111111-0000-4000-8000-000000000001"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/companysettings"))
        .and(header(
            "authorization",
            format!("Bearer {FRESH_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Name": "Exempel AB",
            "CorporateIdentityNumber": "556677-8899",
            "CompanyIdentifier": "abc",
            "CurrencyCode": "SEK",
            "CountryCode": "SE",
            "VatCode": "SE556677889901",
            "ProductVariant": 5,
            "AccountingLockedTo": "2025-12-31T00:00:00",
            "TermsOfPaymentId": "8f9a8f7b-0000-4000-8000-000000000030"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let tokens = FakeTokens::new();
    let client = client(&server);
    let settings = client
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .unwrap();
    assert_eq!(
        settings.corporate_identity_number.as_deref(),
        Some("556677-8899")
    );
    assert_eq!(settings.product_variant, Some(5));
    assert_eq!(
        settings.accounting_locked_to,
        chrono::NaiveDate::from_ymd_opt(2025, 12, 31)
    );
    assert_eq!(tokens.refresh_count(), 1);
    assert_eq!(tokens.refreshes.lock().unwrap()[0], ACCESS_TOKEN);
}

#[tokio::test]
async fn second_unauthorized_is_authorization_error_even_for_post() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/customers"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "ErrorCode": 4005,
            "DeveloperErrorMessage": "AuthorizationException - Authorization has been denied for this request.",
            "ErrorId": "11111111-0000-4000-8000-000000000001"
        })))
        .expect(2)
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let client = client(&server);
    let customer = Customer::new("X", "8f9a8f7b-0000-4000-8000-000000000030".parse().unwrap());
    let err = client
        .connect(&tokens)
        .customers()
        .create(&customer)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Authorization);
    assert_eq!(err.visma_code(), Some(4005));
    assert_eq!(tokens.refresh_count(), 1);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(ACCESS_TOKEN) && !shown.contains(FRESH_TOKEN));
}

#[tokio::test]
async fn post_with_503_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/vouchers"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "ErrorCode": 5001,
            "DeveloperErrorMessage": "CantReachSystemDependendency",
            "ErrorId": "22222222-0000-4000-8000-000000000002"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let client = client(&server);
    let voucher = salary_voucher(vec![]);
    let err = client
        .connect(&tokens)
        .vouchers()
        .create(&voucher, VoucherOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(err.is_retryable());
    assert!(
        !err.is_uncertain(),
        "Visma answered, so nothing is uncertain"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn get_with_503_then_200_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/customers/3c1d2e4f-0000-4000-8000-000000000001"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/customers/3c1d2e4f-0000-4000-8000-000000000001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer_json(
            "3c1d2e4f-0000-4000-8000-000000000001",
            "10042",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let client = client(&server);
    let id: CustomerId = "3c1d2e4f-0000-4000-8000-000000000001".parse().unwrap();
    let customer = client.connect(&tokens).customers().get(id).await.unwrap();
    assert_eq!(customer.id, Some(id));
    assert_eq!(customer.customer_number.as_deref(), Some("10042"));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn get_retries_are_bounded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/units"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "ErrorCode": 5000, "DeveloperErrorMessage": "InternalServerError", "ErrorId": "x"
        })))
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let err = client(&server)
        .connect(&tokens)
        .units()
        .list(&ListQuery::new())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    // 1 attempt + max_retries (2).
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn rate_limit_longer_than_cap_is_returned_not_slept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/fiscalyears"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "ErrorCode": 4010,
            "DeveloperErrorMessage": "API calls quota exceeded! maximum admitted 600 per Minute. Try again in 42 seconds.",
            "ErrorId": "8d7e0000-0000-4000-8000-0000000000aa"
        })))
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let started = std::time::Instant::now();
    let err = client(&server)
        .connect(&tokens)
        .fiscal_years()
        .list(&ListQuery::new())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(42)));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn short_retry_after_header_is_honoured_on_get() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/termsofpayments"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/termsofpayments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Meta": meta(1, 1, 1, "2024-05-02T08:15:30Z"),
            "Data": [{"Id": "8f9a8f7b-0000-4000-8000-000000000030", "Name": "30 dagar", "NumberOfDays": 30,
                      "TermsOfPaymentTypeId": 0, "AvailableForSales": true}]
        })))
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let page = client(&server)
        .connect(&tokens)
        .terms_of_payment()
        .list(&ListQuery::new())
        .await
        .unwrap();
    assert_eq!(page.data[0].number_of_days, Some(30));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn list_all_walks_three_pages_with_max_page_size() {
    let server = MockServer::start().await;
    let times = [
        "2024-05-02T08:15:30.1234567Z",
        "2024-05-02T08:15:31Z",
        "2024-05-02T08:15:32Z",
    ];
    for page in 1..=3u32 {
        let ids: Vec<serde_json::Value> = (0..2)
            .map(|i| {
                customer_json(
                    &format!("3c1d2e4f-0000-4000-8000-00000000000{}", page * 2 + i),
                    &format!("{page}{i}"),
                )
            })
            .collect();
        Mock::given(method("GET"))
            .and(path("/v2/customers"))
            .and(query_param("$page", page.to_string()))
            .and(query_param("$pagesize", "1000"))
            .and(query_param("$filter", "ChangedUtc gt 2024-05-01T00:00:00Z"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "Meta": meta(page, 3, 6, times[(page - 1) as usize]),
                "Data": ids,
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let tokens = FakeTokens::new();
    let since = "2024-05-01T00:00:00Z".parse().unwrap();
    let all = client(&server)
        .connect(&tokens)
        .customers()
        .list_all(&ListQuery::new().changed_since(since).page_size(10))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 6);
    let numbers: Vec<_> = all
        .items
        .iter()
        .map(|c| c.customer_number.clone().unwrap())
        .collect();
    assert_eq!(numbers, ["10", "11", "20", "21", "30", "31"]);
    assert_eq!(
        all.server_time_utc,
        visma::models::serde_helpers::parse_utc("2024-05-02T08:15:30.1234567Z").unwrap()
    );
    // The `$` in parameter names is sent literally.
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].url.query().unwrap().contains("$pagesize=1000"));
}

#[tokio::test]
async fn bad_field_reports_json_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/articles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Meta": meta(1, 1, 1, "2024-05-02T08:15:30Z"),
            "Data": [{"Id": "a1b2c3d4-0000-4000-8000-000000000100", "Number": "1", "Name": "A",
                      "CodingId": "a1b2c3d4-0000-4000-8000-000000000101", "UnitId": "not-a-guid", "IsActive": true}]
        })))
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let err = client(&server)
        .connect(&tokens)
        .articles()
        .list(&ListQuery::new())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!err.is_uncertain());
    assert!(err.to_string().contains("Data[0].UnitId"), "{err}");
}

#[tokio::test]
async fn post_timeout_is_uncertain_but_get_timeout_is_not() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/customerinvoices"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.request_timeout = Duration::from_millis(300);
    let client = ApiClient::new(&cfg)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        });
    let tokens = FakeTokens::new();
    let invoice = CustomerInvoice::new(
        "3c1d2e4f-0000-4000-8000-000000000001".parse().unwrap(),
        vec![],
    );
    let err = client
        .connect(&tokens)
        .customer_invoices()
        .create(&invoice)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(err.is_uncertain(), "{err:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // Nobody listening: never reached Visma, so a create may be re-sent safely.
    let unreachable = {
        let mut cfg = config(&server);
        cfg.api_url = common::unreachable_url();
        ApiClient::new(&cfg).unwrap()
    };
    let err = unreachable
        .connect(&tokens)
        .customer_invoices()
        .create(&invoice)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(!err.is_uncertain(), "{err:?}");
}

/// A pacer whose schedule is booked too far ahead: it refuses every request.
struct BookedUp(Duration);

#[async_trait::async_trait]
impl visma::Pacer for BookedUp {
    async fn acquire(&self, _method: &str, _route: &'static str) -> Result<(), Duration> {
        Err(self.0)
    }
}

#[tokio::test]
async fn a_pacer_that_refuses_sends_nothing_and_the_error_says_when_to_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/vouchers"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    let tokens = FakeTokens::new();
    let client = client(&server).with_pacer(std::sync::Arc::new(BookedUp(Duration::from_secs(42))));
    let voucher = salary_voucher(vec![]);
    let err = client
        .connect(&tokens)
        .vouchers()
        .create(&voucher, VoucherOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, visma::VismaError::Paced { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(42)));
    assert!(!err.is_uncertain(), "nothing was sent");
    assert!(server.received_requests().await.unwrap().is_empty());
}
