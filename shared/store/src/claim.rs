//! One accounting system per company.
//!
//! Item `TENANT#{t}` / `ACCOUNTING_SYSTEM` with attribute `system` (`"visma"`, `"fortnox"`, …),
//! `claimed_at` and `claimed_by`. An integration connects only after claiming it with a
//! conditional write (free, or already its own), and releases it on disconnect with a
//! conditional delete (only its own). Another integration sharing this table (Fortnox, say)
//! uses the same item and the same two conditions with its own `system` value.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::Conditional;
use crate::error::SdkResultExt;
use crate::keys::{self, PK, SK};
use crate::{StoreError, Table};

pub const VISMA_SYSTEM: &str = "visma";

#[derive(Clone, Debug)]
pub struct AccountingClaims {
    table: Table,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The tenant's accounting system is now (or already was) this one.
    Held,
    /// Another system holds the tenant.
    HeldBy(String),
}

#[derive(Serialize, Deserialize)]
struct ClaimItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    system: String,
    claimed_at: DateTime<Utc>,
    claimed_by: String,
}

impl AccountingClaims {
    pub(crate) fn new(table: Table) -> Self {
        Self { table }
    }

    pub async fn holder(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let item: Option<ClaimItem> = self
            .table
            .get(&keys::tenant_pk(tenant), keys::accounting_system_sk())
            .await?;
        Ok(item.map(|i| i.system))
    }

    /// Claims the tenant for `system` unless another system holds it.
    pub async fn claim(
        &self,
        tenant: &TenantId,
        system: &str,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StoreError> {
        let item = crate::table::to_item(&ClaimItem {
            pk: keys::tenant_pk(tenant),
            sk: keys::accounting_system_sk().into(),
            system: system.into(),
            claimed_at: now,
            claimed_by: user.into(),
        })?;
        let result = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #system = :system")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#system", "system")
            .expression_attribute_values(":system", AttributeValue::S(system.into()))
            .send()
            .await
            .or_store("PutItem");
        match result {
            Ok(_) => Ok(ClaimOutcome::Held),
            Err(StoreError::ConditionFailed) => Ok(ClaimOutcome::HeldBy(
                self.holder(tenant)
                    .await?
                    .unwrap_or_else(|| "unknown".into()),
            )),
            Err(e) => Err(e),
        }
    }

    /// Releases the claim if `system` holds it; another system's claim is left alone.
    pub async fn release(&self, tenant: &TenantId, system: &str) -> Result<(), StoreError> {
        let result = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
            .key(SK, AttributeValue::S(keys::accounting_system_sk().into()))
            .condition_expression("#system = :system")
            .expression_attribute_names("#system", "system")
            .expression_attribute_values(":system", AttributeValue::S(system.into()))
            .send()
            .await
            .or_store("DeleteItem");
        result.or_refused()
    }
}

/// One Aourly tenant per Visma company: item `VISMA_COMPANY#{company key}` / `TENANT` with the
/// tenant that holds it. Two tenants pushing into one Visma company would see each other's
/// records in the look-ups that keep pushes exactly-once, so the second is refused.
#[derive(Clone, Debug)]
pub struct CompanyClaims {
    table: Table,
}

#[derive(Serialize, Deserialize)]
struct CompanyClaimItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    tenant: String,
    claimed_at: DateTime<Utc>,
}

impl CompanyClaims {
    pub(crate) fn new(table: Table) -> Self {
        Self { table }
    }

    /// Claims `company_key` for `tenant` unless another tenant holds it; returns the holder
    /// otherwise.
    pub async fn claim(
        &self,
        company_key: &str,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StoreError> {
        let item = crate::table::to_item(&CompanyClaimItem {
            pk: keys::visma_company_pk(company_key),
            sk: keys::visma_company_sk().into(),
            tenant: tenant.as_str().into(),
            claimed_at: now,
        })?;
        let result = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR tenant = :tenant")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.as_str().into()))
            .send()
            .await
            .or_store("PutItem");
        match result {
            Ok(_) => Ok(ClaimOutcome::Held),
            Err(StoreError::ConditionFailed) => {
                let holder: Option<CompanyClaimItem> = self
                    .table
                    .get(
                        &keys::visma_company_pk(company_key),
                        keys::visma_company_sk(),
                    )
                    .await?;
                Ok(ClaimOutcome::HeldBy(
                    holder.map_or_else(|| "unknown".into(), |h| h.tenant),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Releases the claim if `tenant` holds it.
    pub async fn release(&self, company_key: &str, tenant: &TenantId) -> Result<(), StoreError> {
        let result = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::visma_company_pk(company_key)))
            .key(SK, AttributeValue::S(keys::visma_company_sk().into()))
            .condition_expression("tenant = :tenant")
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.as_str().into()))
            .send()
            .await
            .or_store("DeleteItem");
        result.or_refused()
    }
}
