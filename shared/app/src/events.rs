//! Outbound events to Aourly (CONTRACT §7), when `AOURLY_EVENTS_URL` is set.
//!
//! Any function may raise an event: it becomes an `Emit` job on the sync queue (durable at
//! once). The sync worker, the only function that holds `AOURLY_EVENTS_SECRET`, signs and
//! POSTs it; anything but a 2xx returns the message to the queue with backoff, and after the
//! queue's maximum receives it waits in the dead-letter queue, so no event is dropped silently.

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
    if deps.config.events_url.is_none() {
        return Ok(());
    }
    let event = OutboundEvent {
        id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        kind,
        tenant: tenant.clone(),
        created_at: Utc::now(),
        data,
    };
    deps.queue.send(&SyncJob::Emit { event }, 0).await?;
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
