//! OAuth2 authorization-code flow against Visma's identity server, built on `oauth2`.
//!
//! The token HTTP client never follows redirects (SSRF) and reports every non-200 answer with
//! its status, so a 5xx is classed Transient and `invalid_grant` Authorization.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AsyncHttpClient, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

pub use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier};

use crate::config::{join, VismaConfig};
use crate::error::{TokenError, VismaError};

/// Restricts the company picker to eAccounting companies and always shows it, so a user with
/// a "default company" cannot silently connect the wrong one.
pub const ACR_VALUES: &str = "service:44643EB1-3F76-4C1C-A672-402AE8085934 forceselectcompany:true";

/// Used when the token response has no `expires_in` (Visma documents one hour).
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3600);

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A token pair as returned by the identity server. The refresh token is single-use: persist
/// the new pair before using the access token.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
}

impl TokenSet {
    /// True when the access token expires within `margin` of `now` (refresh proactively).
    pub fn expires_within(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::MAX);
        now.checked_add_signed(margin)
            .is_none_or(|deadline| deadline >= self.expires_at)
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The identity-server side of a Visma integration: authorize URL, code exchange, refresh,
/// revocation. Cheap to clone.
#[derive(Clone)]
pub struct VismaOAuth {
    client: Client,
    http: TokenHttp,
    scopes: Vec<String>,
    /// Called directly: `oauth2` refuses non-HTTPS revocation URLs, which the local sandbox
    /// uses.
    revocation_url: Url,
    client_id: String,
    client_secret: SecretString,
}

impl fmt::Debug for VismaOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VismaOAuth")
            .field("client_id", self.client.client_id())
            .field("token_url", &self.client.token_uri().as_str())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl VismaOAuth {
    pub fn new(config: &VismaConfig) -> Result<Self, VismaError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| VismaError::Config(format!("cannot build HTTP client: {e}")))?;
        Self::with_http_client(config, http)
    }

    /// Uses the given HTTP client; it must not follow redirects.
    pub fn with_http_client(
        config: &VismaConfig,
        http: reqwest::Client,
    ) -> Result<Self, VismaError> {
        let auth = AuthUrl::from_url(join(&config.identity_url, "connect/authorize")?);
        let token = TokenUrl::from_url(join(&config.identity_url, "connect/token")?);
        let revocation_url = join(&config.identity_url, "connect/revocation")?;
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(oauth2::AuthType::BasicAuth)
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_redirect_uri(RedirectUrl::from_url(config.redirect_uri.clone()));
        Ok(Self {
            client,
            http: TokenHttp(http),
            scopes: config.scopes.clone(),
            revocation_url,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
        })
    }

    /// The URL to send the user's browser to. Check the callback's `state` against `state`.
    pub fn authorize_url(&self, state: &CsrfToken, pkce: Option<PkceCodeChallenge>) -> Url {
        self.authorize_url_with_prompt(state, pkce, None)
    }

    /// Like [`Self::authorize_url`], adding `prompt` (e.g. `login` to connect a second
    /// company with a fresh login).
    pub fn authorize_url_with_prompt(
        &self,
        state: &CsrfToken,
        pkce: Option<PkceCodeChallenge>,
        prompt: Option<&str>,
    ) -> Url {
        let state = state.clone();
        let mut request = self
            .client
            .authorize_url(move || state)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .add_extra_param("acr_values", ACR_VALUES);
        if let Some(prompt) = prompt {
            request = request.add_extra_param("prompt", prompt.to_owned());
        }
        if let Some(pkce) = pkce {
            request = request.set_pkce_challenge(pkce);
        }
        request.url().0
    }

    /// Exchanges the callback's `code` for a token pair.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: Option<PkceCodeVerifier>,
    ) -> Result<TokenSet, VismaError> {
        let mut request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()));
        if let Some(verifier) = pkce_verifier {
            request = request.set_pkce_verifier(verifier);
        }
        let started = std::time::Instant::now();
        let result = request.request_async(&self.http).await;
        log_token_call("code exchange", &result, started);
        let response = result.map_err(|e| token_error("code exchange", e))?;
        self.token_set(response, None, "code exchange")
    }

    /// Uses (and thereby spends) `refresh_token`. On success persist the returned pair at once:
    /// the old refresh token no longer works. If the error [`VismaError::is_uncertain`], the
    /// old token may already be spent.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, VismaError> {
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let started = std::time::Instant::now();
        let result = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await;
        log_token_call("refresh", &result, started);
        let response = result.map_err(|e| token_error("refresh", e))?;
        self.token_set(response, Some(refresh_token), "refresh")
    }

    /// Revokes a refresh token (RFC 7009; with it the grant), e.g. when a tenant disconnects.
    pub async fn revoke(&self, refresh_token: &SecretString) -> Result<(), VismaError> {
        // Same client authentication as `oauth2` uses on the token endpoint.
        let encode =
            |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", refresh_token.expose_secret())
            .append_pair("token_type_hint", "refresh_token")
            .finish();
        let request = self
            .http
            .0
            .post(self.revocation_url.clone())
            .basic_auth(
                encode(&self.client_id),
                Some(encode(self.client_secret.expose_secret())),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form);
        let started = std::time::Instant::now();
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status();
                // Read the body so an error body can be decoded; 2xx needs nothing from it.
                match response.bytes().await {
                    Ok(_) if status.is_success() => Ok(()),
                    Ok(body) => Err(TokenHttpError::Status {
                        status: status.as_u16(),
                        body: body.to_vec(),
                    }),
                    Err(e) => Err(TokenHttpError::Transport {
                        uncertain: status.is_success(),
                        source: e.without_url(),
                    }),
                }
            }
            Err(e) => Err(TokenHttpError::Transport {
                uncertain: crate::client::maybe_processed(&e),
                source: e.without_url(),
            }),
        };
        let status = match &result {
            Ok(()) => Some(200),
            Err(TokenHttpError::Status { status, .. }) => Some(*status),
            Err(_) => None,
        };
        tracing::debug!(
            operation = "revocation",
            path = "/connect/revocation",
            status,
            elapsed_ms = elapsed_ms(started),
            "visma token endpoint call"
        );
        result.map_err(|e| {
            token_error::<oauth2::basic::BasicErrorResponse>(
                "revocation",
                RequestTokenError::Request(e),
            )
        })
    }

    fn token_set(
        &self,
        response: BasicTokenResponse,
        previous_refresh: Option<&SecretString>,
        operation: &'static str,
    ) -> Result<TokenSet, VismaError> {
        let refresh_token = match (response.refresh_token(), previous_refresh) {
            (Some(t), _) => SecretString::from(t.secret().to_owned()),
            (None, Some(previous)) => previous.clone(),
            (None, None) => {
                return Err(VismaError::Token(Box::new(TokenError {
                    operation,
                    status: Some(200),
                    error: None,
                    description: None,
                    transport: false,
                    uncertain: false,
                    detail: Some(
                        "no refresh_token in the response; is `offline_access` requested?".into(),
                    ),
                })))
            }
        };
        let expires_in = response.expires_in().unwrap_or(DEFAULT_EXPIRES_IN);
        let expires_at = Utc::now()
            + chrono::Duration::from_std(expires_in).unwrap_or(chrono::Duration::hours(1));
        let scopes = match response.scopes() {
            Some(scopes) => scopes.iter().map(|s| s.to_string()).collect(),
            None => self.scopes.clone(),
        };
        Ok(TokenSet {
            access_token: SecretString::from(response.access_token().secret().to_owned()),
            refresh_token,
            expires_at,
            scopes,
        })
    }
}

fn elapsed_ms(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn log_token_call<T>(
    operation: &'static str,
    result: &Result<T, RequestTokenError<TokenHttpError, oauth2::basic::BasicErrorResponse>>,
    started: std::time::Instant,
) {
    let status = match result {
        Ok(_) => Some(200),
        Err(RequestTokenError::Request(TokenHttpError::Status { status, .. })) => Some(*status),
        Err(_) => None,
    };
    tracing::debug!(
        operation,
        path = "/connect/token",
        status,
        elapsed_ms = elapsed_ms(started),
        "visma token endpoint call"
    );
}

/// OAuth2 error body (RFC 6749 §5.2).
#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

fn token_error<TE: oauth2::ErrorResponse>(
    operation: &'static str,
    error: RequestTokenError<TokenHttpError, TE>,
) -> VismaError {
    let mut e = TokenError {
        operation,
        status: None,
        error: None,
        description: None,
        transport: false,
        uncertain: false,
        detail: None,
    };
    match error {
        RequestTokenError::Request(TokenHttpError::Status { status, body }) => {
            e.status = Some(status);
            match serde_json::from_slice::<OAuthErrorBody>(&body) {
                Ok(b) => {
                    e.error = Some(b.error);
                    e.description = b.error_description;
                }
                Err(_) => e.detail = Some("non-OAuth error body".into()),
            }
        }
        RequestTokenError::Request(TokenHttpError::Transport { source, uncertain }) => {
            e.transport = true;
            e.uncertain = uncertain;
            e.detail = Some(source.to_string());
        }
        RequestTokenError::Request(TokenHttpError::Build(message)) => e.detail = Some(message),
        RequestTokenError::ServerResponse(resp) => {
            e.error = Some(resp.to_string());
        }
        // Never print the body: a success body holds tokens. The path is enough to debug.
        RequestTokenError::Parse(err, _body) => {
            e.status = Some(200);
            e.detail = Some(format!("cannot decode token response at `{}`", err.path()));
        }
        RequestTokenError::Other(message) => e.detail = Some(message),
    }
    VismaError::Token(Box::new(e))
}

/// `oauth2` HTTP client over reqwest that turns any non-200 answer into an error carrying the
/// status, since `oauth2` itself drops the status of error responses.
#[derive(Clone)]
struct TokenHttp(reqwest::Client);

#[derive(Debug, thiserror::Error)]
enum TokenHttpError {
    #[error("HTTP {status}")]
    Status { status: u16, body: Vec<u8> },
    #[error("transport error: {source}")]
    Transport {
        #[source]
        source: reqwest::Error,
        uncertain: bool,
    },
    #[error("cannot build token request: {0}")]
    Build(String),
}

impl<'c> AsyncHttpClient<'c> for TokenHttp {
    type Error = TokenHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request: reqwest::Request = request
                .try_into()
                .map_err(|e: reqwest::Error| TokenHttpError::Build(e.without_url().to_string()))?;
            let response =
                self.0
                    .execute(request)
                    .await
                    .map_err(|e| TokenHttpError::Transport {
                        uncertain: crate::client::maybe_processed(&e),
                        source: e.without_url(),
                    })?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| TokenHttpError::Transport {
                    // Status already arrived: the server has processed the request.
                    uncertain: status.is_success(),
                    source: e.without_url(),
                })?
                .to_vec();
            if status != reqwest::StatusCode::OK {
                return Err(TokenHttpError::Status {
                    status: status.as_u16(),
                    body,
                });
            }
            let mut builder = oauth2::http::Response::builder().status(status.as_u16());
            for (name, value) in headers.iter() {
                builder = builder.header(name.as_str(), value.as_bytes());
            }
            builder
                .body(body)
                .map_err(|e| TokenHttpError::Build(e.to_string()))
        })
    }
}
