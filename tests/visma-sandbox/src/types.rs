//! Public configuration and result types.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How the sandbox is set up at start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Registered OAuth clients. Default: `aourly-local` / `aourly-local-secret`, any redirect URI.
    pub clients: Vec<ClientRegistration>,
    /// Access-token lifetime (`expires_in`), default 3600 s.
    pub access_token_lifetime: Duration,
    /// Requests per window per (client, method + route template); default 600.
    pub rate_limit: u32,
    /// Sliding window length; default 60 s.
    pub rate_window: Duration,
    /// When true, `/connect/authorize` redirects at once with a code (no consent page).
    pub auto_approve: bool,
    /// Seed data options.
    pub seed: Seed,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            clients: vec![ClientRegistration::default()],
            access_token_lifetime: Duration::from_secs(3600),
            rate_limit: 600,
            rate_window: Duration::from_secs(60),
            auto_approve: false,
            seed: Seed::default(),
        }
    }
}

/// A registered OAuth client. An empty `redirect_uris` allows any redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRegistration {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

impl Default for ClientRegistration {
    fn default() -> Self {
        ClientRegistration {
            client_id: "aourly-local".to_string(),
            client_secret: "aourly-local-secret".to_string(),
            redirect_uris: Vec::new(),
        }
    }
}

/// Seed options: the two default companies always exist; `extra_accounts` adds that many
/// generated accounts to every fiscal year's chart (to test paging through 2000+ accounts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    pub extra_accounts: u32,
}

/// A company the test user can authorize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyInfo {
    pub id: Uuid,
    pub name: String,
    pub corporate_identity_number: String,
}

/// Tokens as the token endpoint would return them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// Fault injection for `/v2/...` requests (never identity or admin), and a delay for the
/// token endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// 0..=100: share of API requests answered 500 + ErrorCode 5000 before doing anything.
    pub server_error_rate_percent: u8,
    /// Added to every API request.
    pub latency: Duration,
    /// Added to every `/connect/token` request (a slow identity server: a refresh that is
    /// still in flight while something else happens).
    pub token_latency: Duration,
    /// Do the work, commit state, then drop the TCP connection without any response.
    pub drop_after_commit: Vec<DropRule>,
    /// Answer 504 at once with a gateway's HTML page (a proxy in front of Visma that gave up
    /// waiting), and still do the work `GATEWAY_COMMIT_DELAY` (1 s) later.
    pub gateway_timeout_then_commit: Vec<DropRule>,
    /// Deterministic 500 + 5000 (before doing anything) for a method + route template.
    pub server_error_on: Vec<DropRule>,
}

/// Matches `method` (case-insensitive) and `route` (template such as `/v2/customers` or
/// `/v2/customers/{id}`), `times` times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropRule {
    pub method: String,
    pub route: String,
    pub times: u32,
}

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    /// Route template, e.g. `/v2/customers/{id}`; the literal path when no route matched.
    pub route: String,
    pub query: Option<String>,
    pub status: u16,
    pub client_id: Option<String>,
    pub company_id: Option<Uuid>,
    /// True when the connection was dropped after the work was done (no response sent).
    pub dropped: bool,
}
