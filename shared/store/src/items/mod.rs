//! Sync items and webhook event markers.
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

//!
//! | module | what it holds |
//! |---|---|
//! | this one | [`SyncItems`], reading one item, the stored shape's shared helpers |
//! | `stored` | [`SyncItem`]: the item as the table holds it |
//! | `markers` | [`EventMarker`]s and writing an accepted event with its item |
//! | `claim` | the push's claim protocol: claim, finish, set a status |
//! | `listing` | listing, counting and finding items by status (GSI2), cursors |

mod claim;
mod listing;
mod markers;
mod stored;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use domain::{ItemError, RecordKind, TenantId};

use crate::keys::{self, GSI2PK, PK, SK};
use crate::table::{to_item, Item};
use crate::{StoreError, Table};

pub use claim::{Claim, Finish, Finished};
pub use listing::{Cursor, InvalidCursor, ListFilter};
pub use markers::{EventMarker, ItemWrite, RecordError};
pub use stored::SyncItem;

/// How long an event marker is kept for de-duplication. Redeliveries after that are still
/// safe: create-only records are never replaced (the item itself remembers them), and a
/// customer event older than the stored payload is ignored.
pub const EVENT_RETENTION: Duration = Duration::days(90);

/// One page of [`SyncItems::list`].
pub const PAGE_SIZE: usize = 50;

/// The sync items and event markers of every tenant.
#[derive(Clone, Debug)]
pub struct SyncItems {
    table: Table,
}

impl SyncItems {
    pub(crate) fn new(table: Table) -> Self {
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
