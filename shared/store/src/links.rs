//! Aourly customer id → Visma customer id, per tenant (`LINK#customer#{aourly id}`), and the
//! short creation lease of a customer without a customer number (`CREATING#customer#{aourly
//! id}`): nothing in Visma refuses a second such customer, so two pushes naming it take turns.

use chrono::{DateTime, Duration, Utc};
use domain::TenantId;
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::table::{Lease, Table};
use crate::StoreError;

/// The customer links and creation leases of every tenant.
#[derive(Clone, Debug)]
pub struct CustomerLinks {
    table: Table,
}

#[derive(Serialize, Deserialize)]
struct LinkItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    visma_id: uuid::Uuid,
    linked_at: DateTime<Utc>,
}

impl CustomerLinks {
    pub(crate) fn new(table: Table) -> Self {
        Self { table }
    }

    /// The Visma customer `aourly_id` is linked to, if any.
    pub async fn get(
        &self,
        tenant: &TenantId,
        aourly_id: &str,
    ) -> Result<Option<uuid::Uuid>, StoreError> {
        let item: Option<LinkItem> = self
            .table
            .get(&keys::tenant_pk(tenant), &keys::customer_link_sk(aourly_id))
            .await?;
        Ok(item.map(|i| i.visma_id))
    }

    pub async fn put(
        &self,
        tenant: &TenantId,
        aourly_id: &str,
        visma_id: uuid::Uuid,
    ) -> Result<(), StoreError> {
        self.table
            .put(&LinkItem {
                pk: keys::tenant_pk(tenant),
                sk: keys::customer_link_sk(aourly_id),
                visma_id,
                linked_at: Utc::now(),
            })
            .await
    }

    /// Takes the creation lease of `aourly_id` for `holder` until `now + lease`, unless another
    /// holder has a live one. The link the holder writes ends the need for it.
    pub async fn lease_creation(
        &self,
        tenant: &TenantId,
        aourly_id: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Lease, StoreError> {
        self.table
            .take_lease(
                &keys::tenant_pk(tenant),
                &keys::customer_creation_sk(aourly_id),
                holder,
                now,
                lease,
            )
            .await
    }

    /// Ends the creation lease once its holder knows the outcome (linked, or certainly not
    /// created), so that a lapsed lease always means an unknown outcome. Best effort: a lease
    /// left behind only makes a later creation look the name up first.
    pub async fn release_creation(&self, tenant: &TenantId, aourly_id: &str) {
        let released = self
            .table
            .delete(
                &keys::tenant_pk(tenant),
                &keys::customer_creation_sk(aourly_id),
            )
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release a customer creation lease; it lapses");
        }
    }
}
