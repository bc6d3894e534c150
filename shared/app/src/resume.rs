//! Putting waiting items back on the queue: every failed and blocked item of a tenant (part of
//! manual sync, `POST /sync`); the items a reconnect, a mapping fix or a pull can clear; and
//! pending items whose job was lost. What each block code waits for is the code's own answer
//! ([`ItemCode::is_resolved_by_connection`] and its siblings); when a pull resumes one is
//! [`resumed_after_pull`].

use chrono::{Duration, Utc};
use domain::{EventData, ItemCode, ItemStatus, RecordKind, TenantId};
use store::{Conditional, StoreError, SyncItem, SyncItems};

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

/// The block codes a connection to Visma resolves: resumed after a reconnect.
pub fn connection_codes() -> Vec<ItemCode> {
    ItemCode::ALL
        .into_iter()
        .filter(ItemCode::is_resolved_by_connection)
        .collect()
}

/// Resumes the items blocked with one of `codes` (after a reconnect: [`connection_codes`];
/// after a mapping fix: `mapping_incomplete`), without another webhook.
pub async fn resume_blocked(
    deps: &Deps,
    tenant: &TenantId,
    codes: &[ItemCode],
) -> Result<usize, StoreError> {
    retry_where(deps, tenant, &[ItemStatus::Blocked], codes).await
}

/// `codes` empty: every item with one of `statuses`.
async fn retry_where(
    deps: &Deps,
    tenant: &TenantId,
    statuses: &[ItemStatus],
    codes: &[ItemCode],
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
    codes: &[ItemCode],
) -> Result<usize, StoreError> {
    let items = &deps.items;
    let waiting: Vec<_> = items
        .all_with_status(tenant, statuses)
        .await?
        .into_iter()
        .filter(|item| {
            codes.is_empty()
                || item
                    .last_error
                    .as_ref()
                    .is_some_and(|e| codes.contains(&e.code))
        })
        .collect();
    resume(deps, tenant, items, waiting).await
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
        if to_pending(items, &item, Utc::now())
            .await
            .unless_refused()?
            .is_none()
        {
            continue;
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
/// - resumes items blocked on the connection before, or within
///   [`RECONNECT_RACE`] after, the last (re)connect. The pull has just used the connection, so
///   such an item lost a race with the reconnect: its webhook or push read the connection as
///   `expired` just before the owner reconnected and stored the block just after the
///   reconnect's resume looked (or within GSI2's lag of it);
/// - resumes items blocked on pulled data when the pull changed the
///   mapping, fiscal years, charts or codings (for instance an invoice pushed before the first
///   pull had proposed the mapping, or a voucher dated in a year just opened in Visma). Those
///   whose cause persists block again, once: unchanged pulls leave them alone. (A push that
///   read the data from before this pull and stores its block after this scan is missed; it
///   waits for a Retry or Sync now.)
/// - resumes credit notes blocked `original_invoice_missing` whose credited invoice is now
///   synced (one read per such credit note).
///
/// Returns how many jobs it queued.
pub async fn after_pull(
    deps: &Deps,
    tenant: &TenantId,
    report: &domain::pull::PullReport,
) -> Result<usize, StoreError> {
    let requeued = requeue_stale_pending(deps, tenant).await?;
    let data_changed = report.changed_pulled_data();
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
    let items = &deps.items;
    let mut waiting = Vec::new();
    for item in items
        .all_with_status(tenant, &[ItemStatus::Blocked])
        .await?
    {
        let Some(code) = item.last_error.as_ref().map(|e| e.code) else {
            continue;
        };
        let resumable = match resumed_after_pull(code, raced_the_connect(&item), data_changed) {
            AfterPull::Resume => true,
            AfterPull::IfOriginalSynced => original_synced(items, &item).await?,
            AfterPull::Leave => false,
        };
        if resumable {
            waiting.push(item);
        }
    }
    let resumed = resume(deps, tenant, items, waiting).await?;
    if resumed > 0 {
        tracing::info!(%tenant, resumed, "blocked items resumed after the pull");
    }
    Ok(requeued + resumed)
}

/// How long after a (re)connect a block on the connection is taken for one that raced it.
const RECONNECT_RACE: Duration = Duration::minutes(5);

/// What a pull does with one blocked item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPull {
    Resume,
    /// Resume it if the invoice it credits is synced by now (one read).
    IfOriginalSynced,
    Leave,
}

/// Whether a pull resumes an item blocked with `code`. `raced_the_connect`: the block was
/// stored before, or within [`RECONNECT_RACE`] after, the last (re)connect. `data_changed`: the
/// pull changed the mapping, fiscal years, charts or codings.
pub fn resumed_after_pull(
    code: ItemCode,
    raced_the_connect: bool,
    data_changed: bool,
) -> AfterPull {
    if (code.is_resolved_by_connection() && raced_the_connect)
        || (code.is_resolved_by_pulled_data() && data_changed)
    {
        AfterPull::Resume
    } else if code.waits_for_original_invoice() {
        AfterPull::IfOriginalSynced
    } else {
        AfterPull::Leave
    }
}

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
    let cutoff = Utc::now() - STALE_PENDING;
    let stale: Vec<_> = deps
        .items
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_resumes_connection_blocks_only_when_they_raced_the_connect() {
        for code in [ItemCode::ConnectionExpired, ItemCode::NotConnected] {
            assert_eq!(resumed_after_pull(code, true, false), AfterPull::Resume);
            // Stored well after the reconnect: Visma refusing this kind of record, which a
            // pull cannot fix (resuming it would block it again, with an event, every pull).
            assert_eq!(resumed_after_pull(code, false, true), AfterPull::Leave);
        }
    }

    #[test]
    fn a_pull_resumes_blocks_on_pulled_data_only_when_that_data_changed() {
        for code in [
            ItemCode::MappingIncomplete,
            ItemCode::FiscalYearMissing,
            ItemCode::FiscalYearLocked,
            ItemCode::AccountsNotPulled,
            ItemCode::AccountMissing,
        ] {
            assert_eq!(resumed_after_pull(code, false, true), AfterPull::Resume);
            assert_eq!(resumed_after_pull(code, true, false), AfterPull::Leave);
        }
    }

    #[test]
    fn credit_notes_follow_their_invoice_and_the_rest_wait_for_the_owner() {
        assert_eq!(
            resumed_after_pull(ItemCode::OriginalInvoiceMissing, false, false),
            AfterPull::IfOriginalSynced
        );
        for code in [
            ItemCode::VismaValidation,
            ItemCode::VismaCompanySetup,
            ItemCode::MissingScope,
        ] {
            assert_eq!(
                resumed_after_pull(code, true, true),
                AfterPull::Leave,
                "{code}"
            );
        }
    }

    #[test]
    fn a_reconnect_resumes_exactly_the_connection_codes() {
        assert_eq!(
            connection_codes(),
            [ItemCode::ConnectionExpired, ItemCode::NotConnected]
        );
    }
}
