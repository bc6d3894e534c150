//! Sync items and webhook event markers (CONTRACT §4, §6).
//!
//! A **sync item** (`TENANT#{t}` / `ITEM#{kind}#{aourly id}`) is one Aourly record on its way
//! to Visma: its state (`status`, `attempts`, `last_error`, the Visma link), the latest
//! accepted payload (the whole [`WebhookEvent`] as JSON in `payload`), and the fields the
//! push uses to reach Visma at most once:
//! - `version`: a number that goes up by one on every write of the item; every write that
//!   depends on what it read is conditioned on it;
//! - `in_flight_owner` / `in_flight_since`: the claim a worker takes (a conditional write,
//!   [`SyncItems::claim`]) before it calls Visma, and clears when it records the outcome
//!   ([`SyncItems::finish`]). A claim found still set after its lease means a previous
//!   attempt stopped somewhere between claiming and recording: it may have reached Visma, so
//!   the worker must look the record up at Visma before creating it.
//!
//! An **event marker** (`TENANT#{t}` / `EVENT#{event id}`) records that an event id was
//! accepted. It is written in the same transaction as the item ([`SyncItems::record_event`]),
//! with `attribute_not_exists`, so a repeated id changes nothing. `queued` is true when the
//! event has no push job to send; otherwise `sending_until` is the short lease of the delivery
//! that sends it (so concurrent duplicates do not send it again; once it lapses, a duplicate
//! sends the job again, since a send that succeeded is not recorded).
//!
//! Every write of an item's `status` also writes `GSI2PK` (`TENANT#{t}#STATUS#{status}`), in
//! the same request: GSI2 is the items by tenant and status, keys only, which the status
//! page counts and lists from ([`SyncItems::count`], [`SyncItems::list`] with a status).
//! Items written before the index existed get their key from [`SyncItems::index_statuses`].

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, Select, TransactWriteItem,
};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use domain::{EventKind, RecordKind, TenantId, WebhookEvent};
use serde::{Deserialize, Serialize};

use crate::keys::{self, GSI2, GSI2PK, PK, SK};
use crate::table::{build_error, from_item, to_item, Item};
use crate::{StoreError, Table};

/// How long an event marker is kept for de-duplication. Redeliveries after that are still
/// safe: create-only records are never replaced (the item itself remembers them), and a
/// customer event older than the stored payload is ignored.
pub const EVENT_RETENTION: Duration = Duration::days(90);

/// One page of [`SyncItems::list`].
pub const PAGE_SIZE: usize = 50;

/// CONTRACT §4 sync item `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Waiting for (or in) a push.
    Pending,
    /// In Visma.
    Synced,
    /// Retries exhausted, or Visma refused it for good.
    Failed,
    /// Waiting for the owner: expired connection, incomplete mapping, locked year, ...
    Blocked,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 4] = [
        ItemStatus::Pending,
        ItemStatus::Synced,
        ItemStatus::Failed,
        ItemStatus::Blocked,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Synced => "synced",
            ItemStatus::Failed => "failed",
            ItemStatus::Blocked => "blocked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Failed and blocked items wait for a retry (manual, or after the owner fixed the cause).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ItemStatus::Failed | ItemStatus::Blocked)
    }
}

/// Parses a `kind` as written in routes and items (`invoice`, `customer`, `voucher`).
pub fn parse_kind(raw: &str) -> Option<RecordKind> {
    [
        RecordKind::Invoice,
        RecordKind::Customer,
        RecordKind::Voucher,
    ]
    .into_iter()
    .find(|k| keys::kind_str(*k) == raw)
}

/// CONTRACT §4 `last_error`. `detail` is for the owner; never Visma internals or tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    pub code: String,
    pub detail: Option<String>,
}

impl ItemError {
    pub fn new(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            detail: Some(detail.into()),
        }
    }
}

/// A stored sync item, as the table holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    pub tenant: TenantId,
    pub kind: RecordKind,
    /// The Aourly id (for a credit note, the credit note's own id).
    pub id: String,
    pub status: ItemStatus,
    #[serde(default)]
    pub visma_id: Option<String>,
    #[serde(default)]
    pub visma_number: Option<String>,
    /// Push attempts so far (claims taken). A retry keeps it; a new payload resets it.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<ItemError>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest accepted event of the record, as JSON ([`SyncItem::event`] decodes it).
    pub payload: String,
    /// The event that last set `payload`.
    pub event_id: String,
    pub event_type: EventKind,
    pub event_created_at: DateTime<Utc>,
    /// +1 on every write; conditional writes check it.
    pub version: u64,
    #[serde(default)]
    pub in_flight_owner: Option<String>,
    #[serde(default)]
    pub in_flight_since: Option<DateTime<Utc>>,
}

impl SyncItem {
    /// A new item for an accepted event.
    pub fn new(
        event: &WebhookEvent,
        status: ItemStatus,
        last_error: Option<ItemError>,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let kind = event.kind().record_kind();
        let id = event.data().record_id().as_str().to_owned();
        Ok(Self {
            pk: keys::tenant_pk(event.tenant()),
            sk: keys::item_sk(kind, &id),
            tenant: event.tenant().clone(),
            kind,
            id,
            status,
            visma_id: None,
            visma_number: None,
            attempts: 0,
            last_error,
            created_at: now,
            updated_at: now,
            payload: encode_payload(event)?,
            event_id: event.id().as_str().to_owned(),
            event_type: event.kind(),
            event_created_at: event.created_at(),
            version: 1,
            in_flight_owner: None,
            in_flight_since: None,
        })
    }

    /// This item with `event` as its new payload: `status`, attempts and error start over;
    /// the Visma link and any claim stay.
    pub fn replaced_by(
        &self,
        event: &WebhookEvent,
        status: ItemStatus,
        last_error: Option<ItemError>,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            status,
            attempts: 0,
            last_error,
            updated_at: now,
            payload: encode_payload(event)?,
            event_id: event.id().as_str().to_owned(),
            event_type: event.kind(),
            event_created_at: event.created_at(),
            version: self.version + 1,
            ..self.clone()
        })
    }

    /// The record's latest accepted event, parsed again by the domain's rules.
    pub fn event(&self) -> Result<WebhookEvent, StoreError> {
        serde_json::from_str(&self.payload)
            .map_err(|e| StoreError::Decode(format!("sync item payload: {e}")))
    }
}

fn encode_payload(event: &WebhookEvent) -> Result<String, StoreError> {
    serde_json::to_string(event).map_err(|e| StoreError::Decode(e.to_string()))
}

/// The marker of one accepted event id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMarker {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    pub tenant: TenantId,
    pub event_id: String,
    pub event_type: EventKind,
    pub kind: RecordKind,
    pub record_id: String,
    pub received_at: DateTime<Utc>,
    /// `stored` (item written), or `ignored` (nothing to do: a create for a record already
    /// known, or a customer event older than the stored one).
    pub outcome: String,
    /// True when the event has no job to send (ignored, or held as blocked).
    pub queued: bool,
    /// The sending lease (epoch milliseconds): while in the future, a delivery is sending the
    /// job (or sent it: a send is not recorded). Removed when a send failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_until: Option<i64>,
    /// The table's TTL attribute (`keys::TTL_ATTRIBUTE`), epoch seconds.
    expires_at: i64,
}

impl EventMarker {
    /// A marker for `event`. A marker that still needs its job sent is leased to the
    /// delivery writing it until `now + lease`.
    pub fn new(
        event: &WebhookEvent,
        outcome: &str,
        needs_send: bool,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Self {
        Self {
            pk: keys::tenant_pk(event.tenant()),
            sk: keys::event_sk(event.id().as_str()),
            tenant: event.tenant().clone(),
            event_id: event.id().as_str().to_owned(),
            event_type: event.kind(),
            kind: event.kind().record_kind(),
            record_id: event.data().record_id().as_str().to_owned(),
            received_at: now,
            outcome: outcome.to_owned(),
            queued: !needs_send,
            sending_until: needs_send.then_some((now + lease).timestamp_millis()),
            expires_at: (now + EVENT_RETENTION).timestamp(),
        }
    }
}

/// What to do with the item in [`SyncItems::record_event`].
#[derive(Debug, Clone)]
pub enum ItemWrite {
    /// Create it: refused if it exists by now.
    Create(Box<SyncItem>),
    /// Replace it: refused unless it still has `expected_version`.
    Replace {
        item: Box<SyncItem>,
        expected_version: u64,
    },
    /// Leave it alone (the marker alone is written).
    Nothing,
}

/// Why [`SyncItems::record_event`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The event id is already recorded.
    #[error("the event id is already recorded")]
    Duplicate,
    /// The item changed since it was read (or a concurrent transaction touched it): read
    /// again and decide again.
    #[error("the sync item changed concurrently")]
    ItemChanged,
    #[error(transparent)]
    Store(#[from] StoreError),
}

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

/// The outcome of [`SyncItems::claim`].
#[derive(Debug, Clone)]
pub enum Claim {
    /// The caller holds the item until it calls [`SyncItems::finish`] (or the lease ends).
    /// `interrupted` says a previous claim had been left behind: that attempt may have reached
    /// Visma, so look the record up there before creating it.
    Claimed {
        item: Box<SyncItem>,
        interrupted: bool,
    },
    /// The item is not pending (synced, failed or blocked): a stale message; nothing to do.
    NotPending(Box<SyncItem>),
    /// Another worker holds a live claim; try again later.
    Busy,
    /// No such item.
    Missing,
}

/// How a push ended, for [`SyncItems::finish`].
#[derive(Debug, Clone)]
pub struct Finish {
    pub status: ItemStatus,
    /// The Visma record, once known. Saved even when the item moved on meanwhile.
    pub visma_id: Option<String>,
    pub visma_number: Option<String>,
    pub last_error: Option<ItemError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Status, link and error recorded; the claim is released.
    Applied,
    /// The item changed during the push (a newer payload, a retry): only the Visma link was
    /// saved and the claim released; the newer state stands (and has its own job).
    Superseded,
}

/// The sync items and event markers of every tenant.
#[derive(Clone, Debug)]
pub struct SyncItems {
    table: Table,
}

impl SyncItems {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<SyncItem>, StoreError> {
        self.table
            .get(&keys::tenant_pk(tenant), &keys::item_sk(kind, id))
            .await
    }

    pub async fn event(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> Result<Option<EventMarker>, StoreError> {
        self.table
            .get(&keys::tenant_pk(tenant), &keys::event_sk(event_id))
            .await
    }

    /// Writes the event marker (only if the id is new) and the item change in one
    /// transaction: both or neither.
    pub async fn record_event(
        &self,
        marker: &EventMarker,
        write: &ItemWrite,
    ) -> Result<(), RecordError> {
        let mut items = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(self.table.name())
                    .set_item(Some(to_item(marker)?))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK)
                    .build()
                    .map_err(build_error)?,
            )
            .build()];
        match write {
            ItemWrite::Create(item) => items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(self.table.name())
                            .set_item(Some(stored(item)?))
                            .condition_expression("attribute_not_exists(#pk)")
                            .expression_attribute_names("#pk", PK)
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            ),
            ItemWrite::Replace {
                item,
                expected_version,
            } => items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(self.table.name())
                            .set_item(Some(stored(item)?))
                            .condition_expression("#version = :expected")
                            .expression_attribute_names("#version", "version")
                            .expression_attribute_values(
                                ":expected",
                                AttributeValue::N(expected_version.to_string()),
                            )
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            ),
            ItemWrite::Nothing => {}
        }
        let result = self
            .table
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(err) = result else {
            return Ok(());
        };
        let canceled = matches!(
            err.as_service_error(),
            Some(TransactWriteItemsError::TransactionCanceledException(_))
        );
        if !canceled {
            return Err(StoreError::from_sdk("TransactWriteItems", err).into());
        }
        // Which condition failed? The reasons are not always itemised (emulators), so ask
        // the table: a recorded marker means a duplicate, anything else a concurrent change.
        if self
            .event(&marker.tenant, &marker.event_id)
            .await?
            .is_some()
        {
            Err(RecordError::Duplicate)
        } else {
            Err(RecordError::ItemChanged)
        }
    }

    /// Takes the sending lease of an event that has a job to send. False when it has none or
    /// another delivery holds a live lease.
    pub async fn lease_send(
        &self,
        tenant: &TenantId,
        event_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_event(tenant, event_id)
            .update_expression("SET sending_until = :until")
            .condition_expression(
                "queued = :false AND (attribute_not_exists(sending_until) OR sending_until < :now)",
            )
            .expression_attribute_values(
                ":until",
                AttributeValue::N((now + lease).timestamp_millis().to_string()),
            )
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.timestamp_millis().to_string()),
            )
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives up the sending lease (the send failed), so the next delivery sends at once.
    pub async fn release_send(&self, tenant: &TenantId, event_id: &str) -> Result<(), StoreError> {
        self.update_event(tenant, event_id)
            .update_expression("REMOVE sending_until")
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

    fn update_event(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
            .key(SK, AttributeValue::S(keys::event_sk(event_id)))
    }

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
            .map_err(|e| StoreError::from_sdk("Query", e))?;
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
                .map_err(|e| StoreError::from_sdk("BatchGetItem", e))?;
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
                .map_err(|e| StoreError::from_sdk("Query", e))?;
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
                .map_err(|e| StoreError::from_sdk("UpdateItem", e));
            match result {
                Ok(_) => indexed += 1,
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
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

    /// Sets `status` (and `last_error`) on `item` as read, if its `version` is unchanged;
    /// returns the item as written, or [`StoreError::ConditionFailed`] when it changed
    /// meanwhile (read it again and decide again).
    pub async fn set_status(
        &self,
        item: &SyncItem,
        status: ItemStatus,
        last_error: Option<&ItemError>,
        now: DateTime<Utc>,
    ) -> Result<SyncItem, StoreError> {
        let (tenant, kind, id) = (&item.tenant, item.kind, item.id.as_str());
        let expected_version = item.version;
        let out = self
            .update_item(tenant, kind, id)
            .update_expression(
                "SET #status = :status, #g2 = :g2, last_error = :error, updated_at = :now, #version = #version + :one",
            )
            .condition_expression("#version = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#g2", GSI2PK)
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":status", AttributeValue::S(status.as_str().into()))
            .expression_attribute_values(
                ":g2",
                AttributeValue::S(keys::item_status_pk(tenant, status.as_str())),
            )
            .expression_attribute_values(":error", error_value(last_error)?)
            .expression_attribute_values(":now", AttributeValue::S(rfc3339(now)))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expected", AttributeValue::N(expected_version.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        from_item(out.attributes.unwrap_or_default())
    }

    /// Claims a pending item for one push attempt (`attempts` + 1). A claim older than
    /// `lease` is taken over (and reported as `interrupted`).
    pub async fn claim(
        &self,
        tenant: &TenantId,
        kind: RecordKind,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let Some(current) = self.get(tenant, kind, id).await? else {
            return Ok(Claim::Missing);
        };
        if current.status != ItemStatus::Pending {
            return Ok(Claim::NotPending(Box::new(current)));
        }
        let interrupted = match current.in_flight_since {
            Some(since) if since + lease > now => return Ok(Claim::Busy),
            Some(_) => true,
            None => false,
        };
        let result = self
            .update_item(tenant, kind, id)
            .update_expression(
                "SET in_flight_owner = :owner, in_flight_since = :now, attempts = attempts + :one, updated_at = :now, #version = #version + :one",
            )
            .condition_expression("#version = :expected AND #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .expression_attribute_values(":now", AttributeValue::S(rfc3339(now)))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":expected", AttributeValue::N(current.version.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match result {
            Ok(out) => Ok(Claim::Claimed {
                item: Box::new(from_item(out.attributes.unwrap_or_default())?),
                interrupted,
            }),
            Err(StoreError::ConditionFailed) => Ok(Claim::Busy),
            Err(e) => Err(e),
        }
    }

    /// Records the outcome of a claimed push. When the item changed during the push (its
    /// version is no longer `claimed.version`), only the Visma link is saved and the claim
    /// released: the newer state stands.
    pub async fn finish(
        &self,
        claimed: &SyncItem,
        outcome: &Finish,
        now: DateTime<Utc>,
    ) -> Result<Finished, StoreError> {
        let (tenant, kind, id) = (&claimed.tenant, claimed.kind, claimed.id.as_str());
        let mut set = vec![
            "#status = :status",
            "#g2 = :g2",
            "last_error = :error",
            "updated_at = :now",
            "#version = #version + :one",
        ];
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (
                ":status".into(),
                AttributeValue::S(outcome.status.as_str().into()),
            ),
            (
                ":g2".into(),
                AttributeValue::S(keys::item_status_pk(tenant, outcome.status.as_str())),
            ),
            (":error".into(), error_value(outcome.last_error.as_ref())?),
            (":now".into(), AttributeValue::S(rfc3339(now))),
            (":one".into(), AttributeValue::N("1".into())),
            (
                ":expected".into(),
                AttributeValue::N(claimed.version.to_string()),
            ),
        ]);
        link_values(outcome, &mut set, &mut values);
        let result = self
            .update_item(tenant, kind, id)
            .update_expression(format!(
                "SET {} REMOVE in_flight_owner, in_flight_since",
                set.join(", ")
            ))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#g2", GSI2PK)
            .expression_attribute_names("#version", "version")
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match result {
            Ok(_) => return Ok(Finished::Applied),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        // Superseded: keep the link (a fact about Visma), release our claim if still ours.
        let mut set = vec!["#version = #version + :one"];
        let mut values: HashMap<String, AttributeValue> =
            HashMap::from([(":one".into(), AttributeValue::N("1".into()))]);
        link_values(outcome, &mut set, &mut values);
        if set.len() > 1 {
            self.update_item(tenant, kind, id)
                .update_expression(format!("SET {}", set.join(", ")))
                .expression_attribute_names("#version", "version")
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        }
        if let Some(owner) = &claimed.in_flight_owner {
            let released = self
                .update_item(tenant, kind, id)
                .update_expression("REMOVE in_flight_owner, in_flight_since")
                .condition_expression("in_flight_owner = :owner")
                .expression_attribute_values(":owner", AttributeValue::S(owner.clone()))
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("UpdateItem", e));
            match released {
                Ok(_) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Finished::Superseded)
    }

    fn update_item(
        &self,
        tenant: &TenantId,
        kind: RecordKind,
        id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
            .key(SK, AttributeValue::S(keys::item_sk(kind, id)))
    }
}

fn link_values(
    outcome: &Finish,
    set: &mut Vec<&'static str>,
    values: &mut HashMap<String, AttributeValue>,
) {
    if let Some(visma_id) = &outcome.visma_id {
        set.push("visma_id = :visma_id");
        values.insert(":visma_id".into(), AttributeValue::S(visma_id.clone()));
    }
    if let Some(number) = &outcome.visma_number {
        set.push("visma_number = :visma_number");
        values.insert(":visma_number".into(), AttributeValue::S(number.clone()));
    }
}

/// A sync item as stored: its fields plus its GSI2 key, derived here from its tenant and
/// status so that no write of the whole item can leave the index behind.
fn stored(item: &SyncItem) -> Result<Item, StoreError> {
    let mut attributes = to_item(item)?;
    attributes.insert(
        GSI2PK.into(),
        AttributeValue::S(keys::item_status_pk(&item.tenant, item.status.as_str())),
    );
    Ok(attributes)
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk.to_owned())),
        (SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn error_value(error: Option<&ItemError>) -> Result<AttributeValue, StoreError> {
    match error {
        None => Ok(AttributeValue::Null(true)),
        Some(e) => Ok(AttributeValue::M(to_item(e)?)),
    }
}

/// Timestamps as serde writes them (`chrono`'s RFC 3339), so stored strings compare in order.
fn rfc3339(at: DateTime<Utc>) -> String {
    serde_json::to_value(at)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| at.to_rfc3339())
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

    #[test]
    fn statuses_and_kinds_parse_their_wire_names() {
        for s in ItemStatus::ALL {
            assert_eq!(ItemStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ItemStatus::parse("done"), None);
        assert_eq!(parse_kind("voucher"), Some(RecordKind::Voucher));
        assert_eq!(parse_kind("Invoice"), None);
    }
}
