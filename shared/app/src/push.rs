//! Pushing one Aourly record to Visma, at most once (CONTRACT §6 "Pushing rules").
//!
//! Visma has no idempotency keys, so exactly-once rests on three things:
//! 1. **One pusher at a time.** The worker claims the sync item with a conditional write
//!    (`SyncItems::claim`) before any Visma call; a concurrent delivery of the same record finds
//!    it busy and comes back later. A claim left behind by a crash or a timeout expires
//!    (`CLAIM_LEASE`) and the next claim is told it was interrupted.
//! 2. **Look before you create again.** Any attempt after the first (an interrupted claim, a
//!    retry after an uncertain outcome, a manual retry after `failed`) first searches Visma for
//!    the record by its Aourly reference: invoices by `BuyersOrderReference = "Aourly <number>"`,
//!    vouchers by date and the `[Aourly <id>]` tag in `VoucherText`, customers by link, then
//!    customer number, then org number. Only when nothing is found is it created. (A first
//!    attempt matches customers in the customer index the pull keeps, without asking Visma; see
//!    `resolve_customer` for what keeps that from creating a second copy.)
//! 3. **An uncertain outcome keeps the claim.** When Visma may have processed a create but no
//!    answer came back (timeout, dropped connection), the claim is not released: the retry can
//!    only start after the lease ends, as an interrupted claim, and so it looks up first.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use domain::connection::ConnectionStatus;
use domain::outbound::OutboundType;
use domain::pull::{terms_for_days, CustomerKey, FiscalYear, IndexedCustomer, SalesTerms};
use domain::{Customer, EventData, Invoice, RecordKind, TenantId, VatRate, Voucher};
use store::{Claim, Finish, ItemError, ItemStatus, Lease, Pulled, StoreError, SyncItem, SyncItems};
use visma::models::{
    ArticleId, CustomerId, CustomerInvoice, CustomerInvoiceRow, TermsOfPaymentId, VoucherRow,
};
use visma::{ErrorClass, ListQuery, VismaApi, VismaError, VoucherOptions};

use crate::tokens::TenantTokens;
use crate::Deps;

/// How long a claim protects a push. Longer than a Visma call can take (20 s timeout, twice).
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// Tries of one push within one invocation, for transient failures with a short wait.
const IN_INVOCATION_TRIES: u32 = 4;
const SHORT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a push creating a customer without a number holds that customer
/// ([`CustomerLinks::lease_creation`]): as long as a claim, so that a push that died after
/// creating it in Visma is looked up (by name) rather than raced.
const CREATION_LEASE: Duration = CLAIM_LEASE;

/// How long a push waits for another push's customer creation before it looks again.
const CREATION_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// What became of one push job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// In Visma (now, or it already was).
    Synced {
        visma_id: String,
        visma_number: Option<String>,
    },
    /// Waiting for the owner; not retried until the cause is fixed or someone retries.
    Blocked(ItemError),
    /// Visma refused it for good.
    Failed(ItemError),
    /// Nothing to do: the item is not pending (a stale or duplicate job), or unknown.
    Skipped,
}

/// Try again later (the job goes back to the queue with backoff).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct RetryLater {
    pub reason: String,
    /// Visma's own wait hint, when it gave one.
    pub after: Option<std::time::Duration>,
    /// The item stays claimed (an uncertain outcome): nothing else may push it until the lease
    /// ends.
    pub claim_kept: bool,
    /// What the item becomes when the queue gives up on it.
    pub when_exhausted: WhenExhausted,
}

/// What a pending item becomes when the queue gives up on its job (its last receive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WhenExhausted {
    /// `failed` (`retries_exhausted`): the owner retries it once the cause is fixed.
    #[default]
    Fail,
    /// `blocked` with this error: a wait that is nobody's fault (a credit note whose invoice
    /// is still queued), resumed when its cause clears.
    Block(ItemError),
    /// Left pending: its outcome was already reported to Aourly but could not be stored, so
    /// marking it failed would contradict the report. The hourly re-queue of stale pending
    /// items (or a Retry) finishes it, looking the record up first.
    LeavePending,
}

impl RetryLater {
    /// An attempt that ends with the item still claimed: the retry waits out the lease.
    fn claim_kept(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            after: Some(std::time::Duration::from_secs(
                u64::try_from(CLAIM_LEASE.num_seconds()).unwrap_or(60),
            )),
            claim_kept: true,
            when_exhausted: WhenExhausted::Fail,
        }
    }

    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            after: None,
            claim_kept: false,
            when_exhausted: WhenExhausted::Fail,
        }
    }
}

/// The reason reaches the owner (`last_error.detail`, events): the cause goes to the log only.
impl From<StoreError> for RetryLater {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "a store call failed during a push");
        RetryLater::new("the service's storage was briefly unavailable")
    }
}

/// Why a record could not be pushed, as the worker's inner control flow sees it.
enum Stop {
    Blocked(ItemError),
    Failed(ItemError),
    Retry(RetryLater),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Retry(e.into())
    }
}

fn blocked(code: &str, detail: impl Into<String>) -> Stop {
    Stop::Blocked(ItemError::new(code, detail))
}

/// Classifies a Visma error from a call whose side effects are certain (a read, or a write
/// Visma answered).
fn from_visma(e: VismaError, doing: &str) -> Stop {
    // Our own token store failed for good: not Visma's answer, and not the owner's to fix.
    if let VismaError::TokenSource {
        class: ErrorClass::Permanent,
        message,
    } = &e
    {
        return Stop::Failed(ItemError::new("internal_error", message.clone()));
    }
    if e.is_uncertain() {
        return Stop::Retry(RetryLater {
            reason: format!("{doing}: no answer from Visma; will look it up before retrying"),
            after: None,
            claim_kept: true,
            when_exhausted: WhenExhausted::Fail,
        });
    }
    match e.class() {
        ErrorClass::Transient => Stop::Retry(RetryLater {
            reason: format!("{doing}: Visma is unavailable or rate-limited"),
            after: e.retry_after(),
            claim_kept: false,
            when_exhausted: WhenExhausted::Fail,
        }),
        ErrorClass::Authorization => blocked(
            "connection_expired",
            "Visma no longer accepts the connection; reconnect to resume",
        ),
        ErrorClass::NeedsOwner => {
            let code = match e.visma_code() {
                Some(3001) => "fiscal_year_missing",
                Some(3002) => "account_missing",
                Some(4006) => "missing_scope",
                Some(4013 | 4026 | 4038) => "fiscal_year_locked",
                Some(4002 | 4003 | 4004 | 4009 | 4011 | 4012) => "visma_company_setup",
                _ => "visma_validation",
            };
            blocked(code, format!("{doing}: {}", owner_detail(&e)))
        }
        ErrorClass::Conflict => Stop::Failed(ItemError::new(
            "visma_conflict",
            format!("{doing}: {}", owner_detail(&e)),
        )),
        ErrorClass::NotFound | ErrorClass::Permanent => Stop::Failed(ItemError::new(
            "visma_rejected",
            format!("{doing}: {}", owner_detail(&e)),
        )),
    }
}

/// Visma's own explanation (field names and messages), never tokens or request bodies.
fn owner_detail(e: &VismaError) -> String {
    match e.api() {
        Some(api) => {
            let mut text = api
                .message
                .clone()
                .unwrap_or_else(|| "Visma refused the request".into());
            for field in &api.field_errors {
                text.push_str(&format!(
                    "; {}: {}",
                    field.field.clone().unwrap_or_default(),
                    field.message.clone().unwrap_or_default()
                ));
            }
            text
        }
        None => "Visma refused the request".into(),
    }
}

/// Runs one `Push` job. `Err` means "try again later".
pub async fn run(
    deps: &Deps,
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
) -> Result<PushOutcome, RetryLater> {
    let items = SyncItems::new(deps.table.clone());
    let owner = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let (item, interrupted) = match items
        .claim(tenant, kind, id, &owner, now, CLAIM_LEASE)
        .await?
    {
        Claim::Claimed { item, interrupted } => (*item, interrupted),
        Claim::NotPending(_) | Claim::Missing => return Ok(PushOutcome::Skipped),
        Claim::Busy => return Err(RetryLater::new("another worker is pushing this record")),
    };
    // Any earlier attempt may have reached Visma without us learning the outcome.
    let mut look_first = interrupted || item.attempts > 1;
    // A short transient failure (a 5xx, a rate limit with a short wait) is retried within this
    // invocation, so that a flaky hour does not exhaust the queue's receive budget. Every retry
    // looks the record up first: a 5xx on a create may still have created it.
    let mut tries = 0;
    let result = loop {
        tries += 1;
        let result = push_claimed(deps, tenant, &item, look_first, &owner).await;
        match &result {
            Err(Stop::Retry(retry))
                if !retry.claim_kept
                    && tries < IN_INVOCATION_TRIES
                    && retry.after.is_none_or(|a| a <= SHORT_WAIT) =>
            {
                let wait = retry.after.unwrap_or(std::time::Duration::from_millis(
                    rand::Rng::random_range(&mut rand::rng(), 100..400),
                ));
                tokio::time::sleep(wait).await;
                look_first = true;
            }
            _ => break result,
        }
    };
    let finish = match &result {
        Ok((visma_id, visma_number)) => Finish {
            status: ItemStatus::Synced,
            visma_id: Some(visma_id.clone()),
            visma_number: visma_number.clone(),
            last_error: None,
        },
        Err(Stop::Blocked(e)) => Finish {
            status: ItemStatus::Blocked,
            visma_id: None,
            visma_number: None,
            last_error: Some(e.clone()),
        },
        Err(Stop::Failed(e)) => Finish {
            status: ItemStatus::Failed,
            visma_id: None,
            visma_number: None,
            last_error: Some(e.clone()),
        },
        Err(Stop::Retry(retry)) if retry.claim_kept => {
            // Leave the claim in place: see the module docs (3).
            return Err(RetryLater::claim_kept(retry.reason.clone()));
        }
        Err(Stop::Retry(retry)) => Finish {
            status: ItemStatus::Pending,
            visma_id: None,
            visma_number: None,
            last_error: Some(ItemError::new("retrying", retry.reason.clone())),
        },
    };
    let outcome = match result {
        Ok((visma_id, visma_number)) => PushOutcome::Synced {
            visma_id,
            visma_number,
        },
        Err(Stop::Blocked(e)) => PushOutcome::Blocked(e),
        Err(Stop::Failed(e)) => PushOutcome::Failed(e),
        Err(Stop::Retry(retry)) => {
            if let Err(mut kept) = finish_or_keep(&items, &item, &finish).await {
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
    if let Err(mut kept) = finish_or_keep(&items, &item, &finish).await {
        // Aourly has been told the outcome: it must not hear `failed` next.
        kept.when_exhausted = WhenExhausted::LeavePending;
        return Err(kept);
    }
    Ok(outcome)
}

/// Stores the outcome and releases the claim. If that write fails the claim is still held,
/// so the retry must wait out its lease (and then looks the record up first).
async fn finish_or_keep(
    items: &SyncItems,
    item: &SyncItem,
    finish: &Finish,
) -> Result<(), RetryLater> {
    match items.finish(item, finish, Utc::now()).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "could not store the push's outcome; the claim is kept");
            Err(RetryLater::claim_kept(
                "the service's storage was briefly unavailable",
            ))
        }
    }
}

/// Marks a pending item failed when the queue has given up on it (its last receive).
/// `retry` is how this job's last attempt ended. When it found another worker's live claim
/// (not its own kept one), that worker is pushing the record now and its own job decides the
/// outcome: marking it failed here could contradict a success a moment later.
pub async fn mark_exhausted(
    deps: &Deps,
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
    retry: &RetryLater,
) -> Result<(), StoreError> {
    let items = SyncItems::new(deps.table.clone());
    let Some(item) = items.get(tenant, kind, id).await? else {
        return Ok(());
    };
    if item.status != ItemStatus::Pending {
        return Ok(());
    }
    let claimed_elsewhere = !retry.claim_kept
        && item
            .in_flight_since
            .is_some_and(|since| since + CLAIM_LEASE > Utc::now());
    if claimed_elsewhere {
        tracing::info!(%tenant, ?kind, id, "last receive, but another worker is pushing the record; its job decides");
        return Ok(());
    }
    let (status, error) = match &retry.when_exhausted {
        WhenExhausted::LeavePending => {
            tracing::warn!(%tenant, ?kind, id, "last receive with a reported but unstored outcome; left pending for the re-queue");
            return Ok(());
        }
        WhenExhausted::Block(waiting) => (ItemStatus::Blocked, waiting.clone()),
        WhenExhausted::Fail => (
            ItemStatus::Failed,
            ItemError::new(
                "retries_exhausted",
                format!(
                    "gave up after repeated failures ({}); retry it from the Integrations page",
                    retry.reason
                ),
            ),
        ),
    };
    let outcome = match status {
        ItemStatus::Blocked => PushOutcome::Blocked(error.clone()),
        _ => PushOutcome::Failed(error.clone()),
    };
    // Reported first, as in `run`: if the event cannot be queued the item stays pending and
    // the re-queue of stale pending items tries it again; reported after the store write,
    // the event would be lost with this last message.
    report(deps, &item, &outcome).await?;
    match items
        .set_status(&item, status, Some(&error), Utc::now())
        .await
    {
        // It moved on meanwhile (synced by a late success, or retried): that state stands,
        // and its own event follows this one.
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Outbound events for the outcome (CONTRACT §7).
async fn report(deps: &Deps, item: &SyncItem, outcome: &PushOutcome) -> Result<(), StoreError> {
    let kind = store::keys::kind_str(item.kind);
    let (event, data) = match outcome {
        // An invoice reaches Visma once: the same id for every report of it.
        PushOutcome::Synced {
            visma_id,
            visma_number,
        } if item.kind == RecordKind::Invoice => {
            return crate::events::emit_fact(
                deps,
                &item.tenant,
                OutboundType::InvoiceSynced,
                serde_json::json!({"kind": kind, "id": item.id, "visma_id": visma_id, "visma_number": visma_number}),
                &format!("invoice.synced:{}:{visma_id}", item.id),
            )
            .await
        }
        PushOutcome::Blocked(e) => (
            OutboundType::ItemBlocked,
            serde_json::json!({"kind": kind, "id": item.id, "status": "blocked", "last_error": {"code": e.code, "detail": e.detail}}),
        ),
        PushOutcome::Failed(e) => (
            OutboundType::ItemFailed,
            serde_json::json!({"kind": kind, "id": item.id, "status": "failed", "last_error": {"code": e.code, "detail": e.detail}}),
        ),
        _ => return Ok(()),
    };
    crate::events::emit(deps, &item.tenant, event, data).await
}

/// `claimant`: this attempt's claim owner, which also holds any customer creation lease it
/// takes.
async fn push_claimed(
    deps: &Deps,
    tenant: &TenantId,
    item: &SyncItem,
    look_first: bool,
    claimant: &str,
) -> Result<(String, Option<String>), Stop> {
    match deps.connections.get(tenant).await?.map(|c| c.status) {
        Some(ConnectionStatus::Connected) => {}
        Some(ConnectionStatus::Expired) => {
            return Err(blocked(
                "connection_expired",
                "the Visma connection has expired; reconnect to resume",
            ))
        }
        _ => {
            return Err(blocked(
                "not_connected",
                "the company is not connected to Visma",
            ))
        }
    }
    let event = item
        .event()
        .map_err(|e| {
            tracing::error!(error = %e, "a stored sync item could not be decoded");
            Stop::Failed(ItemError::new(
                "unreadable_record",
                "the stored copy of this record could not be read (a fault on our side, in the worker's log); Aourly's next update of the record replaces it",
            ))
        })?;
    let tokens = TenantTokens::new(deps, tenant.clone());
    let api = deps.visma.connect(&tokens);
    match event.data() {
        EventData::CustomerCreated(customer) => {
            let id = resolve_customer(deps, &api, tenant, customer, look_first, claimant).await?;
            Ok((id.to_string(), customer.number.clone()))
        }
        EventData::CustomerUpdated(customer) => {
            let id = resolve_customer(deps, &api, tenant, customer, look_first, claimant).await?;
            let pulled = Pulled::new(deps.table.clone());
            let state = pulled.pull_state(tenant).await?;
            let terms = terms_for(&api, &state.sales_terms, customer.payment_terms_days).await?;
            let mut body = customer_body(customer, terms);
            body.id = Some(id);
            let updated = api
                .customers()
                .update(id, &body)
                .await
                .map_err(|e| from_visma(e, "updating the customer"))?;
            // The customer's numbers may have changed (a corrected org number): index its new
            // ones and replace its current keys, so the entries of the old ones stop matching
            // it. Visma's answer says what it kept; what was sent stands in if it says nothing.
            // If this write fails the update is retried (a PUT again, which is harmless).
            let current = crate::pull::indexed_customer(&updated)
                .filter(|c| c.visma_id == id.to_string())
                .unwrap_or_else(|| IndexedCustomer {
                    visma_id: id.to_string(),
                    number: body.customer_number.clone(),
                    org_number: body.corporate_identity_number.clone(),
                });
            pulled.put_customer_index(tenant, &[current]).await?;
            Ok((id.to_string(), customer.number.clone()))
        }
        EventData::InvoiceCreated(invoice) => {
            push_invoice(deps, &api, tenant, invoice, None, look_first, claimant).await
        }
        EventData::InvoiceCredited {
            invoice,
            credits_invoice_id,
        } => {
            let items = SyncItems::new(deps.table.clone());
            let original = items
                .get(tenant, RecordKind::Invoice, credits_invoice_id.as_str())
                .await?;
            let original_number = match original {
                Some(o) if o.status == ItemStatus::Synced => o.visma_number.unwrap_or_default(),
                // Usually the invoice is a few seconds ahead in the queue: retried. If the queue
                // gives up first (a long backlog), the credit note waits blocked and the pull
                // after the invoice is synced resumes it.
                Some(o) if o.status == ItemStatus::Pending => {
                    let mut wait = RetryLater::new("the credited invoice is not in Visma yet");
                    wait.when_exhausted = WhenExhausted::Block(ItemError::new(
                        crate::retry::ORIGINAL_INVOICE_MISSING,
                        format!(
                            "the credited invoice {} is not in Visma yet; the credit note follows it",
                            credits_invoice_id.as_str()
                        ),
                    ));
                    return Err(Stop::Retry(wait));
                }
                _ => {
                    return Err(blocked(
                        crate::retry::ORIGINAL_INVOICE_MISSING,
                        format!(
                            "the credited invoice {} is not in Visma; sync it first",
                            credits_invoice_id.as_str()
                        ),
                    ))
                }
            };
            push_invoice(
                deps,
                &api,
                tenant,
                invoice,
                Some(original_number),
                look_first,
                claimant,
            )
            .await
        }
        EventData::VoucherCreated(voucher) => {
            push_voucher(deps, &api, tenant, voucher, look_first).await
        }
    }
}

/// The Visma field that carries Aourly's invoice number, for accountants and for lookups.
pub fn invoice_reference(invoice: &Invoice) -> String {
    format!("Aourly {}", invoice.number())
}

/// The tag in a pushed voucher's text that identifies its Aourly voucher.
pub fn voucher_tag(voucher: &Voucher) -> String {
    domain::pull::pushed_voucher_tag(voucher.id().as_str())
}

async fn push_invoice(
    deps: &Deps,
    api: &VismaApi<'_, TenantTokens<'_>>,
    tenant: &TenantId,
    invoice: &Invoice,
    credits_visma_number: Option<String>,
    look_first: bool,
    pusher: &str,
) -> Result<(String, Option<String>), Stop> {
    // Every row needs the article of its VAT rate's mapping entry; never a guessed account.
    let mapping = crate::mapping::current(deps, tenant).await?;
    let mut articles: HashMap<VatRate, ArticleId> = HashMap::new();
    let mut missing = Vec::new();
    for rate in invoice.vat_rates() {
        let article = mapping
            .as_ref()
            .and_then(|m| m.entry_for_rate(rate))
            .and_then(|e| e.article_id.as_deref())
            .and_then(|a| uuid::Uuid::parse_str(a).ok());
        match article {
            Some(a) => {
                articles.insert(rate, ArticleId::new(a));
            }
            None => missing.push(format!("{} %", rate.as_str())),
        }
    }
    if !missing.is_empty() {
        return Err(blocked(
            "mapping_incomplete",
            format!(
                "no valid account mapping for VAT rate {}",
                missing.join(", ")
            ),
        ));
    }
    let reference = invoice_reference(invoice);
    if look_first {
        if let Some(found) = find_invoice(api, &reference).await? {
            return Ok(found);
        }
    }
    let customer =
        resolve_customer(deps, api, tenant, invoice.customer(), look_first, pusher).await?;
    let rows = invoice
        .lines()
        .iter()
        .map(|line| CustomerInvoiceRow {
            article_id: articles.get(&line.vat_rate).copied(),
            text: Some(truncate(&line.description, 2000)),
            unit_price: Some(line.unit_price.amount()),
            quantity: Some(line.quantity.value()),
            discount_percentage: Some(line.discount_percent.as_fraction()),
            ..CustomerInvoiceRow::default()
        })
        .collect();
    let mut body = CustomerInvoice::new(customer, rows);
    body.invoice_date = Some(invoice.issue_date());
    body.due_date = Some(invoice.due_date());
    body.your_reference = invoice.your_reference().map(|r| truncate(r, 100));
    body.buyers_order_reference = Some(reference);
    body.our_reference = match &credits_visma_number {
        // The credit note names the invoice it credits, in Visma's own numbering.
        Some(number) => Some(truncate(
            &match invoice.our_reference() {
                Some(ours) => format!("Kreditering av faktura {number} / {ours}"),
                None => format!("Kreditering av faktura {number}"),
            },
            100,
        )),
        None => invoice.our_reference().map(|r| truncate(r, 100)),
    };
    body.is_credit_invoice = Some(credits_visma_number.is_some());
    let created = api
        .customer_invoices()
        .create(&body)
        .await
        .map_err(|e| from_visma(e, "creating the invoice"))?;
    let id = created.id.ok_or_else(|| {
        Stop::Failed(ItemError::new(
            "visma_rejected",
            "Visma returned no invoice id",
        ))
    })?;
    let gross = invoice.totals().gross.amount();
    if created.total_amount.is_some_and(|t| t != gross) {
        tracing::warn!(%tenant, invoice = %invoice.id().as_str(), "Visma's invoice total differs from Aourly's");
    }
    Ok((
        id.to_string(),
        created.invoice_number.map(|n| n.to_string()),
    ))
}

async fn find_invoice(
    api: &VismaApi<'_, TenantTokens<'_>>,
    reference: &str,
) -> Result<Option<(String, Option<String>)>, Stop> {
    let query = ListQuery::new().filter(format!(
        "BuyersOrderReference eq {}",
        visma::odata_string(reference)
    ));
    let page = api
        .customer_invoices()
        .list(&query)
        .await
        .map_err(|e| from_visma(e, "looking the invoice up"))?;
    Ok(page
        .data
        .into_iter()
        .find(|i| i.buyers_order_reference.as_deref() == Some(reference))
        .and_then(|i| {
            i.id.map(|id| (id.to_string(), i.invoice_number.map(|n| n.to_string())))
        }))
}

/// The Visma customer for an Aourly customer: the stored link, else a match by customer
/// number, else by org number, else a new customer. The link is stored for next time.
///
/// A first attempt matches with the customer index the pull keeps (DynamoDB reads, no Visma
/// request) once the tenant has one; a retry, which may follow a create whose answer was lost,
/// and a tenant never pulled ask Visma. A customer in Visma but not in the index (created by
/// hand since the last pull, or by a push whose answer was lost) is still matched by its
/// customer number: Visma refuses the duplicate number and the conflict is resolved by looking
/// it up. A customer without a number has no such guard, so when the index does not know its
/// org number Visma is asked as well.
async fn resolve_customer(
    deps: &Deps,
    api: &VismaApi<'_, TenantTokens<'_>>,
    tenant: &TenantId,
    customer: &Customer,
    look_first: bool,
    pusher: &str,
) -> Result<CustomerId, Stop> {
    let links = CustomerLinks::new(deps);
    if let Some(id) = links.get(tenant, customer.id.as_str()).await? {
        return Ok(id);
    }
    let pulled = Pulled::new(deps.table.clone());
    let state = pulled.pull_state(tenant).await?;
    let use_index = state.customer_index_ready() && !look_first;
    if use_index {
        if let Some(id) = find_indexed_customer(&pulled, tenant, customer).await? {
            links.put(tenant, customer.id.as_str(), id).await?;
            return Ok(id);
        }
    }
    let ask_visma = !use_index || (customer.number.is_none() && customer.org_number.is_some());
    let found = if ask_visma {
        find_customer(api, customer, look_first).await?
    } else {
        None
    };
    let mut leased = false;
    let visma_customer = match found {
        Some(found) => found,
        None => {
            // Visma refuses a second customer with the same number (and `create_customer`
            // then takes the first), but nothing refuses a second one without a number: two
            // pushes naming this customer at once (its `customer.created` and an invoice in
            // one batch) take turns, and the second uses the first one's link.
            // The lease is this attempt's (its claim owner's): its own quick retries pass, a
            // second worker (another item, or this item after its claim lapsed) waits. Taken
            // over from a lapsed lease, the holder may have created the customer without
            // learning it (a lost answer, a slow create): look it up by name first. A holder
            // that learned its outcome released the lease, so a lapsed one always means this.
            let mut found = None;
            leased = customer.number.is_none();
            if leased {
                match links
                    .lease_creation(tenant, customer.id.as_str(), pusher)
                    .await?
                {
                    Lease::Held => {
                        return Err(Stop::Retry(RetryLater {
                            reason: "another push is creating this customer in Visma".into(),
                            after: Some(CREATION_WAIT),
                            claim_kept: false,
                            when_exhausted: WhenExhausted::Fail,
                        }))
                    }
                    Lease::Taken { after_other } => {
                        if let Some(id) = links.get(tenant, customer.id.as_str()).await? {
                            links.release_creation(tenant, customer.id.as_str()).await;
                            return Ok(id);
                        }
                        if after_other && !look_first {
                            found = find_customer(api, customer, true).await?;
                        }
                    }
                }
            }
            match found {
                Some(found) => found,
                None => match create_customer(api, &state.sales_terms, customer).await {
                    Ok(created) => created,
                    Err(stop) => {
                        // Certainly not created: the next attempt need not look first.
                        let unknown = matches!(&stop, Stop::Retry(r) if r.claim_kept);
                        if leased && !unknown {
                            links.release_creation(tenant, customer.id.as_str()).await;
                        }
                        return Err(stop);
                    }
                },
            }
        }
    };
    let id = visma_customer.id.ok_or_else(|| {
        Stop::Failed(ItemError::new(
            "visma_rejected",
            "Visma returned no customer id",
        ))
    })?;
    // Into the index before the link, so that another Aourly customer with the same org number
    // matches this one before the next pull reads it. If this write fails the push is retried,
    // finds no link, asks Visma (a retry always does) and writes both again.
    if let Some(indexed) = crate::pull::indexed_customer(&visma_customer) {
        pulled.put_customer_index(tenant, &[indexed]).await?;
    }
    links.put(tenant, customer.id.as_str(), id).await?;
    if leased {
        links.release_creation(tenant, customer.id.as_str()).await;
    }
    Ok(id)
}

/// Creates the customer in Visma. When Visma refuses its customer number as taken (another
/// record's push created it a moment ago, or someone did in Visma since the last pull), the
/// customer with that number is the one.
async fn create_customer(
    api: &VismaApi<'_, TenantTokens<'_>>,
    sales_terms: &[SalesTerms],
    customer: &Customer,
) -> Result<visma::models::Customer, Stop> {
    let terms = terms_for(api, sales_terms, customer.payment_terms_days).await?;
    match api
        .customers()
        .create(&customer_body(customer, terms))
        .await
    {
        Ok(created) => Ok(created),
        Err(e) if e.class() == ErrorClass::Conflict && customer.number.is_some() => {
            let number = customer.number.as_deref().unwrap_or_default();
            let page = api
                .customers()
                .list(
                    &ListQuery::new()
                        .filter(format!("CustomerNumber eq {}", visma::odata_string(number))),
                )
                .await
                .map_err(|e| from_visma(e, "looking the customer up"))?;
            page.data
                .into_iter()
                .find(|c| c.customer_number.as_deref() == Some(number))
                .ok_or_else(|| from_visma(e, "creating the customer"))
        }
        Err(e) => Err(from_visma(e, "creating the customer")),
    }
}

/// Looks the customer up in the customer index: by customer number, then by org number. An
/// entry counts only while the Visma customer it names still has that number (its current keys,
/// which every index write replaces): an org number corrected by `customer.updated` or changed
/// in Visma leaves its old entry behind, and that must not hand another Aourly customer with
/// the old number to this one. A probe that misses costs one read, a match two.
async fn find_indexed_customer(
    pulled: &Pulled,
    tenant: &TenantId,
    customer: &Customer,
) -> Result<Option<CustomerId>, Stop> {
    for (key, value) in [
        (CustomerKey::Number, &customer.number),
        (CustomerKey::OrgNumber, &customer.org_number),
    ] {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        let id = pulled.indexed_customer(tenant, key, value).await?;
        if let Some(id) = id.and_then(|id| uuid::Uuid::parse_str(&id).ok()) {
            return Ok(Some(CustomerId::new(id)));
        }
    }
    Ok(None)
}

/// Looks the customer up in Visma: by customer number, then org number (CONTRACT §6), in one
/// request; without either, a retry (which may follow a lost create) looks by name, and a first
/// attempt does not look.
async fn find_customer(
    api: &VismaApi<'_, TenantTokens<'_>>,
    customer: &Customer,
    look_first: bool,
) -> Result<Option<visma::models::Customer>, Stop> {
    let mut filters = Vec::new();
    if let Some(number) = &customer.number {
        filters.push(format!("CustomerNumber eq {}", visma::odata_string(number)));
    }
    if let Some(org) = &customer.org_number {
        filters.push(format!(
            "CorporateIdentityNumber eq {}",
            visma::odata_string(org)
        ));
    }
    // Visma keeps the first 50 characters of the name (`customer_body`).
    let name = truncate(&customer.name, 50);
    if filters.is_empty() && look_first {
        filters.push(format!("Name eq {}", visma::odata_string(&name)));
    }
    if filters.is_empty() {
        return Ok(None);
    }
    let page = api
        .customers()
        .list(&ListQuery::new().filter(filters.join(" or ")))
        .await
        .map_err(|e| from_visma(e, "looking the customer up"))?;
    // Number first, then org number (CONTRACT §6), then name.
    let by_number = customer.number.as_ref().and_then(|n| {
        page.data
            .iter()
            .find(|c| c.customer_number.as_deref() == Some(n.as_str()))
    });
    let by_org = customer.org_number.as_ref().and_then(|o| {
        page.data
            .iter()
            .find(|c| c.corporate_identity_number.as_deref() == Some(o.as_str()))
    });
    let by_name = page.data.iter().find(|c| c.name == name);
    Ok(by_number
        .or(by_org)
        .or(by_name)
        .filter(|c| c.id.is_some())
        .cloned())
}

fn customer_body(customer: &Customer, terms: TermsOfPaymentId) -> visma::models::Customer {
    let mut body = visma::models::Customer::new(truncate(&customer.name, 50), terms);
    body.customer_number = customer.number.clone();
    body.is_private_person = customer.is_private_person;
    body.is_active = true;
    // For a private person Visma keeps the personal identity number in the same field.
    body.corporate_identity_number = customer.org_number.clone();
    body.vat_number = customer.vat_number.clone();
    body.email_address = customer.email.as_ref().map(|e| e.as_str().to_owned());
    body.invoice_address1 = Some(truncate(&customer.address.line1, 50));
    body.invoice_address2 = customer.address.line2.as_deref().map(|l| truncate(l, 50));
    body.invoice_postal_code = Some(truncate(&customer.address.postal_code, 10));
    body.invoice_city = Some(truncate(&customer.address.city, 50));
    body.invoice_country_code = Some(customer.address.country_code.as_str().to_owned());
    body.currency_code = Some(customer.currency.as_str().to_owned());
    body
}

/// Visma's terms of payment for `days` ([`domain::pull::terms_for_days`]), from the sales terms
/// the pull keeps (`pulled`); a tenant not pulled yet costs one Visma request.
async fn terms_for(
    api: &VismaApi<'_, TenantTokens<'_>>,
    pulled: &[SalesTerms],
    days: u16,
) -> Result<TermsOfPaymentId, Stop> {
    let read;
    let terms = if pulled.is_empty() {
        let all = api
            .terms_of_payment()
            .list_all(&ListQuery::new())
            .await
            .map_err(|e| from_visma(e, "reading the terms of payment"))?;
        read = crate::pull::sales_terms(&all.items);
        &read
    } else {
        pulled
    };
    terms_for_days(terms, days)
        .and_then(|t| t.id.parse().ok())
        .ok_or_else(|| {
            blocked(
                "visma_company_setup",
                "the Visma company has no terms of payment for sales",
            )
        })
}

async fn push_voucher(
    deps: &Deps,
    api: &VismaApi<'_, TenantTokens<'_>>,
    tenant: &TenantId,
    voucher: &Voucher,
    look_first: bool,
) -> Result<(String, Option<String>), Stop> {
    let pulled = Pulled::new(deps.table.clone());
    let years = pulled.fiscal_years(tenant).await?;
    let year: &FiscalYear = years
        .iter()
        .find(|y| y.contains(voucher.date()))
        .ok_or_else(|| {
            blocked(
                "fiscal_year_missing",
                format!(
                    "no fiscal year containing {} has been pulled from Visma; create it in Visma if it is missing (the next pull resumes this record)",
                    voucher.date()
                ),
            )
        })?;
    if year.locked {
        return Err(blocked(
            "fiscal_year_locked",
            format!(
                "the fiscal year containing {} is locked in Visma",
                voucher.date()
            ),
        ));
    }
    let chart = pulled.chart(tenant, &year.id).await?.ok_or_else(|| {
        blocked(
            "accounts_not_pulled",
            "the chart of accounts for this fiscal year has not been pulled yet; run a sync",
        )
    })?;
    let unknown: Vec<&str> = voucher
        .rows()
        .iter()
        .map(|r| r.account().as_str())
        .filter(|number| !chart.iter().any(|a| a.number == *number && a.active))
        .collect();
    if !unknown.is_empty() {
        return Err(blocked(
            "account_missing",
            format!(
                "account {} does not exist or is inactive in Visma's fiscal year {}–{}",
                unknown.join(", "),
                year.start_date,
                year.end_date
            ),
        ));
    }
    let tag = voucher_tag(voucher);
    if look_first {
        if let Some(found) = find_voucher(api, voucher, &tag).await? {
            return Ok(found);
        }
    }
    let rows = voucher
        .rows()
        .iter()
        .map(|r| VoucherRow {
            account_number: i64::try_from(r.account().as_u64()).unwrap_or(i64::MAX),
            debit_amount: Some(r.debit().amount()),
            credit_amount: Some(r.credit().amount()),
            transaction_text: r.text().map(|t| truncate(t, 60)),
            ..VoucherRow::default()
        })
        .collect();
    // The tag goes last so a long text is cut before it, never the tag itself.
    let text = format!("{} {tag}", truncate(voucher.text(), 1000 - tag.len() - 1));
    let created = api
        .vouchers()
        .create(
            &visma::models::Voucher::new(voucher.date(), text, rows),
            VoucherOptions::default(),
        )
        .await
        .map_err(|e| from_visma(e, "creating the voucher"))?;
    let id = created.id.ok_or_else(|| {
        Stop::Failed(ItemError::new(
            "visma_rejected",
            "Visma returned no voucher id",
        ))
    })?;
    // So the pull does not hand our own voucher back to Aourly as new.
    pulled
        .record_pushed_voucher(tenant, &id.to_string())
        .await?;
    Ok((id.to_string(), created.number_and_number_series))
}

async fn find_voucher(
    api: &VismaApi<'_, TenantTokens<'_>>,
    voucher: &Voucher,
    tag: &str,
) -> Result<Option<(String, Option<String>)>, Stop> {
    let day = voucher.date();
    let query = ListQuery::new().filter(format!(
        "VoucherDate ge {day}T00:00:00Z and VoucherDate le {day}T23:59:59Z"
    ));
    let found = api
        .vouchers()
        .list_all(&query)
        .await
        .map_err(|e| from_visma(e, "looking the voucher up"))?;
    Ok(found
        .items
        .into_iter()
        .find(|v| v.voucher_text.ends_with(tag))
        .and_then(|v| v.id.map(|id| (id.to_string(), v.number_and_number_series))))
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// Aourly customer id → Visma customer id, per tenant (`LINK#customer#{aourly id}`).
struct CustomerLinks<'a> {
    deps: &'a Deps,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LinkItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    visma_id: uuid::Uuid,
    linked_at: DateTime<Utc>,
}

impl<'a> CustomerLinks<'a> {
    fn new(deps: &'a Deps) -> Self {
        Self { deps }
    }

    async fn get(
        &self,
        tenant: &TenantId,
        aourly_id: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        let item: Option<LinkItem> = self
            .deps
            .table
            .get(
                &store::keys::tenant_pk(tenant),
                &store::keys::customer_link_sk(aourly_id),
            )
            .await?;
        Ok(item.map(|i| CustomerId::new(i.visma_id)))
    }

    /// Takes the creation lease of `aourly_id` unless another push holds a live one. Not
    /// released: the link the holder writes ends the need for it, and it lapses on its own.
    async fn lease_creation(
        &self,
        tenant: &TenantId,
        aourly_id: &str,
        pusher: &str,
    ) -> Result<Lease, StoreError> {
        self.deps
            .table
            .take_lease(
                &store::keys::tenant_pk(tenant),
                &store::keys::customer_creation_sk(aourly_id),
                pusher,
                Utc::now(),
                CREATION_LEASE,
            )
            .await
    }

    /// Ends the creation lease once its holder knows the outcome (linked, or certainly not
    /// created), so that a lapsed lease always means an unknown outcome. Best effort: a lease
    /// left behind only makes a later creation look the name up first.
    async fn release_creation(&self, tenant: &TenantId, aourly_id: &str) {
        let released = self
            .deps
            .table
            .delete(
                &store::keys::tenant_pk(tenant),
                &store::keys::customer_creation_sk(aourly_id),
            )
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release a customer creation lease; it lapses");
        }
    }

    async fn put(
        &self,
        tenant: &TenantId,
        aourly_id: &str,
        id: CustomerId,
    ) -> Result<(), StoreError> {
        self.deps
            .table
            .put(&LinkItem {
                pk: store::keys::tenant_pk(tenant),
                sk: store::keys::customer_link_sk(aourly_id),
                visma_id: *id.as_uuid(),
                linked_at: Utc::now(),
            })
            .await
    }
}
