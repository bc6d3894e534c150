//! Event markers: an accepted webhook event id, written in one transaction with the item
//! change it causes, and the short lease of the delivery that sends its push job.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Duration, Utc};
use domain::{EventKind, RecordKind, TenantId, WebhookEvent};
use serde::{Deserialize, Serialize};

use super::{stored, SyncItem, SyncItems, EVENT_RETENTION};
use crate::error::Conditional;
use crate::error::SdkResultExt;
use crate::keys::{self, PK, SK};
use crate::table::{build_error, to_item};
use crate::StoreError;

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

impl SyncItems {
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
            .or_store("UpdateItem");
        Ok(result.unless_refused()?.is_some())
    }

    /// Gives up the sending lease (the send failed), so the next delivery sends at once.
    pub async fn release_send(&self, tenant: &TenantId, event_id: &str) -> Result<(), StoreError> {
        self.update_event(tenant, event_id)
            .update_expression("REMOVE sending_until")
            .send()
            .await
            .or_store("UpdateItem")?;
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
}
