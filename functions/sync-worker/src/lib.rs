//! The sync worker: one SQS batch in, a partial batch failure report out.
//!
//! The event source mapping must have `ReportBatchItemFailures` on (template.yaml does): only
//! the listed messages return to the queue, and SQS moves a message to the dead-letter queue
//! after `maxReceiveCount` receives, so nothing is dropped silently.

use app::{Deps, Secret};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use domain::SyncJob;

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
    /// Worth another try later (`app::jobs::NotDone`).
    #[error(transparent)]
    NotDone(#[from] app::jobs::NotDone),
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
                    JobError::NotDone(not_done) => not_done.after,
                    JobError::Undecodable(_) => None,
                };
                let delay = app::backoff::job_retry_delay(receive_count, hint);
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
    let receive = app::jobs::Receive {
        count: receive_count(message),
        max: deps.config.sync_max_receive_count,
    };
    Ok(app::jobs::run(deps, job, receive).await?)
}

fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}
