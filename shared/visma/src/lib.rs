//! Typed client for the Visma eAccounting (eEkonomi) API v2 and its OAuth2 identity server.
//!
//! Knows HTTP and Visma's wire formats; nothing of AWS or the integration's domain. Tokens are
//! supplied by the caller through [`TokenSource`] so that persisted, rotated tokens stay the
//! single source of truth.
//!
//! ```no_run
//! # async fn demo(config: visma::VismaConfig, tokens: &dyn visma::TokenSource) -> Result<(), visma::VismaError> {
//! let client = visma::ApiClient::new(&config)?;
//! let api = client.connect(tokens);
//! let changed = api
//!     .customers()
//!     .list_all(&visma::ListQuery::new().filter("ChangedUtc gt 2024-05-01T00:00:00Z"))
//!     .await?;
//! # let _ = changed;
//! # Ok(()) }
//! ```

pub mod api;
mod client;
pub mod config;
pub mod error;
pub mod models;
pub mod oauth;
pub mod page;
pub mod query;
pub mod token;

pub use api::{ConvertOptions, VoucherOptions};
pub use client::{ApiClient, Pacer, RetryPolicy, VismaApi};
pub use config::VismaConfig;
pub use error::{ApiError, ErrorClass, FieldError, TokenError, VismaError};
pub use oauth::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier, TokenSet, VismaOAuth, ACR_VALUES};
pub use page::{AllPages, Page, PaginationMeta, MAX_PAGE_SIZE};
pub use query::{odata_string, ListQuery};
pub use token::{StaticToken, TokenSource};
