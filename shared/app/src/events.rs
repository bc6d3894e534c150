//! Outbound events to Aourly (integration guide "Outbound events"), when `AOURLY_EVENTS_URL` is set.
//!
//! Any function may raise an event: it becomes an `Emit` job on the sync queue (durable at
//! once). The sync worker, the only function that holds `AOURLY_EVENTS_SECRET`, signs and
//! POSTs it ([`deliver_or_reschedule`]). Anything but a 2xx queues a fresh copy of the job,
//! delayed as long as the event has already waited (1 s to 15 min), and the delivered message
//! is done: an Aourly outage of hours does not use up the queue's receive budget, so the event
//! is retried until 2xx (integration guide "Outbound events"). After [`GIVE_UP_AFTER`] the message is left to the
//! queue's own retries, which end in the dead-letter queue, so no event is dropped silently.

use std::time::Duration;

use chrono::Utc;
use domain::outbound::{OutboundEvent, OutboundType};
use domain::{SyncJob, TenantId};
use secrecy::ExposeSecret;
use store::StoreError;

use crate::{Deps, Secret};

/// Queues an event for delivery; a no-op when events are not configured.
pub async fn emit(
    deps: &Deps,
    tenant: &TenantId,
    kind: OutboundType,
    data: serde_json::Value,
) -> Result<(), StoreError> {
    let id = uuid::Uuid::new_v4();
    queue(deps, tenant, kind, data, id).await
}

/// Queues an event that states a fact which may be reported twice (a push's outcome is queued
/// before it is stored, so a retry after a failed store write reports it again). Its id is
/// derived from `fact`, so both reports carry the same id and Aourly can drop the repeat.
pub async fn emit_fact(
    deps: &Deps,
    tenant: &TenantId,
    kind: OutboundType,
    data: serde_json::Value,
    fact: &str,
) -> Result<(), StoreError> {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("aourly-visma:{tenant}:{fact}").as_bytes(),
    );
    queue(deps, tenant, kind, data, id).await
}

async fn queue(
    deps: &Deps,
    tenant: &TenantId,
    kind: OutboundType,
    data: serde_json::Value,
    id: uuid::Uuid,
) -> Result<(), StoreError> {
    if deps.config.events_url.is_none() {
        return Ok(());
    }
    let event = OutboundEvent {
        id: format!("evt_{}", id.simple()),
        kind,
        tenant: tenant.clone(),
        created_at: Utc::now(),
        data,
    };
    deps.queue.send(&SyncJob::Emit { event }, 0).await?;
    Ok(())
}

/// How long an event is retried before it is left to the dead-letter queue.
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(72);

/// Delivers `event`, or queues it again with [`crate::backoff::redelivery_delay`]: `Ok` when this message is
/// done either way. `Err` returns the message to the queue: the events endpoint is not
/// configured, the copy could not be queued, or the event is older than [`GIVE_UP_AFTER`].
pub async fn deliver_or_reschedule(
    deps: &Deps,
    event: &OutboundEvent,
) -> Result<(), DeliveryError> {
    let refused = match deliver(deps, event).await {
        Ok(()) => return Ok(()),
        Err(DeliveryError::NotConfigured) => return Err(DeliveryError::NotConfigured),
        Err(e) => e,
    };
    let age = Utc::now() - event.created_at;
    if age > GIVE_UP_AFTER {
        tracing::error!(tenant = %event.tenant, event_id = %event.id, error = %refused, "event undelivered for 72 hours; leaving it to the dead-letter queue");
        return Err(refused);
    }
    let delay = crate::backoff::redelivery_delay(age);
    let job = SyncJob::Emit {
        event: event.clone(),
    };
    let seconds = i32::try_from(delay.as_secs()).unwrap_or(900);
    if let Err(e) = deps.queue.send(&job, seconds).await {
        tracing::warn!(event_id = %event.id, error = %e, "could not queue the event again; the message comes back instead");
        return Err(refused);
    }
    tracing::warn!(tenant = %event.tenant, event_id = %event.id, error = %refused, delay_seconds = seconds, "event not delivered; queued again");
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("Aourly answered {0}")]
    Refused(u16),
    #[error("the events endpoint could not be reached")]
    Unreachable,
    #[error("events are not configured (AOURLY_EVENTS_URL or AOURLY_EVENTS_SECRET missing)")]
    NotConfigured,
}

/// POSTs one event, signed like Aourly's webhooks (`Aourly-Signature: t=..,v1=..`).
pub async fn deliver(deps: &Deps, event: &OutboundEvent) -> Result<(), DeliveryError> {
    let (Some(url), Some(secret)) = (
        deps.config.events_url.as_ref(),
        deps.config.secrets.get(Secret::EventsSecret),
    ) else {
        return Err(DeliveryError::NotConfigured);
    };
    let body = serde_json::to_vec(event).map_err(|_| DeliveryError::Unreachable)?;
    let signature = domain::sign(
        secret.expose_secret().as_bytes(),
        Utc::now().timestamp(),
        &body,
    );
    let response = events_client()
        .post(url.clone())
        .header("content-type", "application/json")
        .header(domain::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|_| DeliveryError::Unreachable)?;
    let status = response.status();
    if status.is_success() {
        tracing::info!(tenant = %event.tenant, event_id = %event.id, kind = ?event.kind, "event delivered");
        Ok(())
    } else {
        Err(DeliveryError::Refused(status.as_u16()))
    }
}

fn events_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}
