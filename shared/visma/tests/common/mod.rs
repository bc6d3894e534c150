#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use visma::{ApiClient, RetryPolicy, TokenSource, VismaConfig, VismaError};
use wiremock::MockServer;

pub const CLIENT_SECRET: &str = "s3cr3t-client-secret-value";
pub const ACCESS_TOKEN: &str = "access-token-aaaaaaaaaaaa";
pub const FRESH_TOKEN: &str = "access-token-fresh-bbbbbbb";

pub fn config(server: &MockServer) -> VismaConfig {
    VismaConfig {
        identity_url: Url::parse(&server.uri()).unwrap(),
        api_url: Url::parse(&format!("{}/", server.uri())).unwrap(),
        client_id: "aourly-client".into(),
        client_secret: SecretString::from(CLIENT_SECRET),
        redirect_uri: Url::parse("https://app.example.com/oauth/visma/callback").unwrap(),
        scopes: VismaConfig::default_scopes(),
        request_timeout: Duration::from_secs(5),
    }
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(200),
    }
}

pub fn client(server: &MockServer) -> ApiClient {
    ApiClient::new(&config(server))
        .unwrap()
        .with_retry_policy(fast_retries())
}

/// A token source that records what the client asked of it.
pub struct FakeTokens {
    current: Mutex<String>,
    pub refreshes: Mutex<Vec<String>>,
}

impl FakeTokens {
    pub fn new() -> Self {
        Self {
            current: Mutex::new(ACCESS_TOKEN.into()),
            refreshes: Mutex::new(Vec::new()),
        }
    }

    pub fn refresh_count(&self) -> usize {
        self.refreshes.lock().unwrap().len()
    }
}

#[async_trait]
impl TokenSource for FakeTokens {
    async fn access_token(&self) -> Result<SecretString, VismaError> {
        Ok(SecretString::from(self.current.lock().unwrap().clone()))
    }

    async fn refresh_after_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<SecretString, VismaError> {
        self.refreshes
            .lock()
            .unwrap()
            .push(rejected.expose_secret().to_owned());
        *self.current.lock().unwrap() = FRESH_TOKEN.into();
        Ok(SecretString::from(FRESH_TOKEN))
    }
}

pub fn meta(page: u32, pages: u32, total: u64, server_time: &str) -> serde_json::Value {
    serde_json::json!({
        "CurrentPage": page,
        "PageSize": 1000,
        "TotalNumberOfPages": pages,
        "TotalNumberOfResults": total,
        "ServerTimeUtc": server_time,
    })
}

/// A base URL where nothing listens (wiremock pools servers, so a dropped MockServer may
/// still answer).
pub fn unreachable_url() -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Url::parse(&format!("http://127.0.0.1:{port}")).unwrap()
}
