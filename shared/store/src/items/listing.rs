//! Listing, counting and finding a tenant's items, by key or by status (GSI2), and the opaque
//! cursor of a listing.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Select};
use base64::Engine;
use domain::{ItemStatus, RecordKind, TenantId};
use serde::Deserialize;

use super::{key, SyncItem, SyncItems, PAGE_SIZE};
use crate::error::Conditional;
use crate::error::SdkResultExt;
use crate::keys::{self, GSI2, GSI2PK, PK, SK};
use crate::table::{build_error, from_item, Item};
use crate::StoreError;

/// Filters of [`SyncItems::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<ItemStatus>,
    pub kind: Option<RecordKind>,
}

/// An opaque position in a listing, given back as `next_cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor returned by this listing")]
pub struct InvalidCursor;

impl Cursor {
    /// Reads a `cursor` query parameter; it must fall inside the listing's kind filter.
    pub fn parse(raw: &str, kind: Option<RecordKind>) -> Result<Self, InvalidCursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| InvalidCursor)?;
        let sk = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        if !sk.starts_with(&item_prefix(kind)) || sk.len() <= keys::ITEM_PREFIX.len() {
            return Err(InvalidCursor);
        }
        Ok(Self(sk))
    }

    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.0)
    }
}

fn item_prefix(kind: Option<RecordKind>) -> String {
    kind.map_or_else(|| keys::ITEM_PREFIX.to_owned(), keys::item_prefix)
}

/// The listing cursor that continues after `last_key` (a page's last evaluated key).
fn cursor_at(last_key: &Item) -> Option<Cursor> {
    last_key
        .get(SK)
        .and_then(|v| v.as_s().ok())
        .map(|sk| Cursor(sk.clone()))
}

impl SyncItems {
    /// One page (at most [`PAGE_SIZE`]) of a tenant's items in key order (kind, then Aourly
    /// id), with the cursor of the next page when there may be more.
    pub async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        cursor: Option<&Cursor>,
    ) -> Result<(Vec<SyncItem>, Option<Cursor>), StoreError> {
        self.list_page(tenant, filter, cursor, PAGE_SIZE).await
    }

    async fn list_page(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        cursor: Option<&Cursor>,
        page_size: usize,
    ) -> Result<(Vec<SyncItem>, Option<Cursor>), StoreError> {
        if let Some(status) = filter.status {
            return self
                .list_page_with_status(tenant, filter.kind, status, cursor, page_size)
                .await;
        }
        let pk = keys::tenant_pk(tenant);
        let (items, next) = self
            .table
            .query_prefix_page(
                &pk,
                &item_prefix(filter.kind),
                Some(i32::try_from(page_size).unwrap_or(i32::MAX)),
                cursor.map(|c| key(&pk, &c.0)),
            )
            .await?;
        Ok((items, next.and_then(|k| cursor_at(&k))))
    }

    /// One page of the items with `status`: their keys from GSI2 (in key order), then the
    /// items themselves, read consistently. GSI2 follows writes within about a second, so an
    /// item that left `status` just now is dropped from the page rather than shown with its
    /// new status, and one that just entered it may show on the next request.
    async fn list_page_with_status(
        &self,
        tenant: &TenantId,
        kind: Option<RecordKind>,
        status: ItemStatus,
        cursor: Option<&Cursor>,
        page_size: usize,
    ) -> Result<(Vec<SyncItem>, Option<Cursor>), StoreError> {
        let start = cursor.map(|c| {
            let mut start = key(&keys::tenant_pk(tenant), &c.0);
            start.insert(
                GSI2PK.into(),
                AttributeValue::S(keys::item_status_pk(tenant, status.as_str())),
            );
            start
        });
        let limit = i32::try_from(page_size).unwrap_or(i32::MAX);
        let (item_keys, next) = self
            .status_keys_page(tenant, status, kind, Some(limit), start)
            .await?;
        let next = next.and_then(|k| cursor_at(&k));
        let mut items = self.get_all(item_keys).await?;
        items.retain(|i| i.status == status);
        items.sort_by(|a, b| a.sk.cmp(&b.sk));
        Ok((items, next))
    }

    /// One page of GSI2: the table keys of the tenant's items with `status` (of `kind`, when
    /// given), in key order, and where the next page starts.
    async fn status_keys_page(
        &self,
        tenant: &TenantId,
        status: ItemStatus,
        kind: Option<RecordKind>,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let pk = keys::tenant_pk(tenant);
        let out = self
            .status_query(tenant, status, kind)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .or_store("Query")?;
        let item_keys = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| entry.get(SK).and_then(|v| v.as_s().ok()))
            .map(|sk| key(&pk, sk))
            .collect();
        Ok((item_keys, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// A query of GSI2's partition for the tenant's items with `status` (of `kind`, if given).
    fn status_query(
        &self,
        tenant: &TenantId,
        status: ItemStatus,
        kind: Option<RecordKind>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.table
            .client()
            .query()
            .table_name(self.table.name())
            .index_name(GSI2)
            .key_condition_expression("#g2 = :g2 AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#g2", GSI2PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(
                ":g2",
                AttributeValue::S(keys::item_status_pk(tenant, status.as_str())),
            )
            .expression_attribute_values(":prefix", AttributeValue::S(item_prefix(kind)))
    }

    /// The items at `item_keys` (at most 100), read consistently; missing ones are skipped.
    async fn get_all(&self, mut item_keys: Vec<Item>) -> Result<Vec<SyncItem>, StoreError> {
        let mut items = Vec::with_capacity(item_keys.len());
        let mut rounds = 0u32;
        while !item_keys.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut item_keys)))
                .consistent_read(true)
                .build()
                .map_err(build_error)?;
            let out = self
                .table
                .client()
                .batch_get_item()
                .request_items(self.table.name(), request)
                .send()
                .await
                .or_store("BatchGetItem")?;
            for raw in out
                .responses
                .and_then(|mut r| r.remove(self.table.name()))
                .unwrap_or_default()
            {
                items.push(from_item(raw)?);
            }
            // Keys DynamoDB did not get to (throughput): ask again, briefly backing off.
            item_keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(self.table.name()))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !item_keys.is_empty() {
                rounds += 1;
                if rounds > 5 {
                    return Err(StoreError::Transient {
                        operation: "BatchGetItem",
                        source: "keys left unprocessed after 5 rounds".into(),
                    });
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << rounds)).await;
            }
        }
        Ok(items)
    }

    /// How many of a tenant's items have `status`, counted over GSI2's key-only entries
    /// (about 100 bytes each, where an item with its payload is over 1 KB). Like the index,
    /// the count may miss a change of the last second.
    pub async fn count(&self, tenant: &TenantId, status: ItemStatus) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .status_query(tenant, status, None)
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .or_store("Query")?;
            total += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(total),
            }
        }
    }

    /// Gives the items of `tenant` their right GSI2 key where it is missing (written before
    /// GSI2 existed) or does not match their status (written by a previous version during a
    /// rollout): one pass over the tenant's items, each update conditioned on the status
    /// still being the one read (a write since then set the key itself). Returns how many it
    /// set; running it again finds nothing to do. See `app::items::ensure_status_index`.
    pub async fn index_statuses(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        #[derive(Deserialize)]
        struct Indexed {
            #[serde(rename = "SK")]
            sk: String,
            status: ItemStatus,
            #[serde(rename = "GSI2PK", default)]
            gsi2pk: Option<String>,
        }
        let all: Vec<Indexed> = self
            .table
            .query_prefix(&keys::tenant_pk(tenant), keys::ITEM_PREFIX)
            .await?;
        let mut indexed = 0;
        for item in all {
            let expected = keys::item_status_pk(tenant, item.status.as_str());
            if item.gsi2pk.as_deref() == Some(expected.as_str()) {
                continue;
            }
            let result = self
                .table
                .client()
                .update_item()
                .table_name(self.table.name())
                .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
                .key(SK, AttributeValue::S(item.sk))
                .update_expression("SET #g2 = :g2")
                .condition_expression(
                    "#status = :status AND (attribute_not_exists(#g2) OR #g2 <> :g2)",
                )
                .expression_attribute_names("#g2", GSI2PK)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":g2", AttributeValue::S(expected))
                .expression_attribute_values(
                    ":status",
                    AttributeValue::S(item.status.as_str().into()),
                )
                .send()
                .await
                .or_store("UpdateItem");
            if result.unless_refused()?.is_some() {
                indexed += 1;
            }
        }
        Ok(indexed)
    }

    /// Every item of a tenant with one of `statuses`: their keys from GSI2, then the items,
    /// read consistently, 100 at a time. Like the index, it may miss a change of the last
    /// second (an item that entered a status just now is found by the next call).
    pub async fn all_with_status(
        &self,
        tenant: &TenantId,
        statuses: &[ItemStatus],
    ) -> Result<Vec<SyncItem>, StoreError> {
        let mut found = Vec::new();
        for &status in statuses {
            let mut start = None;
            loop {
                let (item_keys, next) = self
                    .status_keys_page(tenant, status, None, None, start)
                    .await?;
                for chunk in item_keys.chunks(100) {
                    let mut items = self.get_all(chunk.to_vec()).await?;
                    items.retain(|i| i.status == status);
                    found.extend(items);
                }
                match next {
                    Some(next) => start = Some(next),
                    None => break,
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_inside_the_kind() {
        let c = Cursor("ITEM#invoice#inv_1".into());
        let raw = c.encode();
        assert_eq!(Cursor::parse(&raw, None).unwrap(), c);
        assert_eq!(Cursor::parse(&raw, Some(RecordKind::Invoice)).unwrap(), c);
        assert_eq!(
            Cursor::parse(&raw, Some(RecordKind::Customer)),
            Err(InvalidCursor)
        );
        assert_eq!(Cursor::parse("!!", None), Err(InvalidCursor));
        let other = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("EVENT#x");
        assert_eq!(Cursor::parse(&other, None), Err(InvalidCursor));
    }
}
