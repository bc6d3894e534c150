//! Accepting Aourly's webhooks (integration guide "Webhooks from Aourly"): size, signature, parse, connection, then the
//! event marker and the sync item in one transaction, then the push job.
//!
//! Rules where the contract is silent:
//! - `customer.created`/`customer.updated` for a known customer replace its payload and set it
//!   pending again (the worker updates the Visma customer), unless the event is older
//!   (`created_at`) than the stored one: then it is acknowledged as `duplicate` and ignored.
//! - A create event for an invoice, credit note or voucher that is already stored never
//!   replaces it (each reaches Visma once): it is acknowledged as `duplicate` and ignored.
//!   Its event id is still recorded, so it stays a duplicate.
//! - Events for an *expired* connection are stored `blocked` (`connection_expired`), no job is
//!   queued, and the answer is `queued` (accepted and held; reconnecting resumes them).
//! - When the job cannot be sent after the transaction the answer is 503; Aourly's retry (now
//!   a duplicate id) sends it, and that answer is `queued`. While one delivery is sending,
//!   concurrent duplicates answer `duplicate` without sending.
//! - A successful send is not recorded (that would be a third write per webhook): the event
//!   keeps its sending lease. A duplicate arriving after the lease has lapsed cannot tell a
//!   delivery that sent its job from one that died before sending, so it sends the job again
//!   and answers `duplicate`; a second job for a record already pushed costs the worker one
//!   read and Visma nothing.

use chrono::{DateTime, Duration, Utc};
use domain::connection::ConnectionStatus;
use domain::outbound::OutboundType;
use domain::{
    InvalidEvent, ItemCode, ItemError, ItemStatus, SignatureError, SyncJob, TenantId, WebhookEvent,
};
use secrecy::ExposeSecret;
use serde::Serialize;
use store::{EventMarker, ItemWrite, RecordError, StoreError, SyncItem, SyncItems};
use tracing::Instrument;

use crate::{Deps, Problem, Secret};

/// integration guide "Webhooks from Aourly": bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long the delivery that stored an event may take to send its job before a duplicate
/// delivery sends it instead (longer than the function's timeout).
pub const SEND_LEASE: Duration = Duration::seconds(60);

/// How often a concurrent change to the same item is re-read before giving up (503).
const ATTEMPTS: usize = 5;

/// The 202 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub event_id: String,
    pub status: AcceptedStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptedStatus {
    Queued,
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is larger than 256 KiB")]
    TooLarge,
    #[error("signature refused: {0}")]
    Signature(SignatureError),
    #[error(transparent)]
    Invalid(InvalidEvent),
    #[error("the tenant is not connected to Visma")]
    NotConnected,
    #[error("the push job could not be queued")]
    Queue(#[source] StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the webhook secret is not configured")]
    NoSecret,
}

impl From<WebhookError> for Problem {
    fn from(e: WebhookError) -> Self {
        use axum::http::StatusCode;
        match e {
            WebhookError::TooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The body is too large",
            )
            .detail("webhook bodies are at most 256 KiB"),
            WebhookError::Signature(why) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "Invalid webhook signature",
            )
            .detail(why.to_string()),
            WebhookError::Invalid(invalid) => {
                let mut problem =
                    Problem::new(StatusCode::BAD_REQUEST, invalid.code, "Invalid event");
                for error in invalid.errors {
                    problem = problem.field(error.field, error.message);
                }
                problem
            }
            WebhookError::NotConnected => Problem::new(
                StatusCode::CONFLICT,
                "not_connected",
                "The company is not connected to Visma",
            ),
            WebhookError::Queue(_) => Problem::unavailable(),
            WebhookError::Store(e) if e.is_retryable() => Problem::unavailable(),
            WebhookError::Store(_) | WebhookError::NoSecret => Problem::internal(),
        }
    }
}

/// `POST /webhooks/aourly`: `signature` is the `Aourly-Signature` header, `now` the clock.
pub async fn accept(
    deps: &Deps,
    body: &[u8],
    signature: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Accepted, WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        tracing::info!(outcome = "payload_too_large", "webhook refused");
        return Err(WebhookError::TooLarge);
    }
    let secret = deps
        .config
        .secrets
        .get(Secret::WebhookSecret)
        .ok_or(WebhookError::NoSecret)?;
    if let Err(why) = domain::verify(
        secret.expose_secret().as_bytes(),
        signature,
        body,
        now.timestamp(),
        domain::TOLERANCE_SECS,
    ) {
        tracing::info!(outcome = "invalid_signature", reason = %why, "webhook refused");
        return Err(WebhookError::Signature(why));
    }
    let event = domain::parse_event(body).map_err(|invalid| {
        let fields: Vec<&str> = invalid.errors.iter().map(|e| e.field.as_str()).collect();
        tracing::info!(outcome = "invalid", code = invalid.code, fields = ?fields, "webhook refused");
        WebhookError::Invalid(invalid)
    })?;
    let tenant = event.tenant().clone();
    let span = tracing::info_span!(
        "webhook",
        %tenant,
        event_id = %event.id(),
        event_type = %event.kind(),
    );
    async {
        let result = store_and_queue(deps, &event, now).await;
        match &result {
            Ok(accepted) => tracing::info!(outcome = ?accepted.status, "webhook accepted"),
            Err(e) => tracing::warn!(error = %e, "webhook not accepted"),
        }
        result
    }
    .instrument(span)
    .await
}

async fn store_and_queue(
    deps: &Deps,
    event: &WebhookEvent,
    now: DateTime<Utc>,
) -> Result<Accepted, WebhookError> {
    let tenant = event.tenant();
    let status = deps
        .connections
        .get(tenant)
        .await?
        .map_or(ConnectionStatus::NotConnected, |c| c.status);
    let (item_status, hold) = arrival(status)?;
    let items = &deps.items;
    let kind = event.kind().record_kind();
    let record_id = event.data().record_id().as_str();
    for attempt in 0..ATTEMPTS {
        // An invoice, credit note or voucher is almost always new: try to create it without
        // reading first; the transaction refuses it if it exists, and the next attempt reads.
        let current = if attempt == 0 && is_create_only(event) {
            None
        } else {
            items.get(tenant, kind, record_id).await?
        };
        let write = match &current {
            None => ItemWrite::Create(Box::new(SyncItem::new(
                event,
                item_status,
                hold.clone(),
                now,
            )?)),
            Some(existing) if replaces(event, existing) => ItemWrite::Replace {
                item: Box::new(existing.replaced_by(event, item_status, hold.clone(), now)?),
                expected_version: existing.version,
            },
            Some(_) => ItemWrite::Nothing,
        };
        let stored = !matches!(write, ItemWrite::Nothing);
        let needs_send = stored && item_status == ItemStatus::Pending;
        let marker = EventMarker::new(
            event,
            if stored { "stored" } else { "ignored" },
            needs_send,
            now,
            SEND_LEASE,
        );
        match items.record_event(&marker, &write).await {
            Ok(()) => {}
            Err(RecordError::Duplicate) => return duplicate(deps, items, event, now).await,
            Err(RecordError::ItemChanged) => continue,
            Err(RecordError::Store(e)) => return Err(e.into()),
        }
        if needs_send {
            send(deps, items, tenant, event.id().as_str(), push_job(event)).await?;
        }
        if let (true, Some(hold)) = (stored, &hold) {
            announce_held(deps, tenant, kind, record_id, hold).await;
        }
        if !stored {
            tracing::info!(
                item_status = ?current.as_ref().map(|c| c.status),
                "record already stored; the event is acknowledged and ignored"
            );
        }
        let status = if stored {
            AcceptedStatus::Queued
        } else {
            AcceptedStatus::Duplicate
        };
        return Ok(Accepted {
            event_id: event.id().as_str().to_owned(),
            status,
        });
    }
    Err(StoreError::Transient {
        operation: "TransactWriteItems",
        source: "the sync item kept changing concurrently".into(),
    }
    .into())
}

/// Aourly hears of a record held blocked (expired connection) like of any blocked record,
/// once, for the delivery that stored it. Best effort: if the event cannot be queued the
/// record is still stored and held (and `visma.connection.expired` has told Aourly why); the
/// delivery is not failed for it, since a repeated delivery would not announce it either.
async fn announce_held(
    deps: &Deps,
    tenant: &TenantId,
    kind: domain::RecordKind,
    record_id: &str,
    hold: &ItemError,
) {
    let data = serde_json::json!({
        "kind": kind.as_str(),
        "id": record_id,
        "status": "blocked",
        "last_error": {"code": hold.code, "detail": hold.detail},
    });
    if let Err(e) = crate::events::emit(deps, tenant, OutboundType::ItemBlocked, data).await {
        tracing::warn!(error = %e, "could not queue visma.item.blocked for a held record");
    }
}

/// How a record arrives for a tenant whose connection is `status`: pending (its job is sent),
/// held blocked while the connection is expired (a reconnect resumes it), or refused when there
/// is no connection to push it through.
fn arrival(status: ConnectionStatus) -> Result<(ItemStatus, Option<ItemError>), WebhookError> {
    match status {
        ConnectionStatus::Connected => Ok((ItemStatus::Pending, None)),
        ConnectionStatus::Expired => Ok((
            ItemStatus::Blocked,
            Some(ItemError::new(
                ItemCode::ConnectionExpired,
                "The Visma connection has expired; reconnect to resume syncing",
            )),
        )),
        ConnectionStatus::NotConnected | ConnectionStatus::Disconnected => {
            Err(WebhookError::NotConnected)
        }
    }
}

/// Whether `event` replaces the stored record: only customer events, and only when not
/// older than the event that set the stored payload.
fn replaces(event: &WebhookEvent, existing: &SyncItem) -> bool {
    !is_create_only(event) && event.created_at() >= existing.event_created_at
}

/// Invoices, credit notes and vouchers are created once in Visma and never updated.
fn is_create_only(event: &WebhookEvent) -> bool {
    event.kind().record_kind() != domain::RecordKind::Customer
}

fn push_job(event: &WebhookEvent) -> SyncJob {
    SyncJob::Push {
        tenant: event.tenant().clone(),
        kind: event.kind().record_kind(),
        id: event.data().record_id().as_str().to_owned(),
    }
}

/// A repeated event id. If its job may not have been sent (the sending lease was released
/// after a failed send, or has lapsed) and no other delivery is sending it, this delivery
/// sends it: after a released lease the event was never accepted, so the answer is `queued`;
/// after a lapsed one it is `duplicate` (the job was most likely sent already).
async fn duplicate(
    deps: &Deps,
    items: &SyncItems,
    event: &WebhookEvent,
    now: DateTime<Utc>,
) -> Result<Accepted, WebhookError> {
    let tenant = event.tenant();
    let event_id = event.id().as_str();
    let answer = |status| Accepted {
        event_id: event_id.to_owned(),
        status,
    };
    let Some(marker) = items.event(tenant, event_id).await? else {
        return Ok(answer(AcceptedStatus::Duplicate));
    };
    if marker.queued || !items.lease_send(tenant, event_id, now, SEND_LEASE).await? {
        return Ok(answer(AcceptedStatus::Duplicate));
    }
    // The stored marker names the job (the record of the *first* delivery of this id).
    let job = SyncJob::Push {
        tenant: marker.tenant.clone(),
        kind: marker.kind,
        id: marker.record_id.clone(),
    };
    if marker.sending_until.is_none() {
        send(deps, items, tenant, event_id, job).await?;
        tracing::info!("an earlier delivery could not queue its job; queued now");
        return Ok(answer(AcceptedStatus::Queued));
    }
    // The event was accepted before, so this stays a duplicate whatever the send does: the
    // job was most likely sent already, and the schedule re-queues pending items whose job
    // was lost (`resume::requeue_stale_pending`).
    match deps.queue.send(&job, 0).await {
        Ok(_) => tracing::info!(
            "the sending lease had lapsed; the job was queued again in case it was lost"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "the sending lease had lapsed; queuing the job again failed")
        }
    }
    Ok(answer(AcceptedStatus::Duplicate))
}

/// Sends the job. When the send fails the lease is released so Aourly's retry sends it at
/// once.
async fn send(
    deps: &Deps,
    items: &SyncItems,
    tenant: &TenantId,
    event_id: &str,
    job: SyncJob,
) -> Result<(), WebhookError> {
    if let Err(e) = deps.queue.send(&job, 0).await {
        if let Err(release) = items.release_send(tenant, event_id).await {
            tracing::warn!(error = %release, "could not release the sending lease; it lapses");
        }
        return Err(WebhookError::Queue(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, created_at: &str) -> WebhookEvent {
        let sample = match name {
            "customer.updated" => include_str!("../../../events/webhooks/customer.updated.json"),
            "invoice.created" => include_str!("../../../events/webhooks/invoice.created.json"),
            other => panic!("no sample {other}"),
        };
        let mut value: serde_json::Value = serde_json::from_str(sample).unwrap();
        value["created_at"] = created_at.into();
        domain::parse_event_value(value).expect("a valid sample")
    }

    #[test]
    fn a_record_arrives_pending_held_or_refused_by_the_connection() {
        let (status, hold) = arrival(ConnectionStatus::Connected).unwrap();
        assert_eq!((status, hold), (ItemStatus::Pending, None));
        let (status, hold) = arrival(ConnectionStatus::Expired).unwrap();
        assert_eq!(status, ItemStatus::Blocked);
        assert_eq!(hold.unwrap().code, ItemCode::ConnectionExpired);
        for refused in [
            ConnectionStatus::NotConnected,
            ConnectionStatus::Disconnected,
        ] {
            assert!(matches!(arrival(refused), Err(WebhookError::NotConnected)));
        }
    }

    #[test]
    fn only_a_customer_event_at_least_as_new_replaces_the_stored_record() {
        let stored_event = event("customer.updated", "2026-11-23T12:00:00Z");
        let stored = SyncItem::new(&stored_event, ItemStatus::Synced, None, Utc::now()).unwrap();
        assert!(replaces(
            &event("customer.updated", "2026-11-23T12:00:01Z"),
            &stored
        ));
        assert!(replaces(
            &event("customer.updated", "2026-11-23T12:00:00Z"),
            &stored
        ));
        assert!(!replaces(
            &event("customer.updated", "2026-11-23T11:59:59Z"),
            &stored
        ));
        let invoice = event("invoice.created", "2026-11-23T12:00:00Z");
        assert!(is_create_only(&invoice));
        let stored = SyncItem::new(&invoice, ItemStatus::Synced, None, Utc::now()).unwrap();
        assert!(!replaces(
            &event("invoice.created", "2026-11-24T00:00:00Z"),
            &stored
        ));
    }

    #[test]
    fn refusals_answer_with_their_stable_codes() {
        for (error, status, code) in [
            (WebhookError::TooLarge, 413, "payload_too_large"),
            (WebhookError::NotConnected, 409, "not_connected"),
        ] {
            let problem = Problem::from(error);
            let body = serde_json::to_value(&problem).unwrap();
            assert_eq!(problem.status, status);
            assert_eq!(body["code"], code);
        }
    }
}
