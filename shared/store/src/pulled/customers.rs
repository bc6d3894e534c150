//! The customer index: Visma customers by customer number and org number, so a push can match
//! an Aourly customer without asking Visma.

use super::*;

/// One customer index entry (by customer number or org number).
#[derive(Serialize, Deserialize)]
struct IndexedCustomerId {
    visma_id: String,
}

/// One Visma customer's current keys in the customer index.
#[derive(Serialize, Deserialize)]
struct CurrentCustomerKeys {
    visma_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org_number: Option<String>,
}

/// Any item of one customer index write (one batch writes both kinds).
#[derive(Serialize)]
#[serde(untagged)]
enum CustomerIndexItem {
    Entry(Keyed<IndexedCustomerId>),
    Keys(Keyed<CurrentCustomerKeys>),
}

impl Pulled {
    /// Writes the customer index items of these Visma customers (in batches): an entry per
    /// customer number and org number, replacing what the index held for the same numbers, and
    /// each customer's current keys, replacing the ones stored before (so that the entries its
    /// old numbers left behind stop matching it). Not atomic; if it fails, writing the same
    /// customers again repairs it.
    pub async fn put_customer_index(
        &self,
        tenant: &TenantId,
        customers: &[IndexedCustomer],
    ) -> Result<(), StoreError> {
        let entries =
            customer_index_entries(customers)
                .into_iter()
                .map(|(key, value, visma_id)| {
                    CustomerIndexItem::Entry(keyed(
                        tenant,
                        keys::visma_customer_sk(key, &value),
                        IndexedCustomerId { visma_id },
                    ))
                });
        let current = distinct_customers(customers).into_iter().map(|c| {
            CustomerIndexItem::Keys(keyed(
                tenant,
                keys::visma_customer_keys_sk(&c.visma_id),
                CurrentCustomerKeys {
                    visma_id: c.visma_id.clone(),
                    number: c.value(CustomerKey::Number).map(str::to_owned),
                    org_number: c.value(CustomerKey::OrgNumber).map(str::to_owned),
                },
            ))
        });
        let items: Vec<CustomerIndexItem> = entries.chain(current).collect();
        self.table.put_all(&items).await
    }

    /// The Visma customer id the customer index holds for this customer number or org number,
    /// if that customer still has it: the entry is read, then (when there is one) the current
    /// keys of the customer it names, and an entry they no longer vouch for is a miss (see
    /// [`index_entry_is_current`]). A miss costs one read, a match two.
    pub async fn indexed_customer(
        &self,
        tenant: &TenantId,
        key: CustomerKey,
        value: &str,
    ) -> Result<Option<String>, StoreError> {
        let item: Option<Keyed<IndexedCustomerId>> = self
            .table
            .get(
                &keys::tenant_pk(tenant),
                &keys::visma_customer_sk(key, value),
            )
            .await?;
        let Some(visma_id) = item.map(|i| i.value.visma_id) else {
            return Ok(None);
        };
        let current = self.indexed_customer_keys(tenant, &visma_id).await?;
        if index_entry_is_current(key, value, &visma_id, current.as_ref()) {
            Ok(Some(visma_id))
        } else {
            tracing::debug!(%tenant, ?key, %visma_id, "stale customer index entry ignored");
            Ok(None)
        }
    }

    /// The current customer number and org number the customer index holds for this Visma
    /// customer (`None` when it holds none).
    pub async fn indexed_customer_keys(
        &self,
        tenant: &TenantId,
        visma_id: &str,
    ) -> Result<Option<IndexedCustomer>, StoreError> {
        let item: Option<Keyed<CurrentCustomerKeys>> = self
            .table
            .get(
                &keys::tenant_pk(tenant),
                &keys::visma_customer_keys_sk(visma_id),
            )
            .await?;
        Ok(item.map(|i| IndexedCustomer {
            visma_id: i.value.visma_id,
            number: i.value.number,
            org_number: i.value.org_number,
        }))
    }
}
