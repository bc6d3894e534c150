//! Pushing one Aourly record to Visma, at most once.
//!
//! Visma has no idempotency keys, so exactly-once rests on three things:
//! 1. **One pusher at a time.** The worker claims the sync item with a conditional write
//!    (`SyncItems::claim`) before any Visma call; a concurrent delivery of the same record finds
//!    it busy and comes back later. A claim left behind by a crash or a timeout expires
//!    ([`CLAIM_LEASE`]) and the next claim is told it was interrupted.
//! 2. **Look before you create again.** Any attempt after the first (an interrupted claim, a
//!    retry after an uncertain outcome, a manual retry after `failed`) first searches Visma for
//!    the record by its Aourly reference: invoices by `BuyersOrderReference = "Aourly <number>"`,
//!    vouchers by date and the `[Aourly <id>]` tag in `VoucherText`, customers by link, then
//!    customer number, then org number. Only when nothing is found is it created. (A first
//!    attempt matches customers in the customer index the pull keeps, without asking Visma; see
//!    [`customer`] for what keeps that from creating a second copy.)
//! 3. **An uncertain outcome keeps the claim.** When Visma may have processed a create but no
//!    answer came back (timeout, dropped connection, a gateway's 502/504), the claim is not
//!    released: the retry can only start after the lease ends, as an interrupted claim, and so
//!    it looks up first.
//!
//! The outcome's event is queued before the outcome is stored (see [`run`]), so Aourly may
//! hear an outcome twice, never not at all.
//!
//! | module | what it holds |
//! |---|---|
//! | this one | the protocol: claim, attempt, finish; the last receive; per-kind dispatch |
//! | [`outcome`] | outcomes, "retry later", Visma error classification, the events |
//! | [`customer`] | matching or creating the Visma customer, and its creation lease |
//! | [`invoice`] | invoices and credit notes |
//! | [`voucher`] | manual vouchers |

mod customer;
mod invoice;
pub(crate) mod outcome;
mod voucher;

use chrono::{Duration, Utc};
use domain::connection::{ConnectionStatus, VismaPlan};
use domain::{EventData, ItemCode, ItemError, RecordKind, TenantId};
use store::{Claim, Conditional, StoreError, SyncItem};
use visma::VismaApi;

pub use invoice::invoice_reference;
pub use outcome::{Exhausted, PushOutcome, RetryLater, WhenExhausted};
pub use voucher::voucher_tag;

use crate::tokens::TenantTokens;
use crate::Deps;
use outcome::{blocked, finish_for, on_last_receive, report, retry_in_invocation, Attempt, Stop};

/// How long a claim protects a push. Longer than a Visma call can take (20 s timeout, twice).
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// Runs one `Push` job. `Err` means "try again later".
pub async fn run(
    deps: &Deps,
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
) -> Result<PushOutcome, RetryLater> {
    let owner = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let (item, interrupted) = match deps
        .items
        .claim(tenant, kind, id, &owner, now, CLAIM_LEASE)
        .await?
    {
        Claim::Claimed { item, interrupted } => (*item, interrupted),
        Claim::NotPending(_) | Claim::Missing => return Ok(PushOutcome::Skipped),
        Claim::Busy => return Err(RetryLater::new("another worker is pushing this record")),
    };
    // Any earlier attempt may have reached Visma without us learning the outcome.
    let mut look_first = interrupted || item.attempts > 1;
    // A short transient failure is retried within this invocation. Every retry looks the
    // record up first: a 5xx on a create may still have created it.
    let mut tries = 0;
    let result = loop {
        tries += 1;
        let result = push_claimed(deps, tenant, &item, look_first, &owner).await;
        match retry_in_invocation(&result, tries, crate::backoff::in_invocation_pause()) {
            Some(wait) => {
                tokio::time::sleep(wait).await;
                look_first = true;
            }
            None => break result,
        }
    };
    let Some(finish) = finish_for(&result) else {
        // Leave the claim in place: see the module docs (3).
        let reason = match &result {
            Err(Stop::Retry(retry)) => retry.reason.clone(),
            _ => String::new(),
        };
        return Err(RetryLater::claim_kept(reason));
    };
    let outcome = match result {
        Ok((visma_id, visma_number)) => PushOutcome::Synced {
            visma_id,
            visma_number,
        },
        Err(Stop::Blocked(e)) => PushOutcome::Blocked(e),
        Err(Stop::Failed(e)) => PushOutcome::Failed(e),
        Err(Stop::Retry(retry)) => {
            if let Err(mut kept) = finish_or_keep(deps, &item, &finish).await {
                kept.when_exhausted = retry.when_exhausted;
                return Err(kept);
            }
            return Err(retry);
        }
    };
    // The event is queued before the outcome is stored: once stored, a redelivered job skips
    // the item and the event would never be queued. If queuing fails the claim stays; the
    // retry after its lease looks the record up in Visma, finds it, and reports it then. (If
    // the store write fails after the event was queued, the retry reports it again: Aourly may
    // get the same outcome twice, never none.)
    if let Err(e) = report(deps, &item, &outcome).await {
        tracing::warn!(error = %e, "could not queue the outcome's event; the claim is kept and the job retried");
        return Err(RetryLater::claim_kept(
            "the outcome could not be reported yet",
        ));
    }
    if let Err(mut kept) = finish_or_keep(deps, &item, &finish).await {
        // Aourly has been told the outcome: it must not hear `failed` next.
        kept.when_exhausted = WhenExhausted::LeavePending;
        return Err(kept);
    }
    Ok(outcome)
}

/// Stores the outcome and releases the claim. If that write fails the claim is still held,
/// so the retry must wait out its lease (and then looks the record up first).
async fn finish_or_keep(
    deps: &Deps,
    item: &SyncItem,
    finish: &store::Finish,
) -> Result<(), RetryLater> {
    match deps.items.finish(item, finish, Utc::now()).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "could not store the push's outcome; the claim is kept");
            Err(RetryLater::claim_kept(outcome::STORAGE_UNAVAILABLE))
        }
    }
}

/// Records what the queue's giving up on a push job means for its item (its last receive):
/// see [`outcome::on_last_receive`] for the decision. `retry` is how the job's last attempt
/// ended.
pub async fn mark_exhausted(
    deps: &Deps,
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
    retry: &RetryLater,
) -> Result<(), StoreError> {
    let Some(item) = deps.items.get(tenant, kind, id).await? else {
        return Ok(());
    };
    let (status, error) = match on_last_receive(&item, retry, Utc::now()) {
        Exhausted::Nothing => {
            tracing::info!(%tenant, ?kind, id, "last receive, but the item is not pending or another worker is pushing it; left as it is");
            return Ok(());
        }
        Exhausted::LeavePending => {
            tracing::warn!(%tenant, ?kind, id, "last receive with a reported but unstored outcome; left pending for the re-queue");
            return Ok(());
        }
        Exhausted::Mark(status, error) => (status, error),
    };
    let outcome = match status {
        domain::ItemStatus::Blocked => PushOutcome::Blocked(error.clone()),
        _ => PushOutcome::Failed(error.clone()),
    };
    // Reported first, as in `run`: if the event cannot be queued the item stays pending and
    // the re-queue of stale pending items tries it again; reported after the store write,
    // the event would be lost with this last message.
    report(deps, &item, &outcome).await?;
    // It may have moved on meanwhile (synced by a late success, or retried): that state
    // stands, and its own event follows this one.
    deps.items
        .set_status(&item, status, Some(&error), Utc::now())
        .await
        .or_refused()
}

/// One attempt at a claimed item: what every step of it needs. Its methods live with their
/// kind ([`customer`], [`invoice`], [`voucher`]).
struct ClaimedPush<'a> {
    deps: &'a Deps,
    api: &'a VismaApi<'a, TenantTokens<'a>>,
    tenant: &'a TenantId,
    /// An earlier attempt may have reached Visma: look the record up before creating it.
    look_first: bool,
    /// This attempt's claim owner, which also holds any customer creation lease it takes.
    claimant: &'a str,
    /// The company's Visma plan, as the last connect or pull read it.
    plan: Option<VismaPlan>,
}

/// One attempt at the claimed item: the connection must be usable, then each kind goes its
/// own way. `claimant`: this attempt's claim owner, which also holds any customer creation
/// lease it takes.
async fn push_claimed(
    deps: &Deps,
    tenant: &TenantId,
    item: &SyncItem,
    look_first: bool,
    claimant: &str,
) -> Attempt {
    let connection = deps.connections.get(tenant).await?;
    match connection.as_ref().map(|c| c.status) {
        Some(ConnectionStatus::Connected) => {}
        Some(ConnectionStatus::Expired) => {
            return Err(blocked(
                ItemCode::ConnectionExpired,
                "the Visma connection has expired; reconnect to resume",
            ))
        }
        _ => {
            return Err(blocked(
                ItemCode::NotConnected,
                "the company is not connected to Visma",
            ))
        }
    }
    let event = item.event().map_err(|e| {
        tracing::error!(error = %e, "a stored sync item could not be decoded");
        Stop::Failed(ItemError::new(
            ItemCode::UnreadableRecord,
            "the stored copy of this record could not be read (a fault on our side, in the worker's log); Aourly's next update of the record replaces it",
        ))
    })?;
    let tokens = TenantTokens::new(deps, tenant.clone());
    let api = deps.visma.connect(&tokens);
    let push = ClaimedPush {
        deps,
        api: &api,
        tenant,
        look_first,
        claimant,
        plan: connection
            .and_then(|c| c.company)
            .and_then(|c| c.settings)
            .and_then(|s| s.plan),
    };
    match event.data() {
        EventData::CustomerCreated(customer) => {
            let id = push.resolve_customer(customer).await?;
            Ok((id.to_string(), customer.number.clone()))
        }
        EventData::CustomerUpdated(customer) => push.update_customer(customer).await,
        EventData::InvoiceCreated(invoice) => push.invoice(invoice, None).await,
        EventData::InvoiceCredited {
            invoice,
            credits_invoice_id,
        } => push.credit_note(invoice, credits_invoice_id).await,
        EventData::VoucherCreated(voucher) => push.voucher(voucher).await,
    }
}
