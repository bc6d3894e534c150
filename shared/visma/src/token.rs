//! Where the client gets bearer tokens from. The service implements this over its token
//! store (DynamoDB), so persisted, rotated tokens stay the single source of truth; the client
//! itself never keeps tokens.

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::{ErrorClass, VismaError};

/// Supplies access tokens for one Visma connection (one user + company).
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A currently valid access token (refresh it proactively when near expiry).
    async fn access_token(&self) -> Result<SecretString, VismaError>;

    /// Called at most once per request after the API answered 401 to `rejected`. Refresh,
    /// persist the rotated refresh token, and return the new access token. If another worker
    /// already refreshed (the stored access token differs from `rejected`), return that one.
    async fn refresh_after_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<SecretString, VismaError>;
}

/// A fixed token that cannot be refreshed: for tools, tests and one-off scripts.
pub struct StaticToken(SecretString);

impl StaticToken {
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken([redacted])")
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn access_token(&self) -> Result<SecretString, VismaError> {
        Ok(self.0.clone())
    }

    async fn refresh_after_unauthorized(
        &self,
        _rejected: &SecretString,
    ) -> Result<SecretString, VismaError> {
        Err(VismaError::token_source(
            ErrorClass::Authorization,
            "static token was rejected and cannot be refreshed",
        ))
    }
}
