mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{client, config, FakeTokens, ACCESS_TOKEN, CLIENT_SECRET, FRESH_TOKEN};
use secrecy::SecretString;
use serde_json::json;
use visma::{ListQuery, VismaOAuth};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const CUSTOMER_ID: &str = "3c1d2e4f-0000-4000-8000-000000000001";

#[tokio::test(flavor = "current_thread")]
async fn logs_method_template_status_and_no_secrets() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/customers/{CUSTOMER_ID}")))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/customers/{CUSTOMER_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Id": CUSTOMER_ID, "Name": "Anna Andersson", "IsPrivatePerson": true, "IsActive": true,
            "TermsOfPaymentId": "8f9a8f7b-0000-4000-8000-000000000030"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/customers"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "ErrorCode": 6000, "DeveloperErrorMessage": "QueryParameterError", "ErrorId": "x"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "secret-access-from-refresh", "expires_in": 3600,
            "token_type": "Bearer", "refresh_token": "secret-rotated-refresh"
        })))
        .mount(&server)
        .await;

    let tokens = FakeTokens::new();
    let client = client(&server);
    let api = client.connect(&tokens);
    api.customers()
        .get(CUSTOMER_ID.parse().unwrap())
        .await
        .unwrap();
    let _ = api
        .customers()
        .list(&ListQuery::new().filter("EmailAddress eq 'anna@example.se'"))
        .await
        .unwrap_err();
    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    oauth
        .refresh(&SecretString::from("secret-old-refresh"))
        .await
        .unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/v2/customers/{customerId}"), "{logs}");
    assert!(logs.contains("status=401"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("elapsed_ms="), "{logs}");
    assert!(logs.contains("/connect/token"), "{logs}");
    for secret in [
        ACCESS_TOKEN,
        FRESH_TOKEN,
        CLIENT_SECRET,
        "secret-access-from-refresh",
        "secret-rotated-refresh",
        "secret-old-refresh",
        CUSTOMER_ID,
        "anna@example.se",
    ] {
        assert!(
            !logs.contains(secret),
            "`{secret}` leaked into logs:\n{logs}"
        );
    }
}

#[test]
fn api_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let server_url = url::Url::parse("http://127.0.0.1:1/").unwrap();
    let client = visma::ApiClient::with_http_client(reqwest::Client::new(), server_url);
    let tokens = FakeTokens::new();
    let dyn_tokens: &dyn visma::TokenSource = &tokens;
    let api = client.connect(dyn_tokens);
    let q = ListQuery::new();
    assert_send(api.customers().list_all(&q));
    assert_send(api.vouchers().create(
        &visma::models::Voucher::new(chrono::NaiveDate::MIN, "x", vec![]),
        visma::VoucherOptions::default(),
    ));
    assert_send(api.company_settings().get());
}
