//! Retrying every failed and blocked item of a tenant: part of manual sync (`POST /sync`), and
//! of what resumes items after a reconnect or a mapping fix; and re-queuing pending items whose
//! job was lost.

use chrono::{Duration, Utc};
use domain::TenantId;
use store::{ItemStatus, StoreError, SyncItems};

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
        None,
    )
    .await
}

/// Resumes the items blocked with `code` (after a reconnect: `connection_expired`; after a
/// mapping fix: `mapping_incomplete`), without another webhook.
pub async fn resume_blocked(
    deps: &Deps,
    tenant: &TenantId,
    code: &str,
) -> Result<usize, StoreError> {
    retry_where(deps, tenant, &[ItemStatus::Blocked], Some(code)).await
}

async fn retry_where(
    deps: &Deps,
    tenant: &TenantId,
    statuses: &[ItemStatus],
    code: Option<&str>,
) -> Result<usize, StoreError> {
    crate::items::ensure_status_index(deps, tenant).await?;
    let queued = retry_indexed(deps, tenant, statuses, code).await?;
    tracing::info!(%tenant, queued, code, "waiting items retried");
    Ok(queued)
}

/// [`retry_where`] for a tenant whose items are known to be in GSI2 (its pull has run).
async fn retry_indexed(
    deps: &Deps,
    tenant: &TenantId,
    statuses: &[ItemStatus],
    code: Option<&str>,
) -> Result<usize, StoreError> {
    let items = SyncItems::new(deps.table.clone());
    let waiting: Vec<_> = items
        .all_with_status(tenant, statuses)
        .await?
        .into_iter()
        .filter(|item| {
            code.is_none_or(|code| item.last_error.as_ref().is_some_and(|e| e.code == code))
        })
        .collect();
    let mut queued = 0;
    for item in waiting {
        match to_pending(&items, &item, Utc::now()).await {
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

/// The housekeeping after each pull that reached Visma: re-queues pending items whose job was
/// lost ([`requeue_stale_pending`]) and resumes items still blocked with `connection_expired`.
/// The pull has just used the connection, so such an item is left over from a reconnect race:
/// a webhook or push read the connection as expired just before the owner reconnected and
/// blocked its item just after the reconnect's resume (or within GSI2's lag of it). The pull
/// the reconnect queues, and every scheduled one, picks it up. Returns how many jobs it queued.
pub async fn after_pull(deps: &Deps, tenant: &TenantId) -> Result<usize, StoreError> {
    let requeued = requeue_stale_pending(deps, tenant).await?;
    let resumed = retry_indexed(
        deps,
        tenant,
        &[ItemStatus::Blocked],
        Some("connection_expired"),
    )
    .await?;
    if resumed > 0 {
        tracing::warn!(%tenant, resumed, "items blocked on an expired connection while it was reconnected were resumed");
    }
    Ok(requeued + resumed)
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
