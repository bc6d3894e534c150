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

/// Why one message was not done.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The body is not a job this worker knows. Retrying cannot help; the redrive policy moves
    /// it to the dead-letter queue where an operator can read it.
    #[error("the message is not a sync job: {0}")]
    Undecodable(String),
    /// The job kind is recognised, but its execution lands with a later issue.
    #[error("{0} jobs are not implemented yet")]
    NotImplemented(&'static str),
}

/// Runs every record of the batch concurrently and lists the ones that must come back.
pub async fn handle_batch(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let runs = event.records.into_iter().map(|message| async move {
        let id = message.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sqs_message", message_id = %id);
        let outcome = handle_message(deps, &message)
            .instrument(span.clone())
            .await;
        span.in_scope(|| match &outcome {
            Ok(()) => tracing::info!("job done"),
            Err(e) => tracing::warn!(error = %e, "job not done; the message returns to the queue"),
        });
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

async fn handle_message(_deps: &Deps, message: &SqsMessage) -> Result<(), JobError> {
    let body = message.body.as_deref().unwrap_or_default();
    let job: SyncJob =
        serde_json::from_str(body).map_err(|e| JobError::Undecodable(e.to_string()))?;
    tracing::info!(tenant = %job.tenant(), "running job");
    match job {
        SyncJob::Pull { .. } => Err(JobError::NotImplemented("pull")),
        SyncJob::Push { .. } => Err(JobError::NotImplemented("push")),
    }
}
