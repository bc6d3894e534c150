//! Retrying every failed and blocked item of a tenant: part of manual sync (`POST /sync`), and
//! of what resumes items after a reconnect or a mapping fix; and re-queuing pending items whose
//! job was lost.

use chrono::{Duration, Utc};
use domain::TenantId;
use domain::{EventData, RecordKind};
use store::{ItemStatus, StoreError, SyncItem, SyncItems};

use crate::items::{push_job, to_pending};
use crate::Deps;

/// Sets every failed or blocked item of `tenant` pending and queues one push job for each.
/// Returns how many were queued. Items whose cause persists simply block (or fail) again in
/// the worker. An item that changed meanwhile (the worker, a webhook) is left to its new
/// state. The caller checks that the tenant is connected.
pub async fn retry_failed_and_blocked(deps: &Deps, tenant: &TenantId) -> Result<usize, StoreError> {
    retry_where(
        deps,
        tenant,
        &[ItemStatus::Failed, ItemStatus::Blocked],
        &[],
    )
    .await
}

/// The block codes a connection to Visma resolves: resumed after a reconnect and after each
/// pull (which has just used the connection).
pub const CONNECTION_CODES: &[&str] = &["connection_expired", "not_connected"];

/// The block codes checked against pulled data (the mapping, fiscal years, charts of
/// accounts): resumed after a pull that changed that data.
pub const PULLED_DATA_CODES: &[&str] = &[
    "mapping_incomplete",
    "fiscal_year_missing",
    "fiscal_year_locked",
    "accounts_not_pulled",
    "account_missing",
];

/// Resumes the items blocked with one of `codes` (after a reconnect: [`CONNECTION_CODES`];
/// after a mapping fix: `mapping_incomplete`), without another webhook.
pub async fn resume_blocked(
    deps: &Deps,
    tenant: &TenantId,
    codes: &[&str],
) -> Result<usize, StoreError> {
    retry_where(deps, tenant, &[ItemStatus::Blocked], codes).await
}

/// `codes` empty: every item with one of `statuses`.
async fn retry_where(
    deps: &Deps,
    tenant: &TenantId,
    statuses: &[ItemStatus],
    codes: &[&str],
) -> Result<usize, StoreError> {
    crate::items::ensure_status_index(deps, tenant).await?;
    let queued = retry_indexed(deps, tenant, statuses, codes).await?;
    tracing::info!(%tenant, queued, ?codes, "waiting items retried");
    Ok(queued)
}

/// [`retry_where`] for a tenant whose items are known to be in GSI2 (its pull has run).
async fn retry_indexed(
    deps: &Deps,
    tenant: &TenantId,
    statuses: &[ItemStatus],
    codes: &[&str],
) -> Result<usize, StoreError> {
    let items = SyncItems::new(deps.table.clone());
    let waiting: Vec<_> = items
        .all_with_status(tenant, statuses)
        .await?
        .into_iter()
        .filter(|item| {
            codes.is_empty()
                || item
                    .last_error
                    .as_ref()
                    .is_some_and(|e| codes.contains(&e.code.as_str()))
        })
        .collect();
    resume(deps, tenant, &items, waiting).await
}

/// Sets each of `waiting` pending and queues its push job; returns how many were queued. An
/// item that changed meanwhile (the worker, a webhook) is left to its new state.
async fn resume(
    deps: &Deps,
    tenant: &TenantId,
    items: &SyncItems,
    waiting: Vec<SyncItem>,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    for item in waiting {
        match to_pending(items, &item, Utc::now()).await {
            Ok(_) => {}
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e),
        }
        // A send failure leaves the item pending without a job; the next manual retry or sync
        // nudges it again.
        deps.queue
            .send(&push_job(tenant, item.kind, &item.id), 0)
            .await?;
        queued += 1;
    }
    Ok(queued)
}

/// The housekeeping after each pull that reached Visma (`report` not skipped):
/// - re-queues pending items whose job was lost ([`requeue_stale_pending`]);
/// - resumes items blocked on the connection ([`CONNECTION_CODES`]) before, or within
///   [`RECONNECT_RACE`] after, the last (re)connect. The pull has just used the connection, so
///   such an item lost a race with the reconnect: its webhook or push read the connection as
///   `expired` just before the owner reconnected and stored the block just after the
///   reconnect's resume looked (or within GSI2's lag of it);
/// - resumes items blocked on pulled data ([`PULLED_DATA_CODES`]) when the pull changed the
///   mapping, fiscal years, charts or codings (for instance an invoice pushed before the first
///   pull had proposed the mapping, or a voucher dated in a year just opened in Visma). Those
///   whose cause persists block again, once: unchanged pulls leave them alone. (A push that
///   read the data from before this pull and stores its block after this scan is missed; it
///   waits for a Retry or Sync now.)
/// - resumes credit notes blocked [`ORIGINAL_INVOICE_MISSING`] whose credited invoice is now
///   synced (one read per such credit note).
///
/// Returns how many jobs it queued.
pub async fn after_pull(
    deps: &Deps,
    tenant: &TenantId,
    report: &crate::pull::PullReport,
) -> Result<usize, StoreError> {
    let requeued = requeue_stale_pending(deps, tenant).await?;
    let changes = &report.changes;
    let data_changed = report.mapping_proposed
        || changes.fiscal_years
        || changes.codings
        || !changes.accounts.is_empty();
    // A block on the connection stored up to a few minutes after the (re)connect lost the
    // race with its resume; one stored later is Visma refusing this kind of record (a user
    // without invoicing rights, say), which a pull cannot fix: resuming it would only block
    // it again, with an event, every 15 minutes.
    let connected_at = deps
        .connections
        .get(tenant)
        .await?
        .and_then(|c| c.connected_at);
    let raced_the_connect =
        |item: &SyncItem| connected_at.is_some_and(|at| item.updated_at <= at + RECONNECT_RACE);
    let items = SyncItems::new(deps.table.clone());
    let mut waiting = Vec::new();
    for item in items
        .all_with_status(tenant, &[ItemStatus::Blocked])
        .await?
    {
        let code = item.last_error.as_ref().map_or("", |e| e.code.as_str());
        let resumable = (CONNECTION_CODES.contains(&code) && raced_the_connect(&item))
            || (PULLED_DATA_CODES.contains(&code) && data_changed)
            || (code == ORIGINAL_INVOICE_MISSING && original_synced(&items, &item).await?);
        if resumable {
            waiting.push(item);
        }
    }
    let resumed = resume(deps, tenant, &items, waiting).await?;
    if resumed > 0 {
        tracing::info!(%tenant, resumed, "blocked items resumed after the pull");
    }
    Ok(requeued + resumed)
}

/// How long after a (re)connect a block on the connection is taken for one that raced it.
const RECONNECT_RACE: Duration = Duration::minutes(5);

/// The block code of a credit note whose credited invoice is not (yet) in Visma.
pub const ORIGINAL_INVOICE_MISSING: &str = "original_invoice_missing";

/// Whether the invoice a blocked credit note credits has been synced since it blocked.
async fn original_synced(items: &SyncItems, credit: &SyncItem) -> Result<bool, StoreError> {
    let Ok(event) = credit.event() else {
        return Ok(false);
    };
    let EventData::InvoiceCredited {
        credits_invoice_id, ..
    } = event.data()
    else {
        return Ok(false);
    };
    let original = items
        .get(
            &credit.tenant,
            RecordKind::Invoice,
            credits_invoice_id.as_str(),
        )
        .await?;
    Ok(original.is_some_and(|o| o.status == ItemStatus::Synced))
}

/// How long a pending item may go untouched before its job is presumed lost. Longer than the
/// worker's whole retry schedule and any realistic queue backlog, so the spare job this
/// sends for an item still queued is rare (and costs the worker one read).
pub const STALE_PENDING: Duration = Duration::hours(1);

/// Queues a push job again for each pending item of `tenant` untouched for `STALE_PENDING`:
/// a job can be lost when a webhook delivery died between storing the event and sending its
/// job and Aourly then stopped retrying, or when a retry's send failed. Run after each
/// scheduled pull of the tenant (which has indexed the tenant's items by status, see
/// [`crate::items::ensure_status_index`]). Returns how many were queued.
pub async fn requeue_stale_pending(deps: &Deps, tenant: &TenantId) -> Result<usize, StoreError> {
    let items = SyncItems::new(deps.table.clone());
    let cutoff = Utc::now() - STALE_PENDING;
    let stale: Vec<_> = items
        .all_with_status(tenant, &[ItemStatus::Pending])
        .await?
        .into_iter()
        .filter(|item| item.updated_at < cutoff)
        .collect();
    for item in &stale {
        deps.queue
            .send(&push_job(tenant, item.kind, &item.id), 0)
            .await?;
    }
    if !stale.is_empty() {
        tracing::warn!(%tenant, queued = stale.len(), "pending items untouched for an hour: their jobs were queued again");
    }
    Ok(stale.len())
}
