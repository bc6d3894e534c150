//! One-time OAuth `state` values (CSRF), bound to a tenant and user, valid 10 minutes.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use domain::TenantId;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::SdkResultExt;
use crate::keys::{self, PK, SK};
use crate::{StoreError, Table};

/// What a `state` stands for until the callback consumes it.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub tenant: TenantId,
    pub user: String,
    pub return_url: String,
    /// The PKCE verifier sent with this authorization, if any.
    pub pkce_verifier: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct StateItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    tenant: TenantId,
    user: String,
    return_url: String,
    pkce_verifier: Option<String>,
    /// Epoch seconds: DynamoDB's TTL deletes it eventually; consumption checks it exactly.
    expires_at: i64,
}

#[derive(Clone, Debug)]
pub struct OAuthStates {
    table: Table,
}

impl OAuthStates {
    pub(crate) fn new(table: Table) -> Self {
        Self { table }
    }

    pub async fn create(
        &self,
        state: &str,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        self.table
            .put_new(&StateItem {
                pk: keys::oauth_state_pk(state),
                sk: keys::oauth_state_sk().into(),
                tenant: pending.tenant.clone(),
                user: pending.user.clone(),
                return_url: pending.return_url.clone(),
                pkce_verifier: pending
                    .pkce_verifier
                    .as_ref()
                    .map(|v| v.expose_secret().to_owned()),
                expires_at: pending.expires_at.timestamp(),
            })
            .await
    }

    /// Consumes a state in one conditional write (a delete that returns the old item).
    /// `None` when it never existed or was already used. An expired state (still in the table
    /// until its TTL removes it) is consumed and returned: the caller checks `expires_at`.
    /// Either way it can never be used again.
    pub async fn consume(
        &self,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let result = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::oauth_state_pk(state)))
            .key(SK, AttributeValue::S(keys::oauth_state_sk().into()))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .or_store("DeleteItem");
        let old = match result {
            Ok(out) => out.attributes,
            Err(StoreError::ConditionFailed) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(old) = old else { return Ok(None) };
        let item: StateItem = crate::table::from_item(old)?;
        Ok(Some(PendingAuthorization {
            tenant: item.tenant,
            user: item.user,
            return_url: item.return_url,
            pkce_verifier: item.pkce_verifier.map(SecretString::from),
            expires_at: DateTime::from_timestamp(item.expires_at, 0).unwrap_or(now),
        }))
    }
}
