//! The HTTP core: one cloneable [`ApiClient`] per process and a per-connection [`VismaApi`]
//! handle that borrows it together with the caller's [`TokenSource`].
//!
//! Rules kept here, not in callers: a 401 triggers exactly one token refresh and one resend;
//! GETs are retried a few times on transient errors; POST/PUT never are (Visma has no
//! idempotency keys, so resending a write is the caller's decision).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use crate::config::{join, VismaConfig};
use crate::error::{parse_retry_after, ApiError, ErrorBody, VismaError};
use crate::page::{AllPages, Page, MAX_PAGES, MAX_PAGE_SIZE};
use crate::query::{encode_query, ListQuery};
use crate::token::TokenSource;

/// How GETs are retried on transient errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: usize,
    /// First backoff delay; doubles per attempt, with jitter.
    pub min_delay: Duration,
    /// Longest single wait. When Visma asks for a longer wait (rate limit), the error is
    /// returned instead so the caller can reschedule rather than hold a Lambda.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
    pacer: Option<Arc<dyn Pacer>>,
}

/// Paces requests under Visma's rate limit (600 per minute per client and endpoint), which is
/// shared by every tenant and every concurrent Lambda: the caller implements it over shared
/// state, and the client waits on it before each request.
#[async_trait::async_trait]
pub trait Pacer: Send + Sync {
    /// Returns when one request on `method route` (route = path template) may be sent, or
    /// `Err(wait)` when it may not be sent soon enough: the request is then not sent, and the
    /// call fails with [`VismaError::Paced`], to be tried again after `wait`.
    async fn acquire(&self, method: &str, route: &'static str) -> Result<(), Duration>;
}

/// Process-wide API client: HTTP connection pool, base URL and retry policy. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.inner.base.as_str())
            .field("retry", &self.inner.retry)
            .finish()
    }
}

impl ApiClient {
    pub fn new(config: &VismaConfig) -> Result<Self, VismaError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| VismaError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Self::with_http_client(http, config.api_url.clone()))
    }

    /// Uses a prepared HTTP client (its timeouts apply) and API base URL.
    pub fn with_http_client(http: reqwest::Client, api_url: Url) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                base: api_url,
                retry: RetryPolicy::default(),
                pacer: None,
            }),
        }
    }

    /// Waits on `pacer` before every request.
    pub fn with_pacer(self, pacer: Arc<dyn Pacer>) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                base: self.inner.base.clone(),
                retry: self.inner.retry.clone(),
                pacer: Some(pacer),
            }),
        }
    }

    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                base: self.inner.base.clone(),
                retry,
                pacer: self.inner.pacer.clone(),
            }),
        }
    }

    /// A handle for one Visma connection (one user + company), using `tokens` for bearer
    /// tokens.
    pub fn connect<'a, T: TokenSource + ?Sized>(&'a self, tokens: &'a T) -> VismaApi<'a, T> {
        VismaApi {
            client: self,
            tokens,
        }
    }
}

/// Per-connection handle; resource handlers hang off it (`api.customers().list(..)`).
pub struct VismaApi<'a, T: ?Sized> {
    client: &'a ApiClient,
    tokens: &'a T,
}

impl<T: ?Sized> Clone for VismaApi<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for VismaApi<'_, T> {}

/// One API call, described without secrets.
pub(crate) struct Call {
    pub method: Method,
    /// Path template for logs and errors, e.g. `/v2/customers/{customerId}`.
    pub template: &'static str,
    /// Concrete path, e.g. `v2/customers/3c1d...`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

impl Call {
    pub fn get(template: &'static str, path: String) -> Self {
        Self {
            method: Method::GET,
            template,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    pub fn with_query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.query = query;
        self
    }

    pub fn write<B: Serialize + ?Sized>(
        method: Method,
        template: &'static str,
        path: String,
        body: &B,
    ) -> Result<Self, VismaError> {
        let body = serde_json::to_vec(body).map_err(|e| VismaError::Encode {
            context: format!("{method} {template}"),
            message: e.to_string(),
        })?;
        Ok(Self {
            method,
            template,
            path,
            query: Vec::new(),
            body: Some(body),
        })
    }

    fn context(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

impl<'a, T: TokenSource + ?Sized> VismaApi<'a, T> {
    /// Runs a call: GETs with bounded retries on transient errors, writes exactly once
    /// (plus the single resend after a 401).
    pub(crate) async fn execute<R: DeserializeOwned>(&self, call: &Call) -> Result<R, VismaError> {
        if call.method != Method::GET {
            return self.execute_authorized(call).await;
        }
        let policy = &self.client.inner.retry;
        if policy.max_retries == 0 {
            return self.execute_authorized(call).await;
        }
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_retries)
            .with_jitter();
        let max_delay = policy.max_delay;
        (|| self.execute_authorized::<R>(call))
            .retry(backoff)
            .when(VismaError::is_retryable)
            .adjust(move |err, backoff_delay| {
                // `None` from the backoff means attempts are exhausted.
                let delay = backoff_delay?;
                match err.retry_after() {
                    Some(asked) if asked > max_delay => None,
                    Some(asked) => Some(asked),
                    None => Some(delay),
                }
            })
            .notify(|err, delay| {
                tracing::debug!(
                    method = %call.method,
                    path = call.template,
                    status = err.status(),
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "retrying visma GET"
                );
            })
            .await
    }

    async fn execute_authorized<R: DeserializeOwned>(&self, call: &Call) -> Result<R, VismaError> {
        let token = self.tokens.access_token().await?;
        match self.send(call, &token).await {
            Err(e) if e.status() == Some(401) => {
                tracing::debug!(
                    method = %call.method,
                    path = call.template,
                    "visma answered 401; refreshing token once"
                );
                let fresh = self.tokens.refresh_after_unauthorized(&token).await?;
                self.send(call, &fresh).await
            }
            other => other,
        }
    }

    async fn send<R: DeserializeOwned>(
        &self,
        call: &Call,
        token: &SecretString,
    ) -> Result<R, VismaError> {
        let inner = &self.client.inner;
        let mut url = join(&inner.base, &call.path)?;
        if !call.query.is_empty() {
            url.set_query(Some(&encode_query(&call.query)));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| {
                VismaError::token_source(
                    crate::ErrorClass::Authorization,
                    "access token contains characters not allowed in a header",
                )
            })?;
        auth.set_sensitive(true);
        let mut request = inner
            .http
            .request(call.method.clone(), url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json");
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }

        if let Some(pacer) = &inner.pacer {
            if let Err(wait) = pacer.acquire(call.method.as_str(), call.template).await {
                return Err(VismaError::Paced {
                    context: format!("{} {}", call.method, call.template),
                    wait,
                });
            }
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let err = transport_error(call, e, None);
                log_call(call, None, started);
                return Err(err);
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.bytes().await;
        log_call(call, Some(status.as_u16()), started);
        let body = body.map_err(|e| transport_error(call, e, Some(status)))?;

        if !status.is_success() {
            return Err(api_error(call, status.as_u16(), retry_after, &body));
        }
        decode(&body, call)
    }
}

fn log_call(call: &Call, status: Option<u16>, started: Instant) {
    tracing::debug!(
        method = %call.method,
        path = call.template,
        status,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "visma api call"
    );
}

/// Whether a failed request may have reached the server and been processed: anything but a
/// failure to connect (or to build the request) leaves that open.
pub(crate) fn maybe_processed(e: &reqwest::Error) -> bool {
    !(e.is_connect() || e.is_builder())
}

fn transport_error(
    call: &Call,
    e: reqwest::Error,
    status: Option<reqwest::StatusCode>,
) -> VismaError {
    let uncertain = match status {
        // The answer's status arrived; only a success status means it was processed.
        Some(status) => status.is_success() && call.method != Method::GET,
        None => call.method != Method::GET && maybe_processed(&e),
    };
    VismaError::Transport {
        context: call.context(),
        uncertain,
        // The URL can hold filter values with personal data; the template is in `context`.
        source: e.without_url(),
    }
}

fn api_error(call: &Call, status: u16, retry_after: Option<Duration>, body: &[u8]) -> VismaError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let raw_body = match &parsed {
        Some(b) if b.error_code.is_some() || b.developer_error_message.is_some() => None,
        _ if body.is_empty() => None,
        _ => Some(
            String::from_utf8_lossy(body)
                .chars()
                .take(300)
                .collect::<String>(),
        ),
    };
    let parsed = parsed.unwrap_or_default();
    VismaError::Api(Box::new(ApiError {
        method: call.method.to_string(),
        path: call.template,
        status,
        code: parsed.error_code,
        message: parsed.developer_error_message,
        error_id: parsed.error_id,
        field_errors: parsed.errors.unwrap_or_default(),
        retry_after_header: retry_after,
        raw_body,
    }))
}

fn decode<R: DeserializeOwned>(body: &[u8], call: &Call) -> Result<R, VismaError> {
    // Some writes answer with an empty body; let `()`-like targets accept it.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        body
    };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| VismaError::Decode {
        context: call.context(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
        uncertain: call.method != Method::GET,
    })
}

/// List helpers shared by the resource handlers.
impl<'a, T: TokenSource + ?Sized> VismaApi<'a, T> {
    pub(crate) async fn get_page<I: DeserializeOwned>(
        &self,
        template: &'static str,
        path: String,
        query: &ListQuery,
    ) -> Result<Page<I>, VismaError> {
        self.execute(&Call::get(template, path).with_query(query.pairs()))
            .await
    }

    /// Reads every page with `$pagesize=1000`, starting at page 1 (`query.page` and
    /// `query.page_size` are overridden).
    pub(crate) async fn get_all<I: DeserializeOwned>(
        &self,
        template: &'static str,
        path: String,
        query: &ListQuery,
    ) -> Result<AllPages<I>, VismaError> {
        let mut query = query.clone().page(1).page_size(MAX_PAGE_SIZE);
        let first: Page<I> = self.get_page(template, path.clone(), &query).await?;
        let server_time_utc = first.meta.server_time_utc;
        let total_pages = first.meta.total_number_of_pages.min(MAX_PAGES);
        let mut items = first.data;
        let mut page = 1;
        while page < total_pages {
            page += 1;
            query.page = Some(page);
            let next: Page<I> = self.get_page(template, path.clone(), &query).await?;
            if next.data.is_empty() {
                break;
            }
            items.extend(next.data);
        }
        Ok(AllPages {
            items,
            server_time_utc,
        })
    }
}
