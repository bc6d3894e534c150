//! The scheduled pull: every tick, one `Pull` job per connected tenant onto the sync queue.
//!
//! Connected tenants are read from the sparse GSI1 partition `CONNECTED` (never a table scan),
//! and the work itself runs in the sync worker, so one slow tenant never delays the rest. Jobs
//! are sent in batches of ten; tokens due for refresh are refreshed by each tenant's pull.

use app::{Deps, Secret};
use domain::SyncJob;
use serde::Serialize;
use store::StoreError;

pub const SECRETS: &[Secret] = &[];

/// What one tick did; the Lambda returns it, so it shows in the invocation log.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub tenants_queued: usize,
}

/// A failed tick. The next tick starts over, so nothing is lost; Lambda records the type.
#[derive(Debug, thiserror::Error)]
#[error("the schedule tick failed: {0}")]
pub struct TickError(#[from] StoreError);

impl From<TickError> for lambda_runtime::Diagnostic {
    fn from(e: TickError) -> Self {
        let error_type = if e.0.is_retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// The schedule's event: EventBridge's scheduled event, whose detail is empty.
pub type ScheduleEvent = aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value>;

/// The event of a tick at `time`, as EventBridge Scheduler sends it (the local runner's
/// schedule, and tests).
pub fn schedule_event(time: chrono::DateTime<chrono::Utc>) -> ScheduleEvent {
    let mut event = ScheduleEvent::default();
    event.source = "aws.events".into();
    event.detail_type = "Scheduled Event".into();
    event.time = Some(time);
    event.detail = serde_json::json!({});
    event
}

/// One tick of the schedule. The event says only that it is time (its `time` is logged).
pub async fn handle_tick(deps: &Deps, event: ScheduleEvent) -> Result<TickReport, TickError> {
    tracing::info!(time = ?event.time, "schedule tick");
    let mut report = TickReport::default();
    let mut start = None;
    loop {
        let (tenants, next) = deps.connections.connected_page(500, start).await?;
        let jobs: Vec<SyncJob> = tenants
            .into_iter()
            .map(|tenant| SyncJob::Pull { tenant })
            .collect();
        // SendMessageBatch, ten jobs per call: 1,000 tenants are 2 index pages and 100 sends.
        report.tenants_queued += deps.queue.send_batch(&jobs).await?;
        match next {
            Some(cursor) => start = Some(cursor),
            None => break,
        }
    }
    tracing::info!(tenants_queued = report.tenants_queued, "schedule tick done");
    Ok(report)
}
