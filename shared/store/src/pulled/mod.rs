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

use crate::error::SdkResultExt;
use crate::keys::{self, PK, SK};
use crate::table::{build_error, from_item, to_item, to_value, Item};
use crate::{StoreError, Table};

mod customers;
mod vouchers;

pub use vouchers::VoucherPosition;

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

fn keyed<T>(tenant: &TenantId, sk: String, value: T) -> Keyed<T> {
    Keyed {
        pk: keys::tenant_pk(tenant),
        sk,
        value,
    }
}

impl Pulled {
    pub(crate) fn new(table: Table) -> Self {
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
            .or_store("UpdateItem")?;
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
            .or_store("UpdateItem")?;
        Ok(())
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
