//! Visma tokens at rest: item `TENANT#{t}` / `TOKENS`.
//!
//! The access and refresh token are sealed together: with `TOKEN_KMS_KEY_ID` set, one KMS
//! `Encrypt` per write and one `Decrypt` per read, with the tenant as encryption context (a
//! ciphertext copied to another tenant's item does not decrypt). Concurrency between Lambdas is
//! handled with a `version` counter and a refresh `lease` (see `app::tokens`).

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::TenantId;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::Conditional;
use crate::error::SdkResultExt;
use crate::keys::{self, PK, SK};
use crate::{StoreError, Table};

/// Tokens as read back, decrypted.
#[derive(Clone)]
pub struct StoredTokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub expires_at: DateTime<Utc>,
    /// Bumped by every write; refreshers write only over the version they read.
    pub version: u64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .field("lease_owner", &self.lease_owner)
            .field("lease_until", &self.lease_until)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct TokensItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// base64 of the KMS ciphertext, or of the plain JSON when no key is configured.
    sealed: String,
    encrypted: bool,
    expires_at: DateTime<Utc>,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct Plain {
    access_token: String,
    refresh_token: String,
}

#[derive(Clone, Debug)]
pub struct TokenVault {
    table: Table,
    kms: Option<(aws_sdk_kms::Client, String)>,
}

impl TokenVault {
    /// `kms`: the client and key id when `TOKEN_KMS_KEY_ID` is set.
    pub(crate) fn new(table: Table, kms: Option<(aws_sdk_kms::Client, String)>) -> Self {
        Self { table, kms }
    }

    pub fn encrypts(&self) -> bool {
        self.kms.is_some()
    }

    pub async fn load(&self, tenant: &TenantId) -> Result<Option<StoredTokens>, StoreError> {
        let item: Option<TokensItem> = self
            .table
            .get(&keys::tenant_pk(tenant), keys::tokens_sk())
            .await?;
        let Some(item) = item else { return Ok(None) };
        let plain = self.open(tenant, &item).await?;
        Ok(Some(StoredTokens {
            access_token: SecretString::from(plain.access_token),
            refresh_token: SecretString::from(plain.refresh_token),
            expires_at: item.expires_at,
            version: item.version,
            lease_owner: item.lease_owner,
            lease_until: item.lease_until,
        }))
    }

    /// Stores a fresh pair from a code exchange, replacing whatever was there.
    pub async fn store_new(
        &self,
        tenant: &TenantId,
        access_token: &SecretString,
        refresh_token: &SecretString,
        expires_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let version = self
            .load_version(tenant)
            .await?
            .map_or(1, |v| v.saturating_add(1));
        let item = self
            .seal(tenant, access_token, refresh_token, expires_at, version)
            .await?;
        self.table.put(&item).await?;
        Ok(version)
    }

    /// Takes the refresh lease for `owner` until `until`, if the stored version is still
    /// `version` and nobody else holds an unexpired lease. Returns whether it was taken.
    pub async fn try_lease(
        &self,
        tenant: &TenantId,
        version: u64,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
            .key(SK, AttributeValue::S(keys::tokens_sk().into()))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "version = :version AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .expression_attribute_values(":until", AttributeValue::S(rfc3339(until)))
            .expression_attribute_values(":now", AttributeValue::S(rfc3339(now)))
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .send()
            .await
            .or_store("UpdateItem");
        Ok(result.unless_refused()?.is_some())
    }

    /// Writes a rotated pair over `version`, only while `owner` holds the lease, and drops the
    /// lease. `ConditionFailed` means the lease was lost (it expired and someone else took it).
    pub async fn store_rotated(
        &self,
        tenant: &TenantId,
        version: u64,
        owner: &str,
        access_token: &SecretString,
        refresh_token: &SecretString,
        expires_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let next = version.saturating_add(1);
        let item = self
            .seal(tenant, access_token, refresh_token, expires_at, next)
            .await?;
        let item = crate::table::to_item(&item)?;
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(item))
            .condition_expression("version = :version AND lease_owner = :owner")
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .send()
            .await
            .or_store("PutItem")?;
        Ok(next)
    }

    /// Gives the lease back without changing the tokens (the refresh failed).
    pub async fn release_lease(&self, tenant: &TenantId, owner: &str) -> Result<(), StoreError> {
        let result = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
            .key(SK, AttributeValue::S(keys::tokens_sk().into()))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .send()
            .await
            .or_store("UpdateItem");
        result.or_refused()
    }

    pub async fn delete(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.table
            .delete(&keys::tenant_pk(tenant), keys::tokens_sk())
            .await
    }

    /// The raw stored attribute, for tests that check nothing readable is at rest.
    pub async fn sealed_value(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let item: Option<TokensItem> = self
            .table
            .get(&keys::tenant_pk(tenant), keys::tokens_sk())
            .await?;
        Ok(item.map(|i| i.sealed))
    }

    async fn load_version(&self, tenant: &TenantId) -> Result<Option<u64>, StoreError> {
        let item: Option<TokensItem> = self
            .table
            .get(&keys::tenant_pk(tenant), keys::tokens_sk())
            .await?;
        Ok(item.map(|i| i.version))
    }

    async fn seal(
        &self,
        tenant: &TenantId,
        access_token: &SecretString,
        refresh_token: &SecretString,
        expires_at: DateTime<Utc>,
        version: u64,
    ) -> Result<TokensItem, StoreError> {
        let plain = serde_json::to_vec(&Plain {
            access_token: access_token.expose_secret().to_owned(),
            refresh_token: refresh_token.expose_secret().to_owned(),
        })
        .map_err(|e| StoreError::Decode(e.to_string()))?;
        let (bytes, encrypted) = match &self.kms {
            Some((kms, key_id)) => {
                let out = kms
                    .encrypt()
                    .key_id(key_id)
                    .plaintext(Blob::new(plain))
                    .encryption_context("tenant", tenant.as_str())
                    .encryption_context("purpose", "visma-tokens")
                    .send()
                    .await
                    .map_err(|e| StoreError::from_sdk("KMS Encrypt", e))?;
                let blob = out
                    .ciphertext_blob
                    .ok_or_else(|| StoreError::Decode("KMS returned no ciphertext".into()))?;
                (blob.into_inner(), true)
            }
            None => (plain, false),
        };
        Ok(TokensItem {
            pk: keys::tenant_pk(tenant),
            sk: keys::tokens_sk().into(),
            sealed: base64::engine::general_purpose::STANDARD.encode(bytes),
            encrypted,
            expires_at,
            version,
            lease_owner: None,
            lease_until: None,
        })
    }

    async fn open(&self, tenant: &TenantId, item: &TokensItem) -> Result<Plain, StoreError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&item.sealed)
            .map_err(|_| StoreError::Decode("sealed tokens are not base64".into()))?;
        let plain = if item.encrypted {
            let (kms, _) = self.kms.as_ref().ok_or_else(|| {
                StoreError::Decode(
                    "tokens are KMS-encrypted but no TOKEN_KMS_KEY_ID is configured".into(),
                )
            })?;
            let out = kms
                .decrypt()
                .ciphertext_blob(Blob::new(bytes))
                .encryption_context("tenant", tenant.as_str())
                .encryption_context("purpose", "visma-tokens")
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("KMS Decrypt", e))?;
            out.plaintext
                .ok_or_else(|| StoreError::Decode("KMS returned no plaintext".into()))?
                .into_inner()
        } else {
            bytes
        };
        serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Decode("sealed tokens are malformed".into()))
    }
}

/// Fixed-width UTC timestamps, so string comparison in conditions orders them correctly.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
