//! The connection lifecycle behind the Integrations page's Visma card (integration guide "Management API", "OAuth callback"):
//! connect, the OAuth callback, status, disconnect.

use chrono::{DateTime, Utc};
use domain::connection::{Connection, ConnectionStatus, SyncResult, VismaCompany, VismaPlan};
use domain::outbound::OutboundType;
use domain::{ItemStatus, Warning};
use domain::{SyncJob, TenantId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use store::{ClaimOutcome, PendingAuthorization, StoreError, VISMA_SYSTEM};
use url::Url;
use visma::{CsrfToken, PkceCodeChallenge, StaticToken};

use crate::Deps;

/// How long a `state` (and so an authorize URL) stays usable.
pub const STATE_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the return URL is not allowed")]
    InvalidReturnUrl,
    #[error("another accounting system ({0}) is connected to this company")]
    AccountingSystemConflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `POST /connect`: a one-time state bound to tenant and user, and the URL of Visma's consent
/// page. PKCE (S256) is sent too: Visma's server understands it, and it binds the code to us.
pub async fn start(
    deps: &Deps,
    tenant: &TenantId,
    user: &str,
    return_url: &str,
    now: DateTime<Utc>,
) -> Result<Url, ConnectError> {
    let return_url = allowed_return_url(&deps.config.return_url_prefixes, return_url)
        .ok_or(ConnectError::InvalidReturnUrl)?;
    if let Some(holder) = deps.claims.holder(tenant).await? {
        if holder != VISMA_SYSTEM {
            return Err(ConnectError::AccountingSystemConflict(holder));
        }
    }
    let state = CsrfToken::new_random_len(32);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    deps.states
        .create(
            state.secret(),
            &PendingAuthorization {
                tenant: tenant.clone(),
                user: user.to_owned(),
                return_url: return_url.to_string(),
                pkce_verifier: Some(SecretString::from(verifier.secret().to_owned())),
                expires_at: now + STATE_LIFETIME,
            },
        )
        .await?;
    Ok(deps.oauth.authorize_url(&state, Some(challenge)))
}

/// The return URL, parsed and normalised, if it starts with an allowed (normalised) prefix.
pub fn allowed_return_url(prefixes: &[String], raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.username() != "" || url.password().is_some()
    {
        return None;
    }
    let normalised = url.as_str();
    prefixes
        .iter()
        .any(|prefix| normalised.starts_with(prefix.as_str()))
        .then_some(url)
}

/// The query of `GET /oauth/visma/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// Where the callback sends the browser.
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// 302 to the stored return URL with `visma=connected` or `visma=error&reason=...`.
    Redirect(Url),
    /// Unknown or reused state: a plain 400 page, no return URL revealed.
    InvalidState,
}

/// `GET /oauth/visma/callback` (integration guide "OAuth callback").
pub async fn complete(
    deps: &Deps,
    query: CallbackQuery,
    now: DateTime<Utc>,
) -> Result<CallbackOutcome, StoreError> {
    let Some(state) = query.state.filter(|s| !s.is_empty() && s.len() <= 256) else {
        return Ok(CallbackOutcome::InvalidState);
    };
    let Some(pending) = deps.states.consume(&state, now).await? else {
        return Ok(CallbackOutcome::InvalidState);
    };
    let tenant = pending.tenant.clone();
    let back = |reason: Option<&str>| {
        let mut url = Url::parse(&pending.return_url).expect("stored return URLs were parsed");
        {
            let mut pairs = url.query_pairs_mut();
            match reason {
                None => pairs.append_pair("visma", "connected"),
                Some(reason) => pairs
                    .append_pair("visma", "error")
                    .append_pair("reason", reason),
            };
        }
        CallbackOutcome::Redirect(url)
    };
    // Issued by us and unused, but older than its 10 minutes: the owner is sent back to try
    // again (`invalid_state`); the code, if any, is never exchanged.
    if pending.expires_at <= now {
        tracing::info!(%tenant, "the authorization took too long; its state has expired");
        return Ok(back(Some("invalid_state")));
    }
    if query.error.is_some() {
        tracing::info!(%tenant, "the owner did not grant access at Visma");
        return Ok(back(Some("access_denied")));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return Ok(back(Some("exchange_failed")));
    };
    let verifier = pending
        .pkce_verifier
        .as_ref()
        .map(|v| visma::PkceCodeVerifier::new(secrecy::ExposeSecret::expose_secret(v).to_owned()));
    let tokens = match deps.oauth.exchange_code(&code, verifier).await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "the code exchange failed");
            return Ok(back(Some("exchange_failed")));
        }
    };
    let revoke = || async {
        if let Err(e) = deps.oauth.revoke(&tokens.refresh_token).await {
            tracing::warn!(%tenant, error = %e, "could not revoke an unused authorization");
        }
    };
    let source = StaticToken::new(tokens.access_token.clone());
    let company = match deps.visma.connect(&source).company_settings().get().await {
        Ok(settings) => crate::translate::visma_company(&settings),
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "could not read the Visma company");
            revoke().await;
            return Ok(back(Some("exchange_failed")));
        }
    };
    let existing = deps.connections.get(&tenant).await?;
    if Connection::accepts(existing.as_ref(), &company).is_err() {
        tracing::warn!(%tenant, "refused a reconnect to a different Visma company");
        revoke().await;
        return Ok(back(Some("different_visma_company")));
    }
    // One tenant per Visma company: a second would find the first one's records in the
    // look-ups that keep pushes exactly-once.
    if let ClaimOutcome::HeldBy(other) = deps.companies.claim(&company.key(), &tenant, now).await? {
        tracing::warn!(%tenant, holder = %other, "another tenant is connected to this Visma company");
        revoke().await;
        return Ok(back(Some("visma_company_in_use")));
    }
    if let ClaimOutcome::HeldBy(other) = deps
        .claims
        .claim(&tenant, VISMA_SYSTEM, &pending.user, now)
        .await?
    {
        tracing::warn!(%tenant, holder = %other, "another accounting system holds the tenant");
        revoke().await;
        deps.companies.release(&company.key(), &tenant).await?;
        return Ok(back(Some("accounting_system_conflict")));
    }
    // Tokens first, then the connection record: a crash in between leaves a status that still
    // says "not connected"/"expired", and connecting again repairs it.
    deps.vault
        .store_new(
            &tenant,
            &tokens.access_token,
            &tokens.refresh_token,
            tokens.expires_at,
        )
        .await?;
    let (company_name, company_org) = (
        company.name.clone(),
        company.corporate_identity_number.clone(),
    );
    deps.connections
        .put_connected(&tenant, company, &pending.user, now)
        .await?;
    deps.queue
        .send(
            &SyncJob::Pull {
                tenant: tenant.clone(),
            },
            0,
        )
        .await?;
    crate::events::emit(
        deps,
        &tenant,
        OutboundType::ConnectionConnected,
        serde_json::json!({"visma_company": {
            "name": company_name,
            "corporate_identity_number": company_org,
        }}),
    )
    .await?;
    // Items that waited out the expiry go again, without another webhook.
    crate::resume::resume_blocked(deps, &tenant, &crate::resume::connection_codes()).await?;
    tracing::info!(%tenant, "connected to Visma; first pull queued");
    Ok(back(None))
}

/// `DELETE` the base path: revoke at Visma (best effort), delete token material, stop syncing,
/// release the accounting-system claim. Mappings and sync history stay.
pub async fn disconnect(
    deps: &Deps,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    match deps.vault.load(tenant).await {
        Ok(Some(tokens)) => {
            if let Err(e) = deps.oauth.revoke(&tokens.refresh_token).await {
                tracing::warn!(%tenant, error = %e, "revoking at Visma failed; deleting the tokens anyway");
            }
        }
        Ok(None) => {}
        // Undecryptable or unreadable tokens are deleted all the same.
        Err(e) => tracing::warn!(%tenant, error = %e, "could not read tokens to revoke them"),
    }
    deps.vault.delete(tenant).await?;
    deps.connections
        .leave_connected(tenant, ConnectionStatus::Disconnected, None, now, false)
        .await?;
    deps.claims.release(tenant, VISMA_SYSTEM).await?;
    if let Some(company) = deps.connections.get(tenant).await?.and_then(|c| c.company) {
        deps.companies.release(&company.key(), tenant).await?;
    }
    tracing::info!(%tenant, "disconnected from Visma");
    Ok(())
}

/// `GET` the base path (integration guide "Management API").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusBody {
    pub status: ConnectionStatus,
    pub visma_company: Option<CompanyBody>,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_sync_result: Option<SyncResult>,
    pub mapping_complete: bool,
    pub counts: Counts,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompanyBody {
    pub name: String,
    pub corporate_identity_number: Option<String>,
    /// Visma's plan of the company, as last read (null before it was first read).
    pub plan: Option<VismaPlan>,
    pub settings: Option<SettingsBody>,
}

/// The company settings that decide how Visma books an invoice, as last read from Visma.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsBody {
    pub prices_include_vat_for_private_persons: bool,
    pub rounds_to_whole_kronor: bool,
    pub uses_reverse_construction_vat: bool,
    pub uses_rot_rut: bool,
    pub accounting_locked_to: Option<chrono::NaiveDate>,
}

impl CompanyBody {
    fn of(company: &VismaCompany) -> Self {
        let settings = company.settings.as_ref();
        Self {
            name: company.name.clone(),
            corporate_identity_number: company.corporate_identity_number.clone(),
            plan: settings.and_then(|s| s.plan),
            settings: settings.map(|s| SettingsBody {
                prices_include_vat_for_private_persons: s.prices_include_vat_for_private_persons,
                rounds_to_whole_kronor: s.rounds_to_whole_kronor,
                uses_reverse_construction_vat: s.uses_reverse_construction_vat,
                uses_rot_rut: s.uses_rot_rut,
                accounting_locked_to: s.accounting_locked_to,
            }),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: u64,
    pub synced: u64,
    pub failed: u64,
    pub blocked: u64,
}

/// Four counts over GSI2's key-only entries, side by side, rather than reading every item.
async fn counts(deps: &Deps, tenant: &TenantId) -> Result<Counts, StoreError> {
    crate::items::ensure_status_index(deps, tenant).await?;
    let items = &deps.items;
    let (pending, synced, failed, blocked) = tokio::try_join!(
        items.count(tenant, ItemStatus::Pending),
        items.count(tenant, ItemStatus::Synced),
        items.count(tenant, ItemStatus::Failed),
        items.count(tenant, ItemStatus::Blocked),
    )?;
    Ok(Counts {
        pending,
        synced,
        failed,
        blocked,
    })
}

pub async fn status(deps: &Deps, tenant: &TenantId) -> Result<StatusBody, StoreError> {
    // The three reads are independent: side by side, the page waits for the slowest.
    // The mapping is re-validated against the pulled data (crate::mapping::status_flags):
    // `mapping_unconfirmed` until the owner saves it, `mapping_invalid` when a stored entry no
    // longer validates (e.g. an account missing from a new fiscal year).
    let (connection, counts, (mapping_complete, mapping_warnings)) = tokio::try_join!(
        deps.connections.get(tenant),
        counts(deps, tenant),
        crate::mapping::status_flags(deps, tenant),
    )?;
    let status = connection
        .as_ref()
        .map_or(ConnectionStatus::NotConnected, |c| c.status);
    let warnings = status_warnings(status, mapping_complete, mapping_warnings);
    Ok(StatusBody {
        status,
        visma_company: connection
            .as_ref()
            .and_then(|c| c.company.as_ref())
            .map(CompanyBody::of),
        connected_at: connection.as_ref().and_then(|c| c.connected_at),
        last_sync_at: connection.as_ref().and_then(|c| c.last_sync_at),
        last_sync_result: connection.as_ref().and_then(|c| c.last_sync_result),
        mapping_complete,
        counts,
        warnings,
    })
}

/// The status body's warnings: the connection's first, then the mapping's (none before a
/// connection exists: there is nothing to map yet).
pub fn status_warnings(
    status: ConnectionStatus,
    mapping_complete: bool,
    mapping_warnings: Vec<Warning>,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    match status {
        ConnectionStatus::Expired => warnings.push(Warning::ReauthorizationRequired),
        ConnectionStatus::Connected if !mapping_complete => {
            warnings.push(Warning::MappingIncomplete)
        }
        _ => {}
    }
    if status != ConnectionStatus::NotConnected {
        warnings.extend(mapping_warnings);
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_must_start_with_a_normalised_prefix() {
        let prefixes = vec![
            "https://app.aourly.se/".to_owned(),
            "http://localhost:5173/settings".to_owned(),
        ];
        for ok in [
            "https://app.aourly.se/integrations",
            "https://app.aourly.se",
            "http://localhost:5173/settings/integrations?tab=visma",
        ] {
            assert!(allowed_return_url(&prefixes, ok).is_some(), "{ok}");
        }
        for bad in [
            "https://app.aourly.se.evil.example/",
            "https://evil.example/https://app.aourly.se/",
            "https://user@app.aourly.se/x",
            "javascript:alert(1)",
            "http://localhost:5173/other",
            "//app.aourly.se/",
            "",
        ] {
            assert!(allowed_return_url(&prefixes, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn warnings_name_the_connection_first_and_the_mapping_only_once_connected() {
        use ConnectionStatus::*;
        use Warning::*;
        assert_eq!(
            status_warnings(Expired, false, vec![MappingUnconfirmed]),
            [ReauthorizationRequired, MappingUnconfirmed]
        );
        assert_eq!(
            status_warnings(Connected, false, vec![MappingInvalid]),
            [MappingIncomplete, MappingInvalid]
        );
        assert_eq!(status_warnings(Connected, true, vec![]), []);
        // Not connected yet: a mapping left from nothing is not the owner's concern.
        assert_eq!(
            status_warnings(NotConnected, false, vec![MappingUnconfirmed]),
            []
        );
        // Disconnected keeps the mapping for a reconnect, and says what is wrong with it.
        assert_eq!(
            status_warnings(Disconnected, false, vec![MappingUnconfirmed]),
            [MappingUnconfirmed]
        );
    }
}
