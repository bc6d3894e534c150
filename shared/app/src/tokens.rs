//! The service's [`visma::TokenSource`]: tokens live in DynamoDB (sealed with KMS), and every
//! Lambda that needs one reads them from there.
//!
//! Refreshing is safe with many concurrent Lambdas. Visma's refresh tokens are single-use, so
//! exactly one refresher per tenant may call the token endpoint at a time: it first takes a
//! lease on the tokens item with a conditional write (on the version it read, and only if no
//! unexpired lease exists). The others wait and re-read (or use the current access token while
//! it is still valid). The lease holder stores the rotated pair, conditionally on still holding
//! the lease, *before* it uses the new access token. A failed store is returned, never
//! swallowed. `invalid_grant` marks the connection `expired`; a transient failure only backs
//! off.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::connection::ConnectionStatus;
use domain::TenantId;
use secrecy::{ExposeSecret, SecretString};
use store::{StoreError, StoredTokens};
use visma::{ErrorClass, TokenSource, VismaError};

use crate::Deps;

/// Refresh this long before the access token expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long a refresher may hold the lease: longer than a token call can take.
const LEASE: Duration = Duration::from_secs(30);
const WAIT_STEP: Duration = Duration::from_millis(100);
/// How long a worker waits for another's refresh before giving up (transiently).
const MAX_WAIT: Duration = Duration::from_secs(20);

/// The reason shown on the Integrations page when Visma refuses the refresh token.
pub const EXPIRED_REASON: &str =
    "Visma no longer accepts this connection's authorization (it was revoked, the password was changed, or it expired). Reconnect to resume syncing.";

/// Tokens of one tenant, for one Visma call sequence.
pub struct TenantTokens<'a> {
    deps: &'a Deps,
    tenant: TenantId,
    /// Identifies this refresher in the lease (one per invocation).
    owner: String,
}

impl<'a> TenantTokens<'a> {
    pub fn new(deps: &'a Deps, tenant: TenantId) -> Self {
        Self {
            deps,
            tenant,
            owner: uuid::Uuid::new_v4().to_string(),
        }
    }

    async fn token(&self, rejected: Option<&SecretString>) -> Result<SecretString, VismaError> {
        let started = tokio_now();
        loop {
            let stored = self
                .deps
                .vault
                .load(&self.tenant)
                .await
                .map_err(store_failure)?
                .ok_or_else(|| {
                    VismaError::token_source(
                        ErrorClass::Authorization,
                        "the tenant has no Visma tokens",
                    )
                })?;
            let now = Utc::now();
            let due = match rejected {
                Some(rejected) => stored.access_token.expose_secret() == rejected.expose_secret(),
                None => refresh_due(stored.expires_at, now),
            };
            if !due {
                return Ok(stored.access_token);
            }
            let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
            let leased = self
                .deps
                .vault
                .try_lease(&self.tenant, stored.version, &self.owner, until, now)
                .await
                .map_err(store_failure)?;
            if leased {
                return self.refresh_holding_lease(stored).await;
            }
            // Someone else is refreshing. Our token may still be good for a while.
            if rejected.is_none() && stored.expires_at > now + chrono::Duration::seconds(10) {
                return Ok(stored.access_token);
            }
            if started.elapsed() > MAX_WAIT {
                return Err(VismaError::token_source(
                    ErrorClass::Transient,
                    "another worker's token refresh did not finish in time",
                ));
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    async fn refresh_holding_lease(
        &self,
        stored: StoredTokens,
    ) -> Result<SecretString, VismaError> {
        let vault = &self.deps.vault;
        match self.deps.oauth.refresh(&stored.refresh_token).await {
            Ok(fresh) => {
                // Persist the rotated pair before the new access token is used: the old
                // refresh token is already dead at Visma.
                let mut attempt = 0;
                loop {
                    let result = vault
                        .store_rotated(
                            &self.tenant,
                            stored.version,
                            &self.owner,
                            &fresh.access_token,
                            &fresh.refresh_token,
                            fresh.expires_at,
                        )
                        .await;
                    match result {
                        Ok(_) => {
                            tracing::info!(tenant = %self.tenant, "refreshed and stored Visma tokens");
                            return Ok(fresh.access_token);
                        }
                        Err(e) if e.is_retryable() && attempt < 3 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                        }
                        Err(e) => {
                            tracing::error!(
                                tenant = %self.tenant,
                                error = %e,
                                "rotated Visma tokens could not be stored; the connection will need a reconnect"
                            );
                            return Err(store_failure(e));
                        }
                    }
                }
            }
            // Only a refused refresh token means the owner must reconnect. `invalid_client`
            // is our own configuration (a wrong or rotated client secret): expiring every
            // tenant for it would send all owners to Reconnect for nothing.
            Err(e) if refresh_token_refused(&e) => {
                // The refusal is about the tokens this worker read. If a reconnect stored new
                // ones meanwhile (or a disconnect deleted them), it says nothing about the
                // connection as it is now: retried with whatever is stored.
                let replaced = vault
                    .load(&self.tenant)
                    .await
                    .map_err(store_failure)?
                    .is_none_or(|current| {
                        // Not the version: it starts again at 1 after a disconnect.
                        current.refresh_token.expose_secret()
                            != stored.refresh_token.expose_secret()
                    });
                if replaced {
                    tracing::info!(tenant = %self.tenant, "Visma refused the old refresh token, but the tokens were replaced meanwhile");
                    return Err(VismaError::token_source(
                        ErrorClass::Transient,
                        "the Visma tokens were replaced while they were being refreshed",
                    ));
                }
                tracing::warn!(tenant = %self.tenant, error = %e, "Visma refused the refresh token; marking the connection expired");
                // Aourly is told before the status changes: once it has changed, no later
                // worker would tell it. Only the lease holder gets here, so this is sent once
                // per refusal (twice only if the status write below fails and is retried).
                let connected = self
                    .deps
                    .connections
                    .get(&self.tenant)
                    .await
                    .map_err(store_failure)?
                    .is_some_and(|c| c.status == ConnectionStatus::Connected);
                if connected {
                    crate::events::emit(
                        self.deps,
                        &self.tenant,
                        domain::outbound::OutboundType::ConnectionExpired,
                        serde_json::json!({"reason": EXPIRED_REASON}),
                    )
                    .await
                    .map_err(store_failure)?;
                }
                self.deps
                    .connections
                    .leave_connected(
                        &self.tenant,
                        ConnectionStatus::Expired,
                        Some(EXPIRED_REASON),
                        Utc::now(),
                        true,
                    )
                    .await
                    .map_err(store_failure)?;
                let _ = vault.release_lease(&self.tenant, &self.owner).await;
                Err(e)
            }
            Err(e) => {
                let _ = vault.release_lease(&self.tenant, &self.owner).await;
                if e.class() == ErrorClass::Authorization {
                    tracing::error!(tenant = %self.tenant, error = %e, "Visma refused the client credentials; check VISMA_CLIENT_ID and the client secret");
                    // Not the owner's to fix: retried (and alarmed on) like an outage.
                    return Err(VismaError::token_source(
                        ErrorClass::Transient,
                        "Visma refused this service's client credentials",
                    ));
                }
                tracing::warn!(tenant = %self.tenant, error = %e, "token refresh failed; backing off");
                Err(e)
            }
        }
    }
}

/// Visma's identity server refused the refresh token itself (`invalid_grant`).
fn refresh_token_refused(e: &VismaError) -> bool {
    matches!(e, VismaError::Token(t) if t.error.as_deref() == Some("invalid_grant"))
}

/// Whether an access token expiring at `expires_at` should be refreshed now.
pub fn refresh_due(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expires_at - chrono::Duration::from_std(REFRESH_MARGIN).unwrap_or_default() <= now
}

fn tokio_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// A failure of our own token store is never Visma refusing the record; its cause goes to
/// the log. An outage, or a refused conditional write (the tokens were replaced by a
/// reconnect or deleted by a disconnect under this worker), is retried: the retry reads the
/// new tokens, or finds the tenant disconnected. Anything else (a KMS key disabled, tokens
/// that do not decrypt) is permanent, and a push fails with `internal_error`.
fn store_failure(e: StoreError) -> VismaError {
    tracing::warn!(error = %e, "the token store failed");
    if e.is_retryable() || matches!(e, StoreError::ConditionFailed) {
        VismaError::token_source(
            ErrorClass::Transient,
            "the service's token store was briefly unavailable",
        )
    } else {
        VismaError::token_source(
            ErrorClass::Permanent,
            "the service could not use this company's stored Visma tokens (a fault on our side, in the worker's log)",
        )
    }
}

#[async_trait]
impl TokenSource for TenantTokens<'_> {
    async fn access_token(&self) -> Result<SecretString, VismaError> {
        self.token(None).await
    }

    async fn refresh_after_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<SecretString, VismaError> {
        self.token(Some(rejected)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_refreshed_within_the_margin_of_its_expiry() {
        let now = Utc::now();
        let margin = chrono::Duration::from_std(REFRESH_MARGIN).unwrap();
        assert!(!refresh_due(
            now + margin + chrono::Duration::seconds(1),
            now
        ));
        assert!(refresh_due(now + margin, now));
        assert!(refresh_due(now - chrono::Duration::seconds(1), now));
    }

    #[test]
    fn our_token_store_failing_is_retried_when_it_may_pass_and_never_visma_refusing() {
        let outage = store_failure(StoreError::Transient {
            operation: "GetItem",
            source: "timeout".into(),
        });
        assert_eq!(outage.class(), ErrorClass::Transient);
        // Tokens replaced by a reconnect (or removed by a disconnect) under this worker: the
        // retry reads the new state.
        assert_eq!(
            store_failure(StoreError::ConditionFailed).class(),
            ErrorClass::Transient
        );
        let broken = store_failure(StoreError::Decode("not base64".into()));
        assert_eq!(broken.class(), ErrorClass::Permanent);
        assert!(!broken.to_string().contains("base64"), "{broken}");
    }
}
