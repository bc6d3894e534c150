//! How a push ends: its outcome, the "try again later" answer and what the queue does with it
//! on the last receive, the classification of Visma's errors, and the events that report an
//! outcome to Aourly. The decisions here are plain functions, unit-tested below.

use chrono::{DateTime, Utc};
use domain::outbound::OutboundType;
use domain::{ItemCode, ItemError, ItemStatus, RecordKind};
use store::{Finish, StoreError, SyncItem};
use visma::{ErrorClass, VismaError};

use super::CLAIM_LEASE;
use crate::Deps;

/// What the owner reads when the service's own storage failed (the cause goes to the log).
pub(crate) const STORAGE_UNAVAILABLE: &str = "the service's storage was briefly unavailable";

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

impl PushOutcome {
    /// For the log.
    pub fn name(&self) -> &'static str {
        match self {
            PushOutcome::Synced { .. } => "synced",
            PushOutcome::Blocked(_) => "blocked",
            PushOutcome::Failed(_) => "failed",
            PushOutcome::Skipped => "skipped",
        }
    }
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
    pub(crate) fn claim_kept(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            after: Some(std::time::Duration::from_secs(
                u64::try_from(CLAIM_LEASE.num_seconds()).unwrap_or(60),
            )),
            claim_kept: true,
            when_exhausted: WhenExhausted::Fail,
        }
    }

    pub(crate) fn new(reason: impl Into<String>) -> Self {
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
        RetryLater::new(STORAGE_UNAVAILABLE)
    }
}

/// Why a record could not be pushed, as the worker's inner control flow sees it.
#[derive(Debug)]
pub(crate) enum Stop {
    Blocked(ItemError),
    Failed(ItemError),
    Retry(RetryLater),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Retry(e.into())
    }
}

pub(crate) fn blocked(code: ItemCode, detail: impl Into<String>) -> Stop {
    Stop::Blocked(ItemError::new(code, detail))
}

/// Classifies a Visma error from a call whose side effects are certain (a read, or a write
/// Visma answered).
pub(crate) fn from_visma(e: VismaError, doing: &str) -> Stop {
    // Our own token store failed for good: not Visma's answer, and not the owner's to fix.
    if let VismaError::TokenSource {
        class: ErrorClass::Permanent,
        message,
    } = &e
    {
        return Stop::Failed(ItemError::new(ItemCode::InternalError, message.clone()));
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
            ItemCode::ConnectionExpired,
            "Visma no longer accepts the connection; reconnect to resume",
        ),
        ErrorClass::NeedsOwner => blocked(
            needs_owner_code(e.visma_code()),
            format!("{doing}: {}", owner_detail(&e)),
        ),
        ErrorClass::Conflict => Stop::Failed(ItemError::new(
            ItemCode::VismaConflict,
            format!("{doing}: {}", owner_detail(&e)),
        )),
        ErrorClass::NotFound | ErrorClass::Permanent => Stop::Failed(ItemError::new(
            ItemCode::VismaRejected,
            format!("{doing}: {}", owner_detail(&e)),
        )),
    }
}

/// The block code of a Visma error only the owner can clear, by Visma's error code.
fn needs_owner_code(visma_code: Option<i64>) -> ItemCode {
    match visma_code {
        Some(3001) => ItemCode::FiscalYearMissing,
        Some(3002) => ItemCode::AccountMissing,
        Some(4006) => ItemCode::MissingScope,
        Some(4013 | 4026 | 4038) => ItemCode::FiscalYearLocked,
        Some(4002 | 4003 | 4004 | 4009 | 4011 | 4012) => ItemCode::VismaCompanySetup,
        _ => ItemCode::VismaValidation,
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

/// Outbound events for the outcome (integration guide "Outbound events").
pub(crate) async fn report(
    deps: &Deps,
    item: &SyncItem,
    outcome: &PushOutcome,
) -> Result<(), StoreError> {
    let kind = item.kind.as_str();
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

/// What a push attempt found: the Visma record (id and number), or why it stopped.
pub(crate) type Attempt = Result<(String, Option<String>), Stop>;

/// What to store for an attempt's result, or `None` when the claim must be kept (an uncertain
/// outcome: the retry waits out the lease and looks the record up first).
pub(crate) fn finish_for(result: &Attempt) -> Option<Finish> {
    let (status, visma_id, visma_number, last_error) = match result {
        Ok((visma_id, visma_number)) => (
            ItemStatus::Synced,
            Some(visma_id.clone()),
            visma_number.clone(),
            None,
        ),
        Err(Stop::Blocked(e)) => (ItemStatus::Blocked, None, None, Some(e.clone())),
        Err(Stop::Failed(e)) => (ItemStatus::Failed, None, None, Some(e.clone())),
        Err(Stop::Retry(retry)) if retry.claim_kept => return None,
        Err(Stop::Retry(retry)) => (
            ItemStatus::Pending,
            None,
            None,
            Some(ItemError::new(ItemCode::Retrying, retry.reason.clone())),
        ),
    };
    Some(Finish {
        status,
        visma_id,
        visma_number,
        last_error,
    })
}

/// Whether a failed attempt is tried again within this invocation, and after what pause: a
/// short transient failure (a 5xx, a rate limit with a short wait), so that a flaky hour does
/// not use up the queue's receives. Never when the claim is kept (the outcome is unknown).
pub(crate) fn retry_in_invocation(
    result: &Attempt,
    tries: u32,
    jitter: std::time::Duration,
) -> Option<std::time::Duration> {
    match result {
        Err(Stop::Retry(retry))
            if !retry.claim_kept
                && tries < IN_INVOCATION_TRIES
                && retry.after.is_none_or(|a| a <= SHORT_WAIT) =>
        {
            Some(retry.after.unwrap_or(jitter))
        }
        _ => None,
    }
}

/// Tries of one push within one invocation, for transient failures with a short wait.
pub(crate) const IN_INVOCATION_TRIES: u32 = 4;
const SHORT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the last receive of a push job does with its item (the queue will not hand the job
/// out again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exhausted {
    /// Nothing: the item is no longer pending, or another worker's live claim decides.
    Nothing,
    /// Left pending for the hourly re-queue: its outcome was reported but not stored.
    LeavePending,
    /// Marked with this status and error (and reported to Aourly).
    Mark(ItemStatus, ItemError),
}

/// The decision of [`super::mark_exhausted`] for `item` as read, after a last attempt that
/// ended with `retry`. When the attempt found another worker's live claim (not its own kept
/// one), that worker is pushing the record now and its job decides: marking it failed here
/// could contradict a success a moment later.
pub(crate) fn on_last_receive(
    item: &SyncItem,
    retry: &RetryLater,
    now: DateTime<Utc>,
) -> Exhausted {
    if item.status != ItemStatus::Pending {
        return Exhausted::Nothing;
    }
    let claimed_elsewhere = !retry.claim_kept && item.has_live_claim(now, CLAIM_LEASE);
    if claimed_elsewhere {
        return Exhausted::Nothing;
    }
    match &retry.when_exhausted {
        WhenExhausted::LeavePending => Exhausted::LeavePending,
        WhenExhausted::Block(waiting) => Exhausted::Mark(ItemStatus::Blocked, waiting.clone()),
        WhenExhausted::Fail => Exhausted::Mark(
            ItemStatus::Failed,
            ItemError::new(
                ItemCode::RetriesExhausted,
                format!(
                    "gave up after repeated failures ({}); retry it from the Integrations page",
                    retry.reason
                ),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visma::ApiError;

    fn api_error(status: u16, code: Option<i64>) -> VismaError {
        VismaError::Api(Box::new(ApiError {
            method: "POST".into(),
            path: "/v2/customerinvoices",
            status,
            code,
            message: Some("Visma says no".into()),
            error_id: None,
            field_errors: Vec::new(),
            retry_after_header: None,
            raw_body: None,
        }))
    }

    fn code_of(stop: &Stop) -> Option<ItemCode> {
        match stop {
            Stop::Blocked(e) | Stop::Failed(e) => Some(e.code),
            Stop::Retry(_) => None,
        }
    }

    #[test]
    fn visma_errors_only_the_owner_can_clear_block_with_their_cause() {
        for (visma_code, expected) in [
            (3001, ItemCode::FiscalYearMissing),
            (3002, ItemCode::AccountMissing),
            (4006, ItemCode::MissingScope),
            (4013, ItemCode::FiscalYearLocked),
            (4026, ItemCode::FiscalYearLocked),
            (4009, ItemCode::VismaCompanySetup),
            (1000, ItemCode::VismaValidation),
        ] {
            assert_eq!(needs_owner_code(Some(visma_code)), expected, "{visma_code}");
        }
        assert_eq!(needs_owner_code(None), ItemCode::VismaValidation);
    }

    #[test]
    fn a_transient_visma_error_is_retried_and_an_unknown_outcome_keeps_the_claim() {
        let stop = from_visma(api_error(503, None), "creating the invoice");
        let Stop::Retry(retry) = stop else {
            panic!("a 503 is retried: {stop:?}")
        };
        assert!(
            !retry.claim_kept,
            "a 503 on a read or an answered write is certain"
        );
        let stop = from_visma(api_error(504, None), "creating the invoice");
        let Stop::Retry(retry) = stop else {
            panic!("a 504 is retried: {stop:?}")
        };
        assert!(
            retry.claim_kept,
            "a gateway gave up: Visma may still book it"
        );
        assert!(retry.reason.contains("look it up"), "{}", retry.reason);
    }

    #[test]
    fn refusals_fail_and_authorization_blocks() {
        let stop = from_visma(api_error(401, None), "creating the invoice");
        assert_eq!(code_of(&stop), Some(ItemCode::ConnectionExpired));
        let stop = from_visma(api_error(409, None), "creating the customer");
        assert_eq!(code_of(&stop), Some(ItemCode::VismaConflict));
        let stop = from_visma(api_error(404, None), "updating the customer");
        assert_eq!(code_of(&stop), Some(ItemCode::VismaRejected));
        let Stop::Failed(e) = from_visma(api_error(404, None), "updating the customer") else {
            panic!("a 404 fails")
        };
        let detail = e.detail.unwrap();
        assert!(detail.starts_with("updating the customer: "), "{detail}");
        assert!(detail.contains("Visma says no"), "{detail}");
    }

    #[test]
    fn a_permanent_token_store_failure_is_ours_not_vismas() {
        let e = VismaError::TokenSource {
            class: ErrorClass::Permanent,
            message: "the stored tokens could not be decrypted".into(),
        };
        assert_eq!(
            code_of(&from_visma(e, "creating the invoice")),
            Some(ItemCode::InternalError)
        );
    }

    #[test]
    fn the_finish_follows_the_result_and_a_kept_claim_stores_nothing() {
        let synced = finish_for(&Ok(("v-1".into(), Some("1001".into())))).unwrap();
        assert_eq!(synced.status, ItemStatus::Synced);
        assert_eq!(synced.visma_number.as_deref(), Some("1001"));
        assert!(synced.last_error.is_none());
        let retry = finish_for(&Err(Stop::Retry(RetryLater::new("Visma is down")))).unwrap();
        assert_eq!(retry.status, ItemStatus::Pending);
        assert_eq!(retry.last_error.unwrap().code, ItemCode::Retrying);
        assert!(finish_for(&Err(Stop::Retry(RetryLater::claim_kept("no answer")))).is_none());
        let blocked = finish_for(&Err(blocked(ItemCode::MappingIncomplete, "25 %"))).unwrap();
        assert_eq!(blocked.status, ItemStatus::Blocked);
    }

    #[test]
    fn only_short_certain_waits_are_retried_in_the_invocation() {
        let jitter = std::time::Duration::from_millis(250);
        let short = Err(Stop::Retry(RetryLater::new("503")));
        assert_eq!(retry_in_invocation(&short, 1, jitter), Some(jitter));
        assert_eq!(
            retry_in_invocation(&short, IN_INVOCATION_TRIES, jitter),
            None
        );
        let mut long = RetryLater::new("429");
        long.after = Some(std::time::Duration::from_secs(30));
        assert_eq!(
            retry_in_invocation(&Err(Stop::Retry(long)), 1, jitter),
            None
        );
        let mut hinted = RetryLater::new("429");
        hinted.after = Some(std::time::Duration::from_secs(2));
        assert_eq!(
            retry_in_invocation(&Err(Stop::Retry(hinted)), 1, jitter),
            Some(std::time::Duration::from_secs(2))
        );
        let unknown = Err(Stop::Retry(RetryLater::claim_kept("no answer")));
        assert_eq!(retry_in_invocation(&unknown, 1, jitter), None);
        assert_eq!(
            retry_in_invocation(&Ok(("v".into(), None)), 1, jitter),
            None
        );
    }

    fn pending_item(in_flight_since: Option<DateTime<Utc>>) -> SyncItem {
        let event = domain::parse_event(include_bytes!(
            "../../../../events/webhooks/voucher.created.json"
        ))
        .expect("a valid voucher event");
        let mut item = SyncItem::new(&event, ItemStatus::Pending, None, Utc::now()).unwrap();
        item.in_flight_since = in_flight_since;
        item
    }

    #[test]
    fn the_last_receive_fails_the_item_unless_someone_else_decides() {
        let now = Utc::now();
        let retry = RetryLater::new("Visma is down");
        let Exhausted::Mark(status, error) = on_last_receive(&pending_item(None), &retry, now)
        else {
            panic!("a pending item with nobody pushing it is marked")
        };
        assert_eq!(status, ItemStatus::Failed);
        assert_eq!(error.code, ItemCode::RetriesExhausted);
        assert!(error.detail.unwrap().contains("Visma is down"));
        // Another worker holds a live claim: its job decides.
        let busy = pending_item(Some(now - chrono::Duration::seconds(5)));
        assert_eq!(on_last_receive(&busy, &retry, now), Exhausted::Nothing);
        // Our own kept claim (an unknown outcome) does not count as someone else's.
        let kept = RetryLater::claim_kept("no answer");
        assert!(matches!(
            on_last_receive(&busy, &kept, now),
            Exhausted::Mark(ItemStatus::Failed, _)
        ));
        // A lapsed claim is nobody's.
        let lapsed = pending_item(Some(now - CLAIM_LEASE - chrono::Duration::seconds(1)));
        assert!(matches!(
            on_last_receive(&lapsed, &retry, now),
            Exhausted::Mark(ItemStatus::Failed, _)
        ));
    }

    #[test]
    fn the_last_receive_follows_what_the_attempt_asked_for() {
        let now = Utc::now();
        let mut waiting = RetryLater::new("the credited invoice is not in Visma yet");
        let block = ItemError::new(ItemCode::OriginalInvoiceMissing, "inv_1 first");
        waiting.when_exhausted = WhenExhausted::Block(block.clone());
        assert_eq!(
            on_last_receive(&pending_item(None), &waiting, now),
            Exhausted::Mark(ItemStatus::Blocked, block)
        );
        let mut reported = RetryLater::claim_kept("stored later");
        reported.when_exhausted = WhenExhausted::LeavePending;
        assert_eq!(
            on_last_receive(&pending_item(None), &reported, now),
            Exhausted::LeavePending
        );
        let mut synced = pending_item(None);
        synced.status = ItemStatus::Synced;
        assert_eq!(
            on_last_receive(&synced, &RetryLater::new("x"), now),
            Exhausted::Nothing
        );
    }
}
