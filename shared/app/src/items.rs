//! The sync items of the Integrations page (integration guide "Management API"): the listing and the retry of one.
//!
//! Retry rules where the contract is silent:
//! - the tenant must be connected (`expired` counts as not connected: the item would only
//!   block again), else `not_connected`;
//! - a `failed` or `blocked` item goes back to `pending` (attempts and `last_error` are kept
//!   until the worker's next outcome) and gets a push job;
//! - a `pending` item is answered 202 too and gets another push job: a second click is not an
//!   error, and it nudges an item whose job was lost (the worker is idempotent);
//! - a `synced` item is refused with `not_retryable`: it is in Visma, and reaches it once.
//!
//! A failed item's message may still sit in the dead-letter queue; it is left there. The
//! worker treats such stale messages idempotently (a job for an item that is not pending does
//! nothing).

use chrono::{DateTime, Utc};
use domain::{ItemError, ItemStatus, RecordKind, SyncJob, TenantId};
use serde::Serialize;
use store::{Cursor, ListFilter, StoreError, SyncItem, SyncItems};

use crate::Deps;

/// One item as the API shows it (integration guide "Management API").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemBody {
    pub kind: RecordKind,
    pub id: String,
    pub status: ItemStatus,
    pub visma_id: Option<String>,
    pub visma_number: Option<String>,
    pub attempts: u32,
    pub last_error: Option<ItemError>,
    pub updated_at: DateTime<Utc>,
}

impl From<SyncItem> for ItemBody {
    fn from(item: SyncItem) -> Self {
        Self {
            kind: item.kind,
            id: item.id,
            status: item.status,
            visma_id: item.visma_id,
            visma_number: item.visma_number,
            attempts: item.attempts,
            last_error: item.last_error,
            updated_at: item.updated_at,
        }
    }
}

/// `GET /sync-items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemsPage {
    pub items: Vec<ItemBody>,
    pub next_cursor: Option<String>,
}

/// The query of `GET /sync-items`, unparsed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub cursor: Option<String>,
}

/// A bad query parameter: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadParameter {
    pub field: &'static str,
    pub message: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    BadParameter(BadParameter),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a kind path segment or query value.
pub fn parse_kind(raw: &str) -> Result<RecordKind, BadParameter> {
    raw.parse().map_err(|_| BadParameter {
        field: "kind",
        message: "must be one of invoice, customer, voucher",
    })
}

/// Makes sure every sync item of `tenant` has its GSI2 entry before something reads GSI2:
/// items written before the index existed get theirs here, once per tenant (remembered in the
/// pull state). The pull, the status page, the lists by status and the retries call it, so a
/// tenant that is no longer pulled (expired, disconnected) is indexed when it is next looked
/// at. One `GetItem` once indexed.
pub async fn ensure_status_index(deps: &Deps, tenant: &TenantId) -> Result<(), StoreError> {
    let pulled = &deps.pulled;
    if pulled.pull_state(tenant).await?.items_status_indexed {
        return Ok(());
    }
    let indexed = deps.items.index_statuses(tenant).await?;
    if indexed > 0 {
        tracing::info!(%tenant, indexed, "sync items indexed by status");
    }
    pulled.mark_items_status_indexed(tenant).await
}

pub async fn list(
    deps: &Deps,
    tenant: &TenantId,
    query: &ListQuery,
) -> Result<ItemsPage, ListError> {
    let given = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let status = given(&query.status)
        .map(|raw| {
            ItemStatus::parse(&raw).ok_or(BadParameter {
                field: "status",
                message: "must be one of pending, synced, failed, blocked",
            })
        })
        .transpose()
        .map_err(ListError::BadParameter)?;
    let kind = given(&query.kind)
        .map(|raw| parse_kind(&raw))
        .transpose()
        .map_err(ListError::BadParameter)?;
    let cursor = given(&query.cursor)
        .map(|raw| {
            Cursor::parse(&raw, kind).map_err(|_| BadParameter {
                field: "cursor",
                message: "is not a cursor from this listing (with the same kind)",
            })
        })
        .transpose()
        .map_err(ListError::BadParameter)?;
    if status.is_some() {
        ensure_status_index(deps, tenant).await?;
    }
    let (items, next) = deps
        .items
        .list(tenant, &ListFilter { status, kind }, cursor.as_ref())
        .await?;
    Ok(ItemsPage {
        items: items.into_iter().map(ItemBody::from).collect(),
        next_cursor: next.map(|c| c.encode()),
    })
}

/// `POST /sync-items/{kind}/{id}/retry`: 202 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryAccepted {
    pub kind: RecordKind,
    pub id: String,
    pub status: ItemStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("the tenant is not connected to Visma")]
    NotConnected,
    #[error("no such sync item")]
    NotFound,
    #[error("the item is synced; it is not retried")]
    NotRetryable,
    #[error("the push job could not be queued")]
    Queue(#[source] StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often a concurrent change is re-read before giving up.
const ATTEMPTS: usize = 5;

pub async fn retry_one(
    deps: &Deps,
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
    now: DateTime<Utc>,
) -> Result<RetryAccepted, RetryError> {
    let connected = deps
        .connections
        .get(tenant)
        .await?
        .is_some_and(|c| c.status == domain::connection::ConnectionStatus::Connected);
    let items = &deps.items;
    let Some(mut item) = items.get(tenant, kind, id).await? else {
        return Err(RetryError::NotFound);
    };
    if !connected {
        return Err(RetryError::NotConnected);
    }
    for _ in 0..ATTEMPTS {
        match item.status {
            ItemStatus::Synced => return Err(RetryError::NotRetryable),
            ItemStatus::Pending => break,
            ItemStatus::Failed | ItemStatus::Blocked => {}
        }
        match to_pending(items, &item, now).await {
            Ok(_) => break,
            Err(StoreError::ConditionFailed) => {
                item = items
                    .get(tenant, kind, id)
                    .await?
                    .ok_or(RetryError::NotFound)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    deps.queue
        .send(&push_job(tenant, kind, id), 0)
        .await
        .map_err(RetryError::Queue)?;
    tracing::info!(%tenant, kind = kind.as_str(), "sync item retried");
    Ok(RetryAccepted {
        kind,
        id: id.to_owned(),
        status: ItemStatus::Pending,
    })
}

/// Sets a failed or blocked item pending again (only if unchanged since read). Attempts and
/// the last error are kept.
pub(crate) async fn to_pending(
    items: &SyncItems,
    item: &SyncItem,
    now: DateTime<Utc>,
) -> Result<SyncItem, StoreError> {
    items
        .set_status(item, ItemStatus::Pending, item.last_error.as_ref(), now)
        .await
}

pub(crate) fn push_job(tenant: &TenantId, kind: RecordKind, id: &str) -> SyncJob {
    SyncJob::Push {
        tenant: tenant.clone(),
        kind,
        id: id.to_owned(),
    }
}
