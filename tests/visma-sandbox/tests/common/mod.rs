#![allow(dead_code)]

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use visma_sandbox::{Sandbox, SandboxConfig};

pub const CLIENT_ID: &str = "aourly-local";
pub const CLIENT_SECRET: &str = "aourly-local-secret";
pub const ALL_SCOPES: &[&str] = &["ea:api", "offline_access", "ea:sales", "ea:accounting"];

pub async fn start() -> Sandbox {
    Sandbox::start(SandboxConfig::default())
        .await
        .expect("sandbox starts")
}

pub fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A small API client bound to one token.
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: Client,
}

impl Api {
    pub fn new(sb: &Sandbox, company: Uuid, scopes: &[&str]) -> Api {
        let t = sb.issue_tokens(CLIENT_ID, company, scopes);
        Api {
            base: sb.url(),
            token: t.access_token,
            http: http(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn terms_id(&self, days: i64) -> String {
        let (s, v) = self.get("/v2/termsofpayments").await;
        assert_eq!(s, StatusCode::OK);
        v["Data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["NumberOfDays"].as_i64() == Some(days))
            .unwrap()["Id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn create_customer(&self, name: &str) -> Value {
        let terms = self.terms_id(30).await;
        let (s, v) = self
            .post(
                "/v2/customers",
                &json!({
                    "Name": name,
                    "InvoiceCity": "Stockholm",
                    "InvoicePostalCode": "11122",
                    "TermsOfPaymentId": terms,
                    "IsPrivatePerson": false,
                    "IsActive": true,
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// An article on the coding with the given VAT percent (25, 12, 6, 0) and unit code.
    pub async fn create_article(&self, number: &str, vat_percent: &str, unit_code: &str) -> Value {
        let (_, codings) = self.get("/v2/articleaccountcodings").await;
        let coding = codings["Data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["VatRate"] == json!(format!("{vat_percent}%")))
            .expect("coding")["Id"]
            .clone();
        let (_, units) = self.get("/v2/units").await;
        let unit = units["Data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["Code"] == json!(unit_code))
            .expect("unit")["Id"]
            .clone();
        let (s, v) = self
            .post(
                "/v2/articles",
                &json!({"Number": number, "Name": format!("Artikel {number}"), "CodingId": coding, "UnitId": unit, "IsActive": true, "NetPrice": 100}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }
}

/// Exact decimal comparison of a JSON number with a literal like "2968.75".
pub fn dec(v: &Value) -> rust_decimal::Decimal {
    v.to_string()
        .parse()
        .unwrap_or_else(|_| panic!("not a decimal: {v}"))
}

pub fn d(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

pub fn current_year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year()
}
