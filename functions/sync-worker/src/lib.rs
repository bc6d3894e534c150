//! The sync worker: one SQS batch in, a partial batch failure report out.
//!
//! The event source mapping must have `ReportBatchItemFailures` on (template.yaml does): only
//! the listed messages return to the queue, and SQS moves a message to the dead-letter queue
//! after `maxReceiveCount` receives, so nothing is dropped silently.

use app::{Deps, Secret};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use domain::SyncJob;
use std::time::Duration;

use tracing::Instrument;

pub const SECRETS: &[Secret] = &[Secret::VismaClientSecret, Secret::EventsSecret];

/// Why one message was not done. Every variant returns the message to the queue; the
/// difference is how long it stays hidden first.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The body is not a job this worker knows. Retrying cannot help; the redrive policy moves
    /// it to the dead-letter queue where an operator can read it.
    #[error("the message is not a sync job: {0}")]
    Undecodable(String),
    /// Worth another try later: Visma or AWS was unavailable, rate limits, an event endpoint
    /// that did not answer 2xx. `after` is the dependency's own wait hint, if it gave one.
    #[error("{reason}")]
    Retry {
        reason: String,
        after: Option<Duration>,
    },
}

/// The longest SQS lets a message stay hidden (12 h); backoff stays far below it.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Exponential backoff with full jitter for the `receive_count`-th failure, or the
/// dependency's own hint when it is longer (Visma's "Try again in N seconds").
pub fn backoff(receive_count: u32, hint: Option<Duration>) -> Duration {
    let exponent = receive_count.saturating_sub(1).min(10);
    let ceiling = Duration::from_secs(10u64 << exponent).min(MAX_BACKOFF);
    // "Equal jitter": somewhere in [ceiling/2, ceiling], so retries spread out but never
    // bunch at zero.
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    let jittered = Duration::from_millis(rand::Rng::random_range(
        &mut rand::rng(),
        ceiling_ms / 2..=ceiling_ms,
    ));
    let floor = Duration::from_secs(1);
    hint.map_or(jittered, |h| h.max(jittered))
        .clamp(floor, MAX_BACKOFF)
}

/// Runs every record of the batch concurrently and lists the ones that must come back.
pub async fn handle_batch(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let runs = event.records.into_iter().map(|message| async move {
        let id = message.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sqs_message", message_id = %id);
        let outcome = handle_message(deps, &message)
            .instrument(span.clone())
            .await;
        let receive_count = receive_count(&message);
        match &outcome {
            Ok(()) => span.in_scope(|| tracing::info!("job done")),
            Err(e) => {
                let hint = match e {
                    JobError::Retry { after, .. } => *after,
                    _ => None,
                };
                let delay = backoff(receive_count, hint);
                span.in_scope(|| {
                    tracing::warn!(error = %e, receive_count, retry_in_s = delay.as_secs(), "job not done; the message returns to the queue")
                });
                // Hide it for the backoff instead of the queue's fixed visibility timeout. If
                // this fails the message simply comes back after the visibility timeout.
                if let Some(handle) = message.receipt_handle.as_deref() {
                    let seconds = i32::try_from(delay.as_secs()).unwrap_or(i32::MAX);
                    if let Err(e) = deps.queue.change_visibility(handle, seconds).await {
                        tracing::warn!(error = %e, "could not set the retry delay");
                    }
                }
            }
        }
        outcome.err().map(|_| id)
    });
    let failed = futures::future::join_all(runs).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .flatten()
        .map(|item_identifier| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = item_identifier;
            failure
        })
        .collect();
    response
}

async fn handle_message(deps: &Deps, message: &SqsMessage) -> Result<(), JobError> {
    let body = message.body.as_deref().unwrap_or_default();
    let job: SyncJob =
        serde_json::from_str(body).map_err(|e| JobError::Undecodable(e.to_string()))?;
    tracing::info!(tenant = %job.tenant(), "running job");
    match job {
        // A pull that failed for a reason only the owner can fix (expired connection, a Visma
        // company setting) is recorded as failed on the status and not retried: the next
        // scheduled tick or manual sync pulls again. Transient failures come back with backoff.
        SyncJob::Pull { tenant } => match app::pull::run(deps, &tenant).await {
            Ok(report) => {
                if !report.skipped {
                    // A lost job, or a block that raced a reconnect, would otherwise leave
                    // its item waiting for good.
                    if let Err(e) = app::retry::after_pull(deps, &tenant, &report).await {
                        tracing::warn!(%tenant, error = %e, "could not re-queue waiting items; the next pull tries again");
                    }
                }
                Ok(())
            }
            Err(e) if e.is_retryable() => Err(JobError::Retry {
                after: e.retry_after(),
                reason: e.to_string(),
            }),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "pull failed for good; waiting for the next one");
                Ok(())
            }
        },
        SyncJob::Push { tenant, kind, id } => {
            match app::push::run(deps, &tenant, kind, &id).await {
                Ok(outcome) => {
                    tracing::info!(%tenant, kind = ?kind, outcome = ?outcome_name(&outcome), "push finished");
                    Ok(())
                }
                Err(retry) => {
                    // The queue will not hand this message out again: record the failure
                    // where the owner sees it (the message itself moves to the DLQ).
                    if receive_count(message) >= max_receive_count() {
                        app::push::mark_exhausted(deps, &tenant, kind, &id, &retry)
                            .await
                            .map_err(|e| JobError::Retry {
                                reason: e.to_string(),
                                after: None,
                            })?;
                    }
                    Err(JobError::Retry {
                        reason: retry.reason,
                        after: retry.after,
                    })
                }
            }
        }
        SyncJob::Emit { event } => app::events::deliver_or_reschedule(deps, &event)
            .await
            .map_err(|e| JobError::Retry {
                reason: e.to_string(),
                after: None,
            }),
    }
}

fn outcome_name(outcome: &app::push::PushOutcome) -> &'static str {
    match outcome {
        app::push::PushOutcome::Synced { .. } => "synced",
        app::push::PushOutcome::Blocked(_) => "blocked",
        app::push::PushOutcome::Failed(_) => "failed",
        app::push::PushOutcome::Skipped => "skipped",
    }
}

fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// The sync queue's `maxReceiveCount`, from template.yaml (the one source of truth).
fn max_receive_count() -> u32 {
    static MAX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        store::resources::Definitions::from_template()
            .ok()
            .and_then(|d| d.sync_queue.redrive_policy)
            .and_then(|r| u32::try_from(r.max_receive_count).ok())
            .unwrap_or(5)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_hints() {
        for attempt in 1..=12u32 {
            let ceiling = Duration::from_secs(10u64 << (attempt - 1).min(10)).min(MAX_BACKOFF);
            for _ in 0..50 {
                let d = backoff(attempt, None);
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
            }
        }
        // Visma's "Try again in 42 seconds" wins over a shorter jittered delay.
        assert!(backoff(1, Some(Duration::from_secs(42))) >= Duration::from_secs(42));
        // Never longer than the cap, whatever the hint.
        assert_eq!(backoff(1, Some(Duration::from_secs(99_999))), MAX_BACKOFF);
    }
}
