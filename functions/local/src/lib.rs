//! `make serve`: the whole service in one process, with the handlers the Lambdas run.
//!
//! - HTTP: the api, oauth-callback and webhook routers, merged, on `LOCAL_HTTP_ADDR`;
//! - a worker that long-polls the sync queue and hands batches to the sync worker's handler,
//!   deleting only what it reports done (SQS's redrive policy does the rest, as in AWS);
//! - the scheduled pull every `LOCAL_SCHEDULE_SECONDS`.

use std::collections::HashMap;

use app::{Config, Deps};
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use axum::Router;
use store::resources::{self, Definitions};
use store::{ReceivedMessage, StoreError};

/// Every `(method, path template)` the service serves over HTTP.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    [api::ROUTES, oauth_callback::ROUTES, webhook::ROUTES].concat()
}

/// Every HTTP route of the service, as API Gateway routes them to the three HTTP functions.
pub fn http_router(deps: &Deps) -> Router {
    api::router(deps.clone())
        .merge(oauth_callback::router(deps.clone()))
        .merge(webhook::router(deps.clone()))
}

/// Creates the table and queues named by the configuration when they do not exist, with the
/// definitions in `template.yaml`.
pub async fn ensure_resources(deps: &Deps) -> Result<(), StoreError> {
    let defs = Definitions::from_template()?;
    // The worker's last-receive decision reads the count from its configuration, which AWS
    // sets from the same template parameter as the queue's redrive policy.
    let template_max = defs
        .sync_queue
        .redrive_policy
        .as_ref()
        .and_then(|r| u32::try_from(r.max_receive_count).ok());
    if template_max.is_some_and(|max| max != deps.config.sync_max_receive_count) {
        tracing::warn!(
            template = ?template_max,
            configured = deps.config.sync_max_receive_count,
            "SYNC_MAX_RECEIVE_COUNT differs from the template's maxReceiveCount"
        );
    }
    let dynamodb = aws_sdk_dynamodb::Client::new(&store::aws_config().await);
    resources::ensure_table(&dynamodb, &deps.config.table_name, &defs.table).await?;
    resources::ensure_queues(
        deps.queue.client(),
        deps.queue.url(),
        deps.queue.dead_letter_url(),
        &defs,
    )
    .await?;
    Ok(())
}

/// What one poll of the queue did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub received: usize,
    pub done: usize,
    /// Receipt handles of the messages the handler reported failed (still in flight).
    pub returned: Vec<String>,
}

/// Receives one batch (long poll of `wait_seconds`), runs it through the sync worker's
/// handler, and deletes the messages it did not report as failed. Failed ones stay in flight
/// until their visibility timeout ends, then SQS redelivers them or dead-letters them.
pub async fn poll_once(deps: &Deps, wait_seconds: i32) -> Result<PollReport, StoreError> {
    let messages = deps.queue.receive(10, wait_seconds).await?;
    if messages.is_empty() {
        return Ok(PollReport::default());
    }
    let handles: HashMap<String, String> = messages
        .iter()
        .map(|m| (m.message_id.clone(), m.receipt_handle.clone()))
        .collect();
    let event = sqs_event(deps.queue.url(), &messages);
    let response = sync_worker::handle_batch(deps, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let mut report = PollReport {
        received: messages.len(),
        ..PollReport::default()
    };
    for (id, handle) in &handles {
        if failed.contains(&id.as_str()) {
            report.returned.push(handle.clone());
        } else {
            deps.queue.delete(handle).await?;
            report.done += 1;
        }
    }
    Ok(report)
}

/// The event Lambda's SQS integration would build for these messages.
pub fn sqs_event(queue_url: &str, messages: &[ReceivedMessage]) -> SqsEvent {
    let queue_name = resources::queue_name(queue_url).unwrap_or_default();
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": m.sent_timestamp_ms.clone().unwrap_or_default(),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:local:000000000000:{queue_name}"),
                "awsRegion": "local",
            })
        })
        .collect();
    let records: Vec<SqsMessage> = records
        .into_iter()
        .filter_map(|r| serde_json::from_value(r).ok())
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// Runs until the process is stopped.
pub async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let aws = store::aws_config().await;
    let deps = Deps::with_config(config, &aws)?;
    ensure_resources(&deps).await?;

    let worker = deps.clone();
    tokio::spawn(async move {
        loop {
            match poll_once(&worker, 20).await {
                Ok(r) if r.received > 0 => tracing::info!(
                    received = r.received,
                    done = r.done,
                    returned = r.returned.len(),
                    "worker batch"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "polling the sync queue failed; retrying shortly");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
            }
        }
    });

    let schedule = deps.clone();
    let every = deps.config.local.schedule_every;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            if let Err(e) = scheduled_pull::handle_tick(
                &schedule,
                scheduled_pull::schedule_event(chrono::Utc::now()),
            )
            .await
            {
                tracing::warn!(error = %e, "schedule tick failed");
            }
        }
    });

    let addr = deps.config.local.http_addr;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving the Aourly ↔ Visma service locally");
    eprintln!("listening on http://{addr} (GET /health)");
    axum::serve(listener, http_router(&deps))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
