//! What the pull stores for each tenant, all in the tenant's partition (keys in [`crate::keys`]):
//!
//! - `FISCAL_YEAR#{visma id}`: one item per fiscal year;
//! - `ACCOUNTS#{fiscal year id}#{page}`: the chart of one fiscal year, split into pages of
//!   [`CHART_PAGE_SIZE`] accounts (a 2,000-account chart is four items of ~40 KB, far below
//!   DynamoDB's 400 KB item limit);
//! - `PULL_STATE`: watermarks, and the (small) lists of article account codings, VAT codes and
//!   sales terms of payment;
//! - `VOUCHER#{changed at}#{visma id}`: a pulled voucher, sorted by when this version reached
//!   the service, plus `VOUCHER_ID#{visma id}` pointing at it (for de-duplication by id);
//! - `PUSHED_VOUCHER#{visma id}`: a voucher this service posted (never delivered back);
//! - `MAPPING`: the account mapping;
//! - `VISMA_CUSTOMER#number#{customer number}` and `VISMA_CUSTOMER#org#{org number}`: the
//!   customer index, each naming a Visma customer's id, so a push can match an Aourly customer
//!   without asking Visma (trustworthy once [`PullState::customer_index_ready`]), plus
//!   `VISMA_CUSTOMER#id#{visma id}`, each indexed customer's current customer number and org
//!   number. Entries are never removed, so one left behind by a change (a corrected org number)
//!   still names its old customer; a lookup believes an entry only while that customer's
//!   current keys still hold its value ([`Pulled::indexed_customer`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use domain::mapping::AccountMapping;
use domain::pull::{
    customer_index_entries, distinct_customers, index_entry_is_current, Account, Coding,
    CustomerKey, FiscalYear, IndexedCustomer, PulledVoucher, SalesTerms, VatCode,
};
use domain::TenantId;
use serde::{Deserialize, Serialize};

use crate::keys::{self, PK, SK};
use crate::table::{build_error, from_item, to_item, to_value, Item};
use crate::{StoreError, Table};

/// Accounts per chart item.
pub const CHART_PAGE_SIZE: usize = 500;

/// The layout of the customer index: 1 added each customer's current keys
/// (`VISMA_CUSTOMER#id#…`). An index stored in an older layout is rebuilt by the next pull
/// (every customer read again) and not used by the push until then.
pub const CUSTOMER_INDEX_VERSION: u32 = 1;

/// The pulled data of every tenant.
#[derive(Clone, Debug)]
pub struct Pulled {
    table: Table,
}

/// Watermarks and small pulled lists (`PULL_STATE`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullState {
    /// Per fiscal year id: Visma's `ServerTimeUtc` when its chart was last read.
    #[serde(default)]
    pub chart_watermarks: BTreeMap<String, DateTime<Utc>>,
    #[serde(default)]
    pub codings: Vec<Coding>,
    #[serde(default)]
    pub codings_watermark: Option<DateTime<Utc>>,
    #[serde(default)]
    pub vat_codes: Vec<VatCode>,
    #[serde(default)]
    pub vouchers_watermark: Option<DateTime<Utc>>,
    /// The company's sales terms of payment, for the customers the push creates.
    #[serde(default)]
    pub sales_terms: Vec<SalesTerms>,
    /// Visma's `ServerTimeUtc` of the last customer read, set only once the customer index
    /// holds every customer Visma listed: until then the push asks Visma instead.
    #[serde(default)]
    pub customers_watermark: Option<DateTime<Utc>>,
    /// The [`CUSTOMER_INDEX_VERSION`] the index was built in (0: before versions existed).
    #[serde(default)]
    pub customer_index_version: u32,
    /// When the last pull finished (successfully).
    #[serde(default)]
    pub pulled_at: Option<DateTime<Utc>>,
    /// What earlier pulls changed but could not act on: one failed part-way (its stored
    /// changes look unchanged to the next pull), or its events could not be queued. The next
    /// pull announces them and resumes the items they concern, then clears them.
    #[serde(default)]
    pub unannounced: domain::pull::PullChanges,
    /// Whether the tenant's sync items all carry their GSI2 key
    /// ([`crate::SyncItems::index_statuses`] ran: items from before the index have it too).
    #[serde(default)]
    pub items_status_indexed: bool,
}

impl PullState {
    /// Whether the push may match customers with the customer index: it holds every customer
    /// Visma listed, in the current layout.
    pub fn customer_index_ready(&self) -> bool {
        self.customers_watermark.is_some() && self.customer_index_version == CUSTOMER_INDEX_VERSION
    }

    /// Where the next customer read starts: customers changed since this instant, or every
    /// customer (`None`) when the index is missing or in an older layout.
    pub fn customers_read_from(&self) -> Option<DateTime<Utc>> {
        self.customers_watermark
            .filter(|_| self.customer_index_version == CUSTOMER_INDEX_VERSION)
    }
}

#[derive(Serialize, Deserialize)]
struct Keyed<T> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    value: T,
}

#[derive(Serialize, Deserialize)]
struct ChartPage {
    fiscal_year_id: String,
    page: usize,
    accounts: Vec<Account>,
}

#[derive(Serialize, Deserialize)]
struct VoucherPointer {
    modified_at: DateTime<Utc>,
    changed_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct PushedVoucher {
    visma_id: String,
    recorded_at: DateTime<Utc>,
}

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

#[derive(Deserialize)]
struct VismaIdOnly {
    #[serde(default)]
    visma_id: Option<String>,
}

/// Where `GET /vouchers` continues: the last voucher of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherPosition {
    pub changed_at: DateTime<Utc>,
    pub visma_id: String,
}

fn keyed<T>(tenant: &TenantId, sk: String, value: T) -> Keyed<T> {
    Keyed {
        pk: keys::tenant_pk(tenant),
        sk,
        value,
    }
}

impl Pulled {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    pub async fn fiscal_years(&self, tenant: &TenantId) -> Result<Vec<FiscalYear>, StoreError> {
        let items: Vec<Keyed<FiscalYear>> = self
            .table
            .query_prefix(&keys::tenant_pk(tenant), keys::FISCAL_YEAR_PREFIX)
            .await?;
        let mut years: Vec<FiscalYear> = items.into_iter().map(|i| i.value).collect();
        years.sort_by_key(|y| y.start_date);
        Ok(years)
    }

    pub async fn put_fiscal_year(
        &self,
        tenant: &TenantId,
        year: &FiscalYear,
    ) -> Result<(), StoreError> {
        self.table
            .put(&keyed(tenant, keys::fiscal_year_sk(&year.id), year))
            .await
    }

    pub async fn delete_fiscal_year(&self, tenant: &TenantId, id: &str) -> Result<(), StoreError> {
        self.table
            .delete(&keys::tenant_pk(tenant), &keys::fiscal_year_sk(id))
            .await
    }

    /// The stored chart of one fiscal year; `None` when it was never pulled.
    pub async fn chart(
        &self,
        tenant: &TenantId,
        fiscal_year_id: &str,
    ) -> Result<Option<Vec<Account>>, StoreError> {
        let mut pages: Vec<Keyed<ChartPage>> = self
            .table
            .query_prefix(
                &keys::tenant_pk(tenant),
                &keys::accounts_prefix(fiscal_year_id),
            )
            .await?;
        if pages.is_empty() {
            return Ok(None);
        }
        pages.sort_by_key(|p| p.value.page);
        Ok(Some(
            pages.into_iter().flat_map(|p| p.value.accounts).collect(),
        ))
    }

    /// Replaces the chart of one fiscal year: writes its pages, then deletes pages it no longer
    /// needs. An empty chart is stored as one empty page (so "pulled, empty" differs from
    /// "never pulled").
    pub async fn put_chart(
        &self,
        tenant: &TenantId,
        fiscal_year_id: &str,
        accounts: &[Account],
    ) -> Result<(), StoreError> {
        let before = self
            .table
            .query_prefix::<Keyed<serde_json::Value>>(
                &keys::tenant_pk(tenant),
                &keys::accounts_prefix(fiscal_year_id),
            )
            .await?
            .len();
        let chunks: Vec<&[Account]> = if accounts.is_empty() {
            vec![&[]]
        } else {
            accounts.chunks(CHART_PAGE_SIZE).collect()
        };
        for (page, chunk) in chunks.iter().enumerate() {
            self.table
                .put(&keyed(
                    tenant,
                    keys::accounts_sk(fiscal_year_id, page),
                    ChartPage {
                        fiscal_year_id: fiscal_year_id.to_owned(),
                        page,
                        accounts: chunk.to_vec(),
                    },
                ))
                .await?;
        }
        for page in chunks.len()..before {
            self.table
                .delete(
                    &keys::tenant_pk(tenant),
                    &keys::accounts_sk(fiscal_year_id, page),
                )
                .await?;
        }
        Ok(())
    }

    pub async fn pull_state(&self, tenant: &TenantId) -> Result<PullState, StoreError> {
        let item: Option<Keyed<PullState>> = self
            .table
            .get(&keys::tenant_pk(tenant), keys::pull_state_sk())
            .await?;
        Ok(item.map(|i| i.value).unwrap_or_default())
    }

    pub async fn put_pull_state(
        &self,
        tenant: &TenantId,
        state: &PullState,
    ) -> Result<(), StoreError> {
        self.table
            .put(&keyed(tenant, keys::pull_state_sk().to_owned(), state))
            .await
    }

    /// An update of one attribute of the tenant's pull state.
    fn update_pull_state(
        &self,
        tenant: &TenantId,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(keys::PK, AttributeValue::S(keys::tenant_pk(tenant)))
            .key(
                keys::SK,
                AttributeValue::S(keys::pull_state_sk().to_owned()),
            )
    }

    /// Sets [`PullState::unannounced`] on its own (the rest of the state is the running
    /// pull's to write).
    pub async fn set_unannounced(
        &self,
        tenant: &TenantId,
        changes: &domain::pull::PullChanges,
    ) -> Result<(), StoreError> {
        self.update_pull_state(tenant)
            .update_expression("SET unannounced = :changes")
            .expression_attribute_values(":changes", to_value(changes)?)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

    /// Records [`PullState::items_status_indexed`] at once, on its own: a pull that fails
    /// later (or an API call that indexed the tenant) must not have to index it again.
    pub async fn mark_items_status_indexed(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.update_pull_state(tenant)
            .update_expression("SET items_status_indexed = :true")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

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

    /// The stored versions of these vouchers: Visma id → (`modified_at`, `changed_at`).
    pub async fn known_vouchers(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<HashMap<String, (DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let pk = keys::tenant_pk(tenant);
        let mut known = HashMap::new();
        for id in ids {
            let pointer: Option<Keyed<VoucherPointer>> =
                self.table.get(&pk, &keys::voucher_id_sk(id)).await?;
            if let Some(p) = pointer {
                known.insert(id.clone(), (p.value.modified_at, p.value.changed_at));
            }
        }
        Ok(known)
    }

    /// Stores a voucher version and its pointer, and removes the version it replaces, in one
    /// transaction conditional on the pointer being as the caller read it (absent for a new
    /// voucher, at `previous_changed_at` for a changed one). A concurrent pull that stored the
    /// voucher first wins and this one writes nothing ([`StoreError::ConditionFailed`]), and a
    /// crash leaves no orphan version: a voucher is never listed twice.
    pub async fn put_voucher(
        &self,
        tenant: &TenantId,
        voucher: &PulledVoucher,
        previous_changed_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let name = self.table.name();
        let version = Put::builder()
            .table_name(name)
            .set_item(Some(to_item(&keyed(
                tenant,
                keys::voucher_sk(&voucher.changed_at, &voucher.id),
                voucher,
            ))?))
            .build()
            .map_err(build_error)?;
        let pointer = Put::builder()
            .table_name(name)
            .set_item(Some(to_item(&keyed(
                tenant,
                keys::voucher_id_sk(&voucher.id),
                VoucherPointer {
                    modified_at: voucher.modified_at,
                    changed_at: voucher.changed_at,
                },
            ))?));
        let pointer = match previous_changed_at {
            None => pointer
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Some(previous) => pointer
                .condition_expression("#changed = :previous")
                .expression_attribute_names("#changed", "changed_at")
                .expression_attribute_values(":previous", to_value(&previous)?),
        }
        .build()
        .map_err(build_error)?;
        let mut writes = vec![
            TransactWriteItem::builder().put(version).build(),
            TransactWriteItem::builder().put(pointer).build(),
        ];
        if let Some(previous) = previous_changed_at.filter(|p| *p != voucher.changed_at) {
            let delete = Delete::builder()
                .table_name(name)
                .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
                .key(
                    SK,
                    AttributeValue::S(keys::voucher_sk(&previous, &voucher.id)),
                )
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.table.transact(writes).await
    }

    /// Up to `limit` stored vouchers in `changed_at` order, from `since` (inclusive) or after
    /// `after`, and the position to continue from when more may follow.
    pub async fn vouchers_page(
        &self,
        tenant: &TenantId,
        since: Option<DateTime<Utc>>,
        after: Option<&VoucherPosition>,
        limit: i32,
    ) -> Result<(Vec<PulledVoucher>, Option<VoucherPosition>), StoreError> {
        let pk = keys::tenant_pk(tenant);
        let lower = match (after, since) {
            (Some(p), _) => keys::voucher_sk(&p.changed_at, &p.visma_id),
            (None, Some(since)) => keys::voucher_since_bound(&since),
            (None, None) => keys::VOUCHER_PREFIX.to_owned(),
        };
        let out = self
            .table
            .client()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lower AND :upper")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":lower", AttributeValue::S(lower.clone()))
            .expression_attribute_values(":upper", AttributeValue::S(keys::voucher_upper_bound()))
            .limit(limit + 1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        let mut vouchers = Vec::new();
        for item in out.items.unwrap_or_default() {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned();
            // BETWEEN is inclusive; the cursor's own item was on the previous page.
            if after.is_some() && sk.as_deref() == Some(lower.as_str()) {
                continue;
            }
            let v: Keyed<PulledVoucher> = from_item(item)?;
            vouchers.push(v.value);
        }
        let more = vouchers.len() > usize::try_from(limit).unwrap_or(0);
        vouchers.truncate(usize::try_from(limit).unwrap_or(0));
        let next = if more {
            vouchers.last().map(|v| VoucherPosition {
                changed_at: v.changed_at,
                visma_id: v.id.clone(),
            })
        } else {
            None
        };
        Ok((vouchers, next))
    }

    /// Records a voucher this service posted to Visma, so the pull never delivers it back to
    /// Aourly as new. The push pipeline calls this right after Visma answers.
    pub async fn record_pushed_voucher(
        &self,
        tenant: &TenantId,
        visma_id: &str,
    ) -> Result<(), StoreError> {
        self.table
            .put(&keyed(
                tenant,
                keys::pushed_voucher_sk(visma_id),
                PushedVoucher {
                    visma_id: visma_id.to_owned(),
                    recorded_at: Utc::now(),
                },
            ))
            .await
    }

    /// The Visma ids of vouchers this service pushed: the `PUSHED_VOUCHER#` markers, plus the
    /// `visma_id` of every voucher sync item (read with a projection, not their payloads).
    pub async fn pushed_voucher_ids(
        &self,
        tenant: &TenantId,
    ) -> Result<HashSet<String>, StoreError> {
        let mut ids = HashSet::new();
        for prefix in [
            keys::PUSHED_VOUCHER_PREFIX.to_owned(),
            keys::item_prefix(domain::RecordKind::Voucher),
        ] {
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .table
                    .client()
                    .query()
                    .table_name(self.table.name())
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":pk", AttributeValue::S(keys::tenant_pk(tenant)))
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone()))
                    .projection_expression("visma_id")
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| StoreError::from_sdk("Query", e))?;
                for item in out.items.unwrap_or_default() {
                    let v: VismaIdOnly = from_item(item)?;
                    ids.extend(v.visma_id);
                }
                match out.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
        Ok(ids)
    }

    /// The stored mapping, as saved (`complete` and `valid_rates` are recomputed by the app).
    pub async fn mapping(&self, tenant: &TenantId) -> Result<Option<AccountMapping>, StoreError> {
        let item: Option<Keyed<AccountMapping>> = self
            .table
            .get(&keys::tenant_pk(tenant), keys::mapping_sk())
            .await?;
        Ok(item.map(|i| i.value))
    }

    /// Stores a mapping only if the tenant has none (a proposal never overwrites a saved one).
    pub async fn put_new_mapping(
        &self,
        tenant: &TenantId,
        mapping: &AccountMapping,
    ) -> Result<(), StoreError> {
        self.table
            .put_new(&keyed(tenant, keys::mapping_sk().to_owned(), mapping))
            .await
    }

    pub async fn put_mapping(
        &self,
        tenant: &TenantId,
        mapping: &AccountMapping,
    ) -> Result<(), StoreError> {
        self.table
            .put(&keyed(tenant, keys::mapping_sk().to_owned(), mapping))
            .await
    }
}
