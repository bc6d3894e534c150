//! The scheduled pull: every tick, one `Pull` job per connected tenant onto the sync queue.
//!
//! Connected tenants are read from the sparse GSI1 partition `CONNECTED` (never a table scan),
//! and the work itself runs in the sync worker, so one slow tenant never delays the rest. Jobs
//! are sent in batches of ten; tokens due for refresh are refreshed by each tenant's pull.

use app::{Deps, Secret};
use domain::SyncJob;
use serde::{Deserialize, Serialize};
use store::{keys, StoreError};

pub const SECRETS: &[Secret] = &[];

/// What one tick did; the Lambda returns it, so it shows in the invocation log.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub tenants_queued: usize,
}

#[derive(Deserialize)]
struct ConnectedEntry {
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
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

pub async fn handle_tick(deps: &Deps) -> Result<TickReport, TickError> {
    let mut report = TickReport::default();
    let mut start = None;
    loop {
        let (entries, next): (Vec<ConnectedEntry>, _) = deps
            .table
            .query_index_page(keys::CONNECTED_PARTITION, 500, start)
            .await?;
        let mut jobs = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(tenant) = keys::tenant_from_connected_sk(&entry.gsi1sk) else {
                tracing::warn!(sk = %entry.gsi1sk, "skipping a malformed connected-index entry");
                continue;
            };
            jobs.push(SyncJob::Pull { tenant });
        }
        // SendMessageBatch, ten jobs per call: 1,000 tenants are 2 index pages and 100 sends.
        report.tenants_queued += deps.queue.send_batch(&jobs).await?;
        match next {
            Some(key) => start = Some(key),
            None => break,
        }
    }
    tracing::info!(tenants_queued = report.tenants_queued, "schedule tick done");
    Ok(report)
}
