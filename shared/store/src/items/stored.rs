//! The sync item as the table holds it.

use chrono::{DateTime, Utc};
use domain::{EventKind, ItemError, ItemStatus, RecordKind, TenantId, WebhookEvent};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::StoreError;

/// A stored sync item, as the table holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncItem {
    #[serde(rename = "PK")]
    pub(super) pk: String,
    #[serde(rename = "SK")]
    pub(super) sk: String,
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

    /// Whether an attempt's claim on the item is still live at `now` (claims last `lease`).
    pub fn has_live_claim(&self, now: DateTime<Utc>, lease: chrono::Duration) -> bool {
        self.in_flight_since
            .is_some_and(|since| since + lease > now)
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
